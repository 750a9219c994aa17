"""Indexing: ``__getitem__``/``__setitem__``, gather/scatter, index_select, masked ops.

Basic indexing (ints, slices, None, ``...``) returns a view. Advanced indexing (integer or
boolean tensors/lists) copies; its backward scatters with ``np.add.at`` so that gradients of
repeated indices accumulate.
"""
from __future__ import annotations

import builtins

import numpy as np

from .. import _dtype as D
from ..autograd.function import ArrayFunction, BareCtx, linear_map
from .._tensor import Tensor, _wrap
from ._util import norm_dim, fmt_shape
from .shape import _slice_view


def _convert_index(index, op="index"):
    """Turn a PyTorch index into a NumPy one; report whether it is basic (a view)."""
    if isinstance(index, list) and len(index) < 32 and builtins.any(
            isinstance(i, (list, tuple, slice, Tensor, np.ndarray)) or i is None or i is Ellipsis
            for i in index):
        index = tuple(index)  # PyTorch (and old NumPy): such a list is a tuple of indices
    if not isinstance(index, tuple):
        index = (index,)
    out = []
    basic = True
    for i in index:
        if isinstance(i, Tensor):
            a = i._data
            if a.dtype.kind in "iu" and a.ndim == 0:
                out.append(builtins.int(a))
                continue
            if a.dtype.kind not in "iub":
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            out.append(a)
            basic = False
        elif isinstance(i, (list, np.ndarray)):
            a = np.asarray(i)
            if a.dtype.kind == "f" or (a.dtype == object):
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            out.append(a if a.size else a.astype(np.int64))
            basic = False
        elif isinstance(i, slice):
            if i.step is not None and i.step <= 0:
                raise ValueError("step must be greater than zero")
            out.append(slice(_int_or_none(i.start), _int_or_none(i.stop), _int_or_none(i.step)))
        elif i is None or i is Ellipsis:
            out.append(i)
        elif isinstance(i, (builtins.bool, np.bool_)):
            out.append(builtins.bool(i))
            basic = False
        elif isinstance(i, (builtins.int, np.integer)):
            out.append(builtins.int(i))
        else:
            raise TypeError(f"{op}: unsupported index type {type(i).__name__}; use ints, slices, None, "
                            "Ellipsis, or integer/boolean tensors")
    return tuple(out), basic


class _TwoStep(tuple):
    """An index applied in two steps, ``a[first][second]``: PyTorch applies the integers of an
    index (as ``select``) before its index tensors, so integers never count as index tensors,
    where NumPy treats them as advanced indices. ``x[0, :, [1, 2]]`` is (3, 2) in PyTorch and
    (2, 3) in one NumPy step; two steps give PyTorch's layout."""


def _torch_order(idx):
    """``idx`` unchanged, or a :class:`_TwoStep` when it mixes integers with index arrays."""
    if not (builtins.any(type(i) is builtins.int for i in idx)
            and builtins.any(isinstance(i, np.ndarray) for i in idx)):
        return idx
    first, second = [], []
    for i in idx:
        if type(i) is builtins.int:
            first.append(i)
        elif i is None or type(i) is builtins.bool:      # add a dimension: the second step's business
            second.append(i)
        elif i is Ellipsis:
            first.append(i)
            second.append(i)
        else:   # a slice (1 dim) or an index array (1 dim, or ndim dims for a boolean mask)
            n = i.ndim if isinstance(i, np.ndarray) and i.dtype == np.bool_ else 1
            first.extend([slice(None)] * n)
            second.append(i)
    return _TwoStep((tuple(first), tuple(second)))


def _at(a, index):
    """``a[index]`` (a view of ``a`` for the first step of a two-step index)."""
    return a[index[0]][index[1]] if isinstance(index, _TwoStep) else a[index]


def _place(a, index):
    """``(array, index)`` to write ``a[index]`` through: ``a[first]`` is a view of ``a``."""
    return (a[index[0]], index[1]) if isinstance(index, _TwoStep) else (a, index)


def _int_or_none(v):
    if v is None:
        return None
    if isinstance(v, Tensor):
        return builtins.int(v.item())
    return builtins.int(v)


class Index(ArrayFunction):
    """Advanced indexing (a copy); backward accumulates repeated indices."""

    _node_name = "IndexBackward0"

    @staticmethod
    def forward(ctx, x, index):
        ctx.meta = (x.shape, index)
        return _at(x, index)

    @staticmethod
    def backward(ctx, g):
        shape, index = ctx.meta
        out = np.zeros(shape, g.dtype)
        np.add.at(*_place(out, index), g)
        return out

    @staticmethod
    def backward_graph(ctx, g):
        shape, index = ctx.meta

        def scatter(a):
            out = np.zeros(shape, a.dtype)
            np.add.at(*_place(out, index), a)
            return out
        return linear_map(g, scatter, lambda a: _at(a, index))


def getitem(t, index):
    idx, basic = _convert_index(index, "__getitem__")
    if t._data.ndim == 0 and basic and builtins.any(isinstance(i, builtins.int) for i in idx):
        raise IndexError("invalid index of a 0-dim tensor. Use `tensor.item()` in Python or "
                         "`tensor.item<T>()` in C++ to convert a 0-dim tensor to a number")
    if basic:
        return _slice_view(t, idx)
    try:
        return Index.apply(t, _torch_order(idx))
    except IndexError as e:
        raise IndexError(str(e).replace("axis", "dimension")) from None


class IndexPut(ArrayFunction):
    """``out = x.clone(); out[index] = v`` (the graph form of ``x[index] = v``)."""

    _node_name = "IndexPutBackward0"

    @staticmethod
    def forward(ctx, x, v, index):
        ctx.index = index
        out = x.copy()
        dst, i = _place(out, index)
        dst[i] = v
        return out

    @staticmethod
    def backward(ctx, g):
        index = ctx.index
        nx, nv = ctx.needs_input_grad[:2]
        gx = None
        if nx:
            gx = g.copy()
            dst, i = _place(gx, index)
            dst[i] = 0
        return gx, (_at(g, index) if nv else None)

    @staticmethod
    def backward_graph(ctx, g):
        index = ctx.index
        nx, nv = ctx.needs_input_grad[:2]
        shape = g._data.shape

        def keep_rest(a):           # zero the written places: a projection, its own adjoint
            a = a.copy()
            dst, i = _place(a, index)
            dst[i] = 0
            return a

        def scatter(b):
            out = np.zeros(shape, b.dtype)
            np.add.at(*_place(out, index), b)
            return out
        return (linear_map(g, keep_rest, keep_rest) if nx else None), \
            (linear_map(g, lambda a: _at(a, index), scatter) if nv else None)


def setitem(t, index, value):
    idx, _ = _convert_index(index, "__setitem__")
    idx = _torch_order(idx)
    from .inplace import inplace, check_inplace
    if isinstance(value, Tensor):
        if value._requires_grad or t._requires_grad:
            if value._data.dtype != t._data.dtype:
                from .elementwise import to_dtype
                value = to_dtype(value, t._data.dtype)
            return inplace(t, lambda old, v: IndexPut.apply(old, v, idx), value)
        v = value._data
    else:
        v = np.asarray(value)
        if v.dtype.kind == "f" and t._data.dtype.kind in "iub":
            v = v  # numpy truncates like PyTorch's copy into an integer tensor
    if t._requires_grad:
        return inplace(t, lambda old: IndexPut.apply(old, v.astype(t._data.dtype), idx))
    check_inplace(t)
    try:
        dst, i = _place(t._data, idx)
        dst[i] = v
    except ValueError as e:
        raise RuntimeError(f"__setitem__: shape mismatch: value tensor of shape {fmt_shape(np.shape(v))} cannot "
                           f"be broadcast to indexing result ({e})") from None
    t._version[0] += 1


# ---------------------------------------------------------------------------- gather / scatter
def _check_index_tensor(index, op):
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}(): index must be a Tensor, got {type(index).__name__}")
    if index._data.dtype != np.int64:
        raise RuntimeError(f"{op}(): Expected dtype int64 for index")
    return index._data


class Gather(ArrayFunction):
    _node_name = "GatherBackward0"

    @staticmethod
    def forward(ctx, x, axis, idx):
        ctx.meta = (x.shape, axis, idx)
        return np.take_along_axis(x, idx, axis=axis)

    @staticmethod
    def backward(ctx, g):
        shape, axis, idx = ctx.meta
        out = np.zeros(shape, g.dtype)
        _scatter_add_arrays(out, axis, idx, g)
        return out

    @staticmethod
    def backward_graph(ctx, g):
        shape, axis, idx = ctx.meta

        def scatter(a):
            out = np.zeros(shape, a.dtype)
            _scatter_add_arrays(out, axis, idx, a)
            return out
        return linear_map(g, scatter, lambda a: np.take_along_axis(a, idx, axis=axis))


def _scatter_add_arrays(out, axis, idx, src):
    """out[..., idx[i, j], ...] += src[i, j] along ``axis``, accumulating duplicates."""
    full = list(np.indices(idx.shape, sparse=True))
    full[axis] = idx
    np.add.at(out, tuple(full), src[tuple(slice(0, s) for s in idx.shape)])


def _take_along(a, idx, axis):
    """``a`` gathered along ``axis`` by ``idx``, whose other dims may be smaller than ``a``'s."""
    sl = tuple(slice(None) if k == axis else slice(0, n) for k, n in enumerate(idx.shape))
    return np.take_along_axis(a[sl], idx, axis=axis)


def _check_scatter(x, axis, idx, src, op):
    if idx.ndim != x.ndim and idx.size:
        raise RuntimeError(f"{op}(): Index tensor must have the same number of dimensions as self tensor")
    for k in range(idx.ndim):
        if k != axis and idx.shape[k] > x.shape[k]:
            raise RuntimeError(f"{op}(): Expected index {fmt_shape(idx.shape)} to be smaller than self "
                               f"{fmt_shape(x.shape)} apart from dimension {axis}")
        if src is not None and np.ndim(src) and idx.shape[k] > np.shape(src)[k]:
            raise RuntimeError(f"{op}(): Expected index {fmt_shape(idx.shape)} to be smaller than src "
                               f"{fmt_shape(np.shape(src))}")
    n = x.shape[axis] if x.ndim else 1
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise RuntimeError(f"{op}(): index {idx.max() if idx.max() >= n else idx.min()} is out of bounds "
                           f"for dimension {axis} with size {n}")


def _scatter_set_arrays(out, axis, idx, src):
    full = list(np.indices(idx.shape, sparse=True))
    full[axis] = idx
    out[tuple(full)] = src[tuple(slice(0, s) for s in idx.shape)] if np.ndim(src) else src


def gather(input, dim, index, *, sparse_grad=False):
    idx = _check_index_tensor(index, "gather")
    d = norm_dim(dim, input._data.ndim, "gather")
    if idx.ndim != input._data.ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    for k in range(idx.ndim):
        if k != d and idx.shape[k] > input._data.shape[k]:
            raise RuntimeError(f"Size does not match at dimension {k} expected index {fmt_shape(idx.shape)} to be "
                               f"smaller than self {fmt_shape(input._data.shape)} apart from dimension {d}")
    if idx.size and (idx.min() < -input._data.shape[d] or idx.max() >= input._data.shape[d]):
        raise RuntimeError(f"index {idx.max()} is out of bounds for dimension {d} with size {input._data.shape[d]}")
    if builtins.any(idx.shape[k] < input._data.shape[k] for k in range(idx.ndim) if k != d):
        sl = tuple(slice(0, idx.shape[k]) if k != d else slice(None) for k in range(idx.ndim))
        return Gather.apply(input[sl], d, idx)
    return Gather.apply(input, d, idx)


class Scatter(ArrayFunction):
    _node_name = "ScatterBackward0"

    @staticmethod
    def forward(ctx, x, src, axis, idx, add):
        ctx.meta = (axis, idx, add, np.shape(src))
        out = x.copy()
        (_scatter_add_arrays if add else _scatter_set_arrays)(out, axis, idx, src)
        return out

    @staticmethod
    def backward(ctx, g):
        axis, idx, add, src_shape = ctx.meta
        nx, ns = ctx.needs_input_grad[:2]
        gx = gs = None
        if nx:
            gx = g if add else g.copy()
            if not add:
                _scatter_set_arrays(gx, axis, idx, np.zeros((), g.dtype))
        if ns:
            gs = np.zeros(src_shape, g.dtype)
            gs[tuple(slice(0, s) for s in idx.shape)] = _take_along(g, idx, axis)
        return gx, gs

    @staticmethod
    def backward_graph(ctx, g):
        axis, idx, add, src_shape = ctx.meta
        nx, ns = ctx.needs_input_grad[:2]
        shape = g._data.shape
        part = tuple(slice(0, s) for s in idx.shape)

        def keep_rest(a):           # the places a plain scatter overwrote get no gradient
            if add:
                return a
            a = a.copy()
            _scatter_set_arrays(a, axis, idx, np.zeros((), a.dtype))
            return a

        def take(a):
            out = np.zeros(src_shape, a.dtype)
            out[part] = _take_along(a, idx, axis)
            return out

        def put(b):
            out = np.zeros(shape, b.dtype)
            _scatter_add_arrays(out, axis, idx, b[part])
            return out
        return (linear_map(g, keep_rest, keep_rest) if nx else None), (linear_map(g, take, put) if ns else None)


def _on_0d(fn):
    """PyTorch scatters into a 0-d tensor as into a 1-element vector (index and src 0-d too)."""
    def wrapper(input, dim, index, src=None, *args, **kwargs):
        if input.ndim != 0:
            return fn(input, dim, index, src, *args, **kwargs)
        one = (lambda t: t.reshape(1) if isinstance(t, Tensor) else t)
        return fn(input.reshape(1), dim, one(index), one(src), *args, **kwargs).reshape(())
    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    return wrapper


@_on_0d
def scatter(input, dim, index, src=None, *, value=None, reduce=None):
    if src is None:
        src = value
    idx = _check_index_tensor(index, "scatter")
    d = norm_dim(dim, input._data.ndim, "scatter")
    if reduce in ("add", "multiply") and not isinstance(src, Tensor):
        src = _wrap(np.full(idx.shape, src, dtype=input._data.dtype))
    if reduce == "add":
        return scatter_add(input, dim, index, src)
    if reduce == "multiply":
        return scatter_reduce(input, dim, index, src, "prod")
    if reduce is not None:
        raise RuntimeError(f"reduce argument must be either add or multiply, got {reduce}")
    if not isinstance(src, Tensor):
        src = np.asarray(src, dtype=input._data.dtype)
    elif src._data.dtype != input._data.dtype:
        raise RuntimeError(f"scatter(): Expected self.dtype to be equal to src.dtype (got {input._data.dtype} "
                           f"and {src._data.dtype})")
    _check_scatter(input._data, d, idx, src._data if isinstance(src, Tensor) else None, "scatter")
    return Scatter.apply(input, src, d, idx, False)


@_on_0d
def scatter_add(input, dim, index, src):
    idx = _check_index_tensor(index, "scatter_add")
    d = norm_dim(dim, input._data.ndim, "scatter_add")
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_add(): argument 'src' must be Tensor, not {type(src).__name__}")
    if src._data.dtype != input._data.dtype:
        raise RuntimeError("scatter_add(): Expected self.dtype to be equal to src.dtype")
    _check_scatter(input._data, d, idx, src._data, "scatter_add")
    return Scatter.apply(input, src, d, idx, True)


# the value a position starts from when include_self=False: the reduction's identity
def _reduce_identity(reduce, dtype):
    if reduce in ("sum", "mean"):
        return 0
    if reduce == "prod":
        return 1
    big = np.inf if dtype.kind == "f" else (np.iinfo(dtype).max if dtype.kind in "iu" else True)
    small = -np.inf if dtype.kind == "f" else (np.iinfo(dtype).min if dtype.kind in "iu" else False)
    return small if reduce == "amax" else big


_REDUCE_UFUNC = {"sum": np.add, "mean": np.add, "prod": np.multiply, "amax": np.maximum, "amin": np.minimum}


def _scatter_reduce_arrays(x, axis, idx, src, reduce, include_self):
    """``x.scatter_reduce(axis, idx, src, reduce, include_self)`` on arrays: an unbuffered
    ``ufunc.at`` accumulates every duplicate index; 'mean' divides by the count (floor
    division for integers, as PyTorch)."""
    out = x.copy()
    full = list(np.indices(idx.shape, sparse=True))
    full[axis] = idx
    full = tuple(full)
    region = src[tuple(slice(0, n) for n in idx.shape)]
    if not include_self:
        out[full] = _reduce_identity(reduce, out.dtype)
    _REDUCE_UFUNC[reduce].at(out, full, region)
    if reduce == "mean":
        count = np.ones(x.shape, np.int64) if include_self else np.zeros(x.shape, np.int64)
        np.add.at(count, full, 1)
        count = np.maximum(count, 1)
        out = out // count.astype(out.dtype) if out.dtype.kind in "iub" else (out / count).astype(out.dtype)
    return out, full, region


class ScatterReduce(ArrayFunction):
    """``scatter_reduce``; the gradients are PyTorch's (``scatter_reduce_backward``): 'prod'
    divides the result by each factor, with zeros handled exactly (a lone zero gets the product
    of the others, two zeros give 0); 'amax'/'amin' share the gradient evenly among ties."""

    _node_name = "ScatterReduceBackward0"

    @staticmethod
    def forward(ctx, x, src, axis, idx, reduce, include_self):
        out, _, _ = _scatter_reduce_arrays(x, axis, idx, src, reduce, include_self)
        ctx.meta = (x, src, out, axis, idx, reduce, include_self)
        return out

    @staticmethod
    def backward(ctx, g):
        x, src, out, axis, idx, reduce, include_self = ctx.meta
        full = list(np.indices(idx.shape, sparse=True))
        full[axis] = idx
        full = tuple(full)
        region = src[tuple(slice(0, n) for n in idx.shape)]

        def scatter_add(values):            # zeros shaped like x, + values at the scattered positions
            acc = np.zeros(x.shape, g.dtype)
            np.add.at(acc, full, values)
            return acc
        if reduce == "sum":
            gx, gs = g, g[full]
        elif reduce == "mean":
            n = scatter_add(np.ones(idx.shape, g.dtype)) + (1 if include_self else 0)
            gx = g / np.maximum(n, 1)
            gs = gx[full]
        elif reduce in ("amax", "amin"):
            self_is = (x == out).astype(g.dtype)
            src_is = (region == out[full]).astype(g.dtype)
            share = g / (self_is + scatter_add(src_is))
            gx, gs = self_is * share, src_is * share[full]
        else:                               # prod
            masked_self = np.where(x == 0, 1, x)
            others = _scatter_reduce_arrays(masked_self, axis, idx, src, reduce, include_self)[0]
            gx = g * others / masked_self
            zero = region == 0
            lone = zero & (scatter_add(zero.astype(g.dtype))[full] == 1)
            without = _scatter_reduce_arrays(x, axis, idx, np.where(lone, 1, region), reduce, include_self)[0]
            gs = np.where(lone, (g * without)[full], (g * out)[full] / np.where(zero, 1, region))
        if not include_self:
            gx = gx.copy()
            gx[full] = 0
        gsrc = np.zeros(src.shape, g.dtype)
        gsrc[tuple(slice(0, n) for n in idx.shape)] = gs
        return gx, gsrc

    @staticmethod
    def backward_graph(ctx, g):
        # sum, mean, amax, amin: both gradients are g times constants (counts, tie shares), the
        # source's gathered at the scattered positions: linear maps with a scatter as adjoint
        x, src, out, axis, idx, reduce, include_self = ctx.meta
        if reduce == "prod":
            from ..autograd.function import once_differentiable_result
            return once_differentiable_result(ctx, [g], ScatterReduce._backward_arrays(ctx, [g._data]))
        dt = g._data.dtype
        cx, _ = ScatterReduce.backward(ctx, np.ones(x.shape, dt))          # gx = g * cx
        full = list(np.indices(idx.shape, sparse=True))
        full[axis] = idx
        full = tuple(full)
        region = tuple(slice(0, n) for n in idx.shape)
        if reduce == "sum":
            d, m = np.ones(x.shape, dt), np.ones(idx.shape, dt)
        elif reduce == "mean":
            n = np.zeros(x.shape, dt)
            np.add.at(n, full, 1)
            d, m = 1 / np.maximum(n + (1 if include_self else 0), 1), np.ones(idx.shape, dt)
        else:
            self_is = (x == out).astype(dt)
            m = (src[region] == out[full]).astype(dt)
            taken = np.zeros(x.shape, dt)
            np.add.at(taken, full, m)
            d = 1 / (self_is + taken)

        def take(a):                        # gs = m * (a * d) at the scattered positions
            gs = np.zeros(src.shape, a.dtype)
            gs[region] = m * (a * d)[full]
            return gs

        def put(b):
            acc = np.zeros(x.shape, b.dtype)
            np.add.at(acc, full, m * b[region])
            return acc * d
        nx, ns = ctx.needs_input_grad[:2]
        return (g * _wrap(cx) if nx else None), (linear_map(g, take, put) if ns else None)


@_on_0d
def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    """``torch.scatter_reduce``: ``input`` with ``src`` reduced into it along ``dim`` at
    ``index`` by 'sum', 'prod', 'mean', 'amax' or 'amin' (``include_self``: whether input's own
    value at a scattered position takes part)."""
    reduce = {"max": "amax", "min": "amin"}.get(reduce, reduce)      # PyTorch accepts both spellings
    if reduce not in _REDUCE_UFUNC:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    idx = _check_index_tensor(index, "scatter_reduce")
    d = norm_dim(dim, input._data.ndim, "scatter_reduce")
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_reduce(): argument 'src' must be Tensor, not {type(src).__name__}")
    if src._data.dtype != input._data.dtype:
        raise RuntimeError(f"scatter(): Expected self.dtype to be equal to src.dtype (got {input._data.dtype} "
                           f"and {src._data.dtype})")
    _check_scatter(input._data, d, idx, src._data, "scatter_reduce")
    return ScatterReduce.apply(input, src, d, idx, reduce, builtins.bool(include_self))


class IndexSelect(ArrayFunction):
    _node_name = "IndexSelectBackward0"

    @staticmethod
    def forward(ctx, x, axis, idx):
        ctx.meta = (x.shape, axis, idx)
        return np.take(x, idx, axis=axis)

    @staticmethod
    def backward(ctx, g):
        shape, axis, idx = ctx.meta
        out = np.zeros(shape, g.dtype)
        np.add.at(out, (slice(None),) * axis + (idx,), g)
        return out

    @staticmethod
    def backward_graph(ctx, g):
        shape, axis, idx = ctx.meta
        return linear_map(g, lambda a: IndexSelect.backward(BareCtx(meta=(shape, axis, idx)), a),
                          lambda a: np.take(a, idx, axis=axis))


def index_select(input, dim, index):
    if not isinstance(index, Tensor) or index._data.dtype.kind not in "iu":
        raise RuntimeError("index_select(): Expected dtype int32/int64 for index")
    if index._data.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    d = norm_dim(dim, input._data.ndim, "index_select") if input._data.ndim else 0
    idx = index._data.reshape(-1)
    n = input._data.shape[d] if input._data.ndim else 1
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"index out of range in self (index_select on dimension {d} of size {n})")
    if input._data.ndim == 0:
        return input.clone()
    return IndexSelect.apply(input, d, idx)


def take(input, index):
    return getitem(input.reshape(-1), index)


def take_along_dim(input, indices, dim=None):
    if dim is None:
        return gather(input.reshape(-1), 0, indices.reshape(-1))
    return gather(input, dim, indices)


class MaskedFill(ArrayFunction):
    _node_name = "MaskedFillBackward0"

    @staticmethod
    def forward(ctx, x, mask, value):
        ctx.mask = mask
        return np.where(mask, value, x).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        m = ctx.mask
        nx, _, nv = ctx.needs_input_grad
        z = g.dtype.type(0)
        return (np.where(m, z, g) if nx else None), None, \
            (np.where(m, g, z).sum() if nv else None)

    @staticmethod
    def backward_graph(ctx, g):
        from .elementwise import where
        m = _wrap(ctx.mask)
        nx, _, nv = ctx.needs_input_grad
        z = g * 0
        return (where(m, z, g) if nx else None), None, (where(m, g, z).sum() if nv else None)


def masked_fill(input, mask, value):
    m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{D.from_numpy_dtype(m.dtype).name}")
    try:
        np.broadcast_shapes(m.shape, input._data.shape)
    except ValueError:
        raise RuntimeError(f"masked_fill: the size of the mask {fmt_shape(m.shape)} must match the size of "
                           f"tensor {fmt_shape(input._data.shape)}") from None
    if isinstance(value, Tensor):
        if value._data.ndim != 0:
            raise RuntimeError("masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value._data.ndim} dimension(s).")
        if value._data.dtype != input._data.dtype:
            value = value.to(input.dtype)
        return MaskedFill.apply(input, m, value)
    return MaskedFill.apply(input, m, np.asarray(value, dtype=input._data.dtype))


def masked_select(input, mask):
    m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    shape = np.broadcast_shapes(m.shape, input._data.shape)
    from .shape import expand
    x = expand(input, shape) if input._data.shape != shape else input
    return getitem(x, _wrap(np.broadcast_to(m, shape)))


def nonzero(input, *, as_tuple=False):
    nz = np.nonzero(input._data) if input._data.ndim else ()
    if as_tuple:
        if input._data.ndim == 0:
            return (_wrap(np.zeros(builtins.int(builtins.bool(input._data)), np.int64)),)
        return tuple(_wrap(a.astype(np.int64)) for a in nz)
    if input._data.ndim == 0:
        return _wrap(np.zeros((builtins.int(builtins.bool(input._data)), 0), np.int64))
    return _wrap(np.stack(nz, axis=1).astype(np.int64) if nz else np.zeros((0, 0), np.int64))


def argwhere(input):
    return nonzero(input)


class IndexAdd(ArrayFunction):
    _node_name = "IndexAddBackward0"

    @staticmethod
    def forward(ctx, x, axis, idx, src, alpha):
        ctx.meta = (axis, idx, alpha)
        out = x.copy()
        np.add.at(out, (slice(None),) * axis + (idx,), src * alpha if alpha != 1 else src)
        return out

    @staticmethod
    def backward(ctx, g):
        axis, idx, alpha = ctx.meta
        nx, _, _, ns, _ = ctx.needs_input_grad
        gs = np.take(g, idx, axis=axis) if ns else None
        if gs is not None and alpha != 1:
            gs = gs * alpha
        return (g if nx else None), None, None, gs, None

    @staticmethod
    def backward_graph(ctx, g):
        axis, idx, alpha = ctx.meta
        nx, _, _, ns, _ = ctx.needs_input_grad
        shape = g._data.shape
        at = (slice(None),) * axis + (idx,)

        def put(b):
            out = np.zeros(shape, b.dtype)
            np.add.at(out, at, b * alpha if alpha != 1 else b)
            return out

        def take(a):
            t = np.take(a, idx, axis=axis)
            return t * alpha if alpha != 1 else t
        return (g if nx else None), None, None, (linear_map(g, take, put) if ns else None), None


def index_add(input, dim, index, source, *, alpha=1):
    d = norm_dim(dim, input._data.ndim, "index_add")
    return IndexAdd.apply(input, d, index._data.reshape(-1), source, alpha)


def index_fill(input, dim, index, value):
    d = norm_dim(dim, input._data.ndim, "index_fill")
    mask = np.zeros(input._data.shape[d], bool)
    mask[index._data.reshape(-1)] = True
    shape = [1] * input._data.ndim
    shape[d] = -1
    return masked_fill(input, _wrap(mask.reshape(shape)), value)


def index_put(input, indices, values, accumulate=False):
    idx, _ = _convert_index(tuple(indices), "index_put")
    if accumulate:
        out = input.clone()
        from .inplace import inplace
        return inplace(out, lambda old, v: _IndexAccumulate.apply(old, v, idx), values)
    if not isinstance(values, Tensor):
        values = np.asarray(values, input._data.dtype)
    return IndexPut.apply(input, values, idx)


class _IndexAccumulate(ArrayFunction):
    _node_name = "IndexPutBackward0"

    @staticmethod
    def forward(ctx, x, v, index):
        ctx.index = index
        out = x.copy()
        np.add.at(out, index, v)
        return out

    @staticmethod
    def backward(ctx, g):
        return g, g[ctx.index]

    @staticmethod
    def backward_graph(ctx, g):
        index, shape = ctx.index, g._data.shape

        def put(b):
            out = np.zeros(shape, b.dtype)
            np.add.at(out, index, b)
            return out
        return g, linear_map(g, lambda a: a[index], put)
