"""Grad mode: whether ops record the graph (``no_grad``, ``enable_grad`` …)."""
from __future__ import annotations

import functools


class _State:
    __slots__ = ("enabled", "anomaly", "anomaly_check_nan", "saved_hooks")

    def __init__(self):
        self.enabled = True
        self.anomaly = False             # autograd.detect_anomaly (anomaly_mode.py)
        self.anomaly_check_nan = True
        self.saved_hooks = []            # autograd.graph.saved_tensors_hooks: (pack, unpack) pairs, innermost last


state = _State()


def is_grad_enabled() -> bool:
    return state.enabled


class _GradModeContext:
    """Base of the grad-mode context managers; also usable as decorators,
    with or without parentheses (``@no_grad()`` and ``@no_grad``)."""

    _target = True

    def __new__(cls, *args, **kwargs):
        if cls in (no_grad, enable_grad) and len(args) == 1 and callable(args[0]):
            return object.__new__(cls)(args[0])  # bare decorator: @no_grad
        return object.__new__(cls)

    def __init__(self, *args):
        pass

    def __enter__(self):
        self._prev = state.enabled
        state.enabled = self._target

    def __exit__(self, *exc):
        state.enabled = self._prev
        return False

    def __call__(self, fn):
        target = self._target

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = state.enabled
            state.enabled = target
            try:
                return fn(*args, **kwargs)
            finally:
                state.enabled = prev
        return wrapper


class no_grad(_GradModeContext):
    """Disable graph recording (``torch.no_grad``), as a context manager or decorator."""

    _target = False


class enable_grad(_GradModeContext):
    """Enable graph recording inside a ``no_grad`` block (``torch.enable_grad``)."""

    _target = True


class set_grad_enabled(_GradModeContext):
    """``torch.set_grad_enabled(mode)``: takes effect at once, and as a context manager."""

    def __init__(self, mode: bool):
        self._prev = state.enabled
        self._target = bool(mode)
        state.enabled = self._target

    def __enter__(self):
        pass  # already applied in __init__, like PyTorch

    def __exit__(self, *exc):
        state.enabled = self._prev
        return False


class inference_mode(_GradModeContext):
    """``torch.inference_mode``: here the same as ``no_grad`` (no separate tensor kind)."""

    def __init__(self, mode: bool = True):
        self._target = not mode

    def __call__(self, fn=None):
        if fn is None:  # @inference_mode() used with parentheses
            return self
        return super().__call__(fn)
