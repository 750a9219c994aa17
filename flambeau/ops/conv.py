"""Convolutions: ``conv1d/2d/3d``, ``conv_transpose1d/2d/3d``, ``unfold`` (im2col), ``fold`` (col2im).

Every op is one fused ArrayFunction; the spatial rank is generic (1, 2 or 3 dims).

When oneDNN is installed (and ``flambeau.backends.mkldnn.enabled``), float32 convolutions and
transposed convolutions run on it instead (``flambeau/_onednn.py``); the NumPy method below is
the reference, and what float64 and float16 use.

Method (im2col + GEMM):

* forward: the windows of the input are copied into a *column* matrix of layout
  ``(C, *kernel, N, *out)`` — that is ``(C*k, N*P)`` with the channel and kernel offsets as
  rows — and one GEMM ``W (O, C*k) @ cols (C*k, N*P)`` gives every output (groups: a batched
  matmul over the group axis, a free reshape of both operands). The copy loops over the
  kernel positions only; each is a strided block copy with the output width innermost.
* backward: ``grad_weight`` is one GEMM of the output gradient ``(O, N*P)`` against the columns,
  ``grad_input`` one GEMM ``W^T @ grad`` back to columns, then *col2im*: for each kernel
  position a strided ``+=`` of its block into the input gradient (never ``np.add.at``).
  For stride 1 and no more output than input channels, ``grad_input`` is instead computed as
  a convolution of the gradient with the flipped weight (:func:`_grad_input_conv`).
* conv_transpose is the adjoint: its forward is conv's input-gradient computation and its
  backward conv's forward / weight-gradient.

Cache blocking: the batch is processed in chunks whose column buffer is a few MiB, so that the
copy, the GEMM that reads it and the col2im that follows stay in cache (measured faster than
one batch-wide column matrix, which costs page faults and a trip through memory per pass).
Small layers fit in one chunk: one GEMM for the whole batch. The columns are rebuilt in
backward rather than kept, which keeps a network's saved memory to its activations.
"""
from __future__ import annotations

import builtins
import itertools

import numpy as np

from .._tensor import Tensor
from .._threads import parallel_for, sum_in_order
from .linalg import _gemm
from ..autograd.function import ArrayFunction, graft
from ._buffers import scratch
from ._util import fmt_shape
from ..amp import _state as _amp
from .. import _onednn
from ..backends import mkldnn as _mkldnn

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
           "unfold", "fold"]

_GX_CONV_RATIO = 1    # grad_input as a convolution when O <= this * C (measured; see _grad_input_conv)
_CHUNK_BYTES = 4 << 20  # one chunk's column buffer: measured best between 1 and 64 MiB (fits L2+L3 share)
_SPLIT_BYTES = 1 << 19  # columns below which a batch stays one chunk (the second thread's wake-up costs more)
# Thin layers (few rows C*k per group: a first layer on 1-3 channels) run one small GEMM per sample
# on columns laid out (m, C*k, P): the outputs land in (N, O, *out) order with no transposing copy,
# which costs more than the GEMM when C*k is small. Measured crossovers, one thread: the forward
# gains up to C*k = 144 (3x faster at 9 rows, 6 % at 144), the weight gradient up to 48.
_PER_SAMPLE_FWD = 144
_PER_SAMPLE_GW = 48


# ---------------------------------------------------------------------------- geometry helpers
def _ntuple(v, n, what, op):
    """An int or a sequence of ``n`` ints as a tuple of ``n`` ints."""
    if isinstance(v, (builtins.int, np.integer)):
        return (builtins.int(v),) * n
    v = tuple(builtins.int(a) for a in v)
    if len(v) == 1:
        return v * n
    if len(v) != n:
        raise RuntimeError(f"{op}: expected {what} to be a single integer value or a list of {n} values "
                           f"to match the convolution dimensions, but got {what}={list(v)}")
    return v


def _span(i, s, d, pad_lo, in_size, out_size):
    """Output positions ``[o0, o1)`` whose kernel offset ``i`` reads an in-bounds input element,
    and the input index ``i0`` read by ``o0`` (then every ``s``-th): input = o*s + i*d - pad."""
    off = i * d - pad_lo
    o0 = builtins.max(0, -(off // s))                        # ceil(-off / s), floor division
    o1 = builtins.min(out_size, (in_size - 1 - off) // s + 1)
    return o0, o1, o0 * s + off


def _blocks(k, s, d, pad_lo, in_shape, out_shape):
    """For every kernel position: (position, output slices, input slices) of its valid block."""
    nd = len(k)
    res = []
    for pos in itertools.product(*(range(kk) for kk in k)):
        osl, isl = [], []
        for a in range(nd):
            o0, o1, i0 = _span(pos[a], s[a], d[a], pad_lo[a], in_shape[a], out_shape[a])
            if o1 <= o0:
                break
            osl.append(slice(o0, o1))
            isl.append(slice(i0, i0 + (o1 - o0 - 1) * s[a] + 1, s[a]))
        else:
            res.append((pos, tuple(osl), tuple(isl)))
    return res


def _im2col(x, dst, blocks):
    """Copy the windows of ``x (N, C, *in)`` into ``dst (N, C, *k, *out)`` (any strides).
    Elements whose window reads padding are left untouched (the caller zero-fills them)."""
    lead = (slice(None), slice(None))
    for pos, osl, isl in blocks:
        dst[lead + pos + osl] = x[lead + isl]


def _col2im(src, gx, blocks):
    """Adjoint of :func:`_im2col`: add the blocks of ``src (N, C, *k, *out)`` into ``gx (N, C, *in)``."""
    lead = (slice(None), slice(None))
    for pos, osl, isl in blocks:
        gx[lead + isl] += src[lead + pos + osl]


def _chunks(n, bytes_per_item):
    """The batch cut into chunks ``(n0, m)`` of about ``_CHUNK_BYTES`` of columns each: sizes
    differing by at most one, and an even count, so that two threads get equal shares (an odd
    count or a short last chunk left one thread idle for up to a chunk: 15 % of a DCGAN layer).
    The cut depends on the sizes alone, never on the thread count, so results do not either."""
    if n == 0:
        return []
    per = builtins.max(1, builtins.min(n, _CHUNK_BYTES // builtins.max(1, bytes_per_item)))
    k = -(-n // per)
    if k == 1 and n > 1 and n * bytes_per_item >= _SPLIT_BYTES:
        k = 2    # one chunk would leave the second thread idle (a 1-channel first layer: 1.6 ms)
    if k % 2 and 1 < k < n:
        k += 1
    edges = [n * i // k for i in range(k + 1)]
    return [(edges[i], edges[i + 1] - edges[i]) for i in range(k)]


def _cols_buffer(C, k, m, out, dtype, padded, tag):
    """A column buffer ``(C, *k, m, *out)`` from the thread's scratch cache; zero-filled when some
    windows read padding. ``tag`` names the geometry (it fixes which elements stay zero)."""
    return scratch(("cols",) + tag, (C,) + tuple(k) + (m,) + tuple(out), dtype, zeroed=padded)


def _sample_cols(x, k, out, padded, tag, blocks):
    """The columns of the samples ``x (m, C, *in)`` laid out ``(m, C, *k, *out)``: one
    ``(C*k, P)`` matrix per sample (the thin layers' layout, see ``_PER_SAMPLE_FWD``)."""
    m, C = x.shape[:2]
    cols = scratch(("scols",) + tag, (m, C) + tuple(k) + tuple(out), x.dtype, zeroed=padded)
    _im2col(x, cols, blocks)
    return cols


def _partial(G, rows, cols, dtype):
    """A chunk's weight-gradient partial sum: float32 for float16 data (NumPy's float16 GEMM goes
    through float32 anyway), so that the chunks add up before the one rounding to float16."""
    return np.empty((G, rows, cols), np.float32 if dtype == np.float16 else dtype)


def _as_nckp(cols, nd):
    """The ``(N, C, *k, *out)`` view of a ``(C, *k, N, *out)`` column buffer."""
    return np.moveaxis(cols, 1 + nd, 0)


# ---------------------------------------------------------------------------- convolution
class _Wide:
    """Geometry of the *wide* im2col of a stride-1 convolution (used for conv's input gradient).

    Each ``(channel, sample)`` plane is padded once into a flat buffer of the padded grid ``pd``
    (plus a short zero tail). Computing the output on a wide grid ``(out[0], *pd[1:])`` -- every
    row as wide as a padded row -- makes the window of kernel offset ``i`` one *contiguous* run
    of the flat plane, starting at ``sum(i * dil * S)`` (``S``: the padded grid's flat strides),
    so the columns are a single strided copy whose inner loop is a whole plane. The price is
    ``pd[1:] / out[1:]`` more GEMM columns, whose extra outputs are dropped.

    ``ins``: the spatial size of the array padded; ``lo``: where it sits in the padded grid.
    """

    def __init__(self, ins, k, dil, lo, out):
        nd = len(k)
        self.ins, self.k, self.lo, self.out = tuple(ins), tuple(k), tuple(lo), tuple(out)
        self.pd = tuple(o + d * (kk - 1) for o, d, kk in zip(out, dil, k))
        S = [int(np.prod(self.pd[a + 1:])) for a in range(nd)]
        self.step = tuple(d * s for d, s in zip(dil, S))                     # flat step per kernel offset
        self.Lw = out[0] * S[0]                                              # wide outputs per plane
        tail = builtins.sum((kk - 1) * st for kk, st in zip(k[1:], self.step[1:]))
        self.Lp = int(np.prod(self.pd)) + tail                               # flat padded plane
        self.tag = (self.pd, self.lo, self.ins, self.Lp)                     # fixes the zero region

    def pad(self, a, tag):
        """``a (A, B, *ins)`` into a cached ``(A, B, Lp)`` buffer, zeros around it."""
        A, B = a.shape[:2]
        buf = scratch(("pad", tag) + self.tag, (A, B, self.Lp), a.dtype, zeroed=True)
        grid = buf[:, :, :int(np.prod(self.pd))].reshape((A, B) + self.pd)   # a view (splits one axis)
        grid[(slice(None), slice(None)) + tuple(slice(l, l + n) for l, n in zip(self.lo, self.ins))] = a
        return buf

    def im2col(self, src, cols):
        """Columns ``cols (C, *k, m, Lw)`` from a padded ``src (C, m, Lp)`` (any strides): one copy."""
        C, m = src.shape[:2]
        it = src.itemsize
        view = np.lib.stride_tricks.as_strided(
            src, (C,) + self.k + (m, self.Lw),
            (src.strides[0],) + tuple(st * it for st in self.step) + (src.strides[1], it), writeable=False)
        np.copyto(cols, view)
        return cols

    def valid(self, wide, lead):
        """The ``(*lead, *out)`` outputs of a ``(*lead, Lw)`` wide result (a view)."""
        v = wide.reshape(tuple(lead) + (self.out[0],) + self.pd[1:])
        return v[(slice(None),) * (len(lead) + 1) + tuple(slice(0, o) for o in self.out[1:])]


def _wide_ok(ins, k, stride, dil, pad_lo, out):
    """Whether conv's input gradient is a stride-1 convolution with non-negative padding (what
    :func:`_grad_input_conv` computes): stride 1, and padding no wider than the kernel's reach."""
    if any(s != 1 for s in stride):
        return False
    hi = [o + d * (kk - 1) - n - lo for o, d, kk, n, lo in zip(out, dil, k, ins, pad_lo)]
    return all(0 <= lo <= d * (kk - 1) and 0 <= h <= d * (kk - 1) for lo, h, d, kk in zip(pad_lo, hi, dil, k))


class ConvNd(ArrayFunction):
    """``torch.nn.functional.conv{1,2,3}d``: x (N, C, *in), w (O, C/groups, *k), b (O,) or None
    -> (N, O, *out). ``geom = (stride, pad_lo, dilation, groups, out_shape)``."""

    _node_name = "ConvolutionBackward0"

    @staticmethod
    def forward(ctx, x, w, b, geom):
        stride, pad_lo, dil, G, out = geom
        N, C = x.shape[:2]
        O, k, nd = w.shape[0], w.shape[2:], w.ndim - 2
        ctx.save_for_backward(x, w)
        ctx.geom, ctx.blocks = geom, None           # blocks: made by the NumPy path when it runs
        plan = _onednn_plan(x, w, geom)
        if plan is not None:
            return plan.forward(np.ascontiguousarray(x), np.ascontiguousarray(w),
                                None if b is None else np.ascontiguousarray(b))
        blocks, padded = ctx.blocks, ctx.padded = _plan(k, geom, x.shape[2:])
        P, Kg = int(np.prod(out)), (C // G) * int(np.prod(k))
        w3 = w.reshape(G, O // G, Kg)
        y = np.empty((N, O) + tuple(out), x.dtype)
        parts = _chunks(N, C * int(np.prod(k)) * P * x.itemsize)
        tag = (x.shape[2:], tuple(k), geom)
        # (float16 has no BLAS: it goes through _gemm's float32 product, batch-wide)
        thin_fwd = Kg <= _PER_SAMPLE_FWD and x.dtype != np.float16

        def chunk(i):                                                 # samples [n0, n0 + m)
            n0, m = parts[i]
            if thin_fwd:                # thin layer: a GEMM per sample, straight into y
                cols = _sample_cols(x[n0:n0 + m], k, out, padded, tag, blocks)
                yv = y[n0:n0 + m].reshape(m, G, O // G, P)
                np.matmul(w3, cols.reshape(m, G, Kg, P), out=yv)
                if b is not None:
                    yv += b.reshape(G, O // G, 1)
                return
            cols = _cols_buffer(C, k, m, out, x.dtype, padded, tag)
            _im2col(x[n0:n0 + m], _as_nckp(cols, nd), blocks)
            yt = _gemm(w3, cols.reshape(G, Kg, m * P))               # (G, O/G, m*P): the GEMM
            yt = np.moveaxis(yt.reshape((O, m) + tuple(out)), 1, 0)   # (m, O, *out) view
            if b is None:
                y[n0:n0 + m] = yt
            else:  # the layout copy and the bias add in one pass
                np.add(yt, b.reshape((O,) + (1,) * nd), out=y[n0:n0 + m])
        parallel_for(chunk, len(parts))
        return y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        stride, pad_lo, dil, G, out = ctx.geom
        nx, nw = ctx.needs_input_grad[:2]
        nbias = ctx.needs_input_grad[2]
        plan = _onednn_plan(x, w, ctx.geom)
        if plan is not None:
            gx, gw, gb = plan.backward(np.ascontiguousarray(x), np.ascontiguousarray(w), np.ascontiguousarray(g),
                                       nx, nw, nbias and nw)
            if nbias and not nw:
                gb = g.reshape(g.shape[0], g.shape[1], -1).sum(-1).sum(0)
            return gx, gw, gb, None
        N, C = x.shape[:2]
        O, k, nd = w.shape[0], w.shape[2:], w.ndim - 2
        if ctx.blocks is None:      # the forward ran on oneDNN (since disabled, or refused)
            ctx.blocks, ctx.padded = _plan(k, ctx.geom, x.shape[2:])
        P, Kg = int(np.prod(out)), (C // G) * int(np.prod(k))
        w3 = w.reshape(G, O // G, Kg)
        # grad_input as a convolution of the gradient (stride 1, O <= C; see _grad_input_conv) or
        # as a GEMM to columns + col2im scatter, below
        gconv = nx and O <= _GX_CONV_RATIO * C and _wide_ok(x.shape[2:], k, stride, dil, pad_lo, out)
        gx = _grad_input_conv(g, w, x.shape, dil, pad_lo, G) if gconv else None
        col2im = nx and not gconv
        if col2im:
            gx = np.zeros(x.shape, x.dtype)
        parts = _chunks(N, C * int(np.prod(k)) * P * x.itemsize)
        nchunks = len(parts)
        gw_parts = [None] * nchunks
        tag = (x.shape[2:], tuple(k), ctx.geom)
        thin_gw = nw and not col2im and Kg <= _PER_SAMPLE_GW and x.dtype != np.float16

        def chunk(i):                                                 # grad_weight and/or col2im
            n0, m = parts[i]
            if thin_gw:                 # thin layer: per-sample GEMMs, summed
                cols = _sample_cols(x[n0:n0 + m], k, out, ctx.padded, tag, ctx.blocks)
                gs = np.ascontiguousarray(g[n0:n0 + m]).reshape(m, G, O // G, P)
                gw_parts[i] = np.matmul(gs, cols.reshape(m, G, Kg, P).transpose(0, 1, 3, 2)).sum(0)
                return
            # (O, m*P): the output gradient with channels first, contiguous for the GEMMs
            gt = np.ascontiguousarray(np.moveaxis(g[n0:n0 + m], 1, 0)).reshape(G, O // G, m * P)
            if nw:
                cols = _cols_buffer(C, k, m, out, x.dtype, ctx.padded, tag)
                _im2col(x[n0:n0 + m], _as_nckp(cols, nd), ctx.blocks)
                # (cols @ gt^T)^T: the same product, in the orientation BLAS runs faster here
                gw_parts[i] = _gemm(cols.reshape(G, Kg, m * P), gt.transpose(0, 2, 1),
                                    out=_partial(G, Kg, O // G, x.dtype)).transpose(0, 2, 1)
            if col2im:
                gc = _gemm(w3.transpose(0, 2, 1), gt)                    # (G, Kg, m*P)
                gc = gc.reshape((C,) + tuple(k) + (m,) + tuple(out))
                _col2im(_as_nckp(gc, nd), gx[n0:n0 + m], ctx.blocks)
        if nw or col2im:
            parallel_for(chunk, nchunks)
        gw = sum_in_order(gw_parts, (G, O // G, Kg), w.dtype) if nw else None
        gb = g.reshape(N, O, P).sum(-1).sum(0) if nbias else None    # the contiguous axis first
        return gx, (gw.reshape(w.shape).astype(w.dtype, copy=False) if nw else None), gb, None

    @staticmethod
    def backward_graph(ctx, g):
        # double backward: the input gradient is a transposed convolution of g, the weight
        # gradient a ConvWeight of (x, g); both are differentiable Functions again
        x, w = ctx.saved_tensors
        stride, pad_lo, dil, G, out = ctx.geom
        nx, nw, nbias = ctx.needs_input_grad[:3]
        gx = ConvTransposeNd.apply(g, graft(ctx, 1, w), None, (stride, pad_lo, dil, G, x.shape[2:])) if nx else None
        gw = ConvWeight.apply(graft(ctx, 0, x), g, w.shape, ctx.geom) if nw else None
        gb = g.sum((0,) + tuple(range(2, g.ndim))) if nbias else None
        return gx, gw, gb, None


def _onednn_plan(x, w, geom):
    """oneDNN's plan for this float32 convolution when it is enabled and installed, else None
    (then the NumPy code here runs; see ``flambeau/_onednn.py``)."""
    if not _onednn_wanted(x, w):
        return None
    return _onednn.conv_plan(x.shape, w.shape, geom)


def _onednn_wanted(x, w):
    """Whether oneDNN should take this convolution: enabled, float32, a non-empty input."""
    return _mkldnn.enabled and x.dtype == np.float32 and w.dtype == np.float32 and x.size > 0


def _onednn_transposed_plan(x, w, geom):
    """oneDNN's plan for a float32 transposed convolution x (N, Cin, *in) -> (N, Cout, *out): the
    plan of the convolution it is the adjoint of, from (N, Cout, *out) back to x's shape."""
    stride, pad_lo, dil, G, out = geom
    if not _onednn_wanted(x, w):
        return None
    return _onednn.conv_plan((x.shape[0], w.shape[1] * G) + tuple(out), w.shape, (stride, pad_lo, dil, G, x.shape[2:]))


def _adjoint_plan(k, geom, ins):
    """The im2col blocks of a transposed convolution x (N, Cin, *ins) -> (N, Cout, *out): those
    of the convolution from ``out`` back to ``ins`` that it is the adjoint of."""
    stride, pad_lo, dil, G, out = geom
    return _plan(k, (stride, pad_lo, dil, G, ins), out)


def _plan(k, geom, ins):
    """The im2col blocks of a convolution of ``geom`` over inputs of spatial shape ``ins``, and
    whether some kernel offset reaches into the padding."""
    stride, pad_lo, dil, G, out = geom
    blocks = _blocks(k, stride, dil, pad_lo, ins, out)
    padded = len(blocks) < int(np.prod(k)) or any(
        (o1.stop - o1.start) < n for _, osl, _ in blocks for o1, n in zip(osl, out))
    return blocks, padded


class _WeightGradCtx:
    """What ConvNd.backward reads from its ctx, for a weight gradient alone."""

    def __init__(self, x, w_shape, geom):
        self.saved_tensors = (x, np.empty(w_shape, x.dtype))
        self.needs_input_grad = (False, True, False)
        self.geom = geom
        self.blocks, self.padded = _plan(w_shape[2:], geom, x.shape[2:])


class ConvWeight(ArrayFunction):
    """The weight gradient of ``conv(x, w)`` for an output gradient ``g``, as an op of its own
    (what conv's double backward differentiates). Bilinear: its derivative in x is a transposed
    convolution of g, in g a convolution of x, both by the incoming weight-shaped gradient."""

    _node_name = "ConvolutionBackwardBackward0"

    @staticmethod
    def forward(ctx, x, g, w_shape, geom):
        ctx.save_for_backward(x, g)
        ctx.geom = geom
        return ConvNd.backward(_WeightGradCtx(x, w_shape, geom), g)[1]

    @staticmethod
    def backward(ctx, gw):
        x, g = ctx.saved_tensors
        stride, pad_lo, dil, G, out = ctx.geom
        nx, ng = ctx.needs_input_grad[:2]
        gx = ConvTransposeNd.forward(_Scratch(), g, gw, None, (stride, pad_lo, dil, G, x.shape[2:])) if nx else None
        gg = ConvNd.forward(_Scratch(), x, gw, None, ctx.geom) if ng else None
        return gx, gg, None, None

    @staticmethod
    def backward_graph(ctx, gw):
        x, g = ctx.saved_tensors
        stride, pad_lo, dil, G, out = ctx.geom
        nx, ng = ctx.needs_input_grad[:2]
        gx = ConvTransposeNd.apply(graft(ctx, 1, g), gw, None, (stride, pad_lo, dil, G, x.shape[2:])) if nx else None
        gg = ConvNd.apply(graft(ctx, 0, x), gw, None, ctx.geom) if ng else None
        return gx, gg, None, None


class _Scratch:
    """A throw-away ctx for calling an op's array forward directly."""

    def save_for_backward(self, *values):
        pass


def _grad_input_conv(g, w, x_shape, dil, pad_lo, G):
    """conv's input gradient for stride 1, as a stride-1 convolution of the output gradient
    ``g (N, O, *out)`` with the flipped, transposed weight and padding ``dil*(k-1) - pad_lo``.

    Against the GEMM to columns + col2im: the same GEMM work, but its columns come from one
    wide copy (:class:`_Wide`) instead of a per-kernel-offset scatter with short rows, which
    measured faster when the layer has no more output than input channels (the copy moves O*K
    values per pixel; col2im adds C*K)."""
    N, O = g.shape[:2]
    C, ins = x_shape[1], x_shape[2:]
    k, nd = w.shape[2:], w.ndim - 2
    K = int(np.prod(k))
    out = g.shape[2:]
    geo = _Wide(out, k, dil, tuple(d * (kk - 1) - lo for d, kk, lo in zip(dil, k, pad_lo)), ins)
    # (G, C/G, O/G * K): per group, input channels as rows, (output channel, flipped offset) as columns
    flip = (slice(None),) * 3 + (slice(None, None, -1),) * nd
    wf = np.ascontiguousarray(w.reshape((G, O // G, C // G) + tuple(k))[flip].swapaxes(1, 2))
    wf3 = wf.reshape(G, C // G, (O // G) * K)
    gx = np.empty(x_shape, g.dtype)
    parts = _chunks(N, O * K * geo.Lw * g.itemsize)

    def chunk(i):
        n0, m = parts[i]
        gp = geo.pad(g[n0:n0 + m].swapaxes(0, 1), "g")                       # (O, m, Lp), channels first
        cols = geo.im2col(gp, scratch("gcols", (O,) + tuple(k) + (m, geo.Lw), g.dtype))
        gxt = scratch("gx", (G, C // G, m * geo.Lw), g.dtype)
        _gemm(wf3, cols.reshape(G, (O // G) * K, m * geo.Lw), out=gxt)        # the GEMM
        gx[n0:n0 + m] = np.moveaxis(geo.valid(gxt, (C, m)), 1, 0)
    parallel_for(chunk, len(parts))
    return gx


class ConvTransposeNd(ArrayFunction):
    """``torch.nn.functional.conv_transpose{1,2,3}d``: x (N, Cin, *in), w (Cin, Cout/groups, *k)
    -> (N, Cout, *out); the adjoint of ConvNd. ``geom = (stride, pad_lo, dilation, groups, out)``."""

    _node_name = "ConvolutionBackward0"

    @staticmethod
    def forward(ctx, x, w, b, geom):
        stride, pad_lo, dil, G, out = geom
        N, Cin = x.shape[:2]
        k, nd = w.shape[2:], w.ndim - 2
        Cout = w.shape[1] * G
        ins = x.shape[2:]
        Pin, Kg = int(np.prod(ins)), w.shape[1] * int(np.prod(k))
        ctx.save_for_backward(x, w)
        ctx.geom, ctx.blocks = geom, None           # blocks: made by the NumPy path when it runs
        plan = _onednn_transposed_plan(x, w, geom)
        if plan is not None:         # the input gradient of the convolution from y's shape to x's
            y = plan.backward_data(np.ascontiguousarray(x), np.ascontiguousarray(w))
            if b is not None:
                y += b.reshape((Cout,) + (1,) * nd)
            return y
        ctx.blocks, ctx.padded = _adjoint_plan(k, geom, ins)
        blocks = ctx.blocks
        w3 = w.reshape(G, Cin // G, Kg)
        y = np.zeros((N, Cout) + tuple(out), x.dtype)
        parts = _chunks(N, Cout * int(np.prod(k)) * Pin * x.itemsize)

        def chunk(i):
            n0, m = parts[i]
            xt = np.ascontiguousarray(np.moveaxis(x[n0:n0 + m], 1, 0)).reshape(G, Cin // G, m * Pin)
            cols = _gemm(w3.transpose(0, 2, 1), xt)                     # (G, Kg, m*Pin)
            cols = cols.reshape((Cout,) + tuple(k) + (m,) + tuple(ins))
            _col2im(_as_nckp(cols, nd), y[n0:n0 + m], blocks)
        parallel_for(chunk, len(parts))
        if b is not None:
            y += b.reshape((Cout,) + (1,) * nd)
        return y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        G = ctx.geom[3]
        nx, nw = ctx.needs_input_grad[:2]
        nbias = ctx.needs_input_grad[2]
        N, Cin = x.shape[:2]
        k, nd = w.shape[2:], w.ndim - 2
        Cout, ins = w.shape[1] * G, x.shape[2:]
        plan = _onednn_transposed_plan(x, w, ctx.geom)
        if plan is not None:         # that convolution's forward of g, and its weight gradient
            g = np.ascontiguousarray(g)
            gx = plan.forward(g, np.ascontiguousarray(w), None) if nx else None
            gw = plan.backward_weights(g, np.ascontiguousarray(x), False)[0] if nw else None
            gb = g.sum(axis=(0,) + tuple(range(2, g.ndim))) if nbias else None
            return gx, gw, gb, None
        if ctx.blocks is None:      # the forward ran on oneDNN (since disabled, or refused)
            ctx.blocks, ctx.padded = _adjoint_plan(k, ctx.geom, ins)
        Pin, Kg = int(np.prod(ins)), w.shape[1] * int(np.prod(k))
        w3 = w.reshape(G, Cin // G, Kg)
        gx = np.empty(x.shape, x.dtype) if nx else None
        parts = _chunks(N, Cout * int(np.prod(k)) * Pin * x.itemsize)
        nchunks = len(parts)
        gw_parts = [None] * nchunks
        tag = ("transposed", ins, tuple(k), ctx.geom)

        def chunk(i):
            n0, m = parts[i]
            cols = _cols_buffer(Cout, k, m, ins, g.dtype, ctx.padded, tag)
            _im2col(g[n0:n0 + m], _as_nckp(cols, nd), ctx.blocks)      # conv's forward on g
            c3 = cols.reshape(G, Kg, m * Pin)
            if nx:
                gxt = _gemm(w3, c3).reshape((Cin, m) + tuple(ins))
                gx[n0:n0 + m] = np.moveaxis(gxt, 1, 0)
            if nw:
                xt = np.ascontiguousarray(np.moveaxis(x[n0:n0 + m], 1, 0)).reshape(G, Cin // G, m * Pin)
                gw_parts[i] = _gemm(c3, xt.transpose(0, 2, 1), out=_partial(G, Kg, Cin // G, x.dtype)).transpose(0, 2, 1)
        parallel_for(chunk, nchunks)
        gw = sum_in_order(gw_parts, (G, Cin // G, Kg), w.dtype) if nw else None
        gb = g.sum(axis=(0,) + tuple(range(2, g.ndim))) if nbias else None
        return gx, (gw.reshape(w.shape).astype(w.dtype, copy=False) if nw else None), gb, None

    @staticmethod
    def backward_graph(ctx, g):
        # the adjoint of ConvNd: its input gradient is a convolution of g, its weight gradient
        # the ConvWeight of (g, x) for the convolution that maps g's shape to x's
        x, w = ctx.saved_tensors
        stride, pad, dil, G, out = ctx.geom
        nx, nw, nbias = ctx.needs_input_grad[:3]
        conv_geom = (stride, pad, dil, G, x.shape[2:])
        gx = ConvNd.apply(g, graft(ctx, 1, w), None, conv_geom) if nx else None
        gw = ConvWeight.apply(g, graft(ctx, 0, x), w.shape, conv_geom) if nw else None
        gb = g.sum((0,) + tuple(range(2, g.ndim))) if nbias else None
        return gx, gw, gb, None


# ---------------------------------------------------------------------------- argument checks
_KIND = {np.dtype(np.float32): "float", np.dtype(np.float64): "double", np.dtype(np.float16): "Half"}


def _dtname(dt):
    return _KIND.get(np.dtype(dt), np.dtype(dt).name)


def _check_common(op, input, weight, bias, nd, transposed):
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"{op}() expected Tensor arguments for input and weight, got "
                        f"{type(input).__name__} and {type(weight).__name__}")
    x, w = input._data, weight._data
    if x.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {op}, but got "
                           f"input of size: {fmt_shape(x.shape)}")
    if w.ndim != nd + 2:
        raise RuntimeError(f"{op}: expected weight to be {nd + 2}-dimensional ((out_channels, in_channels/groups, "
                           f"*kernel_size)), but got weight of size {fmt_shape(w.shape)}")
    if x.dtype.kind != "f":
        raise RuntimeError(f"\"{op}\" not implemented for input of dtype {x.dtype.name} (expected a floating "
                           f"point tensor)")
    if x.dtype != w.dtype:
        raise RuntimeError(f"{op}: Input type ({_dtname(x.dtype)}) and weight type ({_dtname(w.dtype)}) should "
                           f"be the same (input of size {fmt_shape(x.shape)}, weight of size {fmt_shape(w.shape)})")
    if bias is not None:
        nout = w.shape[1] if transposed else w.shape[0]
        if bias._data.ndim != 1 or (not transposed and bias._data.shape[0] != nout):
            raise RuntimeError(f"Given weight of size {fmt_shape(w.shape)}, expected bias to be 1-dimensional with "
                               f"{nout} elements, but got bias of size {fmt_shape(bias._data.shape)} instead")
        if bias._data.dtype != x.dtype:
            raise RuntimeError(f"{op}: bias of dtype {bias.dtype} does not match input of dtype {input.dtype}")


def _check_geometry(stride, padding, dilation):
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(p < 0 for p in padding):
        raise RuntimeError("negative padding is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError(f"dilation should be greater than zero, but got dilation={list(dilation)}")


def _conv(op, nd, input, weight, bias, stride, padding, dilation, groups):
    if _amp.active:             # autocast: runs in float16
        input, weight, bias = _amp.lower(input, weight, bias)
    _check_common(op, input, weight, bias, nd, False)
    unbatched = input._data.ndim == nd + 1
    if unbatched:
        input = input.unsqueeze(0)
    x, w = input._data, weight._data
    stride = _ntuple(stride, nd, "stride", op)
    dilation = _ntuple(dilation, nd, "dilation", op)
    groups = builtins.int(groups)
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    k = w.shape[2:]
    if isinstance(padding, str):
        if padding == "valid":
            pad_lo = pad_hi = (0,) * nd
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            total = [d * (kk - 1) for d, kk in zip(dilation, k)]
            pad_lo = tuple(t // 2 for t in total)                   # PyTorch pads the extra one at the end
            pad_hi = tuple(t - t // 2 for t in total)
        else:
            raise RuntimeError(f"Invalid padding string: '{padding}'")
    else:
        pad_lo = pad_hi = _ntuple(padding, nd, "padding", op)
    _check_geometry(stride, pad_lo, dilation)
    if w.shape[0] % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
                           f"but got weight of size {fmt_shape(w.shape)} instead")
    if x.shape[1] != w.shape[1] * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {fmt_shape(w.shape)}, expected "
                           f"input{fmt_shape(x.shape)} to have {w.shape[1] * groups} channels, but got "
                           f"{x.shape[1]} channels instead")
    padded_in = [n + lo + hi for n, lo, hi in zip(x.shape[2:], pad_lo, pad_hi)]
    ext = [d * (kk - 1) + 1 for d, kk in zip(dilation, k)]
    if any(e > p for e, p in zip(ext, padded_in)):
        raise RuntimeError(f"Calculated padded input size per channel: ({' x '.join(map(str, padded_in))}). "
                           f"Kernel size: ({' x '.join(map(str, ext))}). Kernel size can't be greater than "
                           f"actual input size")
    out = tuple((p - e) // s + 1 for p, e, s in zip(padded_in, ext, stride))
    y = ConvNd.apply(input, weight, bias, (stride, pad_lo, dilation, groups, out))
    return y.squeeze(0) if unbatched else y


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """``torch.nn.functional.conv1d``: (N, C, L) x (O, C/groups, k) -> (N, O, L_out)."""
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """``torch.nn.functional.conv2d``: (N, C, H, W) x (O, C/groups, kh, kw) -> (N, O, H_out, W_out).
    ``padding``: int, tuple, 'valid' or 'same' (stride 1)."""
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """``torch.nn.functional.conv3d``: (N, C, D, H, W) x (O, C/groups, kd, kh, kw)."""
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


_AXIS = {1: ("width",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def _conv_transpose(op, nd, input, weight, bias, stride, padding, output_padding, groups, dilation):
    if _amp.active:             # autocast: runs in float16
        input, weight, bias = _amp.lower(input, weight, bias)
    _check_common(op, input, weight, bias, nd, True)
    unbatched = input._data.ndim == nd + 1
    if unbatched:
        input = input.unsqueeze(0)
    x, w = input._data, weight._data
    stride = _ntuple(stride, nd, "stride", op)
    padding = _ntuple(padding, nd, "padding", op)
    dilation = _ntuple(dilation, nd, "dilation", op)
    output_padding = _ntuple(output_padding, nd, "output_padding", op)
    groups = builtins.int(groups)
    _check_geometry(stride, padding, dilation)
    if x.shape[1] != w.shape[0]:
        raise RuntimeError(f"Given transposed=1, weight of size {fmt_shape(w.shape)}, expected "
                           f"input{fmt_shape(x.shape)} to have {w.shape[0]} channels, but got {x.shape[1]} "
                           f"channels instead")
    if w.shape[0] % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
                           f"but got weight of size {fmt_shape(w.shape)} instead")
    if bias is not None and bias._data.shape[0] != w.shape[1] * groups:
        raise RuntimeError(f"Given transposed=1, weight of size {fmt_shape(w.shape)}, expected bias to be "
                           f"1-dimensional with {w.shape[1] * groups} elements, but got bias of size "
                           f"{fmt_shape(bias._data.shape)} instead")
    if any(op_ >= s and op_ >= d for op_, s, d in zip(output_padding, stride, dilation)):
        names = _AXIS[nd]
        raise RuntimeError("output padding must be smaller than either stride or dilation, but got "
                           + " ".join(f"output_padding_{n}: {v}" for n, v in zip(names, output_padding)) + " "
                           + " ".join(f"stride_{n}: {v}" for n, v in zip(names, stride)) + " "
                           + " ".join(f"dilation_{n}: {v}" for n, v in zip(names, dilation)))
    k = w.shape[2:]
    out = tuple((n - 1) * s - 2 * p + d * (kk - 1) + op_ + 1
                for n, s, p, d, kk, op_ in zip(x.shape[2:], stride, padding, dilation, k, output_padding))
    if any(o <= 0 for o in out):
        raise RuntimeError(f"Given input size per channel: ({' x '.join(map(str, x.shape[2:]))}). Calculated "
                           f"output size per channel: ({' x '.join(map(str, out))}). Output size is too small")
    y = ConvTransposeNd.apply(input, weight, bias, (stride, padding, dilation, groups, out))
    return y.squeeze(0) if unbatched else y


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """``torch.nn.functional.conv_transpose1d``: (N, Cin, L) x (Cin, Cout/groups, k) -> (N, Cout, L_out)."""
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding,
                           groups, dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """``torch.nn.functional.conv_transpose2d``: (N, Cin, H, W) x (Cin, Cout/groups, kh, kw)
    -> (N, Cout, H_out, W_out) with H_out = (H-1)*stride - 2*padding + dilation*(kh-1) + output_padding + 1."""
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding,
                           groups, dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """``torch.nn.functional.conv_transpose3d``."""
    return _conv_transpose("conv_transpose3d", 3, input, weight, bias, stride, padding, output_padding,
                           groups, dilation)


# ---------------------------------------------------------------------------- unfold / fold
class Im2Col(ArrayFunction):
    """``F.unfold``: (N, C, H, W) -> (N, C*kh*kw, L), L = H_out*W_out."""

    _node_name = "Im2ColBackward0"

    @staticmethod
    def forward(ctx, x, k, blocks, out):
        N, C = x.shape[:2]
        dst = np.zeros((N, C) + k + out, x.dtype)
        _im2col(x, dst, blocks)
        ctx.shape, ctx.k, ctx.blocks, ctx.out = x.shape, k, blocks, out
        return dst.reshape(N, C * int(np.prod(k)), int(np.prod(out)))

    @staticmethod
    def backward(ctx, g):
        N, C = ctx.shape[:2]
        gx = np.zeros(ctx.shape, g.dtype)
        _col2im(g.reshape((N, C) + ctx.k + ctx.out), gx, ctx.blocks)
        return gx, None, None, None

    @staticmethod
    def backward_graph(ctx, g):   # the adjoint of unfold is fold, and the other way round
        return Col2Im.apply(g, tuple(ctx.shape[2:]), ctx.k, ctx.blocks, ctx.out), None, None, None


class Col2Im(ArrayFunction):
    """``F.fold``: (N, C*kh*kw, L) -> (N, C, H, W), summing overlapping blocks."""

    _node_name = "Col2ImBackward0"

    @staticmethod
    def forward(ctx, cols, size, k, blocks, out):
        N, C = cols.shape[0], cols.shape[1] // int(np.prod(k))
        y = np.zeros((N, C) + size, cols.dtype)
        _col2im(cols.reshape((N, C) + k + out), y, blocks)
        ctx.k, ctx.blocks, ctx.out, ctx.C = k, blocks, out, C
        return y

    @staticmethod
    def backward(ctx, g):
        N = g.shape[0]
        dst = np.zeros((N, ctx.C) + ctx.k + ctx.out, g.dtype)
        _im2col(g, dst, ctx.blocks)
        return dst.reshape(N, -1, int(np.prod(ctx.out))), None, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        return Im2Col.apply(g, ctx.k, ctx.blocks, ctx.out), None, None, None, None


def _fold_geom(op, kernel_size, dilation, padding, stride):
    k = _ntuple(kernel_size, 2, "kernel_size", op)
    d = _ntuple(dilation, 2, "dilation", op)
    p = _ntuple(padding, 2, "padding", op)
    s = _ntuple(stride, 2, "stride", op)
    if any(v <= 0 for v in k):
        raise RuntimeError(f"{op}: kernel size should be greater than zero, but got kernel_size={list(k)}")
    _check_geometry(s, p, d)
    return k, d, p, s


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """``torch.nn.functional.unfold`` (im2col): (N, C, H, W) -> (N, C*kh*kw, L); (C, H, W) -> (C*kh*kw, L)."""
    k, d, p, s = _fold_geom("unfold", kernel_size, dilation, padding, stride)
    x = input._data
    if x.ndim not in (3, 4):
        raise RuntimeError(f"Input Error: Only 3D or 4D input Tensors are supported (got {x.ndim}D) for unfold, "
                           f"input of size {fmt_shape(x.shape)}")
    unbatched = x.ndim == 3
    if unbatched:
        input = input.unsqueeze(0)
    ins = input._data.shape[2:]
    out = tuple((n + 2 * pp - dd * (kk - 1) - 1) // ss + 1 for n, pp, dd, kk, ss in zip(ins, p, d, k, s))
    if any(o < 1 for o in out):
        raise RuntimeError(f"Given input with spatial size ({ins[0]}, {ins[1]}), kernel_size=({k[0]}, {k[1]}), "
                           f"dilation=({d[0]}, {d[1]}), padding=({p[0]}, {p[1]}), calculated shape of the array "
                           f"of sliding blocks as ({out[0]}, {out[1]}), but its components must be at least one.")
    y = Im2Col.apply(input, k, _blocks(k, s, d, p, ins, out), out)
    return y.squeeze(0) if unbatched else y


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """``torch.nn.functional.fold`` (col2im): (N, C*kh*kw, L) -> (N, C, H, W), overlaps summed."""
    k, d, p, s = _fold_geom("fold", kernel_size, dilation, padding, stride)
    size = _ntuple(output_size, 2, "output_size", "fold")
    x = input._data
    if x.ndim not in (2, 3):
        raise RuntimeError(f"Input Error: Only unbatched (2D) or batched (3D) input Tensors are supported "
                           f"(got {x.ndim}D) for fold, input of size {fmt_shape(x.shape)}")
    unbatched = x.ndim == 2
    if unbatched:
        input = input.unsqueeze(0)
        x = input._data
    kk = k[0] * k[1]
    if x.shape[1] % kk:
        raise RuntimeError(f"Expected size of input's dimension 1 to be divisible by the product of kernel_size, "
                           f"but got input.size(1)={x.shape[1]} and kernel_size=({k[0]}, {k[1]}).")
    out = tuple((n + 2 * pp - dd * (kq - 1) - 1) // ss + 1 for n, pp, dd, kq, ss in zip(size, p, d, k, s))
    if x.shape[2] != out[0] * out[1]:
        raise RuntimeError(f"Given output_size=({size[0]}, {size[1]}), kernel_size=({k[0]}, {k[1]}), "
                           f"dilation=({d[0]}, {d[1]}), padding=({p[0]}, {p[1]}), stride=({s[0]}, {s[1]}), expected "
                           f"size of input's dimension 2 to match the calculated number of sliding blocks "
                           f"{out[0]} * {out[1]} = {out[0] * out[1]}, but got input.size(2)={x.shape[2]}.")
    y = Col2Im.apply(input, size, k, _blocks(k, s, d, p, size, out), out)
    return y.squeeze(0) if unbatched else y
