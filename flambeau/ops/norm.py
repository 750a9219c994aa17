"""Normalisation over batches and groups: ``batch_norm``, ``group_norm``, ``instance_norm``,
``local_response_norm``.

batch_norm and group_norm are fused ArrayFunctions: forward keeps the normalised input
``xhat`` and ``1/std``; backward is the standard three-term formula

    grad_x = w / std * (g - mean(g) - xhat * mean(g * xhat))

with the means over the normalised elements of each channel (batch norm) or group (group norm).
Running statistics are updated in place, outside autograd, with the unbiased variance.
"""
from __future__ import annotations

import builtins

import numpy as np

from .._tensor import Tensor, _wrap
from .._threads import blocks, parallel_for
from ..autograd.function import ArrayFunction, graft, recompute_backward
from ._util import fmt_shape

__all__ = ["batch_norm", "group_norm", "instance_norm", "local_response_norm"]


def _channel_sum(a):
    """Sum of ``a (N, C, *)`` per channel, via contiguous reductions (the fast axis first)."""
    N, C = a.shape[:2]
    return a.reshape(N, C, -1).sum(-1).sum(0)


def _affine(y, w, b, cshape):
    """``y * w + b`` with per-channel Tensors (either may be None): the tail of the norms'
    recomputed forwards in their double backward."""
    if w is not None:
        y = y * w.reshape(cshape)
    return y + b.reshape(cshape) if b is not None else y


def _rows(v, L):
    """Per-channel values ``v (C,)`` spread over ``(C, L)``: broadcast against a block of whole
    samples ``(m, C, L)``, a full row lets NumPy run one inner loop over ``C*L`` elements instead
    of one per channel and sample (measured 1.3-1.5x faster per pass than a ``(C, 1)`` column)."""
    return np.repeat(v, L).reshape(-1, L)


def _chunk_sums(fn, parts, dtype):
    """Per-channel sums over the sample chunks ``parts``: ``fn(p)`` returns a chunk's partial
    sums (a tuple of ``(C,)`` arrays), run on the threads; the partials are added here in chunk
    order, so the totals do not depend on the thread count (float16's in float32)."""
    res = [None] * len(parts)

    def run(i):
        res[i] = fn(parts[i])
    parallel_for(run, len(parts))
    acc = np.promote_types(dtype, np.float32)
    return [np.sum(np.stack(col), axis=0, dtype=acc).astype(dtype, copy=False) for col in zip(*res)]


class BatchNorm(ArrayFunction):
    """``F.batch_norm`` on x (N, C, *): with ``stats=None`` the batch statistics are computed
    (training); else ``stats = (mean, var)`` are used (evaluation). The batch mean, biased
    variance and count are appended to ``out_stats`` for the running update.

    Written as a per-channel affine map ``y = (x - mean) * (w / std) + b`` so that forward is
    five passes over x; backward recomputes ``x - mean`` rather than keeping ``xhat`` alive.

    The threads share chunks of whole samples: contiguous memory. (A block of channels is one
    short run per sample, 2-8 KiB here: measured 2-3x slower per pass, the hardware prefetcher
    never ramps up.) So a pass that needs a channel's statistics waits for all the chunks'
    partial sums: three rounds in forward, two in backward.
    """

    _node_name = "NativeBatchNormBackward0"

    @staticmethod
    def forward(ctx, x, w, b, stats, eps, out_stats):
        N, C = x.shape[:2]
        t = x.dtype.type
        x3 = x.reshape(N, C, -1)
        L = x3.shape[2]
        n = x.size // C if C else 0
        y = np.empty(x3.shape, x.dtype)
        training = stats is None
        parts = blocks(N, C * L)
        if training:
            mean = _chunk_sums(lambda p: (x3[p].sum(0).sum(-1),), parts, x.dtype)[0] / t(n)
        else:
            mean, var = (s.astype(x.dtype, copy=False) for s in stats)
        mrow = _rows(mean, L)

        def centre(p):
            xc = np.subtract(x3[p], mrow, out=y[p])
            return (np.einsum("ncl,ncl->c", xc, xc),) if training else ()
        if training:   # two-pass variance: accurate in float32
            var = _chunk_sums(centre, parts, x.dtype)[0] / t(n)
        invstd = t(1) / np.sqrt(var + t(eps))
        srow = _rows(invstd if w is None else invstd * w, L)
        brow = _rows(b, L) if b is not None else None

        def affine(i):
            if not training:
                centre(parts[i])
            yp = y[parts[i]]
            yp *= srow
            if brow is not None:
                yp += brow
        parallel_for(affine, len(parts))
        if training:
            out_stats.extend((mean, var, n))
        if ctx.needs_input_grad:  # (empty when nothing is recorded)
            ctx.save_for_backward(x, w)
            ctx.mean, ctx.invstd, ctx.training, ctx.eps = mean, invstd, training, eps
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        mean, invstd, training = ctx.mean, ctx.invstd, ctx.training
        nx, nw = ctx.needs_input_grad[:2]
        nb = ctx.needs_input_grad[2]
        N, C = g.shape[:2]
        t = g.dtype.type
        n = g.size // C if C else 0
        g3, x3 = g.reshape(N, C, -1), x.reshape(N, C, -1)
        L = g3.shape[2]
        gx = np.empty(g3.shape, g.dtype) if nx else None
        parts = blocks(N, C * L)
        scale = invstd if w is None else invstd * w
        need_gw = nw or (nx and training)
        mrow = _rows(mean, L)

        def sums(p):                            # sum(g) and sum(g * (x - mean)) of a chunk
            gp = g3[p]
            if not need_gw:
                return (gp.sum(0).sum(-1),)
            xc = np.subtract(x3[p], mrow, out=gx[p] if nx else None)
            return gp.sum(0).sum(-1), np.einsum("ncl,ncl->c", gp, xc)
        totals = _chunk_sums(sums, parts, g.dtype) if need_gw or nb else (None,)
        gb = totals[0]
        gw = totals[1] * invstd if need_gw else None                    # sum(g * xhat)
        if nx:
            srow = _rows(scale, L)
            if training:
                # w/std * (g - mean(g) - xhat * mean(g * xhat)), built in place on x - mean
                krow, crow = _rows(-invstd * gw / t(n), L), _rows(gb / t(n), L)

                def grad_input(i):
                    gxp = gx[parts[i]]
                    gxp *= krow
                    gxp += g3[parts[i]]
                    gxp -= crow
                    gxp *= srow
            else:
                def grad_input(i):
                    np.multiply(g3[parts[i]], srow, out=gx[parts[i]])
            parallel_for(grad_input, len(parts))
        return ((gx.reshape(g.shape) if nx else None), (gw if nw else None), (gb if nb else None),
                None, None, None)

    @staticmethod
    def backward_graph(ctx, g):
        from .elementwise import rsqrt
        x, w = ctx.saved_tensors
        C, nd = x.shape[1], x.ndim
        cshape = (1, C) + (1,) * (nd - 2)
        axes = (0,) + tuple(range(2, nd))
        training, eps = ctx.training, ctx.eps
        mean, invstd = ctx.mean.reshape(cshape), ctx.invstd.reshape(cshape)

        def batch_norm(xt, wt, bt):
            if training:
                xc = xt - xt.mean(axes, keepdim=True)
                y = xc * rsqrt((xc * xc).mean(axes, keepdim=True) + eps)
            else:   # the running statistics are constants
                y = (xt - _wrap(mean)) * _wrap(invstd)
            return _affine(y, wt, bt, cshape)
        return recompute_backward(ctx, (g,), batch_norm, [
            graft(ctx, 0, x), graft(ctx, 1, w) if w is not None else None,
            graft(ctx, 2, np.zeros(C, x.dtype)) if ctx.needs_input_grad[2] else None])


def _bump(t):
    if isinstance(t, Tensor):
        t._version[0] += 1


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5):
    """``torch.nn.functional.batch_norm`` for input (N, C), (N, C, L) or (N, C, H, W) (any rank >= 2).

    training: normalise with the batch mean and biased variance and update the running stats
    in place: ``running = (1 - momentum) * running + momentum * batch`` with the *unbiased*
    batch variance (momentum None: plain average with factor 0 -- the modules pass the
    cumulative factor). Evaluation: normalise with the running statistics.
    """
    x = input._data
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected input of at least 2 dimensions (N, C, *), got input of size "
                         f"{fmt_shape(x.shape)}")
    C = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and t._data.size != C:
            raise RuntimeError(f"{name} should contain {C} elements not {t._data.size}")
    if training:
        if x.size // C <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                             f"flambeau.Size({list(x.shape)})")
        batch = []
        y = BatchNorm.apply(input, weight, bias, None, eps, batch)
        if running_mean is not None or running_var is not None:
            mean, var, n = batch
            m = 0.0 if momentum is None else momentum
            if running_mean is not None:
                rm = running_mean._data
                rm *= rm.dtype.type(1 - m)
                rm += (m * mean).astype(rm.dtype)
                _bump(running_mean)
            if running_var is not None:
                rv = running_var._data
                rv *= rv.dtype.type(1 - m)
                rv += (m * var * (n / (n - 1))).astype(rv.dtype)   # unbiased, as PyTorch
                _bump(running_var)
        return y
    if running_mean is None or running_var is None:
        raise RuntimeError("running_mean and running_var must be defined in evaluation mode "
                           "(batch_norm with training=False)")
    return BatchNorm.apply(input, weight, bias, (running_mean._data, running_var._data), eps, None)


class GroupNorm(ArrayFunction):
    """``F.group_norm``: x (N, C, *) normalised over each of ``G`` channel groups, then a
    per-channel affine map. Also instance norm (G = C)."""

    _node_name = "NativeGroupNormBackward0"

    @staticmethod
    def forward(ctx, x, w, b, G, eps, out_stats):
        N, C = x.shape[:2]
        t = x.dtype.type
        xr = x.reshape(N, G, -1)
        n = xr.shape[2]
        mean = xr.sum(-1) / t(n)
        xc = xr - mean[:, :, None]
        var = (xc * xc).sum(-1) / t(n)
        invstd = t(1) / np.sqrt(var + t(eps))
        xc *= invstd[:, :, None]
        xhat = xc.reshape(x.shape)
        cshape = (1, C) + (1,) * (x.ndim - 2)
        y = xhat * w.reshape(cshape) if w is not None else xhat.copy()
        if b is not None:
            y += b.reshape(cshape)
        if out_stats is not None:
            out_stats.extend((mean, var, n))
        if ctx.needs_input_grad:
            ctx.save_for_backward(w)
            ctx.xhat, ctx.invstd, ctx.G, ctx.eps = xhat, invstd, G, eps
        # float32 weights on a float16 input (autocast) keep the input's type, as in PyTorch
        return y.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (w,) = ctx.saved_tensors
        xhat, invstd, G = ctx.xhat, ctx.invstd, ctx.G
        nx, nw, nb = ctx.needs_input_grad[:3]
        N, C = g.shape[:2]
        t = g.dtype.type
        cshape = (1, C) + (1,) * (g.ndim - 2)
        gw = _channel_sum(g * xhat) if nw else None
        gb = _channel_sum(g) if nb else None
        gx = None
        if nx:
            gh = g * w.reshape(cshape) if w is not None else g
            ghr, xr = gh.reshape(N, G, -1), xhat.reshape(N, G, -1)
            n = xr.shape[2]
            gx = ghr - (ghr.sum(-1) / t(n))[:, :, None]
            gx -= xr * ((ghr * xr).sum(-1) / t(n))[:, :, None]
            gx *= invstd[:, :, None]
            gx = gx.reshape(g.shape)
        return gx, gw, gb, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        from .elementwise import rsqrt
        (w,) = ctx.saved_tensors
        xhat, invstd, G, eps = ctx.xhat, ctx.invstd, ctx.G, ctx.eps
        shape = xhat.shape
        N, C = shape[:2]
        cshape = (1, C) + (1,) * (len(shape) - 2)
        # x minus its group mean, recovered from xhat: group norm is blind to that mean
        xc = (xhat.reshape(N, G, -1) / invstd[:, :, None]).reshape(shape)

        def group_norm(xt, wt, bt):
            xr = xt.reshape(N, G, -1)
            xr = xr - xr.mean(-1, keepdim=True)
            y = (xr * rsqrt((xr * xr).mean(-1, keepdim=True) + eps)).reshape(shape)
            return _affine(y, wt, bt, cshape)
        return recompute_backward(ctx, (g,), group_norm, [
            graft(ctx, 0, xc), graft(ctx, 1, w) if w is not None else None,
            graft(ctx, 2, np.zeros(C, xhat.dtype)) if ctx.needs_input_grad[2] else None])


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """``torch.nn.functional.group_norm``: input (N, C, *), C divisible by num_groups."""
    x = input._data
    if x.ndim < 2:
        raise RuntimeError(f"group_norm: expected input of at least 2 dimensions (N, C, *), got input of size "
                           f"{fmt_shape(x.shape)}")
    C = x.shape[1]
    if num_groups <= 0 or C % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, but got input "
                           f"of shape {fmt_shape(x.shape)} and num_groups={num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and (t._data.ndim != 1 or t._data.size != C):
            raise RuntimeError(f"Expected {name} to be a vector of size equal to the number of channels in input, "
                               f"but got {name} of shape {fmt_shape(t._data.shape)} and input of shape "
                               f"{fmt_shape(x.shape)}")
    return GroupNorm.apply(input, weight, bias, builtins.int(num_groups), eps, None)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """``torch.nn.functional.instance_norm``: each (sample, channel) normalised over its spatial
    elements. With running stats and ``use_input_stats``, they are updated with the mean over
    the batch of the per-instance statistics (unbiased variance), as PyTorch does."""
    x = input._data
    if x.ndim < 3:
        raise ValueError(f"instance_norm: expected input of at least 3 dimensions (N, C, *), got input of size "
                         f"{fmt_shape(x.shape)}")
    if not use_input_stats:
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    N, C = x.shape[:2]
    if x.size // (N * C) <= 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size "
                         f"flambeau.Size({list(x.shape)})")
    stats = []
    y = GroupNorm.apply(input, weight, bias, C, eps, stats)
    mean, var, n = stats
    m = momentum if momentum is not None else 0.0
    if running_mean is not None:
        rm = running_mean._data
        rm *= rm.dtype.type(1 - m)
        rm += (m * mean.mean(0)).astype(rm.dtype)
        _bump(running_mean)
    if running_var is not None:
        rv = running_var._data
        rv *= rv.dtype.type(1 - m)
        rv += (m * (var * (n / (n - 1))).mean(0)).astype(rv.dtype)
        _bump(running_var)
    return y


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """``torch.nn.functional.local_response_norm``: x / (k + alpha * mean of x^2 over ``size``
    neighbouring channels)^beta, composed of differentiable ops as in PyTorch."""
    from .elementwise import add, div, mul, pow
    from .pool import avg_pool2d
    x = input._data
    if x.ndim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {x.ndim} dimensions)")
    if x.size == 0:
        return input
    N, C = x.shape[:2]
    sq = mul(input, input).reshape(N, 1, C, -1)
    # zero-pad the channel axis by (size//2, (size-1)//2) and average windows of `size` channels
    from .._creation import zeros
    from .shape import cat
    parts = [sq]
    lo, hi = size // 2, (size - 1) // 2
    if lo:
        parts.insert(0, zeros(N, 1, lo, sq.shape[3], dtype=input.dtype))
    if hi:
        parts.append(zeros(N, 1, hi, sq.shape[3], dtype=input.dtype))
    padded = cat(parts, 2) if len(parts) > 1 else sq
    d = avg_pool2d(padded, (size, 1), stride=1).reshape(x.shape)
    d = pow(add(mul(d, alpha), k), beta)
    return div(input, d)
