"""Pooling and resampling: max/avg pooling (1-3 d), adaptive pooling, ``interpolate``.

Pooling loops over the kernel positions only: each position is a strided block of the input
(the same block geometry as the convolutions, ``conv._blocks``) compared with, or added to,
the output. Max pooling records which kernel position won (first maximum wins, NaN propagates,
as in PyTorch) and its backward adds the gradient block of each position where it won.
Adaptive average pooling and linear interpolation are separable linear maps: one small
matrix per spatial axis, applied by GEMM.
"""
from __future__ import annotations

import builtins
import math

import numpy as np

from ..autograd.function import ArrayFunction, BareCtx, linear_map
from .._tensor import _wrap
from . import _resample
from ._util import fmt_shape
from ..amp._state import fp32_op as _fp32_op
from .._threads import blocks as row_blocks, parallel_for
from .elementwise import _SAME_WIDTH_INT, masked_bits
from .conv import _blocks, _ntuple

__all__ = ["max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices", "max_pool2d_with_indices",
           "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
           "adaptive_max_pool1d", "adaptive_max_pool2d", "interpolate", "upsample", "upsample_nearest",
           "upsample_bilinear"]

_DNAME = {1: "1D", 2: "2D", 3: "3D"}


def _pool_out(n, k, s, p, d, ceil_mode):
    """PyTorch's pooling output length (a ceil-mode window must start inside input or left pad)."""
    num = n + 2 * p - d * (k - 1) - 1 + ((s - 1) if ceil_mode else 0)
    o = num // s + 1
    if ceil_mode and (o - 1) * s >= n + p:
        o -= 1
    return o


def _pool_args(op, nd, x, kernel_size, stride, padding, dilation, ceil_mode):
    if x.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}: Expected {nd + 1}D or {nd + 2}D (batch mode) tensor for input, but got input "
                           f"of size {fmt_shape(x.shape)}")
    k = _ntuple(kernel_size, nd, "kernel_size", op)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else \
        _ntuple(stride, nd, "stride", op)
    p = _ntuple(padding, nd, "padding", op)
    d = _ntuple(dilation, nd, "dilation", op)
    if any(v <= 0 for v in k):
        raise RuntimeError(f"{op}: kernel_size must be greater than zero, but got {list(k)}")
    if any(v <= 0 for v in s):
        raise RuntimeError(f"{op}: stride must be greater than zero, but got {list(s)}")
    if any(v <= 0 for v in d):
        raise RuntimeError(f"{op}: dilation must be greater than zero, but got {list(d)}")
    for kk, pp, dd in zip(k, p, d):
        if pp < 0 or pp > ((kk - 1) * dd + 1) // 2:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got pad={pp}, "
                               f"kernel_size={kk} and dilation={dd}")
    ins = x.shape[-nd:]
    out = tuple(_pool_out(n, kk, ss, pp, dd, ceil_mode) for n, kk, ss, pp, dd in zip(ins, k, s, p, d))
    if any(o <= 0 for o in out):
        C = x.shape[-nd - 1]
        raise RuntimeError(f"Given input size: ({'x'.join(map(str, (C,) + ins))}). Calculated output size: "
                           f"({'x'.join(map(str, (C,) + out))}). Output size is too small")
    return k, s, p, d, out


def _lead(x, nd):
    return (slice(None),) * (x.ndim - nd)


# ---------------------------------------------------------------------------- max pooling
class MaxPool(ArrayFunction):
    """``F.max_pool{1,2,3}d``: x (..., *in) -> (..., *out); with ``want_idx`` also the flat input
    index (int64) of each maximum, as ``return_indices=True`` gives."""

    _node_name = "MaxPool2DWithIndicesBackward0"

    @staticmethod
    def forward(ctx, x, k, s, p, d, out, want_idx):
        nd = len(k)
        lead = _lead(x, nd)
        blocks = _blocks(k, s, d, p, x.shape[-nd:], out)
        shape = x.shape[:-nd] + out
        need_win = want_idx or bool(ctx.needs_input_grad)
        # windows that tile the input (MaxPool2d(2) and the like): a tournament, rows then columns
        tiled = nd == 2 and k == s and d == (1, 1) and p == (0, 0) and \
            all(o * kk <= n for o, kk, n in zip(out, k, x.shape[-2:]))
        best = np.empty(shape, x.dtype) if tiled else np.full(shape, -np.inf, x.dtype)
        tiles = win = None
        if tiled:
            tiles = _tiled_max(x, best, k, need_win)
        else:
            win = np.zeros(shape, np.int16 if len(blocks) < 32000 else np.int32) if need_win else None
            found = np.zeros(shape, np.bool_) if need_win else None
            rows = _row_blocks(x, nd)

            def part(i):   # branch-free: the maxima first, then the first kernel position that attains them
                r = rows[i]
                xr, br = x[r], best[r]
                for _, osl, isl in blocks:
                    b = br[lead + osl]
                    np.maximum(b, xr[lead + isl], out=b)
                if need_win:
                    wr, fr = win[r], found[r]
                    for j, (_, osl, isl) in enumerate(blocks):
                        f = fr[lead + osl]
                        first = np.greater(np.equal(xr[lead + isl], br[lead + osl]), f)   # hit and not found
                        f |= first
                        if j:
                            wr[lead + osl] += first * wr.dtype.type(j)
            parallel_for(part, len(rows))
        # np.maximum propagates NaN, so a window holding one shows in its maximum (checked on the
        # output, a quarter of the input for 2x2 windows): then PyTorch's NaN rule picks the winners
        if need_win and x.dtype.kind == "f" and np.isnan(best.sum()):
            best = np.full(shape, -np.inf, x.dtype)
            tiles, win = None, _max_nan_aware(x, best, blocks, lead)
        ctx.blocks, ctx.in_shape = blocks, x.shape
        # disjoint windows: every input element is read by at most one (output, position)
        ctx.disjoint = all(ss >= (kk - 1) * dd + 1 for ss, kk, dd in zip(s, k, d))
        ctx.tiled, ctx.k = tiles is not None, k
        if ctx.tiled:   # (which row of each window won, which column of each row)
            ctx.save_for_backward(*tiles)
            if want_idx:
                win = _tiled_win(*tiles, k)
        else:
            ctx.save_for_backward(win)
        if not want_idx:
            return best
        idx = _flat_index(win, blocks, x.shape[-nd:], k, s, d, p, out)
        ctx.mark_non_differentiable(idx)
        return best, idx

    @staticmethod
    def backward(ctx, g, gidx=None):
        if ctx.tiled:
            gx = _tiled_scatter(g, *ctx.saved_tensors, ctx.k, ctx.in_shape)
        else:
            (win,) = ctx.saved_tensors
            gx = _max_scatter(g, win, ctx.blocks, ctx.in_shape, ctx.disjoint)
        return gx, None, None, None, None, None, None

    @staticmethod
    def backward_graph(ctx, g, gidx=None):
        # with the winners fixed, backward is linear: a scatter, whose adjoint is a gather
        win = _tiled_win(*ctx.saved_tensors, ctx.k) if ctx.tiled else ctx.saved_tensors[0]
        blocks, in_shape, disjoint, out_shape = ctx.blocks, ctx.in_shape, ctx.disjoint, g.shape

        def gather(a):
            nd = len(blocks[0][1])
            lead = _lead(a, nd)
            out = np.zeros(out_shape, a.dtype)
            for j, (_, osl, isl) in enumerate(blocks):
                out[lead + osl] += a[lead + isl] * (win[lead + osl] == j)
            return out
        return (linear_map(g, lambda a: _max_scatter(a, win, blocks, in_shape, disjoint), gather),
                None, None, None, None, None, None)


def _max_scatter(g, win, blocks, in_shape, disjoint):
    """Max pooling's input gradient: each output's gradient routed to its window's winner."""
    nd = len(blocks[0][1])
    lead = _lead(g, nd)
    # disjoint windows that tile the whole input (2x2 stride 2 on an even size) write every
    # element exactly once: no zero-fill first
    covering = disjoint and builtins.sum(math.prod(sl.stop - sl.start for sl in osl) for _, osl, _ in blocks) \
        == math.prod(in_shape[-nd:])
    gx = (np.empty if covering else np.zeros)(in_shape, g.dtype)
    rows = _row_blocks(gx, nd)
    ints = _SAME_WIDTH_INT.get(g.dtype)
    g = np.ascontiguousarray(g)
    gb, gxb = (g.view(ints), gx.view(ints)) if ints is not None else (g, gx)

    def part(i):
        r = rows[i]
        gr, wr, gxr = gb[r], win[r], gxb[r]
        for j, (_, osl, isl) in enumerate(blocks):
            if disjoint:   # each input element read by one window at most: written in place
                _routed(gr[lead + osl], wr[lead + osl], j, ints, out=gxr[lead + isl])
            else:
                gx[r][lead + isl] += _routed(gr[lead + osl], wr[lead + osl], j, ints).view(g.dtype)
    parallel_for(part, len(rows))
    return gx


def _routed(g, win, j, ints, out=None):
    """``g`` where ``win == j``, else +0 (``g * hit`` would give -0 for a negative g, NaN for an
    infinite one): the float bits masked, as in ReLU's backward, when ``g`` is viewed as the
    same-width ints ``ints``; a plain product for other dtypes (``ints`` None)."""
    hit = np.equal(win, j)
    return np.multiply(g, hit, out=out) if ints is None else masked_bits(g, hit, out)


def _index_dtype(n):
    return np.int8 if n <= 127 else np.int16 if n <= 32767 else np.int32


def _tiled_max(x, best, k, need_win):
    """Max pooling whose windows tile the input (stride = kernel, no padding or dilation) as a
    tournament: the maximum of each row of a window (over its ``kw`` columns, stride-``kw`` reads),
    then of those row maxima (over ``kh`` rows, contiguous runs). Two reductions over the data
    instead of a compare-and-record per kernel position. Each step keeps the first of equal
    values, so the winner is the window's first maximum in row-major order, as in PyTorch.

    Fills ``best`` (..., OH, OW); returns ``(row, col)``: for each output the winning row of its
    window (..., OH, OW), and for each row of each window its winning column (..., OH*kh, OW),
    or None when no winner is needed."""
    (kh, kw), (oh, ow) = k, best.shape[-2:]
    rows = _row_blocks(x, 2)
    col = (np.empty if kw > 1 else np.zeros)(x.shape[:-2] + (oh * kh, ow), _index_dtype(kw)) if need_win else None
    row = (np.empty if kh > 1 else np.zeros)(best.shape, _index_dtype(kh)) if need_win else None

    def reduce(srcs, dst, arg):   # dst = max of srcs, arg = index of the first that attains it
        if len(srcs) == 1:
            np.copyto(dst, srcs[0])
            return
        if arg is not None:
            np.greater(srcs[1], srcs[0], out=arg)   # 1 where the second wins, 0 where the first does
        np.maximum(srcs[0], srcs[1], out=dst)
        for j in range(2, len(srcs)):
            if arg is not None:
                np.copyto(arg, j, where=np.greater(srcs[j], dst))
            np.maximum(dst, srcs[j], out=dst)

    def part(i):
        r = rows[i]
        xr = x[r][..., :oh * kh, :ow * kw]
        rmax = np.empty(xr.shape[:-1] + (ow,), x.dtype) if kh > 1 else best[r]
        reduce([xr[..., j::kw] for j in range(kw)], rmax, None if col is None else col[r])
        if kh > 1:
            reduce([rmax[..., j::kh, :] for j in range(kh)], best[r], None if row is None else row[r])
    parallel_for(part, len(rows))
    return (row, col) if need_win else None


def _tiled_scatter(g, row, col, k, in_shape):
    """Backward of :func:`_tiled_max`: the gradient routed to the winning row of each window, then
    within that row to the winning column; +0 elsewhere (float bits masked, as in ``_max_scatter``)."""
    (kh, kw), (oh, ow) = k, g.shape[-2:]
    covering = (oh * kh, ow * kw) == tuple(in_shape[-2:])
    gx = (np.empty if covering else np.zeros)(in_shape, g.dtype)
    ints = _SAME_WIDTH_INT.get(g.dtype)
    g = np.ascontiguousarray(g)
    gb, gxb = (g.view(ints), gx.view(ints)) if ints is not None else (g, gx)
    rows = _row_blocks(gx, 2)

    def part(i):
        r = rows[i]
        gr, gxr = gb[r], gxb[r][..., :oh * kh, :ow * kw]
        grow = np.empty(gr.shape[:-2] + (oh * kh, ow), gr.dtype) if kh > 1 else gr
        for j in range(kh if kh > 1 else 0):
            _routed(gr, row[r], j, ints, out=grow[..., j::kh, :])
        for j in range(kw):
            _routed(grow, col[r], j, ints, out=gxr[..., j::kw])
    parallel_for(part, len(rows))
    return gx


def _tiled_win(row, col, k):
    """The kernel position (kh-major) of each output's winner, from :func:`_tiled_max`'s record."""
    kh, kw = k
    win = np.zeros(row.shape, np.int16 if kh * kw < 32000 else np.int32)
    for j in range(kh):
        np.copyto(win, col[..., j::kh, :], where=row == j)
    win += row.astype(win.dtype) * kw
    return win


def _row_blocks(x, nd):
    """Slices of the leading axis (the batch, or the channels of an unbatched input) that the
    threads can take; the whole array when it has no axis before the pooled ones."""
    if x.ndim <= nd or x.shape[0] == 0:
        return [slice(None)]
    return row_blocks(x.shape[0], x.size // x.shape[0])


def _max_nan_aware(x, best, blocks, lead):
    """PyTorch's scan ``if (val > max || isnan(val))``: a NaN wins (the last NaN seen)."""
    win = np.full(best.shape, -1, np.int32)
    for j, (_, osl, isl) in enumerate(blocks):
        v, b, w = x[lead + isl], best[lead + osl], win[lead + osl]
        m = np.greater(v, b) | np.isnan(v)
        np.copyto(b, v, where=m)
        np.copyto(w, j, where=m)
    if (win < 0).any():  # windows of only -inf: the first valid element
        for j, (_, osl, _) in enumerate(blocks):
            w = win[lead + osl]
            np.copyto(w, j, where=w < 0)
    return win


def _flat_index(win, blocks, ins, k, s, d, p, out):
    """Flat input index (over the spatial dims) of each output's winning position."""
    nd = len(k)
    pos = np.array([b[0] for b in blocks], np.int64).reshape(-1, nd)   # kernel offsets per block
    flat = np.zeros(win.shape, np.int64)
    stride_in = 1
    for a in range(nd - 1, -1, -1):
        o = np.arange(out[a], dtype=np.int64).reshape((-1,) + (1,) * (nd - 1 - a))
        coord = o * s[a] - p[a] + pos[:, a][win.astype(np.int64)] * d[a]
        flat += coord * stride_in
        stride_in *= ins[a]
    return flat


def _max_pool(op, nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    x = input._data
    k, s, p, d, out = _pool_args(op, nd, x, kernel_size, stride, padding, dilation, ceil_mode)
    r = MaxPool.apply(input, k, s, p, d, out, builtins.bool(return_indices))
    return r


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """``torch.nn.functional.max_pool1d``: (N, C, L) -> (N, C, L_out)."""
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """``torch.nn.functional.max_pool2d``: (N, C, H, W) -> (N, C, H_out, W_out); stride defaults to
    kernel_size; with ``return_indices`` also the flat (h*W + w) index of each maximum."""
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


@_fp32_op
def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """``torch.nn.functional.max_pool3d``: (N, C, D, H, W) -> (N, C, D_out, H_out, W_out)."""
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=True):
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


# ---------------------------------------------------------------------------- average pooling
class AvgPool(ArrayFunction):
    """``F.avg_pool{1,2,3}d``: window sums (in PyTorch's order) divided by the window count."""

    _node_name = "AvgPool2DBackward0"

    @staticmethod
    def forward(ctx, x, k, s, p, out, div):
        nd = len(k)
        lead = _lead(x, nd)
        blocks = _blocks(k, s, (1,) * nd, p, x.shape[-nd:], out)
        y = np.zeros(x.shape[:-nd] + out, x.dtype)
        for _, osl, isl in blocks:
            y[lead + osl] += x[lead + isl]
        y /= div
        ctx.blocks, ctx.in_shape, ctx.div = blocks, x.shape, div
        return y

    @staticmethod
    def backward(ctx, g):
        return _avg_scatter(g, ctx.blocks, ctx.in_shape, ctx.div), None, None, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        blocks, in_shape, div, out_shape = ctx.blocks, ctx.in_shape, ctx.div, g.shape

        def window_mean(a):   # the forward: linear, the adjoint of the scatter
            nd = len(blocks[0][1])
            lead = _lead(a, nd)
            y = np.zeros(out_shape, a.dtype)
            for _, osl, isl in blocks:
                y[lead + osl] += a[lead + isl]
            return y / div
        return linear_map(g, lambda a: _avg_scatter(a, blocks, in_shape, div), window_mean), \
            None, None, None, None, None


def _avg_scatter(g, blocks, in_shape, div):
    """Average pooling's input gradient: each output's share added over its window."""
    nd = len(blocks[0][1])
    lead = _lead(g, nd)
    gd = g / div
    gx = np.zeros(in_shape, g.dtype)
    for _, osl, isl in blocks:
        gx[lead + isl] += gd[lead + osl]
    return gx


def _avg_divisor(ins, k, s, p, out, count_include_pad, divisor_override, dtype):
    if divisor_override is not None:
        if divisor_override == 0:
            raise RuntimeError("divisor must be not zero")
        return dtype.type(divisor_override)
    div = np.ones((1,) * len(k), np.int64)
    for a, (n, kk, ss, pp, o) in enumerate(zip(ins, k, s, p, out)):
        start = np.arange(o) * ss - pp
        end = np.minimum(start + kk, n + pp)
        size = end - start                                   # the window, padding included
        if not count_include_pad:
            size = np.minimum(end, n) - np.maximum(start, 0)
        div = div * size.reshape((-1,) + (1,) * (len(k) - 1 - a))
    return div.astype(dtype)


def _avg_pool(op, nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    x = input._data
    k, s, p, _, out = _pool_args(op, nd, x, kernel_size, stride, padding, 1, ceil_mode)
    div = _avg_divisor(x.shape[-nd:], k, s, p, out, count_include_pad, divisor_override, x.dtype)
    return AvgPool.apply(input, k, s, p, out, div)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """``torch.nn.functional.avg_pool1d``: (N, C, L) -> (N, C, L_out)."""
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """``torch.nn.functional.avg_pool2d``: (N, C, H, W) -> (N, C, H_out, W_out)."""
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


@_fp32_op
def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """``torch.nn.functional.avg_pool3d``."""
    return _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


# ---------------------------------------------------------------------------- separable linear maps
class Separable(ArrayFunction):
    """y = x contracted along each of the last spatial axes with a matrix ``(out_a, in_a)``
    (adaptive average pooling, linear/bilinear interpolation): one GEMM per axis."""

    _node_name = "UpsampleBilinear2DBackward0"

    @staticmethod
    def forward(ctx, x, mats):
        ctx.mats = mats
        return _apply_mats(x, mats)

    @staticmethod
    def backward(ctx, g):
        return _apply_mats(g, [None if m is None else m.T for m in ctx.mats]), None

    @staticmethod
    def backward_graph(ctx, g):
        mats = ctx.mats
        mats_t = [None if m is None else m.T for m in mats]
        return linear_map(g, lambda a: _apply_mats(a, mats_t), lambda a: _apply_mats(a, mats)), None


class AdaptiveAvg(Separable):
    _node_name = "AdaptiveAvgPool2DBackward0"


def _apply_mats(x, mats):
    nd = len(mats)
    for a, m in enumerate(mats):
        if m is None:
            continue
        axis = x.ndim - nd + a
        xa = np.moveaxis(x, axis, -1)
        shp = xa.shape
        y = np.matmul(np.ascontiguousarray(xa).reshape(-1, shp[-1]), np.ascontiguousarray(m.T))
        x = np.moveaxis(y.reshape(shp[:-1] + (m.shape[0],)), -1, axis)
    return np.ascontiguousarray(x)


def _adaptive_bounds(n, o):
    i = np.arange(o)
    return (i * n) // o, -((-(i + 1) * n) // o)             # floor(i*n/o), ceil((i+1)*n/o)


def _adaptive_matrix(n, o, dtype):
    start, end = _adaptive_bounds(n, o)
    cols = np.arange(n)
    inside = (cols >= start[:, None]) & (cols < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def _out_size(op, x, output_size, nd):
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size,) * nd
    output_size = tuple(output_size)
    if len(output_size) == 1:
        output_size = output_size * nd
    ins = x.shape[-nd:]
    return tuple(n if o is None else builtins.int(o) for o, n in zip(output_size, ins))


def _adaptive_avg(op, nd, input, output_size):
    x = input._data
    if x.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}(): Expected {nd + 1}D or {nd + 2}D tensor, but got {fmt_shape(x.shape)}")
    out = _out_size(op, x, output_size, nd)
    ins = x.shape[-nd:]
    if any(o <= 0 for o in out):
        raise RuntimeError(f"{op}(): output_size must be positive, but got {list(out)}")
    k = tuple(n // o for n, o in zip(ins, out))
    if all(n % o == 0 for n, o in zip(ins, out)) and int(np.prod(k)) <= 16:
        # equal non-overlapping small windows: plain average pooling, summed in PyTorch's order
        return AvgPool.apply(input, k, k, (0,) * nd, out, x.dtype.type(int(np.prod(k))))
    return AdaptiveAvg.apply(input, [_adaptive_matrix(n, o, x.dtype) for n, o in zip(ins, out)])


def adaptive_avg_pool1d(input, output_size):
    """``torch.nn.functional.adaptive_avg_pool1d``: (N, C, L) -> (N, C, output_size)."""
    return _adaptive_avg("adaptive_avg_pool1d", 1, input, output_size)


def adaptive_avg_pool2d(input, output_size):
    """``torch.nn.functional.adaptive_avg_pool2d``: (N, C, H, W) -> (N, C, *output_size); window
    ``[floor(i*H/oh), ceil((i+1)*H/oh))``; None keeps that input size."""
    return _adaptive_avg("adaptive_avg_pool2d", 2, input, output_size)


class AdaptiveMax(ArrayFunction):
    """``F.adaptive_max_pool{1,2}d``: loops over the offsets inside the largest window; shorter
    windows repeat their last element, which never changes the (first) maximum."""

    _node_name = "AdaptiveMaxPool2DBackward0"

    @staticmethod
    def forward(ctx, x, out):
        nd = len(out)
        ins = x.shape[-nd:]
        bounds = [_adaptive_bounds(n, o) for n, o in zip(ins, out)]
        kmax = [builtins.int((e - s).max()) for s, e in bounds]
        xf = x.reshape(x.shape[:-nd] + (-1,))
        best, idx = _global_max(xf, out) if all(o == 1 for o in out) else (None, None)
        if best is None:
            best, idx = _window_scan(xf, ins, bounds, kmax, out)
        ctx.save_for_backward(idx)
        ctx.in_shape, ctx.nd = x.shape, nd
        ctx.mark_non_differentiable(idx)
        return best, idx

    @staticmethod
    def backward(ctx, g, gidx=None):
        (idx,) = ctx.saved_tensors
        nd, shape = ctx.nd, ctx.in_shape
        rows, plane = int(np.prod(shape[:-nd])), int(np.prod(shape[-nd:]))
        # scatter-add into the flattened spatial plane of each (n, c): one element can be the
        # maximum of several overlapping windows, hence an accumulating scatter
        gx = np.zeros((rows, plane), g.dtype)
        np.add.at(gx, (np.arange(rows)[:, None], idx.reshape(rows, -1)), g.reshape(rows, -1))
        return gx.reshape(shape), None

    @staticmethod
    def backward_graph(ctx, g, gidx=None):
        (idx,) = ctx.saved_tensors
        nd, shape = ctx.nd, ctx.in_shape
        bare = BareCtx(saved_tensors=(idx,), nd=nd, in_shape=shape)
        rows = int(np.prod(shape[:-nd]))

        def gather(a):
            return np.take_along_axis(a.reshape(rows, -1), idx.reshape(rows, -1), axis=1).reshape(idx.shape)
        return linear_map(g, lambda a: AdaptiveMax.backward(bare, a)[0], gather), None


def _window_scan(xf, ins, bounds, kmax, out):
    """Maxima and flat indices of the adaptive windows of ``xf (..., prod(ins))``: one offset
    inside the windows at a time, PyTorch's scan (first maximum wins, NaN propagates)."""
    nd = len(out)
    best = np.full(xf.shape[:-1] + out, -np.inf, xf.dtype)
    idx = None
    for offs in np.ndindex(*kmax):
        flat = np.zeros(out, np.int64)
        for a, ((s, e), off) in enumerate(zip(bounds, offs)):
            coord = np.minimum(s + off, e - 1).reshape((-1,) + (1,) * (nd - 1 - a))
            flat = flat * ins[a] + coord
        v = np.take(xf, flat, axis=-1)
        if idx is None:
            idx = np.broadcast_to(flat, best.shape).copy()
            best[...] = v
            continue
        m = np.greater(v, best) | np.isnan(v)
        np.copyto(best, v, where=m)
        np.copyto(idx, flat, where=m)
    return best, idx


def _global_max(xf, out):
    """A global max pool (output size 1) as one ``argmax`` over each flattened plane: the first
    maximum, as PyTorch's scan gives. None when a plane holds a NaN (PyTorch keeps the last NaN,
    ``argmax`` the first) or is empty: the general loop handles those."""
    if xf.shape[-1] == 0:
        return None, None
    idx = np.argmax(xf, axis=-1)[..., None]
    best = np.take_along_axis(xf, idx, axis=-1)
    if best.dtype.kind == "f" and np.isnan(best).any():
        return None, None
    shape = xf.shape[:-1] + out
    return best.reshape(shape), idx.reshape(shape)


def _adaptive_max(op, nd, input, output_size, return_indices):
    x = input._data
    if x.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}(): Expected {nd + 1}D or {nd + 2}D tensor, but got {fmt_shape(x.shape)}")
    out = _out_size(op, x, output_size, nd)
    if any(o <= 0 for o in out):
        raise RuntimeError(f"{op}(): output_size must be positive, but got {list(out)}")
    y, idx = AdaptiveMax.apply(input, out)
    return (y, idx) if return_indices else y


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """``torch.nn.functional.adaptive_max_pool1d``: (N, C, L) -> (N, C, output_size)."""
    return _adaptive_max("adaptive_max_pool1d", 1, input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """``torch.nn.functional.adaptive_max_pool2d``: (N, C, H, W) -> (N, C, *output_size)."""
    return _adaptive_max("adaptive_max_pool2d", 2, input, output_size, return_indices)


# ---------------------------------------------------------------------------- interpolate
class UpsampleNearest(ArrayFunction):
    """Nearest-neighbour resampling: a gather per spatial axis; backward sums the gradient of
    the outputs that copied each input element (``np.add.reduceat`` over the runs of equal
    source indices — the indices are non-decreasing)."""

    _node_name = "UpsampleNearest2DBackward0"

    @staticmethod
    def forward(ctx, x, idxs):
        nd = len(idxs)
        ctx.idxs, ctx.in_shape = idxs, x.shape
        for a, ix in enumerate(idxs):
            x = np.take(x, ix, axis=x.ndim - nd + a)
        return x

    @staticmethod
    def backward(ctx, g):
        nd = len(ctx.idxs)
        for a, ix in enumerate(ctx.idxs):
            axis = g.ndim - nd + a
            vals, starts = np.unique(ix, return_index=True)
            sums = np.add.reduceat(g, starts, axis=axis)
            shape = list(g.shape)
            shape[axis] = ctx.in_shape[axis]
            r = np.zeros(shape, g.dtype)
            index = [slice(None)] * g.ndim
            index[axis] = vals
            r[tuple(index)] = sums
            g = r
        return g, None

    @staticmethod
    def backward_graph(ctx, g):
        idxs, in_shape = ctx.idxs, ctx.in_shape
        state = BareCtx(idxs=idxs, in_shape=in_shape)

        def gather(a):
            for ax, ix in enumerate(idxs):
                a = np.take(a, ix, axis=a.ndim - len(idxs) + ax)
            return a
        return linear_map(g, lambda a: UpsampleNearest.backward(state, a)[0], gather), None


def _nearest_index(n_in, n_out, scale, exact, dtype):
    """PyTorch's nearest source indices (computed in float32 as its CPU kernel does)."""
    o = np.arange(n_out)
    if n_out == n_in:
        return o
    if n_out == 2 * n_in and not exact:
        return o >> 1
    f = np.float32
    s = f(1.0 / scale) if scale else f(n_in) / f(n_out)
    src = (o.astype(f) + f(0.5)) * s if exact else o.astype(f) * s
    return np.minimum(np.floor(src).astype(np.int64), n_in - 1)


class UpsampleLinear(Separable):
    _node_name = "UpsampleBilinear2DBackward0"


class UpsampleBicubic(Separable):
    _node_name = "UpsampleBicubic2DBackward0"


class UpsampleBilinearAa(Separable):
    _node_name = "UpsampleBilinear2DAaBackward0"


class UpsampleBicubicAa(Separable):
    _node_name = "UpsampleBicubic2DAaBackward0"


class UpsampleLanczosAa(Separable):
    _node_name = "UpsampleLanczos2DAaBackward0"


_ANTIALIASED = {"bilinear": UpsampleBilinearAa, "bicubic": UpsampleBicubicAa, "lanczos": UpsampleLanczosAa}


_LINEAR_DIMS = {"linear": 1, "bilinear": 2, "trilinear": 3}
_INT_WORD = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "bool": "Bool"}


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """``torch.nn.functional.interpolate``, input (N, C, *spatial): modes 'nearest',
    'nearest-exact', 'area', 'linear'/'bilinear'/'trilinear' and 'bicubic' (``align_corners``),
    and with ``antialias=True`` (4-D input) antialiased 'bilinear', 'bicubic' and 'lanczos'.
    Every interpolating mode is one weight matrix per axis (``_resample.py``)."""
    x = input._data
    nd = x.ndim - 2
    unsupported = NotImplementedError(
        f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {x.ndim}D) for the modes: nearest | "
        f"linear | bilinear | bicubic | trilinear | lanczos | area | nearest-exact (got {mode})")
    if mode not in ("nearest", "nearest-exact", "linear", "bilinear", "trilinear", "area", "bicubic", "lanczos"):
        raise unsupported
    if mode in ("nearest", "nearest-exact", "area") and align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if nd < 1 or nd > 3:
        raise unsupported
    if mode in _LINEAR_DIMS and _LINEAR_DIMS[mode] != nd:
        raise NotImplementedError(f"Got {x.ndim}D input, but {mode} mode needs {_LINEAR_DIMS[mode] + 2}D input")
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    ins = x.shape[2:]
    scales = (None,) * nd
    if size is not None:
        out = _ntuple(size, nd, "size", "interpolate")
    elif scale_factor is not None:
        sf = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * nd
        if len(sf) != nd:
            raise ValueError(f"Input and scale_factor must have the same number of spatial dimensions, but got "
                             f"input with spatial dimensions of {list(ins)} and scale_factor of shape {list(sf)}.")
        out = tuple(math.floor(float(n) * float(f)) for n, f in zip(ins, sf))
        if not recompute_scale_factor:
            scales = tuple(float(f) for f in sf)
    else:
        raise ValueError("either size or scale_factor should be defined")
    if any(o <= 0 for o in out):
        raise RuntimeError(f"interpolate: output size {list(out)} for input of size {fmt_shape(x.shape)} "
                           f"should be greater than 0")
    if antialias and not (mode in ("bilinear", "bicubic", "lanczos") and x.ndim == 4):
        raise ValueError("Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and requires "
                         "a 4-D tensor as input")
    if mode in ("bicubic", "lanczos") and nd != 2:
        raise unsupported
    if mode == "lanczos":
        if align_corners:
            raise ValueError("Lanczos mode does not support align_corners=True")
        if not antialias:
            raise ValueError("Lanczos mode requires antialias=True")
    corners = builtins.bool(align_corners)
    if x.dtype == np.uint8 and mode not in ("nearest", "nearest-exact", "area"):
        # images, as PyTorch's uint8 kernels: one axis at a time, the last first, each pass rounded
        # and clipped to 0..255 (which also clips bicubic's overshoot between the passes); its
        # fixed-point weights can put a value 1 away from these float32 ones
        y = x
        for a, m in reversed(list(enumerate(_weights(mode, antialias, ins, out, scales, corners, np.float32)))):
            one = [None] * nd
            one[a] = m
            y = np.clip(np.round(_apply_mats(y.astype(np.float32), one)), 0, 255).astype(np.uint8)
        return _wrap(y)
    if mode not in ("nearest", "nearest-exact", "area") and x.dtype.kind in "iub":
        raise RuntimeError(f"\"upsample_{mode}\" not implemented for '{_INT_WORD.get(x.dtype.name, x.dtype.name)}'")
    if antialias:
        return _ANTIALIASED[mode].apply(input, _weights(mode, True, ins, out, scales, corners, x.dtype))
    if mode == "bicubic":
        return UpsampleBicubic.apply(input, _weights(mode, False, ins, out, scales, corners, x.dtype))
    if mode in ("nearest", "nearest-exact"):
        idxs = [_nearest_index(n, o, s, mode == "nearest-exact", x.dtype) for n, o, s in zip(ins, out, scales)]
        return UpsampleNearest.apply(input, idxs)
    if mode == "area":
        return _adaptive_avg("adaptive_avg_pool", nd, input, out)
    return UpsampleLinear.apply(input, _weights(mode, False, ins, out, scales, corners, x.dtype))


def _weights(mode, antialias, ins, out, scales, corners, dtype):
    """interpolate's per-axis weight matrices (``_resample.py``)."""
    if antialias:
        return [_resample.antialias_matrix(n, o, s, corners, mode, dtype) for n, o, s in zip(ins, out, scales)]
    make = _resample.cubic_matrix if mode == "bicubic" else _resample.linear_matrix
    return [make(n, o, s, corners, dtype) for n, o, s in zip(ins, out, scales)]


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """``torch.nn.functional.upsample`` (deprecated alias of interpolate)."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="nearest")


upsample_nearest2d = upsample_nearest


def upsample_bilinear(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
