"""``torch.autocast`` / ``torch.amp.autocast``: regions that run chosen ops in float16.

flambeau runs on the CPU only, and has float16 but no bfloat16. PyTorch's CPU autocast runs in
bfloat16 unless told otherwise; flambeau does not substitute float16 silently (its range is
far smaller: values above 65504 overflow), so::

    with torch.autocast("cpu", dtype=torch.float16):   # flambeau: float16 autocast on the CPU
        ...
    with torch.autocast("cpu"):                         # RuntimeError: pass dtype=torch.float16

A CPU dtype set once with ``torch.set_autocast_dtype("cpu", torch.float16)`` (or an enclosing
autocast region that chose it) is used when ``dtype`` is omitted. ``torch.get_autocast_dtype("cpu")``
reports float16, the only lower-precision type flambeau's CPU autocast supports.

``device_type="cuda"`` mirrors PyTorch on a machine without CUDA: a warning, and the region
runs with autocast disabled. Which ops cast, and to what, is described in
:mod:`flambeau.amp._state`.
"""
from __future__ import annotations

import collections.abc
import functools
import warnings
from typing import Any

import numpy as np

from . import _state

__all__ = ["autocast_decorator", "autocast", "is_autocast_available", "custom_fwd", "custom_bwd"]

# The device types PyTorch's autocast accepts that have a flambeau meaning; only "cpu" ones run
# ops (every flambeau tensor lives on the CPU), the others record their state as PyTorch does.
_DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu")
_SUPPORTED_DTYPES = ("float16",)
_BFLOAT16_ERROR = (
    "flambeau's CPU autocast supports float16 only: it has no bfloat16 dtype, and "
    "autocast('cpu') without a dtype means bfloat16 in PyTorch. Pass the dtype explicitly: "
    "torch.autocast('cpu', dtype=torch.float16) (or call torch.set_autocast_dtype('cpu', torch.float16) once).")


def _dt():
    from .. import _dtype
    return _dtype


def is_autocast_available(device_type: str) -> bool:
    """Whether ``torch.autocast(device_type)`` is accepted: 'cpu' runs ops in float16; 'cuda', 'mps'
    and 'xpu' are accepted (and, for 'cuda', disabled with a warning: there is no CUDA)."""
    return device_type in _DEVICE_TYPES


def _check_device_type(device_type):
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if device_type not in _DEVICE_TYPES:
        raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}'")


def _as_dtype(dtype):
    if dtype is None:
        return None
    try:
        return _dt().as_dtype(dtype)
    except (TypeError, ValueError, KeyError):
        raise TypeError(f"autocast: dtype must be a flambeau dtype such as torch.float16, got {dtype!r}") from None


# ---------------------------------------------------------------------------- global state functions
def is_autocast_enabled(device_type: str | None = None) -> bool:
    """``torch.is_autocast_enabled(device_type)``; without an argument, the 'cuda' state (as PyTorch)."""
    if device_type is None:
        device_type = "cuda"
    _check_device_type(device_type)
    return _state.is_enabled(device_type)


def set_autocast_enabled(*args) -> None:
    """``torch.set_autocast_enabled(device_type, enabled)`` (or the older ``(enabled)`` form, 'cuda')."""
    if len(args) == 1:
        device_type, enabled = "cuda", args[0]
    elif len(args) == 2:
        device_type, enabled = args
    else:
        raise TypeError("set_autocast_enabled() takes (device_type, enabled) or (enabled)")
    _check_device_type(device_type)
    _state.set_enabled(device_type, enabled)


def get_autocast_dtype(device_type: str):
    """``torch.get_autocast_dtype(device_type)``: the dtype autocast-enabled ops run in. float16 for
    every device type in flambeau (PyTorch's CPU default is bfloat16, which flambeau does not have)."""
    _check_device_type(device_type)
    dt = _state.tls.dtype.get(device_type)
    return _dt().float16 if dt is None else dt


def set_autocast_dtype(device_type: str, dtype) -> None:
    _check_device_type(device_type)
    _state.tls.dtype[device_type] = _as_dtype(dtype)


def _deprecated(old, new):
    warnings.warn(f"torch.{old} is deprecated. Please use torch.{new} instead.", DeprecationWarning, stacklevel=3)


def is_autocast_cpu_enabled() -> bool:
    _deprecated("is_autocast_cpu_enabled()", "is_autocast_enabled('cpu')")
    return _state.is_enabled("cpu")


def set_autocast_cpu_enabled(enabled) -> None:
    _deprecated("set_autocast_cpu_enabled(enabled)", "set_autocast_enabled('cpu', enabled)")
    _state.set_enabled("cpu", enabled)


def get_autocast_cpu_dtype():
    _deprecated("get_autocast_cpu_dtype()", "get_autocast_dtype('cpu')")
    return get_autocast_dtype("cpu")


def set_autocast_cpu_dtype(dtype) -> None:
    _deprecated("set_autocast_cpu_dtype(dtype)", "set_autocast_dtype('cpu', dtype)")
    set_autocast_dtype("cpu", dtype)


def get_autocast_gpu_dtype():
    _deprecated("get_autocast_gpu_dtype()", "get_autocast_dtype('cuda')")
    return get_autocast_dtype("cuda")


def set_autocast_gpu_dtype(dtype) -> None:
    _deprecated("set_autocast_gpu_dtype(dtype)", "set_autocast_dtype('cuda', dtype)")
    set_autocast_dtype("cuda", dtype)


def is_autocast_cache_enabled() -> bool:
    return _state.tls.cache_enabled


def set_autocast_cache_enabled(enabled: bool) -> None:
    _state.tls.cache_enabled = bool(enabled)


def clear_autocast_cache() -> None:
    _state.clear_cache()


def autocast_increment_nesting() -> int:
    _state.tls.nesting += 1
    return _state.tls.nesting


def autocast_decrement_nesting() -> int:
    _state.tls.nesting -= 1
    return _state.tls.nesting


# ---------------------------------------------------------------------------- autocast
def autocast_decorator(autocast_instance, func):
    @functools.wraps(func)
    def decorate_autocast(*args, **kwargs):
        with autocast_instance:
            return func(*args, **kwargs)
    return decorate_autocast


class autocast:
    r"""``torch.autocast(device_type, dtype=None, enabled=True, cache_enabled=None)``: a context
    manager (or decorator) for mixed-precision regions.

    Inside an enabled ``autocast("cpu", dtype=torch.float16)`` region, the matrix products and
    convolutions (``linear``, ``matmul``/``mm``/``bmm``, ``addmm``/``baddbmm``/``addbmm``,
    ``einsum``, ``conv*``, ``conv_transpose*``, ``prelu``, ``scaled_dot_product_attention``)
    cast their floating inputs to float16 and return float16; the losses and the other ops on
    PyTorch's CPU float32 list cast float16 inputs to float32. Other ops run in their inputs'
    type. Wrap the forward pass and the loss; run ``backward()`` outside. Gradients reach float32
    parameters in float32 (the casts are differentiable).

    ``autocast(device_type, enabled=False)`` regions nest inside enabled ones. The state is
    per thread. flambeau has no bfloat16: ``autocast("cpu")`` needs ``dtype=torch.float16``
    (see the module docstring).
    """

    def __init__(self, device_type: str, dtype=None, enabled: bool = True, cache_enabled: bool | None = None):
        _check_device_type(device_type)
        self.device = device_type
        dtype = _as_dtype(dtype)
        # the dtype written on entry: an omitted one keeps whatever is current (possibly "unset")
        self._raw_dtype = _state.tls.dtype.get(device_type) if dtype is None else dtype
        self.fast_dtype = get_autocast_dtype(device_type) if dtype is None else dtype
        self._cache_enabled = is_autocast_cache_enabled() if cache_enabled is None else bool(cache_enabled)
        if enabled:
            if self.device == "cuda":
                from .. import cuda
                if not cuda.is_available():
                    warnings.warn("CUDA is not available or torch_xla is imported. Disabling autocast.",
                                  stacklevel=2)
                    enabled = False
            elif self.device == "cpu" and self._raw_dtype is None:
                raise RuntimeError(_BFLOAT16_ERROR)
            if enabled and self.fast_dtype.np.name not in _SUPPORTED_DTYPES:
                name = self.device.upper()
                warnings.warn(f"In {name} autocast, but the target dtype is not supported. Disabling autocast.\n"
                              f"{name} Autocast only supports dtypes of "
                              + ", ".join(f"torch.{d}" for d in _SUPPORTED_DTYPES) + " currently.",
                              stacklevel=2)
                enabled = False
        self._enabled = bool(enabled)

    def __enter__(self):
        tls = _state.tls
        self.prev_cache_enabled = tls.cache_enabled
        self.prev = tls.enabled.get(self.device, False)
        self.prev_fastdtype = tls.dtype.get(self.device)
        _state.set_enabled(self.device, self._enabled)
        tls.dtype[self.device] = self._raw_dtype
        tls.nesting += 1
        tls.cache_enabled = self._cache_enabled
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any):
        tls = _state.tls
        # drop the cast cache on leaving the outermost region
        tls.nesting -= 1
        if tls.nesting == 0:
            _state.clear_cache()
        _state.set_enabled(self.device, self.prev)
        tls.dtype[self.device] = self.prev_fastdtype
        tls.cache_enabled = self.prev_cache_enabled
        return False

    def __call__(self, func):
        if not callable(func):
            raise TypeError(
                f"autocast()(func) requires a callable, but got {type(func).__name__}. "
                f"Did you mean to use autocast as a context manager? For example:\n"
                f"    with torch.autocast(device_type=...):\n"
                f"        output = model(input)")
        return autocast_decorator(self, func)

    def __repr__(self):
        return (f"autocast(device_type={self.device!r}, dtype={self.fast_dtype}, enabled={self._enabled}, "
                f"cache_enabled={self._cache_enabled})")


# ---------------------------------------------------------------------------- custom autograd functions
def _cast(value, device_type: str, dtype):
    """Floating tensors (not float64) in ``value`` (nested lists, tuples, dicts) cast to ``dtype``."""
    from .._tensor import Tensor
    if isinstance(value, Tensor):
        eligible = value.is_floating_point() and value._data.dtype != np.float64
        return value.to(dtype) if eligible else value
    if isinstance(value, (str, bytes, np.ndarray)):
        return value
    if isinstance(value, collections.abc.Mapping):
        return {_cast(k, device_type, dtype): _cast(v, device_type, dtype) for k, v in value.items()}
    if isinstance(value, collections.abc.Iterable):
        iterable = (_cast(v, device_type, dtype) for v in value)
        if isinstance(value, (list, tuple)):
            return type(value)(iterable)
        return iterable
    return value


def custom_fwd(fwd=None, *, device_type: str, cast_inputs=None):
    """``torch.amp.custom_fwd(device_type=..., cast_inputs=None)``: decorator for the ``forward`` of a
    custom ``autograd.Function``. With ``cast_inputs``, inside an enabled autocast region the
    floating tensor arguments are cast to it and ``forward`` runs with autocast disabled; without
    it, ``forward`` runs with the current autocast state. Outside autocast it does nothing."""
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)

    @functools.wraps(fwd)
    def decorate_fwd(*args, **kwargs):
        args[0]._dtype = get_autocast_dtype(device_type)
        if cast_inputs is None:
            args[0]._fwd_used_autocast = is_autocast_enabled(device_type)
            return fwd(*args, **kwargs)
        autocast_context = is_autocast_enabled(device_type)
        args[0]._fwd_used_autocast = False
        if autocast_context:
            with autocast(device_type=device_type, enabled=False):
                return fwd(*_cast(args, device_type, cast_inputs), **_cast(kwargs, device_type, cast_inputs))
        return fwd(*args, **kwargs)

    return decorate_fwd


def custom_bwd(bwd=None, *, device_type: str):
    """``torch.amp.custom_bwd(device_type=...)``: runs ``backward`` with the autocast state its
    ``forward`` (decorated with :func:`custom_fwd`) ran with."""
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)

    @functools.wraps(bwd)
    def decorate_bwd(*args, **kwargs):
        with autocast(device_type=device_type, enabled=args[0]._fwd_used_autocast, dtype=args[0]._dtype):
            return bwd(*args, **kwargs)

    return decorate_bwd
