"""More of ``torch.nn.functional``: pixel/channel shuffles, ``affine_grid`` / ``grid_sample``,
``gumbel_softmax``, ``rrelu``, LP pooling, max unpooling, a few more losses,
``feature_alpha_dropout`` and ``adaptive_avg_pool3d``.

``grid_sample`` is one ArrayFunction (:class:`GridSample`): every spatial axis contributes a few
taps (an integer index, its weight and the weight's derivative with respect to the sampling
coordinate); the taps of all axes are combined, the input is gathered with fancy indexing and
the input gradient is scatter-added with ``np.add.at``. Nothing loops over batch or pixels.
"""
from __future__ import annotations

import itertools
import math
import warnings

import numpy as np

from .._tensor import Tensor, _wrap
from ..autograd.function import ArrayFunction, linear_map
from ..ops import inplace as _inplace
from ..ops import pool as _P
from ..ops._util import fmt_shape
from ..ops.loss import _reduction, _reduce
from ..amp._state import fp32_op as _fp32_op
from .. import random as _random

__all__ = ["pixel_shuffle", "pixel_unshuffle", "channel_shuffle", "native_channel_shuffle", "affine_grid",
           "grid_sample", "gumbel_softmax", "rrelu", "rrelu_", "lp_pool1d", "lp_pool2d", "lp_pool3d",
           "max_unpool1d", "max_unpool2d", "max_unpool3d", "triplet_margin_loss", "poisson_nll_loss", "multilabel_margin_loss",
           "feature_alpha_dropout", "adaptive_avg_pool3d", "adaptive_max_pool3d", "AdaptiveMax3d", "GridSample", "GridSample3d", "RReLUWithNoise",
           "MaxUnpool", "MultilabelMargin", "embedding_bag", "dropout3d", "triplet_margin_with_distance_loss"]


# ---------------------------------------------------------------------------- shuffles
def pixel_shuffle(input, upscale_factor):
    """``F.pixel_shuffle``: (*, C r^2, H, W) -> (*, C, H r, W r)."""
    r = int(upscale_factor)
    s = input._data.shape
    if len(s) < 3:
        raise RuntimeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got input with "
                           f"{len(s)} dimension(s)")
    if r <= 0:
        raise RuntimeError(f"pixel_shuffle expects a positive upscale_factor, but got {r}")
    c, h, w = s[-3:]
    if c % (r * r):
        raise RuntimeError("pixel_shuffle expects its input's 'channel' dimension to be divisible by the square "
                           f"of upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    lead = tuple(s[:-3])
    n = len(lead)
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor):
    """``F.pixel_unshuffle``: (*, C, H r, W r) -> (*, C r^2, H, W)."""
    r = int(downscale_factor)
    s = input._data.shape
    if len(s) < 3:
        raise RuntimeError(f"pixel_unshuffle expects input to have at least 3 dimensions, but got input with "
                           f"{len(s)} dimension(s)")
    if r <= 0:
        raise RuntimeError(f"pixel_unshuffle expects a positive downscale_factor, but got {r}")
    c, h, w = s[-3:]
    if h % r:
        raise RuntimeError(f"pixel_unshuffle expects height to be divisible by downscale_factor, but "
                           f"input.size(-2)={h} is not divisible by {r}")
    if w % r:
        raise RuntimeError(f"pixel_unshuffle expects width to be divisible by downscale_factor, but "
                           f"input.size(-1)={w} is not divisible by {r}")
    lead = tuple(s[:-3])
    n = len(lead)
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return x.reshape(*lead, c * r * r, h // r, w // r)


def channel_shuffle(input, groups):
    """``F.channel_shuffle``: (N, C, *) with C = g k -> channels reordered as (k, g)."""
    g = int(groups)
    s = input._data.shape
    if len(s) <= 2:
        raise RuntimeError(f"channel_shuffle expects input with > 2 dims, but got input with sizes {list(s)}")
    if g <= 0:
        raise RuntimeError(f"Number of groups to divide channels in must be positive. Value of groups:{g}")
    c = s[1]
    if c % g:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {c} channels and {g} groups.")
    x = input.reshape(s[0], g, c // g, *s[2:]).transpose(1, 2)
    return x.reshape(*s)


native_channel_shuffle = channel_shuffle


# ---------------------------------------------------------------------------- affine_grid
def _align_default(align_corners):
    if align_corners is None:
        warnings.warn("Default grid_sample and affine_grid behavior has changed to align_corners=False since "
                      "1.3.0. Please specify align_corners=True if the old behavior is desired. See the "
                      "documentation of grid_sample for details.", stacklevel=3)
        return False
    return bool(align_corners)


def _base_coords(n, align_corners, dt):
    """PyTorch's ``linspace_from_neg_one``: pixel-centre (or corner) coordinates in [-1, 1]."""
    if n <= 1:
        return np.zeros(max(n, 1), dt)
    r = np.linspace(-1, 1, n, dtype=dt)
    if not align_corners:
        r = r * dt.type(n - 1) / dt.type(n)
    return r.astype(dt, copy=False)


def affine_grid(theta, size, align_corners=None):
    """``F.affine_grid``: theta (N, 2, 3) and size (N, C, H, W) -> grid (N, H, W, 2); theta (N, 3, 4)
    and size (N, C, D, H, W) -> grid (N, D, H, W, 3). Differentiable with respect to theta."""
    from ..ops import matmul
    align_corners = _align_default(align_corners)
    if theta._data.dtype.kind != "f":
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    size = list(size)
    ts = theta._data.shape
    if len(size) == 4:
        if len(ts) != 3 or ts[-2:] != (2, 3):
            raise ValueError(f"Expected a batch of 2D affine matrices of shape Nx2x3 for size {tuple(size)}. "
                             f"Got {theta.shape}.")
        spatial = size[-2:]
    elif len(size) == 5:
        if len(ts) != 3 or ts[-2:] != (3, 4):
            raise ValueError(f"Expected a batch of 3D affine matrices of shape Nx3x4 for size {tuple(size)}. "
                             f"Got {theta.shape}.")
        spatial = size[-3:]
    else:
        raise NotImplementedError("affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
                                  f"respectively. Got size {tuple(size)}.")
    if align_corners and min(spatial) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
                      "align_corners=True. This is not an intended use case of affine_grid. See the "
                      "documentation of affine_grid for details.", stacklevel=2)
    elif min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {tuple(size)}")
    dt = theta._data.dtype
    nd = len(spatial)
    axes = [_base_coords(n, align_corners, dt) for n in spatial]        # (D,) H, W
    base = np.empty(tuple(spatial) + (nd + 1,), dt)
    for k in range(nd):  # component k is the coordinate along spatial axis nd-1-k (x = W first)
        shape = [1] * nd
        shape[nd - 1 - k] = spatial[nd - 1 - k]
        base[..., k] = axes[nd - 1 - k].reshape(shape)
    base[..., nd] = 1
    N = size[0]
    b = Tensor._make(np.ascontiguousarray(base.reshape(1, -1, nd + 1)))
    grid = matmul(b, theta.transpose(1, 2))                             # (N, prod(spatial), nd)
    return grid.reshape(N, *spatial, nd)


# ---------------------------------------------------------------------------- grid_sample
def _unnormalize(coord, size, align_corners):
    dt = coord.dtype.type
    if align_corners:
        return (coord + dt(1)) / dt(2) * dt(size - 1), dt(size - 1) / dt(2)
    return ((coord + dt(1)) * dt(size) - dt(1)) / dt(2), dt(size) / dt(2)


def _clip_set_grad(c, size):
    """Clip to [0, size - 1]; the borders themselves count as outside (zero gradient), as in PyTorch."""
    dt = c.dtype.type
    hi = dt(size - 1)
    inside = (c > 0) & (c < hi)
    return np.clip(c, dt(0), hi), inside.astype(c.dtype)


def _reflect_set_grad(c, twice_low, twice_high):
    dt = c.dtype.type
    if twice_low == twice_high:
        return np.zeros_like(c), np.zeros_like(c)
    mn = dt(twice_low) / dt(2)
    span = dt(twice_high - twice_low) / dt(2)
    c = c - mn
    neg = c < 0
    c = np.abs(c)
    extra = np.fmod(c, span)
    flips = np.floor(c / span)
    even = np.fmod(flips, 2) == 0
    out = np.where(even, extra + mn, span - extra + mn)
    sign = np.where(neg, dt(-1), dt(1))
    return out.astype(c.dtype, copy=False), np.where(even, sign, -sign).astype(c.dtype, copy=False)


def _apply_padding(c, size, padding_mode, align_corners):
    """Coordinates after 'border' / 'reflection' handling and d(out)/d(in) (1 for 'zeros')."""
    if padding_mode == "border":
        return _clip_set_grad(c, size)
    if padding_mode == "reflection":
        if align_corners:
            c, g1 = _reflect_set_grad(c, 0, 2 * (size - 1))
        else:
            c, g1 = _reflect_set_grad(c, -1, 2 * size - 1)
        c, g2 = _clip_set_grad(c, size)
        return c, g1 * g2
    return c, None


_A = -0.75  # the cubic convolution constant of PyTorch's bicubic kernels


def _cubic_coeffs(t):
    dt = t.dtype.type
    A = dt(_A)

    def conv1(x):
        return ((A + dt(2)) * x - (A + dt(3))) * x * x + dt(1)

    def conv2(x):
        return ((A * x - dt(5) * A) * x + dt(8) * A) * x - dt(4) * A
    x2 = dt(1) - t
    return [conv2(t + dt(1)), conv1(t), conv1(x2), conv2(x2 + dt(1))]


def _cubic_coeffs_grad(t):
    dt = t.dtype.type
    A = dt(_A)
    x0, x1, x2, x3 = dt(-1) - t, -t, dt(1) - t, dt(2) - t
    return [(dt(-3) * A * x0 - dt(10) * A) * x0 - dt(8) * A,
            (dt(-3) * (A + dt(2)) * x1 - dt(2) * (A + dt(3))) * x1,
            (dt(3) * (A + dt(2)) * x2 - dt(2) * (A + dt(3))) * x2,
            (dt(3) * A * x3 - dt(10) * A) * x3 + dt(8) * A]


def _safe_floor(c):
    """floor as int64; non-finite coordinates land far outside (sampled as zeros / masked)."""
    f = np.floor(np.where(np.isfinite(c), c, -100))
    return np.clip(f, -(1 << 40), 1 << 40).astype(np.int64)


def _axis_taps(coord, size, mode, padding_mode, align_corners):
    """Taps ``[(index int64, valid bool, weight, dweight/dcoord)]`` of one spatial axis and the
    factor d(coord after unnormalize/padding)/d(grid value)."""
    c, mult = _unnormalize(coord, size, align_corners)
    dt = c.dtype.type
    if mode == "bicubic":
        f = np.floor(c)
        t = (c - f).astype(c.dtype, copy=False)
        i0 = _safe_floor(c)
        taps = []
        for k, (w, dw) in enumerate(zip(_cubic_coeffs(t), _cubic_coeffs_grad(t))):
            pos = (i0 + (k - 1)).astype(c.dtype)
            pos, _ = _apply_padding(pos, size, padding_mode, align_corners)
            idx = _safe_floor(pos)
            taps.append((idx, (idx >= 0) & (idx < size), w, -dw))   # PyTorch's coefficient grads are d/d(-t)
        return taps, mult
    c, pg = _apply_padding(c, size, padding_mode, align_corners)
    if pg is not None:
        mult = mult * pg
    if mode == "nearest":
        idx = _safe_floor(np.rint(np.where(np.isfinite(c), c, -100)))
        one = np.ones_like(c)
        return [(idx, (idx >= 0) & (idx < size), one, np.zeros_like(c))], mult
    i0 = _safe_floor(c)
    f = i0.astype(c.dtype)
    i1 = i0 + 1
    w0 = (f + dt(1)) - c
    w1 = c - f
    one = np.ones_like(c)
    return [(i0, (i0 >= 0) & (i0 < size), w0, -one),
            (i1, (i1 >= 0) & (i1 < size), w1, one)], mult


class GridSample(ArrayFunction):
    """``F.grid_sample`` on (N, C, *in) with grid (N, *out, nd): the output is the sum over tap
    combinations of weight * gathered value; backward scatter-adds ``g * weight`` into the input
    and contracts ``g * value`` with the weight derivatives for the grid."""

    _node_name = "GridSampler2DBackward0"

    @staticmethod
    def forward(ctx, x, grid, mode, padding_mode, align_corners):
        nd = x.ndim - 2
        N, C = x.shape[:2]
        ins = x.shape[2:]
        outs = grid.shape[1:-1]
        axis_taps, mults = [], []
        for a in range(nd):     # spatial axis a (D, H, W order) is grid component nd - 1 - a
            taps, m = _axis_taps(grid[..., nd - 1 - a], ins[a], mode, padding_mode, align_corners)
            axis_taps.append(taps)
            mults.append(m)
        strides = [int(np.prod(ins[a + 1:])) for a in range(nd)]
        combos = []
        for choice in itertools.product(*axis_taps):
            flat = np.zeros(grid.shape[:-1], np.int64)
            valid = np.ones(grid.shape[:-1], np.bool_)
            w = None
            for a, (idx, ok, wa, _) in enumerate(choice):
                flat += np.clip(idx, 0, ins[a] - 1) * strides[a]
                valid &= ok
                w = wa if w is None else w * wa
            combos.append((flat, valid, w, [tap[2] for tap in choice], [tap[3] for tap in choice]))
        nidx = np.arange(N).reshape((N,) + (1,) * nd)
        ctx.combos, ctx.mults, ctx.nidx, ctx.x_shape, ctx.mode = combos, mults, nidx, x.shape, mode
        ctx.save_for_backward(x)
        return _sample(x, combos, nidx, outs)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        nd = x.ndim - 2
        N, C = x.shape[:2]
        gt = np.moveaxis(g, 1, -1)                                  # (N, *out, C)
        zero = g.dtype.type(0)
        gx = ggrid = None
        if ctx.needs_input_grad[0]:
            gxt = np.zeros((N, int(np.prod(x.shape[2:])), C), g.dtype)
            for flat, valid, w, _, _ in ctx.combos:
                np.add.at(gxt, (ctx.nidx, flat), gt * np.where(valid, w, zero)[..., None])
            gx = np.moveaxis(gxt, 1, 2).reshape(x.shape)
        if ctx.needs_input_grad[1] and ctx.mode != "nearest":
            xt = np.moveaxis(x.reshape(N, C, -1), 1, 2)
            ggrid = np.zeros(gt.shape[:-1] + (nd,), g.dtype)
            for flat, valid, _, ws, dws in ctx.combos:
                vals = np.where(valid[..., None], xt[ctx.nidx, flat], zero)
                s = (vals * gt).sum(-1)                             # (N, *out)
                for a in range(nd):
                    d = dws[a]
                    for b in range(nd):
                        if b != a:
                            d = d * ws[b]
                    ggrid[..., nd - 1 - a] += s * d
            for a in range(nd):
                ggrid[..., nd - 1 - a] *= ctx.mults[a]
        elif ctx.needs_input_grad[1]:
            ggrid = np.zeros(gt.shape[:-1] + (nd,), g.dtype)
        return gx, ggrid, None, None, None


    @staticmethod
    def backward_graph(ctx, g):
        # with the grid fixed, the input gradient is linear in g (a scatter of the tap weights),
        # the sampling itself its adjoint; through a grid that requires grad: first order only
        if ctx.needs_input_grad[1]:
            from ..autograd.function import once_differentiable_result
            return once_differentiable_result(ctx, [g], GridSample._backward_arrays(ctx, [g._data]))
        from ..autograd.function import BareCtx
        combos, nidx, outs = ctx.combos, ctx.nidx, g.shape[2:]
        bare = BareCtx(saved_tensors=ctx.saved_tensors, combos=combos, mults=ctx.mults, nidx=nidx,
                       mode=ctx.mode, needs_input_grad=(True, False))
        return (linear_map(g, lambda a: GridSample.backward(bare, a)[0], lambda a: _sample(a, combos, nidx, outs)),
                None, None, None, None)


def _sample(x, combos, nidx, outs):
    """grid_sample's output from the taps: the sum over tap combinations of weight * value."""
    N, C = x.shape[:2]
    xt = np.moveaxis(x.reshape(N, C, -1), 1, 2)                   # (N, S, C)
    out = np.zeros((N,) + tuple(outs) + (C,), x.dtype)
    for flat, valid, w, _, _ in combos:
        vals = xt[nidx, flat]                                       # (N, *out, C)
        out += np.where(valid[..., None], vals, x.dtype.type(0)) * w[..., None]
    return np.ascontiguousarray(np.moveaxis(out, -1, 1))


class GridSample3d(GridSample):
    _node_name = "GridSampler3DBackward0"


@_fp32_op
def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """``F.grid_sample``: sample (N, C, H, W) at grid (N, H_out, W_out, 2) of (x, y) in [-1, 1]
    (5-D: (N, C, D, H, W) at (N, D_out, H_out, W_out, 3)). mode 'bilinear' | 'nearest' |
    'bicubic' (4-D only); padding_mode 'zeros' | 'border' | 'reflection'."""
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError("nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', "
                         f"but got: '{mode}'")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError("nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
                         f"'reflection', but got: '{padding_mode}'")
    align_corners = _align_default(align_corners)
    x, gr = input._data, grid._data
    nd = x.ndim - 2
    if gr.ndim and gr.shape[-1] != nd:
        raise RuntimeError(f"grid_sampler(): expected grid to have size {nd} in last dimension, but got grid "
                           f"with sizes {list(gr.shape)}")
    if x.ndim not in (4, 5) or gr.ndim != x.ndim:
        raise RuntimeError("grid_sampler(): expected 4D or 5D input and grid with same number of dimensions, "
                           f"but got input with sizes {list(x.shape)} and grid with sizes {list(gr.shape)}")
    if x.shape[0] != gr.shape[0]:
        raise RuntimeError("grid_sampler(): expected grid and input to have same batch size, but got input "
                           f"with sizes {list(x.shape)} and grid with sizes {list(gr.shape)}")
    if any(n <= 0 for n in x.shape[2:]):
        raise RuntimeError(f"grid_sampler(): expected input to have non-empty spatial dimensions, but input has "
                           f"sizes {list(x.shape)} with dimension {2 + [n <= 0 for n in x.shape[2:]].index(True)} "
                           "being empty")
    if mode == "bicubic" and nd == 3:
        raise RuntimeError("grid_sampler(): bicubic interpolation only supports 4D input")
    if x.dtype.kind != "f":
        raise NotImplementedError(f"\"grid_sampler_{nd}d_cpu\" not implemented for '{_tword(x.dtype)}'")
    if gr.dtype != x.dtype:
        raise RuntimeError(f"expected scalar type {_tword(x.dtype)} but found {_tword(gr.dtype)}")
    fn = GridSample if nd == 2 else GridSample3d
    return fn.apply(input, grid, mode, padding_mode, align_corners)


_TWORD = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long", "int32": "Int",
          "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def _tword(dt):
    return _TWORD.get(np.dtype(dt).name, str(dt))


# ---------------------------------------------------------------------------- random activations
def gumbel_softmax(logits, tau=1.0, hard=False, eps=1e-10, dim=-1):
    """``F.gumbel_softmax``: softmax((logits + Gumbel noise) / tau) along dim; ``hard=True``
    returns the one-hot argmax with the soft sample's gradient (straight-through).
    The noise comes from flambeau's default generator."""
    from ..ops import softmax
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    dt = logits._data.dtype
    if dt.kind != "f":
        raise RuntimeError("Exponential distribution is a continuous probability distribution. dtype must be a "
                           f"floating point but you specified {_tword(dt)}")
    e = _random.rng().standard_exponential(logits._data.shape, dtype=_random._float_work_dtype(dt)).astype(dt)
    with np.errstate(divide="ignore"):
        gumbels = Tensor._make(-np.log(e))
    y_soft = softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y_soft
    ys = y_soft._data
    axis = dim % ys.ndim if ys.ndim else 0
    idx = np.expand_dims(np.argmax(ys, axis=axis), axis) if ys.ndim else None
    hard_arr = np.zeros_like(ys)
    if ys.ndim:
        np.put_along_axis(hard_arr, idx, dt.type(1), axis=axis)
    else:
        hard_arr[()] = 1
    return Tensor._make(hard_arr) - y_soft.detach() + y_soft


class RReLUWithNoise(ArrayFunction):
    """x where x > 0, else x * a with a ~ U(lower, upper) per element (training) or the fixed
    slope (lower + upper) / 2 (eval); backward multiplies by the same slopes."""

    _node_name = "RreluWithNoiseBackward0"

    @staticmethod
    def forward(ctx, x, lower, upper, training):
        dt = x.dtype
        if training:
            r = _random.uniform(None, lower, upper, x.shape, dt).astype(dt, copy=False)
            noise = np.where(x <= 0, r, dt.type(1))
        else:
            noise = np.where(x > 0, dt.type(1), dt.type((lower + upper) / 2))
        ctx.noise = noise
        return x * noise

    @staticmethod
    def backward(ctx, g):
        return g * ctx.noise, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        return g * _wrap(ctx.noise), None, None, None


def _rrelu(input, lower, upper, training):
    if input._data.dtype.kind != "f":
        raise NotImplementedError(f"\"rrelu_with_noise_out_cpu\" not implemented for '{_tword(input._data.dtype)}'")
    return RReLUWithNoise.apply(input, lower, upper, bool(training))


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """``F.rrelu``: randomized leaky ReLU (slopes from flambeau's generator in training mode)."""
    if inplace:
        return _inplace(input, _rrelu, lower, upper, training)
    return _rrelu(input, lower, upper, training)


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    return _inplace(input, _rrelu, lower, upper, training)


# ---------------------------------------------------------------------------- LP pooling
def _lp_finish(out, norm_type, kprod):
    from ..ops import sign, abs as _abs, relu
    return (sign(out) * relu(_abs(out))).mul(kprod).pow(1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """``F.lp_pool1d``: (sum over the window of x^p)^(1/p)."""
    k = kernel_size[0] if isinstance(kernel_size, (tuple, list)) else kernel_size
    out = _P.avg_pool1d(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    return _lp_finish(out, norm_type, k)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """``F.lp_pool2d``: (sum over the window of x^p)^(1/p)."""
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    out = _P.avg_pool2d(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    return _lp_finish(out, norm_type, kh * kw)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """``F.lp_pool3d``: (sum over the window of x^p)^(1/p)."""
    ks = (kernel_size,) * 3 if isinstance(kernel_size, int) else tuple(kernel_size)
    out = _P.avg_pool3d(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    return _lp_finish(out, norm_type, ks[0] * ks[1] * ks[2])


# ---------------------------------------------------------------------------- max unpooling
class MaxUnpool(ArrayFunction):
    """Scatter x (..., L_in) into zeros (..., L_out) at flat spatial ``idx``; backward gathers."""

    _node_name = "MaxUnpool2DBackward0"

    @staticmethod
    def forward(ctx, x, idx, out_shape):
        lead = x.shape[:-len(out_shape)]
        size = int(np.prod(out_shape))
        xf = x.reshape(-1, int(np.prod(x.shape[len(lead):])))
        idf = idx.reshape(xf.shape)
        out = np.zeros((xf.shape[0], size), x.dtype)
        np.put_along_axis(out, idf, xf, axis=1)
        ctx.idf, ctx.x_shape = idf, x.shape
        return out.reshape(lead + tuple(out_shape))

    @staticmethod
    def backward(ctx, g):
        gf = g.reshape(ctx.idf.shape[0], -1)
        return np.take_along_axis(gf, ctx.idf, axis=1).reshape(ctx.x_shape), None, None

    @staticmethod
    def backward_graph(ctx, g):
        idf, x_shape, out_shape = ctx.idf, ctx.x_shape, g.shape

        def scatter(a):   # the adjoint of the gather: repeated indices (overlapping windows) add up
            out = np.zeros((idf.shape[0], int(np.prod(out_shape)) // idf.shape[0]), a.dtype)
            np.add.at(out, (np.arange(idf.shape[0])[:, None], idf), a.reshape(idf.shape))
            return out.reshape(out_shape)
        return linear_map(g, lambda a: np.take_along_axis(a.reshape(idf.shape[0], -1), idf, axis=1).reshape(x_shape),
                          scatter), None, None


def _ntuple(v, n):
    if isinstance(v, (tuple, list)):
        return tuple(int(a) for a in v)
    return (int(v),) * n


def _unpool_output_size(input, kernel_size, stride, padding, output_size):
    ins = input._data.shape
    nk = len(kernel_size)
    default = [(ins[-nk + d] - 1) * stride[d] + kernel_size[d] - 2 * padding[d] for d in range(nk)]
    if output_size is None:
        return default
    output_size = list(output_size)
    if len(output_size) == nk + 2:
        output_size = output_size[2:]
    if len(output_size) != nk:
        raise ValueError(f"output_size should be a sequence containing {nk} or {nk + 2} elements, but it has a "
                         f"length of '{len(output_size)}'")
    for d in range(nk):
        lo, hi = default[d] - stride[d], default[d] + stride[d]
        if not lo < output_size[d] < hi:
            raise ValueError(f'invalid output_size "{tuple(output_size)}" (dim {d} must be between {lo} and {hi})')
    return [int(o) for o in output_size]


def _max_unpool(input, indices, out_size, nd):
    if indices._data.dtype != np.int64:
        raise RuntimeError(f"elements in indices should be type int64 but got: {_tword(indices._data.dtype)}")
    if indices._data.shape != input._data.shape:
        raise RuntimeError(f"Expected shape of indices to be same as that of the input tensor "
                           f"({list(input._data.shape)}) but got indices tensor with shape: "
                           f"{list(indices._data.shape)}")
    if input._data.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"Input to max_unpooling{nd}d should be a {nd + 1}d or {nd + 2}d Tensor, but got a "
                           f"tensor with {input._data.ndim} dimensions.")
    size = int(np.prod(out_size))
    idx = indices._data
    if idx.size and (idx.min() < 0 or idx.max() >= size):
        bad = idx[(idx < 0) | (idx >= size)].flat[0]
        raise RuntimeError(f"Found an invalid max index: {bad} (output volumes are of size "
                           f"{'x'.join(str(o) for o in out_size)})")
    return MaxUnpool.apply(input, idx, tuple(out_size))


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """``F.max_unpool1d``: the partial inverse of ``max_pool1d(return_indices=True)``."""
    k = _ntuple(kernel_size, 1)
    s = _ntuple(stride, 1) if stride is not None else k
    p = _ntuple(padding, 1)
    out = _unpool_output_size(input, k, s, p, output_size)
    return _max_unpool(input, indices, out, 1)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """``F.max_unpool2d``: zeros of the (default or given) output size with each input value written
    at its index from ``max_pool2d(return_indices=True)`` (flat over H_out * W_out)."""
    k = _ntuple(kernel_size, 2)
    s = _ntuple(stride, 2) if stride is not None else k
    p = _ntuple(padding, 2)
    out = _unpool_output_size(input, k, s, p, output_size)
    return _max_unpool(input, indices, out, 2)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """``F.max_unpool3d``: the partial inverse of ``max_pool3d(return_indices=True)`` (indices flat
    over D_out * H_out * W_out)."""
    k = _ntuple(kernel_size, 3)
    s = _ntuple(stride, 3) if stride is not None else k
    p = _ntuple(padding, 3)
    out = _unpool_output_size(input, k, s, p, output_size)
    return _max_unpool(input, indices, out, 3)


# ---------------------------------------------------------------------------- losses
@_fp32_op
def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    """``F.triplet_margin_loss``: max(d(a, p) - d(a, n) + margin, 0) with d the p-norm distance."""
    from ..ops import clamp_min, minimum
    from .functional import pairwise_distance
    reduction = _reduction(reduction, size_average, reduce)
    a_dim, p_dim, n_dim = anchor.ndim, positive.ndim, negative.ndim
    if not a_dim == p_dim == n_dim:
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have the same number of "
                           f"dimensions, but got: anchor {a_dim}D, positive {p_dim}D, and negative {n_dim}D inputs")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    loss = clamp_min(margin + d_pos - d_neg, 0)
    return _reduce(loss, reduction)


@_fp32_op
def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    """``F.poisson_nll_loss``: exp(x) - y x (log_input) or x - y log(x + eps); ``full`` adds the
    Stirling term y log y - y + log(2 pi y) / 2 where y > 1."""
    from ..ops import exp, log, where
    if size_average is not None or reduce is not None:
        reduction = _reduction(reduction, size_average, reduce)
    elif reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not a valid value for reduction")
    if log_input:
        loss = exp(input) - target * input
    else:
        loss = input - target * log(input + eps)
    if full:
        t = target
        safe = where(t > 1, t, t.new_ones(()))
        stirling = safe * log(safe) - safe + 0.5 * log(2 * math.pi * safe)
        loss = loss + where(t > 1, stirling, stirling.new_zeros(()))
    return _reduce(loss, reduction)


class MultilabelMargin(ArrayFunction):
    """sum over target classes j and non-target classes i of max(0, 1 - x[y_j] + x[i]) / C."""

    _node_name = "MultilabelMarginLossBackward0"

    @staticmethod
    def forward(ctx, x, y, reduction):
        N, C = x.shape
        dt = x.dtype.type
        # targets are valid up to the first -1
        valid = np.cumprod(y >= 0, axis=1).astype(bool)
        # only the longest target list matters: the pairs below are (N, T, C), not (N, C, C)
        T = int(valid.sum(axis=1).max()) if N else 0
        valid = valid[:, :T]
        yc = np.where(valid, y[:, :T], 0)
        is_target = np.zeros((N, C), bool)
        rows = np.broadcast_to(np.arange(N)[:, None], yc.shape)
        is_target[rows[valid], yc[valid]] = True
        xy = np.take_along_axis(x, yc, axis=1)                       # (N, T): x[y_j]
        z = dt(1) - xy[:, :, None] + x[:, None, :]                   # (N, j, i)
        mask = valid[:, :, None] & ~is_target[:, None, :]
        h = np.where(mask, np.maximum(z, dt(0)), dt(0))
        loss = h.sum(axis=(1, 2)) / dt(C)
        ctx.active = (h > 0) & mask
        ctx.yc, ctx.valid, ctx.reduction, ctx.C = yc, valid, reduction, C
        if reduction == "none":
            return loss.astype(x.dtype, copy=False)
        return np.asarray(loss.sum() if reduction == "sum" else loss.mean(), dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        act = ctx.active
        dt = g.dtype
        N, C = act.shape[0], ctx.C
        if ctx.reduction == "none":
            scale = (g / dt.type(C)).astype(dt)[:, None, None]
        elif ctx.reduction == "sum":
            scale = g / dt.type(C)
        else:
            scale = g / dt.type(C * N)
        d = act.astype(dt) * scale                                   # (N, j, i)
        gx = d.sum(axis=1)                                           # + for the non-target i
        rows = np.broadcast_to(np.arange(N)[:, None], ctx.yc.shape)
        np.add.at(gx, (rows, ctx.yc), -d.sum(axis=2))                # - for the target y_j
        return gx.astype(dt, copy=False), None, None

    @staticmethod
    def backward_graph(ctx, g):
        # piecewise linear in x: the gradient is g times constant per-sample coefficients
        gd = g._data
        ones = np.ones(gd.shape, gd.dtype)
        k = _wrap(MultilabelMargin.backward(ctx, ones)[0])
        return (g.unsqueeze(1) if ctx.reduction == "none" else g) * k, None, None


@_fp32_op
def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """``F.multilabel_margin_loss``: input (C) or (N, C); target of the same shape holding class
    indices, ended by the first -1."""
    reduction = _reduction(reduction, size_average, reduce)
    x, t = input._data, target._data
    if t.dtype != np.int64:
        raise RuntimeError(f"expected scalar type Long but found {_tword(t.dtype)}")
    if x.ndim > 2 or (x.ndim == 2 and x.shape[1] == 0) or (x.ndim == 1 and x.shape[0] == 0):
        raise RuntimeError(f"Expected non-empty vector or matrix with optional 0-dim batch size, but got: "
                           f"{fmt_shape(x.shape)}")
    if t.shape != x.shape:
        raise RuntimeError(f"inconsistent target size: {list(t.shape)} for input of size: {list(x.shape)}")
    C = x.shape[-1] if x.ndim else 1
    if t.size and ((t < -1) | (t >= C)).any():
        raise RuntimeError("argument #2 'target' is out of range")
    squeeze = x.ndim < 2
    xi = input.reshape(1, C) if squeeze else input
    out = MultilabelMargin.apply(xi, t.reshape(-1, C), reduction)
    return out.reshape(()) if squeeze and reduction == "none" else out


# ---------------------------------------------------------------------------- dropout, pooling
def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """``F.feature_alpha_dropout``: alpha dropout of whole channels (one draw per (N, C))."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    s = input._data.shape
    if len(s) < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    dt = input._data.dtype
    if p == 1.0:
        z = Tensor._make(np.zeros((), dt))
        return _inplace(input, lambda t: t * z) if inplace else input * z
    alpha = 1.7580993408473766
    a = 1.0 / math.sqrt((alpha * alpha * p + 1) * (1 - p))
    keep = _random.rng().random(s[:2] + (1,) * (len(s) - 2)) >= p
    m = Tensor._make((keep * a).astype(dt))
    b = Tensor._make(((keep.astype(np.float64) - 1) * (alpha * a) + alpha * a * p).astype(dt))
    if inplace:
        return _inplace(input, lambda t: t * m + b)
    return input * m + b


@_fp32_op
def adaptive_avg_pool3d(input, output_size):
    """``F.adaptive_avg_pool3d``: (N, C, D, H, W) -> (N, C, *output_size)."""
    return _P._adaptive_avg("adaptive_avg_pool3d", 3, input, output_size)


class AdaptiveMax3d(_P.AdaptiveMax):
    """:class:`flambeau.ops.pool.AdaptiveMax` (any number of spatial dims) under the 3-D node name."""

    _node_name = "AdaptiveMaxPool3DBackward0"


@_fp32_op
def adaptive_max_pool3d(input, output_size, return_indices=False):
    """``F.adaptive_max_pool3d``: (N, C, D, H, W) -> (N, C, *output_size); ``return_indices``
    also gives each maximum's flat index into the D*H*W input plane."""
    op = "adaptive_max_pool3d"
    x = input._data
    if x.ndim not in (4, 5):
        raise RuntimeError(f"{op}(): Expected 4D or 5D tensor, but got {fmt_shape(x.shape)}")
    out = _P._out_size(op, x, output_size, 3)
    if any(o <= 0 for o in out):
        raise RuntimeError(f"{op}(): output_size must be positive, but got {list(out)}")
    y, idx = AdaptiveMax3d.apply(input, out)
    return (y, idx) if return_indices else y


# ---------------------------------------------------------------------------- embedding_bag
def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False, mode="mean",
                  sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """``F.embedding_bag``: the sum, mean or max of the embeddings of each bag of indices, without
    materialising the (bags, bag size, dim) lookups per bag: input (B, N) (rows are bags) or 1-D
    with ``offsets`` (each bag's start); ``per_sample_weights`` scale each looked-up row ('sum');
    ``padding_idx`` rows are skipped (and not counted by 'mean'); empty bags give zeros."""
    from . import functional as F
    from .. import _creation, ops
    from .._tensor import Tensor
    if mode not in ("sum", "mean", "max"):
        raise ValueError("mode has to be one of sum, mean or max")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(f"embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                  f"supported for mode='sum' (got mode='{mode}'). Please open a feature request on "
                                  "GitHub.")
    idx = input._data
    if idx.ndim == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated is a mini-batch of "
                             "fixed length sequences. However, found offsets of type Tensor")
        bags, size = idx.shape
        starts = np.arange(bags) * size
        flat = idx.reshape(-1)
        psw = per_sample_weights.reshape(-1) if per_sample_weights is not None else None
        ends = starts + size
    elif idx.ndim == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        off = np.asarray(offsets._data if isinstance(offsets, Tensor) else offsets, np.int64)
        if off.ndim != 1:
            raise ValueError("offsets has to be a 1D Tensor")
        if off.size and off[0] != 0:
            raise ValueError(f"offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start "
                             f"from position 0. However, got {off[0]}")
        if include_last_offset:
            # the last offset should be len(input); PyTorch's last bag runs to the end of the input
            # whatever its value, and so does this one
            starts, ends = off[:-1], np.append(off[1:-1], idx.shape[0])[:max(len(off) - 1, 0)]
        else:
            starts, ends = off, np.append(off[1:], idx.shape[0])
        bags = len(starts)
        used = int(ends[-1]) if bags else 0           # indices past the last bag are not read
        flat = idx[:used]
        psw = per_sample_weights[:used] if per_sample_weights is not None else None
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {idx.ndim}")
    # the bag of every looked-up index, and whether it counts (padding_idx does not)
    counts = np.maximum(ends - starts, 0)
    bag_of = np.repeat(np.arange(bags), counts)
    keep = np.ones(len(bag_of), bool)
    num = weight._data.shape[0]
    if padding_idx is not None:
        padding_idx %= num
        keep = flat != padding_idx
    rows = F.embedding(Tensor._make(flat.astype(np.int64)), weight, max_norm=max_norm, norm_type=norm_type,
                       scale_grad_by_freq=scale_grad_by_freq)
    dim = weight._data.shape[1]
    if not keep.all():
        rows = rows * Tensor._make(keep.astype(weight._data.dtype)[:, None])
    if psw is not None:
        rows = rows * psw.unsqueeze(1)
    bag_index = Tensor._make(bag_of)
    if mode == "max":
        # empty bags (and bags of padding only) stay 0, as in PyTorch
        lowest = np.finfo(weight._data.dtype).min
        masked = ops.where(Tensor._make(keep[:, None]), rows, Tensor._make(np.asarray(lowest, weight._data.dtype)))
        out = ops.scatter_reduce(_creation.zeros(bags, dim, dtype=weight.dtype), 0,
                                 bag_index.unsqueeze(1).expand(-1, dim), masked, "amax", include_self=False)
        filled = np.zeros(bags, bool)
        filled[bag_of[keep]] = True
        return ops.where(Tensor._make(filled[:, None]), out, _creation.zeros((), dtype=weight.dtype))
    out = ops.index_add(_creation.zeros(bags, dim, dtype=weight.dtype), 0, bag_index, rows)
    if mode == "mean":
        n = np.bincount(bag_of[keep], minlength=bags).astype(weight._data.dtype)
        out = out / Tensor._make(np.maximum(n, 1)[:, None])
    return out


def dropout3d(input, p=0.5, training=True, inplace=False):
    """``F.dropout3d``: zero whole channels of (N, C, D, H, W) or unbatched (C, D, H, W) input."""
    nd = input.dim()
    if nd not in (4, 5):
        warnings.warn(f"dropout3d: Received a {nd}-D input to dropout3d, which is deprecated and will result in "
                      "an error in a future release. To retain the behavior and silence this warning, please use "
                      "dropout instead. Note that dropout3d exists to provide channel-wise dropout on inputs with 3 "
                      "spatial dimensions, a channel dimension, and an optional batch dimension (i.e. 4D or 5D "
                      "inputs).", stacklevel=2)
    def drop(t):
        if nd != 5:                              # unbatched: one mask value per slice of dim 0
            return _channel_dropout(t.unsqueeze(0), p, training).squeeze(0)
        return _channel_dropout(t, p, training)
    return _inplace(input, drop) if inplace and training and p > 0 else drop(input)


def _channel_dropout(input, p, training):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    keep = (_random.rng().random(tuple(input.shape[:2]) + (1,) * (input.dim() - 2)) >= p)
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    return input * Tensor._make((keep * scale).astype(input._data.dtype))


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin=1.0,
                                      swap=False, reduction="mean"):
    """``F.triplet_margin_with_distance_loss``: max(d(a, p) - d(a, n) + margin, 0) with any
    distance (default: pairwise_distance)."""
    from . import functional as F
    if margin <= 0:
        raise ValueError(f"TripletMarginWithDistanceLoss: expected margin to be greater than 0, got {margin} instead")
    if not (anchor.dim() == positive.dim() == negative.dim()):
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have the same number of "
                           f"dimensions, but got: anchor {anchor.dim()}D, positive {positive.dim()}D, and negative "
                           f"{negative.dim()}D inputs")
    dist = distance_function if distance_function is not None else F.pairwise_distance
    d_pos, d_neg = dist(anchor, positive), dist(anchor, negative)
    if swap:
        from ..ops import minimum
        d_neg = minimum(d_neg, dist(positive, negative))
    loss = (d_pos - d_neg + margin).clamp(min=0)
    return _reduce(loss, reduction)
