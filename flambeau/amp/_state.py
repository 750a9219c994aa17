"""Autocast state and the casts that the autocast-aware ops apply.

Kept free of flambeau imports at module level so that the op modules can import it while
flambeau itself is still importing.

Hot paths pay one check: ``if _state.active:``, a module attribute that is True only while
some thread is inside an enabled CPU autocast region. The per-thread state (autocast is
thread-local, as in PyTorch) is read only behind that check.

Op policies follow PyTorch's CPU autocast lists (the "Autocast Op Reference", CPU section):

* lower precision (``lower``): floating inputs other than float64 are cast to the autocast dtype
  (conv*, conv_transpose*, linear, matmul/mm/bmm, addmm/baddbmm/addbmm, einsum/tensordot,
  prelu, scaled_dot_product_attention);
* float32 (``fp32`` / ``fp32_op``): float16 inputs are cast to float32 (the losses, prod, cdist,
  trace, the 3-d pools, reflect/replicate padding of 1-d/2-d (3-d replicate) inputs, grid_sample,
  ctc_loss ...);
* every other op runs in the type of its inputs (cat/stack already promote to the widest type).

A cast is an ordinary differentiable ``Tensor.to``: the gradient of a float16 op reaches a
float32 parameter as float32, as in PyTorch.
"""
from __future__ import annotations

import functools
import threading

import numpy as np

# True while at least one thread has CPU autocast enabled: the single check on op hot paths.
active = False

_lock = threading.Lock()
_enabled_threads = 0          # threads whose CPU autocast is currently enabled

_F16 = np.dtype(np.float16)
_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)


class _ThreadState(threading.local):
    def __init__(self):
        self.enabled = {}          # device type -> bool
        self.dtype = {}            # device type -> flambeau dtype, or None where never chosen
        self.nesting = 0
        self.cache_enabled = True
        self.cache = {}            # id(leaf parameter) -> (parameter, its low-precision copy)


tls = _ThreadState()


def is_enabled(device_type: str) -> bool:
    return tls.enabled.get(device_type, False)


def set_enabled(device_type: str, enabled: bool) -> None:
    global active, _enabled_threads
    enabled = bool(enabled)
    was = tls.enabled.get(device_type, False)
    tls.enabled[device_type] = enabled
    if device_type != "cpu" or was == enabled:
        return
    with _lock:
        _enabled_threads += 1 if enabled else -1
        active = _enabled_threads > 0


def cpu_dtype_np():
    dt = tls.dtype.get("cpu")
    return _F16 if dt is None else dt.np


def clear_cache() -> None:
    tls.cache.clear()


# ---------------------------------------------------------------------------- casts
def _to(t, np_dtype):
    """``t`` as ``np_dtype`` (a differentiable cast). Leaf tensors that require grad (the
    parameters) are cast once per outermost autocast region when the cache is enabled, like
    PyTorch's weight cache: a layer called several times shares one low-precision copy. A copy
    made with grad disabled has no graph, so none is cached then (a later forward with grad
    enabled in the same region must still reach the parameter)."""
    from .._dtype import as_dtype
    from ..autograd.grad_mode import is_grad_enabled
    if tls.cache_enabled and np_dtype != _F32 and t.requires_grad and t.is_leaf and is_grad_enabled():
        hit = tls.cache.get(id(t))
        if hit is not None and hit[0] is t and hit[1]._data.dtype == np_dtype:
            return hit[1]
        c = t.to(as_dtype(np_dtype))
        tls.cache[id(t)] = (t, c)
        return c
    return t.to(as_dtype(np_dtype))


def _cast_all(args, np_dtype):
    from .._tensor import Tensor
    out = []
    for a in args:
        if isinstance(a, Tensor):
            d = a._data.dtype
            if d != np_dtype and d.kind == "f" and d != _F64:
                a = _to(a, np_dtype)
        out.append(a)
    return out


def lower(*args):
    """The arguments, floating tensors (not float64) cast to the CPU autocast dtype when this
    thread's CPU autocast is enabled; unchanged otherwise. Callers test ``active`` first."""
    if not tls.enabled.get("cpu", False):
        return args
    return _cast_all(args, cpu_dtype_np())


def fp32(*args):
    """The arguments, float16 tensors cast to float32 when this thread's CPU autocast is enabled."""
    if not tls.enabled.get("cpu", False):
        return args
    return _cast_all(args, _F32)


def _outside_autocast(fn, args, kwargs):
    """``fn(*args, **kwargs)`` with this thread's CPU autocast switched off for its internals."""
    enabled = tls.enabled
    enabled["cpu"] = False
    try:
        return fn(*args, **kwargs)
    finally:
        enabled["cpu"] = True


def fp32_op(fn):
    """Decorator for the ops on PyTorch's CPU float32 autocast list: inside an enabled CPU autocast
    region their float16 tensor arguments (positional or keyword) are cast to float32 first, and
    the op's own internals run without autocast (as PyTorch's kernels do below the autocast layer)."""
    @functools.wraps(fn)
    def run_fp32(*args, **kwargs):
        if active and tls.enabled.get("cpu", False):
            args = _cast_all(args, _F32)
            if kwargs:
                keys = list(kwargs)
                kwargs = dict(zip(keys, _cast_all([kwargs[k] for k in keys], _F32)))
            return _outside_autocast(fn, args, kwargs)
        return fn(*args, **kwargs)
    return run_fp32


def plain_op(fn):
    """Decorator for composite ops that are on none of the autocast lists but are built from ops
    that are (``bilinear`` from ``einsum``): inside autocast they run in their inputs' types."""
    @functools.wraps(fn)
    def run_plain(*args, **kwargs):
        if active and tls.enabled.get("cpu", False):
            return _outside_autocast(fn, args, kwargs)
        return fn(*args, **kwargs)
    return run_plain
