"""Anomaly detection (``torch.autograd.detect_anomaly``): while it is on, every recorded op keeps
the stack of its forward call, and a backward that produces NaN stops with an error naming the
node, after a warning that shows where in the forward pass that node was created."""
from __future__ import annotations

import traceback
import warnings

import numpy as np

from .grad_mode import state


def is_anomaly_enabled() -> bool:
    return state.anomaly


def is_anomaly_check_nan_enabled() -> bool:
    return state.anomaly_check_nan


class set_detect_anomaly:
    """``torch.autograd.set_detect_anomaly(mode, check_nan=True)``: on or off; also a context
    manager that restores the previous setting."""

    def __init__(self, mode: bool, check_nan: bool = True):
        self._prev = (state.anomaly, state.anomaly_check_nan)
        state.anomaly, state.anomaly_check_nan = bool(mode), bool(check_nan)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        state.anomaly, state.anomaly_check_nan = self._prev


class detect_anomaly:
    """``with torch.autograd.detect_anomaly():`` (also a decorator)."""

    def __init__(self, check_nan: bool = True):
        self.check_nan = check_nan
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime and should only be "
                      "enabled for debugging.", UserWarning, stacklevel=2)

    def __enter__(self):
        self._prev = (state.anomaly, state.anomaly_check_nan)
        state.anomaly, state.anomaly_check_nan = True, self.check_nan
        return self

    def __exit__(self, *exc):
        state.anomaly, state.anomaly_check_nan = self._prev

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(self.check_nan):
                return fn(*args, **kwargs)
        return wrapper


def record_trace(node):
    """Called when a node is recorded in anomaly mode: the forward call's stack, for the report."""
    node.__dict__["_anomaly_trace"] = traceback.format_stack()[:-2]


def check_gradients(node, grads):
    """In anomaly mode: an error if ``node``'s backward produced NaN (after a warning with the
    stack of the forward call that created it)."""
    for i, g in enumerate(grads):
        if g is None:
            continue
        a = g._data if hasattr(g, "_data") else g
        if a.dtype.kind == "f" and np.isnan(a).any():
            trace = node.__dict__.get("_anomaly_trace")
            if trace:
                warnings.warn(f"Error detected in {node.name()}. Traceback of forward call that caused the error:\n"
                              + "".join(trace), UserWarning, stacklevel=2)
            raise RuntimeError(f"Function '{node.name()}' returned nan values in its {i}th output.")
