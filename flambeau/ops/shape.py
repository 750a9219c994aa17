"""Shape ops: views (view, reshape, transpose, permute, expand, squeeze, narrow, split …)
and copies (cat, stack, repeat, flip, roll, tril/triu, sort, topk).

A view shares its base's memory and version counter, and remembers how to re-derive itself
from its base (``_view_fn``), so an in-place op through the view can update the base's graph.
"""
from __future__ import annotations

import builtins

import numpy as np

from ..autograd.function import ArrayFunction, BareCtx, linear_map, linear_op_backward_graph
from .._tensor import Tensor, _wrap
from ._util import norm_dim, norm_dims, shape_arg, fmt_shape


def _as_view(out, base, fn):
    """Mark ``out`` as a view of ``base`` made by ``fn(base_array)``."""
    root = base._base
    if root is None:
        out._base = base
        out._view_fn = fn
    else:
        parent_fn = base._view_fn
        out._base = root
        out._view_fn = lambda a: fn(parent_fn(a))
    out._version = base._version
    out._view_version = base._version[0]
    return out


def _view_index(shape, view_fn):
    """For each element of the view ``view_fn`` makes of an array of ``shape``: its flat index
    in that array (views are shape-only functions, so an arange reveals the mapping)."""
    n = 1
    for s in shape:
        n *= s
    return np.asarray(view_fn(np.arange(n).reshape(shape))), n


class ViewOf(ArrayFunction):
    """The regenerated history of a view whose base was modified in place: the view's elements
    taken from the base's current value (PyTorch's ``AsStridedBackward0``)."""

    _node_name = "AsStridedBackward0"

    @staticmethod
    def forward(ctx, base, view_arr, view_fn):
        ctx.meta = (base.shape, view_fn)
        return view_arr

    @staticmethod
    def backward(ctx, g):
        shape, view_fn = ctx.meta
        idx, n = _view_index(shape, view_fn)
        if g.shape != idx.shape:
            g = np.broadcast_to(g, idx.shape)
        out = np.bincount(idx.reshape(-1), weights=g.reshape(-1), minlength=n)
        return out.astype(g.dtype, copy=False).reshape(shape), None, None

    @staticmethod
    def backward_graph(ctx, g):
        shape, view_fn = ctx.meta
        bare = BareCtx(meta=(shape, view_fn))
        return linear_map(g, lambda a: ViewOf.backward(bare, a)[0], lambda a: np.array(view_fn(a))), None, None


# ---------------------------------------------------------------------------- view / reshape
class Reshape(ArrayFunction):
    _node_name = "ViewBackward0"

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.in_shape)

    backward_graph = backward


def _infer_shape(shape, numel, op):
    neg = [i for i, s in enumerate(shape) if s == -1]
    if len(neg) > 1:
        raise RuntimeError(f"{op}: only one dimension can be inferred")
    for i, s in enumerate(shape):
        if s < -1:
            raise RuntimeError(f"invalid shape dimension {s} at index {i} of shape {fmt_shape(shape)}")
    known = 1
    for s in shape:
        if s != -1:
            known *= s
    if neg:
        if known == 0:
            raise RuntimeError(f"cannot reshape tensor of {numel} elements into shape {fmt_shape(shape)} because "
                               "the unspecified dimension size -1 can be any value and is ambiguous")
        if numel % known:
            raise RuntimeError(f"shape '{fmt_shape(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise RuntimeError(f"shape '{fmt_shape(shape)}' is invalid for input of size {numel}")
    return shape


def view(input, *shape):
    if len(shape) == 1 and not isinstance(shape[0], (builtins.int, np.integer, tuple, list)):
        return _view_dtype(input, shape[0])
    shape = _infer_shape(shape_arg(shape, "view"), input._data.size, "view")
    try:
        np.reshape(input._data, shape, copy=False)
    except ValueError:
        raise RuntimeError(f"view size is not compatible with input tensor's size and stride (at least one "
                           f"dimension spans across two contiguous subspaces). Use .reshape(...) instead. "
                           f"(input shape {fmt_shape(input._data.shape)}, requested {fmt_shape(shape)})") from None
    out = Reshape.apply(input, shape)
    return _as_view(out, input, lambda a: a.reshape(shape))


def _view_dtype(input, dtype):
    """``view(dtype)``: the same bytes reinterpreted (same element size only), sharing memory."""
    from .. import _dtype as D
    dt = D.as_dtype(dtype).np
    a = input._data
    if dt == a.dtype:
        return view(input, a.shape)
    if dt.itemsize != a.itemsize:
        raise RuntimeError(f"view(dtype): flambeau only reinterprets between dtypes of the same element size "
                           f"({a.dtype} has {a.itemsize} bytes, {dt} has {dt.itemsize})")
    out = _wrap(a.view(dt))
    return _as_view(out, input, lambda arr: arr.view(dt))


def reshape(input, *shape):
    shape = _infer_shape(shape_arg(shape, "reshape"), input._data.size, "reshape")
    if shape == input._data.shape:
        out = Reshape.apply(input, shape)
        return _as_view(out, input, lambda a: a)
    out = Reshape.apply(input, shape)
    if np.may_share_memory(out._data, input._data):
        _as_view(out, input, lambda a: a.reshape(shape))
    return out


def view_as(input, other):
    return view(input, other.shape)


def reshape_as(input, other):
    return reshape(input, other.shape)


def flatten(input, start_dim=0, end_dim=-1):
    nd = input._data.ndim
    if nd == 0:
        return reshape(input, 1)
    s = norm_dim(start_dim, nd, "flatten")
    e = norm_dim(end_dim, nd, "flatten")
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shp = input._data.shape
    n = 1
    for d in shp[s:e + 1]:
        n *= d
    return reshape(input, shp[:s] + (n,) + shp[e + 1:])


def ravel(input):
    return reshape(input, -1)


def unflatten(input, dim, sizes):
    d = norm_dim(dim, input._data.ndim, "unflatten")
    shp = input._data.shape
    sizes = tuple(sizes)
    if -1 in sizes:
        known = 1
        for s in sizes:
            if s != -1:
                known *= s
        sizes = tuple(shp[d] // known if s == -1 else s for s in sizes)
    n = 1
    for s in sizes:
        n *= s
    if n != shp[d]:
        raise RuntimeError(f"unflatten: Provided sizes {fmt_shape(sizes)} don't multiply up to the size of "
                           f"dim {dim} ({shp[d]}) in the input tensor")
    return view(input, shp[:d] + sizes + shp[d + 1:]) if input._data.flags.c_contiguous else \
        reshape(input, shp[:d] + sizes + shp[d + 1:])


# ---------------------------------------------------------------------------- permutations
class Permute(ArrayFunction):
    _node_name = "PermuteBackward0"

    @staticmethod
    def forward(ctx, x, perm):
        ctx.perm = perm
        return x.transpose(perm)

    @staticmethod
    def backward(ctx, g):
        return g.transpose(np.argsort(ctx.perm))

    @staticmethod
    def backward_graph(ctx, g):
        return g.permute(tuple(int(i) for i in np.argsort(ctx.perm)))


def permute(input, *dims):
    dims = shape_arg(dims, "permute")
    nd = input._data.ndim
    if len(dims) != nd:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match "
                           f"the length of the desired ordering of dimensions i.e. input.dim() = {nd} is not "
                           f"equal to len(dims) = {len(dims)}")
    perm = tuple(norm_dim(d, nd, "permute") for d in dims)
    if len(set(perm)) != nd:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    out = Permute.apply(input, perm)
    return _as_view(out, input, lambda a: a.transpose(perm))


def transpose(input, dim0, dim1):
    nd = input._data.ndim
    if nd == 0:
        return _as_view(Permute.apply(input, ()), input, lambda a: a)
    d0, d1 = norm_dim(dim0, nd, "transpose"), norm_dim(dim1, nd, "transpose")
    perm = list(range(nd))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    perm = tuple(perm)
    out = Permute.apply(input, perm)
    return _as_view(out, input, lambda a: a.transpose(perm))


swapaxes = swapdims = transpose


def t(input):
    if input._data.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input._data.ndim}D")
    return transpose(input, 0, 1) if input._data.ndim == 2 else _as_view(
        Permute.apply(input, tuple(range(input._data.ndim))), input, lambda a: a)


def movedim(input, source, destination):
    nd = input._data.ndim
    src = [source] if isinstance(source, builtins.int) else list(source)
    dst = [destination] if isinstance(destination, builtins.int) else list(destination)
    src = [norm_dim(s, nd, "movedim") for s in src]
    dst = [norm_dim(d, nd, "movedim") for d in dst]
    order = [n for n in range(nd) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(input, tuple(order))


moveaxis = movedim


# ---------------------------------------------------------------------------- expand / squeeze
class Expand(ArrayFunction):
    _node_name = "ExpandBackward0"

    @staticmethod
    def forward(ctx, x, shape):
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, g):
        return g  # the engine sums the broadcast dims back to the input's shape

    backward_graph = backward


def expand(input, *sizes):
    sizes = shape_arg(sizes, "expand")
    shp = input._data.shape
    if len(sizes) < len(shp):
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal "
                           f"to the number of dimensions in the tensor ({len(shp)})")
    lead = len(sizes) - len(shp)
    target = []
    for i, s in enumerate(sizes):
        if i < lead:
            if s < 0:
                raise RuntimeError(f"expand: -1 is not allowed in a leading, non-existing dimension {i}")
            target.append(s)
            continue
        cur = shp[i - lead]
        if s == -1:
            target.append(cur)
        elif cur == 1 or cur == s:
            target.append(s)
        else:
            raise RuntimeError(f"The expanded size of the tensor ({s}) must match the existing size ({cur}) at "
                               f"non-singleton dimension {i}.  Target sizes: {fmt_shape(sizes)}.  Tensor sizes: "
                               f"{fmt_shape(shp)}")
    target = tuple(target)
    out = Expand.apply(input, target)
    return _as_view(out, input, lambda a: np.broadcast_to(a, target))


def expand_as(input, other):
    return expand(input, other.shape)


def broadcast_to(input, shape):
    return expand(input, shape)


def broadcast_tensors(*tensors):
    shape = np.broadcast_shapes(*(t._data.shape for t in tensors))
    return tuple(expand(t, shape) for t in tensors)


def squeeze(input, dim=None):
    shp = input._data.shape
    if dim is None:
        new = tuple(s for s in shp if s != 1)
    else:
        dims = norm_dims(dim, len(shp), "squeeze") if shp else ()
        new = tuple(s for i, s in enumerate(shp) if not (i in dims and s == 1))
    out = Reshape.apply(input, new)
    return _as_view(out, input, lambda a: a.reshape(new))


def unsqueeze(input, dim):
    nd = input._data.ndim
    d = norm_dim(dim, nd + 1, "unsqueeze")
    new = input._data.shape[:d] + (1,) + input._data.shape[d:]
    out = Reshape.apply(input, new)
    return _as_view(out, input, lambda a: a.reshape(new))


# ---------------------------------------------------------------------------- slicing views
class Slice(ArrayFunction):
    """Basic indexing (ints, slices, None, Ellipsis): a view of the input."""

    _node_name = "SliceBackward0"

    @staticmethod
    def forward(ctx, x, index):
        ctx.meta = (x.shape, x.dtype, index)
        out = x[index]
        # integers selecting one element give a NumPy scalar (a copy): take the 0-d view instead
        return out if type(out) is np.ndarray else x[_keep_0d(index)]

    @staticmethod
    def backward(ctx, g):
        shape, dtype, index = ctx.meta
        out = np.zeros(shape, g.dtype)
        out[index] = g
        return out

    @staticmethod
    def backward_graph(ctx, g):
        shape, dtype, index = ctx.meta

        def scatter(a):
            out = np.zeros(shape, a.dtype)
            out[index] = a
            return out
        return linear_map(g, scatter, lambda a: a[index])


def _keep_0d(index):
    """``index`` with a trailing Ellipsis: NumPy then returns a 0-d *view* where integers select a
    single element (``x[1]`` of a vector), not a scalar copy, so in-place ops through it reach x."""
    if not isinstance(index, tuple):
        index = (index,)
    return index if any(i is Ellipsis for i in index) else index + (Ellipsis,)


def _slice_view(input, index):
    out = Slice.apply(input, index)
    return _as_view(out, input, lambda a: a[_keep_0d(index)])


def narrow(input, dim, start, length):
    d = norm_dim(dim, input._data.ndim, "narrow")
    size = input._data.shape[d]
    if isinstance(start, Tensor):
        start = builtins.int(start.item())
    if start < 0:
        start += size
    if not (0 <= start <= size and 0 <= length and start + length <= size):
        raise IndexError(f"narrow(): start ({start}) + length ({length}) exceeds dimension size ({size}).")
    index = (slice(None),) * d + (slice(start, start + length),)
    return _slice_view(input, index)


def select(input, dim, index):
    d = norm_dim(dim, input._data.ndim, "select")
    size = input._data.shape[d]
    if not -size <= index < size:
        raise IndexError(f"select(): index {index} out of range for tensor of size "
                         f"{fmt_shape(input._data.shape)} at dimension {dim}")
    return _slice_view(input, (slice(None),) * d + (index % size,))


class SplitOp(ArrayFunction):
    """Split along a dim into views; one node with several outputs."""

    _node_name = "SplitWithSizesBackward0"

    @staticmethod
    def forward(ctx, x, axis, bounds):
        ctx.meta = (x.shape, axis, bounds)
        idx = (slice(None),) * axis
        return tuple(x[idx + (slice(a, b),)] for a, b in bounds)

    @staticmethod
    def backward(ctx, *grads):
        shape, axis, bounds = ctx.meta
        return np.concatenate(grads, axis=axis) if grads else np.zeros(shape)

    @staticmethod
    def backward_graph(ctx, *grads):
        from .. import cat
        shape, axis, bounds = ctx.meta
        return cat(grads, axis) if grads else _wrap(np.zeros(shape))


def _split_bounds(size, sizes):
    bounds, a = [], 0
    for s in sizes:
        bounds.append((a, a + s))
        a += s
    return tuple(bounds)


def _split(input, axis, sizes):
    bounds = _split_bounds(input._data.shape[axis], sizes)
    outs = SplitOp.apply(input, axis, bounds)
    idx = (slice(None),) * axis
    for o, (a, b) in zip(outs, bounds):
        _as_view(o, input, (lambda lo, hi: lambda arr: arr[idx + (slice(lo, hi),)])(a, b))
    return outs


def split(tensor, split_size_or_sections, dim=0):
    d = norm_dim(dim, tensor._data.ndim, "split")
    size = tensor._data.shape[d]
    if isinstance(split_size_or_sections, (builtins.int, np.integer)):
        s = builtins.int(split_size_or_sections)
        if s <= 0 and size:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {size}")
        sizes = [s] * (size // s) + ([size % s] if size % s else []) if s else [0]
        if not sizes:
            sizes = [0]  # an empty dimension still gives one (empty) piece
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != size:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {size} (input tensor's "
                               f"size at dimension {dim}), but got split_sizes={sizes}")
    return _split(tensor, d, sizes)


def chunk(input, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    d = norm_dim(dim, input._data.ndim, "chunk")
    size = input._data.shape[d]
    step = -(-size // chunks) if size else 1
    return split(input, step, d) if size else _split(input, d, [0] * chunks)


def tensor_split(input, indices_or_sections, dim=0):
    d = norm_dim(dim, input._data.ndim, "tensor_split")
    size = input._data.shape[d]
    if isinstance(indices_or_sections, builtins.int):
        n = indices_or_sections
        q, r = divmod(size, n)
        sizes = [q + 1] * r + [q] * (n - r)
    else:
        idx = [0] + [builtins.min(builtins.max(i, 0), size) for i in indices_or_sections] + [size]
        sizes = [builtins.max(b - a, 0) for a, b in zip(idx[:-1], idx[1:])]
    return _split(input, d, sizes)


def unbind(input, dim=0):
    d = norm_dim(dim, input._data.ndim, "unbind")
    n = input._data.shape[d]
    parts = _split(input, d, [1] * n)
    return tuple(squeeze(p, d) for p in parts)


def _diagonal_array(a, offset, d1, d2):
    """The writable strided view of ``a``'s diagonal between axes d1 and d2, as the last axis."""
    shp, st = a.shape, a.strides
    sl = [slice(None)] * a.ndim
    if offset >= 0:
        n = builtins.max(builtins.min(shp[d1], shp[d2] - offset), 0)
        sl[d2] = slice(builtins.min(offset, shp[d2]), None)
    else:
        n = builtins.max(builtins.min(shp[d1] + offset, shp[d2]), 0)
        sl[d1] = slice(builtins.min(-offset, shp[d1]), None)
    keep = [k for k in range(a.ndim) if k not in (d1, d2)]
    return np.lib.stride_tricks.as_strided(a[tuple(sl)], tuple(shp[k] for k in keep) + (n,),
                                           tuple(st[k] for k in keep) + (st[d1] + st[d2],))


class _Diagonal(ArrayFunction):
    _node_name = "DiagonalBackward0"

    @staticmethod
    def forward(ctx, x, offset, d1, d2):
        ctx.meta = (x.shape, offset, d1, d2)
        return _diagonal_array(x, offset, d1, d2)

    @staticmethod
    def backward(ctx, g):
        shape, offset, d1, d2 = ctx.meta
        out = np.zeros(shape, g.dtype)
        if out.size:
            _diagonal_array(out, offset, d1, d2)[...] = g
        return out

    backward_graph = linear_op_backward_graph(lambda meta: meta[1:])


def diagonal(input, offset=0, dim1=0, dim2=1):
    nd = input._data.ndim
    d1 = norm_dim(dim1, nd, "diagonal")
    d2 = norm_dim(dim2, nd, "diagonal")
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    out = _Diagonal.apply(input, offset, d1, d2)
    return _as_view(out, input, lambda a: _diagonal_array(a, offset, d1, d2))


# ---------------------------------------------------------------------------- joins
def _skipped(x):
    """PyTorch's legacy rule: a 1-D empty tensor is skipped by cat whatever the other shapes."""
    return x.ndim == 1 and x.shape[0] == 0


class Cat(ArrayFunction):
    _node_name = "CatBackward0"

    @staticmethod
    def forward(ctx, axis, *xs):
        ctx.meta = (axis, [None if _skipped(x) else x.shape[axis] for x in xs])
        return np.concatenate([x for x in xs if not _skipped(x)], axis=axis)

    @staticmethod
    def backward(ctx, g):
        axis, sizes = ctx.meta
        kept = [s for s in sizes if s is not None]
        parts = iter(np.split(g, np.cumsum(kept)[:-1], axis=axis))
        return (None,) + tuple(np.zeros(0, g.dtype) if s is None else next(parts) for s in sizes)

    @staticmethod
    def backward_graph(ctx, g):
        axis, sizes = ctx.meta
        out, start = [None], 0
        for s in sizes:
            if s is None:
                out.append(_wrap(np.zeros(0, g._data.dtype)))
                continue
            out.append(g.narrow(axis, start, s))
            start += s
        return tuple(out)


def cat(tensors, dim=0, *, out=None):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    from .. import _dtype as D
    from .elementwise import to_dtype, _out
    # legacy: 1-D empty tensors are skipped
    nonempty = [t for t in tensors if not (t._data.ndim == 1 and t._data.shape[0] == 0)]
    if not nonempty:
        return _out(tensors[0].clone(), out)
    dt = D.result_type(*tensors).np
    tensors = [t if t._data.dtype == dt else to_dtype(t, dt) for t in tensors]
    nonempty = [t for t in tensors if not _skipped(t._data)]
    ref = nonempty[0]._data
    if ref.ndim == 0:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    d = norm_dim(dim, ref.ndim, "cat")
    for i, t in enumerate(nonempty):
        s = t._data.shape
        if len(s) != ref.ndim:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {ref.ndim} and {len(s)}")
        for k in range(ref.ndim):
            if k != d and s[k] != ref.shape[k]:
                raise RuntimeError(f"cat(): Sizes of tensors must match except in dimension {d}. Expected size "
                                   f"{ref.shape[k]} but got size {s[k]} for tensor number {i} in the list "
                                   f"(shapes {fmt_shape(ref.shape)} and {fmt_shape(s)}).")
    return _out(Cat.apply(d, *tensors), out)


concat = concatenate = cat


def stack(tensors, dim=0, *, out=None):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    s0 = tensors[0]._data.shape
    for i, t in enumerate(tensors):
        if t._data.shape != s0:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {fmt_shape(s0)} at entry 0 "
                               f"and {fmt_shape(t._data.shape)} at entry {i}")
    d = norm_dim(dim, len(s0) + 1, "stack")
    return cat([unsqueeze(t, d) for t in tensors], d, out=out)


def hstack(tensors):
    tensors = list(tensors)
    return cat(tensors, 0 if tensors[0]._data.ndim == 1 else 1)


def vstack(tensors):
    return cat([t.reshape(1, -1) if t._data.ndim == 1 else t for t in tensors], 0)


# ---------------------------------------------------------------------------- repeat, flip, roll
class Repeat(ArrayFunction):
    _node_name = "RepeatBackward0"

    @staticmethod
    def forward(ctx, x, reps):
        lead = len(reps) - x.ndim
        xs = (1,) * lead + x.shape
        ctx.meta = (x.shape, xs, reps)
        return np.tile(x.reshape(xs), reps)

    @staticmethod
    def backward(ctx, g):
        shape, xs, reps = ctx.meta
        inter = []
        for r, s in zip(reps, xs):
            inter += [r, s]
        g = g.reshape(inter).sum(axis=tuple(range(0, 2 * len(reps), 2)))
        return g.reshape(shape)

    backward_graph = linear_op_backward_graph(lambda meta: (meta[2],))


def repeat(input, *sizes):
    reps = shape_arg(sizes, "repeat")
    if len(reps) < input._data.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions "
                           "of tensor")
    return Repeat.apply(input, reps)


def tile(input, dims):
    reps = tuple(dims)
    if len(reps) < input._data.ndim:
        reps = (1,) * (input._data.ndim - len(reps)) + reps
    return Repeat.apply(input, reps)


def repeat_interleave(input, repeats, dim=None):
    from .indexing import index_select
    from .._creation import tensor as _tensor
    if dim is None:
        input, dim = reshape(input, -1), 0
    d = norm_dim(dim, input._data.ndim, "repeat_interleave")
    r = repeats._data if isinstance(repeats, Tensor) else repeats
    idx = np.repeat(np.arange(input._data.shape[d]), r)
    return index_select(input, d, _tensor(idx))


class Flip(ArrayFunction):
    _node_name = "FlipBackward0"

    @staticmethod
    def forward(ctx, x, axes):
        ctx.axes = axes
        return np.flip(x, axes).copy()

    @staticmethod
    def backward(ctx, g):
        return np.flip(g, ctx.axes)

    @staticmethod
    def backward_graph(ctx, g):
        return Flip.apply(g, ctx.axes)


def flip(input, dims):
    dims = (dims,) if isinstance(dims, builtins.int) else tuple(dims)
    return Flip.apply(input, norm_dims(dims, input._data.ndim, "flip"))


def fliplr(input):
    return flip(input, (1,))


def flipud(input):
    return flip(input, (0,))


class Roll(ArrayFunction):
    _node_name = "RollBackward0"

    @staticmethod
    def forward(ctx, x, shifts, axes):
        ctx.meta = (shifts, axes)
        if axes is None:
            return np.roll(x.reshape(-1), shifts).reshape(x.shape)
        return np.roll(x, shifts, axes)

    @staticmethod
    def backward(ctx, g):
        shifts, axes = ctx.meta
        neg = tuple(-s for s in shifts) if isinstance(shifts, tuple) else -shifts
        if axes is None:
            return np.roll(g.reshape(-1), neg).reshape(g.shape)
        return np.roll(g, neg, axes)

    @staticmethod
    def backward_graph(ctx, g):
        shifts, axes = ctx.meta
        return Roll.apply(g, tuple(-s for s in shifts) if isinstance(shifts, tuple) else -shifts, axes)


def roll(input, shifts, dims=None):
    if dims is None:
        return Roll.apply(input, shifts if isinstance(shifts, builtins.int) else shifts[0], None)
    shifts = (shifts,) if isinstance(shifts, builtins.int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, builtins.int) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
    dims = tuple(norm_dim(d, input._data.ndim, "roll") for d in dims)
    return Roll.apply(input, shifts, dims)


class TriMask(ArrayFunction):
    _node_name = "TrilBackward0"

    @staticmethod
    def forward(ctx, x, k, lower):
        ctx.meta = (k, lower)
        return np.tril(x, k) if lower else np.triu(x, k)

    @staticmethod
    def backward(ctx, g):
        k, lower = ctx.meta
        return np.tril(g, k) if lower else np.triu(g, k)

    backward_graph = linear_op_backward_graph(lambda meta: meta)


def tril(input, diagonal=0):
    if input._data.ndim < 2:
        raise RuntimeError("tril: input tensor must have at least 2 dimensions")
    return TriMask.apply(input, diagonal, True)


def triu(input, diagonal=0):
    if input._data.ndim < 2:
        raise RuntimeError("triu: input tensor must have at least 2 dimensions")
    return TriMask.apply(input, diagonal, False)


# ---------------------------------------------------------------------------- sort / topk
class TakeAlong(ArrayFunction):
    """Values picked along an axis by precomputed indices (sort, topk, kthvalue)."""

    _node_name = "SortBackward0"

    @staticmethod
    def forward(ctx, x, idx, axis):
        ctx.meta = (x.shape, idx, axis)
        return np.take_along_axis(x, idx, axis=axis)

    @staticmethod
    def backward(ctx, g):
        shape, idx, axis = ctx.meta
        out = np.zeros(shape, g.dtype)
        np.put_along_axis(out, idx, g, axis=axis)
        return out

    backward_graph = linear_op_backward_graph(lambda meta: meta[1:])


def _argsort(a, axis, descending, stable=True):
    if descending:
        # stable descending order: sort the negated keys (for floats/ints), ties keep index order
        if a.dtype == np.bool_:
            a = a.astype(np.int8)
        key = -a.astype(np.float64) if a.dtype.kind in "u" else -a
        return np.argsort(key, axis=axis, kind="stable")
    return np.argsort(a, axis=axis, kind="stable")


def sort(input, dim=-1, descending=False, stable=False):
    from .reduce import ReturnSort
    if input._data.ndim == 0:
        return ReturnSort(input.clone(), _wrap(np.zeros((), np.int64)))
    d = norm_dim(dim, input._data.ndim, "sort")
    idx = _argsort(input._data, d, descending).astype(np.int64)
    vals = TakeAlong.apply(input, idx, d) if input._data.dtype.kind == "f" else \
        _wrap(np.take_along_axis(input._data, idx, axis=d))
    return ReturnSort(vals, _wrap(idx))


def argsort(input, dim=-1, descending=False, stable=False):
    d = norm_dim(dim, input._data.ndim, "argsort")
    return _wrap(_argsort(input._data, d, descending).astype(np.int64))


def topk(input, k, dim=-1, largest=True, sorted=True):
    from .reduce import ReturnTopk
    d = norm_dim(dim, input._data.ndim, "topk")
    n = input._data.shape[d] if input._data.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"selected index k out of range (k={k}, dimension size {n})")
    idx = _argsort(input._data, d, largest)
    idx = np.take(idx, range(k), axis=d).astype(np.int64)
    vals = TakeAlong.apply(input, idx, d) if input._data.dtype.kind == "f" else \
        _wrap(np.take_along_axis(input._data, idx, axis=d))
    return ReturnTopk(vals, _wrap(idx))


def kthvalue(input, k, dim=-1, keepdim=False):
    from .reduce import ReturnKth
    d = norm_dim(dim, input._data.ndim, "kthvalue")
    idx = np.take(_argsort(input._data, d, False), [k - 1], axis=d).astype(np.int64)
    vals = TakeAlong.apply(input, idx, d)
    if not keepdim:
        return ReturnKth(squeeze(vals, d), _wrap(np.squeeze(idx, d)))
    return ReturnKth(vals, _wrap(idx))


def _unfold_array(x, axis, size, step):
    """Sliding windows along ``axis`` as a new last axis: a strided view of ``x``."""
    if x.ndim == 0:  # PyTorch: a 0-d tensor unfolds to shape (size,)
        return x.reshape(1)[:size]
    n = (x.shape[axis] - size) // step + 1
    shape = x.shape[:axis] + (n,) + x.shape[axis + 1:] + (size,)
    strides = x.strides[:axis] + (x.strides[axis] * step,) + x.strides[axis + 1:] + (x.strides[axis],)
    return np.lib.stride_tricks.as_strided(x, shape, strides)


class UnfoldDim(ArrayFunction):
    """``Tensor.unfold(dim, size, step)``: sliding windows along a dim as a new last dim (a view)."""

    _node_name = "UnfoldBackward0"

    @staticmethod
    def forward(ctx, x, axis, size, step):
        win = _unfold_array(x, axis, size, step)
        ctx.meta = (x.shape, axis, size, step, win.shape[axis] if x.ndim else 1)
        return win

    @staticmethod
    def backward(ctx, g):
        shape, axis, size, step, n = ctx.meta
        if not shape:
            return g.sum().reshape(())
        out = np.zeros(shape, g.dtype)
        o = out
        # one strided add per window position k (size of them), never a loop over elements
        for k in range(size):
            sl = (slice(None),) * axis + (slice(k, k + step * (n - 1) + 1, step),)
            o[sl] += g[..., k]
        return out

    backward_graph = linear_op_backward_graph(lambda meta: meta[1:4])


def unfold_dim(input, dimension, size, step):
    nd = input._data.ndim
    d = norm_dim(dimension, nd, "unfold") if nd else 0
    n = input._data.shape[d] if nd else 1
    if size > n:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is {size}")
    if size < 0:
        raise RuntimeError(f"size is {size} but must be >= 0")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    out = UnfoldDim.apply(input, d, size, step)
    return _as_view(out, input, lambda a: _unfold_array(a, d, size, step))
