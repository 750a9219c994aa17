"""Helpers shared by the op families: operand promotion, dim normalisation."""
from __future__ import annotations

import builtins

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor


def promote(a, b, op="op"):
    """Bring two operands (Tensors or scalars) to PyTorch's common dtype.

    Tensors are cast with the differentiable ``to``; scalars become 0-d arrays of that dtype
    (so they never upcast a float32 tensor).
    """
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
    if ta and tb:
        da, db = a._data.dtype, b._data.dtype
        if da == db:
            return a, b
        dt = D.result_type(a, b).np
        return (a if da == dt else to_dtype(a, dt)), (b if db == dt else to_dtype(b, dt))
    if not ta and not tb:
        raise TypeError(f"{op}: expected at least one Tensor operand, got {type(a).__name__} and "
                        f"{type(b).__name__}")
    t, s = (a, b) if ta else (b, a)
    s = _scalar(s, op)
    if isinstance(s, Tensor):
        return promote(a if ta else s, s if ta else b, op)
    dt = D.result_type(t, s).np
    if t._data.dtype != dt:
        t = to_dtype(t, dt)
    try:
        s = np.asarray(s, dtype=dt)
    except OverflowError:  # an out-of-range Python int wraps around, as in PyTorch's cast
        s = np.asarray(s).astype(dt)
    return (t, s) if ta else (s, t)


def _scalar(s, op):
    if isinstance(s, (builtins.bool, builtins.int, builtins.float, np.generic)):
        return s
    if isinstance(s, np.ndarray):
        return Tensor._make(s)
    if isinstance(s, (list, tuple)):
        from .._creation import tensor
        return tensor(s)
    raise TypeError(f"{op}: unsupported operand type {type(s).__name__}")


def to_dtype(t, dt):
    from .elementwise import to_dtype as _to
    return _to(t, dt)


def as_tensor_arg(x, op="op", dtype=None):
    if isinstance(x, Tensor):
        return x
    from .._creation import tensor
    return tensor(x, dtype=dtype)


def norm_dim(dim, ndim, op="op"):
    """A dim in ``[-ndim, ndim)`` to ``[0, ndim)``, with PyTorch's IndexError otherwise."""
    n = ndim if ndim > 0 else 1
    if not isinstance(dim, (builtins.int, np.integer)):
        raise TypeError(f"{op}(): dim must be an int, got {type(dim).__name__}")
    if dim < -n or dim >= n:
        raise IndexError(f"{op}(): Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {dim})")
    return dim % n


def norm_dims(dim, ndim, op="op"):
    """``dim`` (None, int or sequence) as a sorted tuple of non-negative axes; None = all."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (builtins.int, np.integer)):
        return (norm_dim(dim, ndim, op),) if ndim else ()
    dims = tuple(norm_dim(d, ndim, op) for d in dim) if ndim else ()
    if len(set(dims)) != len(dims):
        raise RuntimeError(f"{op}(): dim {list(dim)} appears multiple times in the list of dims")
    return tuple(sorted(dims))


def shape_arg(args, op="op"):
    """``f(2, 3)``, ``f((2, 3))`` and ``f([2, 3])`` all mean shape (2, 3)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = args[0]
    try:
        return tuple(builtins.int(s) for s in args)
    except TypeError:
        raise TypeError(f"{op}(): size must be a sequence of ints, got {args!r}") from None


def fmt_shape(s) -> str:
    return "[" + ", ".join(str(x) for x in s) + "]"
