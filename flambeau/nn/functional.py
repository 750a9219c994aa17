"""``flambeau.nn.functional`` (``torch.nn.functional``): the stateless forms of the layers.

Activations and losses live in :mod:`flambeau.ops.activation` and :mod:`flambeau.ops.loss`;
this module re-exports them and adds the ops that are specific to ``nn``: padding, dropout,
embedding lookup, one-hot encoding, normalisation and distances.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .._tensor import Tensor, _wrap
from ..autograd.function import ArrayFunction, BareCtx, linear_map
from ..autograd.grad_mode import no_grad
from ..ops import inplace as _inplace
from ..ops._util import fmt_shape
from ..amp import _state as _amp
from ..ops.activation import (  # noqa: F401
    leaky_relu, elu, selu, celu, gelu, silu, mish, hardtanh, relu6, hardsigmoid, hardswish, softplus,
    softsign, tanhshrink, threshold, prelu, logsigmoid, hardshrink, softshrink, softmin, glu, layer_norm,
    rms_norm)
from ..ops.elementwise import relu as _relu, sigmoid, tanh  # noqa: F401
from ..ops.linalg import linear  # noqa: F401
from ..ops.loss import (  # noqa: F401
    cross_entropy, nll_loss, mse_loss, l1_loss, smooth_l1_loss, huber_loss, binary_cross_entropy,
    binary_cross_entropy_with_logits, kl_div, soft_margin_loss, margin_ranking_loss, cosine_embedding_loss,
    multi_margin_loss, multilabel_soft_margin_loss, gaussian_nll_loss, hinge_embedding_loss)
from ..ops.reduce import softmax, log_softmax  # noqa: F401
from ..random import rng


# ---------------------------------------------------------------------------- activations
def relu(input, inplace=False):
    """``F.relu``: max(x, 0)."""
    return _inplace(input, _relu) if inplace else _relu(input)


def relu_(input):
    return _inplace(input, _relu)


def _inplace_variant(fn):
    def f(input, *args, **kwargs):
        return _inplace(input, fn, *args, **kwargs)
    f.__name__ = fn.__name__ + "_"
    f.__doc__ = f"In-place ``F.{fn.__name__}``: writes the result into ``input`` and returns it."
    return f


leaky_relu_ = _inplace_variant(leaky_relu)
elu_ = _inplace_variant(elu)
selu_ = _inplace_variant(selu)
celu_ = _inplace_variant(celu)
hardtanh_ = _inplace_variant(hardtanh)
threshold_ = _inplace_variant(threshold)


# ---------------------------------------------------------------------------- padding
class PadConstant(ArrayFunction):
    """Constant padding; negative amounts crop. ``pads``: per axis ``(before, after)``."""

    _node_name = "ConstantPadNdBackward0"

    @staticmethod
    def forward(ctx, x, pads, value):
        crop = tuple(slice(max(-b, 0), x.shape[i] - max(-a, 0)) for i, (b, a) in enumerate(pads))
        grow = [(max(b, 0), max(a, 0)) for b, a in pads]
        ctx.crop, ctx.grow, ctx.in_shape = crop, grow, x.shape
        return np.pad(x[crop], grow, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, g):
        inner = g[tuple(slice(b, g.shape[i] - a) for i, (b, a) in enumerate(ctx.grow))]
        cropped = [(s.start, ctx.in_shape[i] - s.stop) for i, s in enumerate(ctx.crop)]
        return np.pad(inner, cropped)

    @staticmethod
    def backward_graph(ctx, g):
        # linear (affine: the constant does not depend on x): the transposed map and its adjoint,
        # the zero-padding forward
        crop, grow = ctx.crop, ctx.grow
        bare = BareCtx(crop=crop, grow=grow, in_shape=ctx.in_shape)
        return linear_map(g, lambda a: PadConstant.backward(bare, a), lambda a: np.pad(a[crop], grow))


class PadIndexed(ArrayFunction):
    """reflect / replicate / circular padding as a gather along each padded axis; the backward
    scatter-adds the gradient of every output position onto the input position it copies."""

    _node_name = "ReflectionPadBackward0"

    @staticmethod
    def forward(ctx, x, maps, spec=None):
        # spec: (mode, {axis: (before, after)}), what F.pad was asked for; only the ONNX exporter
        # reads it (the index maps alone are ambiguous on axes of size 1 or 2)
        ctx.maps, ctx.in_shape = maps, x.shape
        for axis, idx in maps:
            x = np.take(x, idx, axis=axis)
        return x

    @staticmethod
    def backward(ctx, g):
        shape = list(g.shape)
        for axis, idx in reversed(ctx.maps):
            shape[axis] = ctx.in_shape[axis]
            acc = np.zeros(shape, g.dtype)
            np.add.at(np.moveaxis(acc, axis, 0), idx, np.moveaxis(g, axis, 0))
            g = acc
        return g

    @staticmethod
    def backward_graph(ctx, g):
        bare = BareCtx(maps=ctx.maps, in_shape=ctx.in_shape)
        return linear_map(g, lambda a: PadIndexed.backward(bare, a), lambda a: PadIndexed.forward(bare, a, ctx.maps))


def _pad_index(n, before, after, mode):
    j = np.arange(-before, n + after)
    if mode == "reflect":
        period = 2 * (n - 1)
        j = np.abs(j) % period if period else np.zeros_like(j)
        return np.where(j >= n, period - j, j)
    if mode == "replicate":
        return np.clip(j, 0, n - 1)
    # circular: a negative amount crops first, and the cropped span is what wraps (PyTorch)
    lo, hi = max(-before, 0), n - max(-after, 0)
    return (np.arange(-max(before, 0), hi - lo + max(after, 0)) % (hi - lo)) + lo


def pad(input, pad, mode="constant", value=None):
    """``F.pad``: ``pad = (left, right, top, bottom, ...)`` pads the last dim first.

    mode: 'constant' (any dims; negative amounts crop), 'reflect', 'replicate', 'circular'
    (the trailing 1-3 dims of a batched or unbatched input).
    """
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise RuntimeError(f"Padding length must be divisible by 2, got pad={list(pad)}")
    k = len(pad) // 2
    nd = input._data.ndim
    if k > nd:
        raise RuntimeError(f"Padding length should be less than or equal to two times the input dimension "
                           f"but got padding length {len(pad)} and input of dimension {nd}")
    pairs = [(0, 0)] * (nd - k) + [(pad[2 * (k - 1 - i)], pad[2 * (k - 1 - i) + 1]) for i in range(k)]
    if _amp.active and ((mode == "reflect" and k <= 2) or mode == "replicate"):
        (input,) = _amp.fp32(input)   # on PyTorch's CPU float32 autocast list
    if mode == "constant":
        for i, (b, a) in enumerate(pairs):
            if input._data.shape[i] + b + a < 0:
                raise RuntimeError(f"pad: the input size {input._data.shape[i]} in dim {i} plus padding "
                                   f"({b}, {a}) is negative (input shape {fmt_shape(input._data.shape)})")
        v = 0 if value is None else value
        return PadConstant.apply(input, tuple(pairs), input._data.dtype.type(v))
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value is not None and value != 0:
        raise ValueError(f'Padding mode "{mode}" doesn\'t take in value argument')
    if not (1 <= k <= 3 and k + 1 <= nd <= k + 2):
        raise NotImplementedError(f"Padding size {len(pad)} is not supported for {nd}D input tensor. Supported "
                                  "combinations for non-constant padding: 2 values for 2D/3D input, 4 for "
                                  f"3D/4D, 6 for 4D/5D (mode={mode!r}, input {fmt_shape(input._data.shape)})")
    maps = []
    for axis in range(nd - k, nd):
        b, a = pairs[axis]
        n = input._data.shape[axis]
        if mode == "reflect" and (b >= n or a >= n):
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding input "
                               f"dimension, but got: padding ({b}, {a}) at dimension {axis} of input "
                               f"{fmt_shape(input._data.shape)}")
        if mode == "circular" and (b > n or a > n):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if mode == "replicate" and n == 0 and (a or b):
            raise RuntimeError(f"pad: cannot replicate-pad an empty dimension {axis} of input "
                               f"{fmt_shape(input._data.shape)}")
        if b or a:
            maps.append((axis, _pad_index(n, b, a, mode)))
    if not maps:
        return input.clone()
    return PadIndexed.apply(input, tuple(maps), (mode, {axis: pairs[axis] for axis, _ in maps}))


# ---------------------------------------------------------------------------- dropout
def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _apply_mask(input, mask_shape, p, inplace):
    """Multiply by a Bernoulli(1 - p) keep-mask scaled by 1 / (1 - p), broadcast from mask_shape."""
    dt = input._data.dtype
    if p == 1.0:
        mask = np.zeros(mask_shape, dt)
    else:
        mask = (rng().random(mask_shape) >= p).astype(dt) * dt.type(1.0 / (1.0 - p))
    m = Tensor._make(mask)
    if inplace:
        return _inplace(input, lambda t: t * m)
    return input * m


def dropout(input, p=0.5, training=True, inplace=False):
    """``F.dropout``: zero each element with probability p, scale the rest by 1 / (1 - p)."""
    _check_p(p)
    if not training or p == 0.0:
        return input
    return _apply_mask(input, input._data.shape, p, inplace)


def _feature_dropout(input, p, training, inplace):
    if not training or p == 0.0:
        return input
    s = input._data.shape
    return _apply_mask(input, s[:2] + (1,) * (len(s) - 2), p, inplace)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """``F.dropout1d``: zero whole channels of (N, C, L) or (C, L) input."""
    _check_p(p)
    nd = input._data.ndim
    if nd not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {nd}D input. Note that "
                           "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial "
                           "dimension, a channel dimension, and an optional batch dimension (i.e. 2D or 3D "
                           "inputs).")
    if nd == 2:
        if not training or p == 0.0:
            return input
        return _apply_mask(input, (input._data.shape[0], 1), p, inplace)
    return _feature_dropout(input, p, training, inplace)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """``F.dropout2d``: zero whole channels of (N, C, H, W) input.

    As in PyTorch, a 3-D input is taken as (N, C, L) (channel-wise 1-D dropout, with a warning)
    and other ranks are accepted with a deprecation warning.
    """
    _check_p(p)
    nd = input._data.ndim
    if nd not in (3, 4):
        warnings.warn(f"dropout2d: Received a {nd}-D input to dropout2d, which is deprecated and will result "
                      "in an error in a future release. To retain the behavior and silence this warning, "
                      "please use dropout instead. Note that dropout2d exists to provide channel-wise "
                      "dropout on inputs with 2 spatial dimensions, a channel dimension, and an optional "
                      "batch dimension (i.e. 3D or 4D inputs).", stacklevel=2)
    if nd == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                      "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel "
                      "dim. This behavior will change in a future release to interpret the input as one "
                      "without a batch dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise "
                      "dropout behavior, please switch to using dropout1d instead.", stacklevel=2)
    return _feature_dropout(input, p, training, inplace)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """``F.alpha_dropout``: dropout that keeps SELU's zero mean and unit variance."""
    _check_p(p)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0
    alpha_p = -1.7580993408473766  # -selu_alpha * selu_scale: where dropped units sit
    a = ((1 - p) * (1 + p * alpha_p ** 2)) ** -0.5
    b = -a * alpha_p * p
    dt = input._data.dtype
    keep = rng().random(input._data.shape) >= p
    m = Tensor._make((keep * a).astype(dt))
    c = Tensor._make(((~keep) * (a * alpha_p) + b).astype(dt))
    if inplace:
        return _inplace(input, lambda t: t * m + c)
    return input * m + c


# ---------------------------------------------------------------------------- embedding
class EmbeddingLookup(ArrayFunction):
    """rows of ``weight`` (V, D) picked by integer ``idx`` (any shape) -> (*idx.shape, D)."""

    _node_name = "EmbeddingBackward0"

    @staticmethod
    def forward(ctx, w, idx, padding_idx, scale_grad_by_freq):
        ctx.idx, ctx.num, ctx.padding_idx, ctx.scale = idx, w.shape[0], padding_idx, scale_grad_by_freq
        return w[idx]

    @staticmethod
    def backward(ctx, g):
        flat = ctx.idx.reshape(-1)
        g2 = g.reshape(flat.size, g.shape[-1])      # (indices, dim), also for no index at all
        if ctx.scale:  # divide by how often each word occurs in this mini-batch
            counts = np.bincount(flat, minlength=ctx.num)
            g2 = g2 / counts[flat][:, None].astype(g.dtype)
        gw = np.zeros((ctx.num, g2.shape[1]), g.dtype)
        np.add.at(gw, flat, g2)
        if ctx.padding_idx is not None:
            gw[ctx.padding_idx] = 0  # the padding row never learns
        return gw, None

    @staticmethod
    def backward_graph(ctx, g):
        idx, num, padding_idx, scale = ctx.idx, ctx.num, ctx.padding_idx, ctx.scale
        bare = BareCtx(idx=idx, num=num, padding_idx=padding_idx, scale=scale)

        # the rows gathered, as PyTorch's double backward does (no 1/count factor: that belongs
        # to the first derivative only, and finite differences agree)
        def rows(a):
            if padding_idx is not None:
                a = a.copy()
                a[padding_idx] = 0
            return a[idx]
        return linear_map(g, lambda a: EmbeddingLookup.backward(bare, a)[0], rows), None


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """``F.embedding``: input (*) integer indices into weight (num_embeddings, embedding_dim)."""
    if input._data.dtype.kind not in "iu":
        raise RuntimeError(f"Expected tensor for argument #1 'indices' to have one of the following scalar "
                           f"types: Long, Int; but got {input.type()} instead (while checking arguments for "
                           "embedding)")
    num = weight._data.shape[0]
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise AssertionError("Padding_idx must be within num_embeddings")
        padding_idx %= num
    idx = input._data.astype(np.int64, copy=False)
    if idx.size and (idx.min() < 0 or idx.max() >= num):
        bad = idx[(idx < 0) | (idx >= num)].flat[0]
        raise IndexError(f"index {bad} is out of range for embedding with num_embeddings={num} "
                         f"(weight shape {fmt_shape(weight._data.shape)})")
    if max_norm is not None:
        _embedding_renorm(weight, idx, max_norm, norm_type)
    return EmbeddingLookup.apply(weight, idx, padding_idx, scale_grad_by_freq)


def _embedding_renorm(weight, idx, max_norm, norm_type):
    """Rescale, in place and outside autograd, the looked-up rows whose norm exceeds max_norm."""
    with no_grad():
        rows = np.unique(idx)
        w = weight._data
        norms = np.linalg.norm(w[rows], ord=norm_type, axis=1)
        over = norms > max_norm
        scale = (max_norm / (norms[over] + 1e-7)).astype(w.dtype)
        w[rows[over]] *= scale[:, None]
        weight._version[0] += 1


def one_hot(tensor, num_classes=-1):
    """``F.one_hot``: int64 (*) -> int64 (*, num_classes)."""
    if tensor._data.dtype != np.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    a = tensor._data
    if a.size and a.min() < 0:
        raise RuntimeError("Class values must be non-negative.")
    if num_classes == -1:
        if a.size == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(a.max()) + 1
    elif a.size and a.max() >= num_classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    return _wrap((a[..., None] == np.arange(num_classes)).astype(np.int64))


# ---------------------------------------------------------------------------- norms and distances
def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """``F.normalize``: input / max(||input||_p along dim, eps)."""
    from ..ops import norm, clamp_min
    n = clamp_min(norm(input, p, dim, keepdim=True), eps)
    r = input / n
    if out is not None:
        out.copy_(r)
        return out
    return r


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """``F.cosine_similarity``: sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps)) along dim;
    x1 and x2 broadcast. As in PyTorch, the eps clamp does not enter the gradient."""
    from ..ops import norm, clamp_min, sum as _sum, broadcast_tensors
    x1, x2 = broadcast_tensors(x1, x2)

    def unit(x):
        n = norm(x, 2, dim, keepdim=True)
        nd = n.detach()
        return x / (n + (clamp_min(nd, eps) - nd))
    return _sum(unit(x1) * unit(x2), dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """``F.pairwise_distance``: ||x1 - x2 + eps||_p over the last dim."""
    from ..ops import norm
    d = x1 - x2 + eps
    dim = -1 if d.ndim else None
    return norm(d, p, dim, keepdim=keepdim)


def pdist(input, p=2.0):
    """``F.pdist``: the condensed (upper-triangle) pairwise distances of the rows of (N, M) input."""
    from ..ops import norm
    n = input.shape[0]
    i, j = np.triu_indices(n, 1)
    return norm(input[i] - input[j], p, -1)


@_amp.plain_op
def bilinear(input1, input2, weight, bias=None):
    """``F.bilinear``: y_k = x1 W_k x2 + b_k; weight (out, in1, in2)."""
    from ..ops import einsum
    lead = input1.shape[:-1]
    x1 = input1.reshape(-1, input1.shape[-1])
    x2 = input2.reshape(-1, input2.shape[-1])
    y = einsum("bi,kij,bj->bk", x1, weight, x2).reshape(*lead, weight.shape[0])
    return y + bias if bias is not None else y


# ---------------------------------------------------------------------------- spatial ops
from ..ops.conv import (  # noqa: E402,F401
    conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d, unfold, fold)
from ..ops.pool import (  # noqa: E402,F401
    max_pool1d, max_pool2d, max_pool3d, max_pool1d_with_indices, max_pool2d_with_indices, avg_pool1d, avg_pool2d,
    avg_pool3d, adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_max_pool1d, adaptive_max_pool2d, interpolate,
    upsample, upsample_nearest, upsample_bilinear)
from ..ops.norm import batch_norm, group_norm, instance_norm, local_response_norm  # noqa: E402,F401


from .attention import scaled_dot_product_attention, multi_head_attention_forward  # noqa: E402,F401
from .functional_extra import (  # noqa: E402,F401
    pixel_shuffle, pixel_unshuffle, channel_shuffle, native_channel_shuffle, affine_grid, grid_sample,
    gumbel_softmax, rrelu, rrelu_, lp_pool1d, lp_pool2d, lp_pool3d, max_unpool1d, max_unpool2d, max_unpool3d,
    triplet_margin_loss, poisson_nll_loss, multilabel_margin_loss, feature_alpha_dropout, adaptive_avg_pool3d,
    adaptive_max_pool3d, embedding_bag, dropout3d, triplet_margin_with_distance_loss)
from ..ops.ctc import ctc_loss  # noqa: E402,F401
