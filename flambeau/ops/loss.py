"""Loss functions (the ops behind ``torch.nn.functional``'s losses).

The hot ones are fused ArrayFunctions: ``cross_entropy`` (log-softmax + NLL in one node, backward
``softmax - onehot``), ``nll_loss``, and the pointwise ``mse``/``smooth_l1``/``huber``/``bce``/
``bce_with_logits`` kernels whose per-element loss is then reduced. The rest are composites of
differentiable ops. ``reduction`` is ``'none' | 'mean' | 'sum'`` throughout, as in PyTorch.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _wrap
from ..autograd.function import ArrayFunction, graft, recompute_backward
from ._util import fmt_shape
from ..amp._state import fp32_op as _fp32_op
from .elementwise import _sigmoid

__all__ = ["cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "soft_margin_loss",
           "margin_ranking_loss", "cosine_embedding_loss", "multi_margin_loss", "multilabel_soft_margin_loss",
           "gaussian_nll_loss", "hinge_embedding_loss"]

_TYPE_WORD = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long", "int32": "Int",
              "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def _type_word(t):
    return _TYPE_WORD[t._data.dtype.name]


def _reduction(reduction, size_average=None, reduce=None):
    """The reduction string, from the legacy ``size_average``/``reduce`` flags when given."""
    if size_average is not None or reduce is not None:
        warnings.warn("size_average and reduce args will be deprecated, please use reduction='"
                      f"{_legacy(size_average, reduce)}' instead.", stacklevel=3)
        return _legacy(size_average, reduce)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _legacy(size_average, reduce):
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return "none" if not reduce else ("mean" if size_average else "sum")


def _reduce(loss, reduction):
    if reduction == "none":
        return loss
    from .reduce import mean, sum
    return mean(loss) if reduction == "mean" else sum(loss)


def _as_tensor(x, op, name):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(x).__name__}")
    return x


def _float_pair(input, target, op):
    """Promote input and target to a common floating dtype (PyTorch's rule for pointwise losses)."""
    from ._util import promote, to_dtype
    _as_tensor(input, op, "input")
    _as_tensor(target, op, "target")
    a, b = promote(input, target, op)
    if a._data.dtype.kind != "f":
        dt = D.get_default_dtype().np
        a, b = to_dtype(a, dt), to_dtype(b, dt)
    return a, b


def _warn_size(input, target, op):
    if input._data.shape != target._data.shape:
        warnings.warn(f"{op}: Using a target size ({target.shape}) that is different to the input size "
                      f"({input.shape}). This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", stacklevel=3)


# ---------------------------------------------------------------------------- class-index losses
class ClassNLL(ArrayFunction):
    """Negative log-likelihood of class indices, optionally fused with log-softmax.

    x: (N, C, *d) logits (``softmax=True``) or log-probabilities; t: (N, *d) int targets.
    Per element: l = -(1 - eps) * w[t] * logp[t] - (eps / C) * sum_c w[c] * logp[c], zero where
    t == ignore_index. 'mean' divides the sum by the total weight sum(w[t]) of kept targets.
    Backward (softmax): dl/dx = p * sum_c Q[c] - Q with Q the coefficients above.
    """

    _node_name = "NllLossBackward0"

    @staticmethod
    def forward(ctx, x, t, w, ignore_index, reduction, eps, softmax):
        C = x.shape[1]
        dt = x.dtype.type
        if ignore_index is None and x.ndim == 2 and w is None and eps == 0 and reduction != "none" and softmax:
            # the common case (a classifier's batch, every target a class): the same arithmetic in
            # a third of the calls
            return _class_nll_2d(ctx, x, t, reduction)
        if softmax:
            s = x - np.amax(x, axis=1, keepdims=True) if x.size else x
            logp = s - np.log(np.sum(np.exp(s), axis=1, keepdims=True))
        else:
            logp = x
        valid = t != ignore_index if ignore_index is not None else np.ones(t.shape, bool)
        idx = np.where(valid, t, 0)[:, None]
        picked = np.take_along_axis(logp, idx, axis=1)[:, 0]
        wy = (w[idx[:, 0]] if w is not None else np.ones(t.shape, x.dtype)) * valid
        loss = -(dt(1 - eps) * wy) * picked
        wc = None
        if eps > 0:
            wc = (w if w is not None else np.ones(C, x.dtype)).reshape((1, C) + (1,) * (x.ndim - 2))
            loss = loss - dt(eps / C) * (logp * wc).sum(axis=1) * valid
        ctx.save_for_backward(logp)
        ctx.rows_t, ctx.idx, ctx.valid, ctx.wy, ctx.wc = None, idx, valid, wy, wc
        ctx.reduction, ctx.eps, ctx.softmax = reduction, eps, softmax
        if reduction == "none":
            return loss
        total = loss.sum(dtype=x.dtype)
        if reduction == "sum":
            return total
        ctx.den = wy.sum(dtype=x.dtype)
        with np.errstate(invalid="ignore", divide="ignore"):  # every target ignored: nan, like PyTorch
            return np.asarray(total / ctx.den, dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        (logp,) = ctx.saved_tensors
        if ctx.rows_t is not None:      # _class_nll_2d's forward: softmax - onehot, scaled
            grad = np.exp(logp)
            grad[ctx.rows_t] -= logp.dtype.type(1)
            grad *= g / ctx.den if ctx.reduction == "mean" else g
            return grad, None, None
        coef, sum_q, smooth = _nll_coefficients(ctx, logp)
        grad = np.exp(logp) * sum_q[:, None] if ctx.softmax else np.zeros_like(logp)
        if smooth is not None:
            grad = grad - smooth
        picked = np.take_along_axis(grad, ctx.idx, axis=1)
        np.put_along_axis(grad, ctx.idx, picked - coef[:, None], axis=1)
        if ctx.reduction == "none":
            scale = g[:, None]
        elif ctx.reduction == "sum":
            scale = g
        else:
            # every target ignored: the loss is nan but nothing depends on x (PyTorch: zero grad)
            scale = g / ctx.den if ctx.den != 0 else g * 0
        return grad * scale, None, None

    @staticmethod
    def backward_graph(ctx, g):
        # dl/dx = (p * sum_q - Q) * scale: Q (the target and smoothing coefficients) is constant,
        # p = softmax(x) is not. log p stands in for x (softmax is shift-invariant per row).
        (logp,) = ctx.saved_tensors
        _general_fields(ctx, logp)
        coef, sum_q, smooth = _nll_coefficients(ctx, logp)
        q = smooth.copy() if smooth is not None else np.zeros_like(logp)
        np.put_along_axis(q, ctx.idx, np.take_along_axis(q, ctx.idx, axis=1) + coef[:, None], axis=1)
        grad = -_wrap(q)
        if ctx.softmax:
            from .reduce import softmax
            grad = softmax(graft(ctx, 0, logp), 1) * _wrap(sum_q[:, None]) + grad
        if ctx.reduction == "none":
            scale = g.unsqueeze(1)
        elif ctx.reduction == "sum":
            scale = g
        else:
            scale = g / float(ctx.den) if ctx.den != 0 else g * 0
        return grad * scale, None, None


def _class_nll_2d(ctx, x, t, reduction):
    """ClassNLL.forward for (N, C) logits, unweighted, unsmoothed, every target in [0, C).
    Bitwise the general path's results: its weights are all 1 there, so its products by them
    are exact."""
    dt = x.dtype.type
    s = x - x.max(axis=1, keepdims=True)
    logp = np.subtract(s, np.log(np.exp(s).sum(axis=1, keepdims=True)), out=s)
    rows = np.arange(x.shape[0])
    total = -logp[rows, t].sum(dtype=x.dtype)
    ctx.save_for_backward(logp)
    ctx.rows_t, ctx.reduction, ctx.softmax = (rows, t), reduction, True
    if reduction == "sum":
        return total
    ctx.den = dt(x.shape[0])
    return np.asarray(total / ctx.den, dtype=x.dtype)


def _general_fields(ctx, logp):
    """The general path's per-element fields, for a node whose forward took _class_nll_2d."""
    if ctx.rows_t is not None:
        t = ctx.rows_t[1]
        ctx.idx, ctx.valid, ctx.wy, ctx.wc, ctx.eps = t[:, None], np.ones(t.shape, bool), \
            np.ones(t.shape, logp.dtype), None, 0.0


def _nll_coefficients(ctx, logp):
    """ClassNLL's gradient pieces: the target coefficient (1 - eps) w[t] per element, the sum of
    all coefficients per element (what multiplies softmax(x)), and the smoothing part eps/C w[c]
    spread over the classes (None without smoothing)."""
    dt = logp.dtype.type
    C, eps = logp.shape[1], ctx.eps
    coef = dt(1 - eps) * ctx.wy
    if eps <= 0:
        return coef, coef, None
    return coef, coef + dt(eps / C) * ctx.wc.sum() * ctx.valid, dt(eps / C) * ctx.wc * ctx.valid[:, None]


class SoftTargetCE(ArrayFunction):
    """Cross entropy against class probabilities t (same shape as x, (N, C, *d)).

    l = -sum_c w[c] * q[c] * logp[c] with q = (1 - eps) * t + eps / C; 'mean' divides by N * prod(d).
    """

    _node_name = "SumBackward1"

    @staticmethod
    def forward(ctx, x, t, w, reduction, eps):
        C = x.shape[1]
        dt = x.dtype.type
        s = x - np.amax(x, axis=1, keepdims=True) if x.size else x
        logp = s - np.log(np.sum(np.exp(s), axis=1, keepdims=True))
        wc = (w.reshape((1, C) + (1,) * (x.ndim - 2)) if w is not None else dt(1))
        q = t * dt(1 - eps) + dt(eps / C) if eps > 0 else t
        coef = q * wc
        loss = -(logp * coef).sum(axis=1)
        ctx.save_for_backward(logp, t)
        ctx.wc, ctx.reduction, ctx.eps = wc, reduction, eps
        if reduction == "none":
            return loss
        total = loss.sum(dtype=x.dtype)
        if reduction == "sum":
            return total
        ctx.den = dt(x.size // C if C else 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(total / ctx.den, dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        logp, t = ctx.saved_tensors
        dt = logp.dtype.type
        if ctx.reduction == "none":
            scale = g[:, None]
        elif ctx.reduction == "sum":
            scale = g
        else:
            scale = g / ctx.den
        nx, nt = ctx.needs_input_grad[:2]
        gx = gt = None
        if nx:
            q = t * dt(1 - ctx.eps) + dt(ctx.eps / logp.shape[1]) if ctx.eps > 0 else t
            coef = q * ctx.wc
            gx = (np.exp(logp) * coef.sum(axis=1, keepdims=True) - coef) * scale
        if nt:
            gt = -(logp * ctx.wc) * dt(1 - ctx.eps) * scale
        return gx, gt, None

    @staticmethod
    def backward_graph(ctx, g):
        from .reduce import log_softmax, softmax
        logp, t = ctx.saved_tensors
        C = logp.shape[1]
        eps = ctx.eps
        wc = _wrap(np.asarray(ctx.wc, logp.dtype))
        scale = g.unsqueeze(1) if ctx.reduction == "none" else (g if ctx.reduction == "sum" else g / float(ctx.den))
        xt, tt = graft(ctx, 0, logp), graft(ctx, 1, t)      # log p stands in for x (shift-invariant)
        nx, nt = ctx.needs_input_grad[:2]
        gx = gt = None
        if nx:
            coef = (tt * (1 - eps) + eps / C if eps > 0 else tt) * wc
            gx = (softmax(xt, 1) * coef.sum(1, keepdim=True) - coef) * scale
        if nt:
            gt = -(log_softmax(xt, 1) * wc) * (1 - eps) * scale
        return gx, gt, None


def _check_weight(weight, C, x):
    if weight is None:
        return None
    if weight._data.ndim != 1 or weight._data.shape[0] != C:
        raise RuntimeError(f"weight tensor should be defined either for all {C} classes or no classes but "
                           f"got weight tensor of shape: {fmt_shape(weight._data.shape)}")
    return weight._data.astype(x._data.dtype, copy=False)


def _class_targets(input, target, op):
    """Validate (input, target) for class-index losses; returns (x, t, squeeze) with x
    (N, C, *d) and t (N, *d): a 1-D input (C,) with a 0-d target becomes a batch of one."""
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"{op}: expected a floating-point input, got {input.dtype}")
    if target._data.dtype not in (np.int64, np.uint8):
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {_type_word(target)} "
                           f"({op}: target of dtype {target.dtype} and shape {fmt_shape(target._data.shape)})")
    xs, ts = input._data.shape, target._data.shape
    if input._data.ndim == 0:
        raise ValueError(f"{op}: expected input with at least 1 dimension (C) or 2 (N, C), got a 0-d tensor")
    if input._data.ndim == 1:
        if target._data.ndim != 0:
            raise RuntimeError(f"{op}: 1D target tensor expects 0D (scalar) target for unbatched input of "
                               f"shape {fmt_shape(xs)}, got target of shape {fmt_shape(ts)}")
        return input.reshape(1, xs[0]), target.reshape(1), True
    if ts[:1] != xs[:1] or target._data.ndim != input._data.ndim - 1:
        if input._data.ndim == 2 or target._data.ndim == 0:
            raise ValueError(f"Expected input batch_size ({xs[0]}) to match target batch_size "
                             f"({ts[0] if ts else 1}).")
    if ts != xs[:1] + xs[2:]:
        raise RuntimeError(f"Expected target size {fmt_shape(xs[:1] + xs[2:])}, got {fmt_shape(ts)}")
    return input, target, False


def _check_bounds(t, C, ignore_index):
    """Raise for a target outside [0, C) that is not ignore_index. Returns the ignore_index
    ClassNLL should use: None when no target can match it (every target is a class and
    ignore_index none), which lets it take its fast path."""
    if t.size and t.min() >= 0 and t.max() < C:     # (the usual case, in two calls)
        return ignore_index if 0 <= ignore_index < C else None
    bad = (t != ignore_index) & ((t < 0) | (t >= C))
    if bad.any():
        raise IndexError(f"Target {t[bad].flat[0]} is out of bounds.")
    return ignore_index


@_fp32_op
def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """``F.nll_loss``: input (N, C) / (N, C, d1, ...) / (C,) log-probabilities, target (N) /
    (N, d1, ...) / () class indices."""
    _as_tensor(input, "nll_loss", "input")
    _as_tensor(target, "nll_loss", "target")
    reduction = _reduction(reduction, size_average, reduce)
    x, t, squeeze = _class_targets(input, target, "nll_loss")
    C = x._data.shape[1]
    w = _check_weight(weight, C, x)
    ignore_index = _check_bounds(t._data, C, ignore_index)
    out = ClassNLL.apply(x, t._data.astype(np.int64, copy=False), w, ignore_index, reduction, 0.0, False)
    return out.reshape(()) if squeeze and reduction == "none" else out


@_fp32_op
def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """``F.cross_entropy``: log-softmax over dim 1 (dim 0 for a 1-D input) + NLL, in one node.

    target: class indices (N) / (N, d1, ...) / (), or class probabilities of input's shape.
    """
    _as_tensor(input, "cross_entropy", "input")
    _as_tensor(target, "cross_entropy", "target")
    reduction = _reduction(reduction, size_average, reduce)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if target._data.shape == input._data.shape and input._data.ndim >= 1:
        if target._data.dtype.kind != "f":
            raise RuntimeError("Expected floating point type for target with class probabilities, got "
                               f"{_type_word(target)}")
        if input._data.dtype.kind != "f":
            raise RuntimeError(f"cross_entropy: expected a floating-point input, got {input.dtype}")
        x, t = input, target
        if target._data.dtype != input._data.dtype:
            t = target.to(input.dtype)
        squeeze = x._data.ndim == 1
        if squeeze:
            x, t = x.reshape(1, -1), t.reshape(1, -1)
        if ignore_index != -100:
            raise RuntimeError("ignore_index is not supported for floating point target")
        w = _check_weight(weight, x._data.shape[1], x)
        out = SoftTargetCE.apply(x, t, w, reduction, float(label_smoothing))
        return out.reshape(()) if squeeze and reduction == "none" else out
    x, t, squeeze = _class_targets(input, target, "cross_entropy")
    C = x._data.shape[1]
    w = _check_weight(weight, C, x)
    ignore_index = _check_bounds(t._data, C, ignore_index)
    out = ClassNLL.apply(x, t._data.astype(np.int64, copy=False), w, ignore_index, reduction,
                         float(label_smoothing), True)
    return out.reshape(()) if squeeze and reduction == "none" else out


class MultiMargin(ArrayFunction):
    """Multi-class hinge: l_i = sum_{j != y} w[y] * max(0, margin - x[y] + x[j])^p / C."""

    _node_name = "MultiMarginLossBackward0"

    @staticmethod
    def forward(ctx, x, t, p, margin, w, reduction):
        dt = x.dtype.type
        C = x.shape[1]
        idx = t[:, None]
        xy = np.take_along_axis(x, idx, axis=1)
        z = dt(margin) - xy + x
        np.put_along_axis(z, idx, dt(0), axis=1)  # j == y is excluded from the sum
        h = np.maximum(z, dt(0))
        wy = w[t][:, None] if w is not None else dt(1)
        terms = (h if p == 1 else h * h) * wy
        loss = terms.sum(axis=1) / dt(C)
        ctx.save_for_backward(h, x if p == 2 else None)   # x: for p = 2's second derivative
        ctx.idx, ctx.p, ctx.wy, ctx.reduction, ctx.C = idx, p, wy, reduction, C
        ctx.margin = margin
        if reduction == "none":
            return loss
        return np.asarray(loss.sum() if reduction == "sum" else loss.mean(), dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        h = ctx.saved_tensors[0]
        dt = h.dtype.type
        d = (h > 0).astype(h.dtype) if ctx.p == 1 else dt(2) * h  # d term_j / d x_j
        d = d * ctx.wy / dt(ctx.C)
        np.put_along_axis(d, ctx.idx, -d.sum(axis=1, keepdims=True), axis=1)  # x_y enters every term
        if ctx.reduction == "none":
            return d * g[:, None], None
        n = h.shape[0]
        return d * (g if ctx.reduction == "sum" else g / dt(n)), None

    @staticmethod
    def backward_graph(ctx, g):
        h, x = ctx.saved_tensors
        if ctx.p == 1:   # piecewise linear: g times constant per-sample coefficients
            k = _wrap(MultiMargin.backward(ctx, np.ones(g.shape, g._data.dtype))[0])
            return (g.unsqueeze(1) if ctx.reduction == "none" else g) * k, None
        from .elementwise import relu
        idx, wy, C, reduction = ctx.idx, ctx.wy, ctx.C, ctx.reduction
        keep = _wrap(np.ones(h.shape, h.dtype))
        keep._data[np.arange(h.shape[0]), idx[:, 0]] = 0         # j == y is not a term

        def loss(xt, _target):   # p = 2 recomputed from primitives
            z = (relu(xt - xt.gather(1, _wrap(idx)) + float(ctx.margin)) * keep) ** 2
            per = (z * _wrap(np.asarray(wy, h.dtype))).sum(1) / C
            return per if reduction == "none" else (per.sum() if reduction == "sum" else per.mean())
        return recompute_backward(ctx, (g,), loss, [graft(ctx, 0, x), None])


@_fp32_op
def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                      reduction="mean"):
    """``F.multi_margin_loss``: input (N, C) or (C,), target (N,) or () class indices."""
    reduction = _reduction(reduction, size_average, reduce)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    if input._data.ndim > 2 or (input._data.ndim == 2 and target._data.shape != input._data.shape[:1]) or \
            (input._data.ndim < 2 and target._data.size != 1):
        raise RuntimeError(f"multi_margin_loss: inconsistent target size: {fmt_shape(target._data.shape)} "
                           f"for input of size: {fmt_shape(input._data.shape)}")
    squeeze = input._data.ndim < 2
    x = input.reshape(1, -1) if squeeze else input
    t = target._data.reshape(-1).astype(np.int64)
    C = x._data.shape[1]
    if ((t < 0) | (t >= C)).any():
        raise IndexError(f"target out of range: multi_margin_loss got target {t[(t < 0) | (t >= C)][0]} "
                         f"for {C} classes")
    w = _check_weight(weight, C, x)
    out = MultiMargin.apply(x, t, p, margin, w, reduction)
    return out.reshape(()) if squeeze and reduction == "none" else out


# ---------------------------------------------------------------------------- pointwise losses
class SquaredError(ArrayFunction):
    """(x - y)^2 elementwise (mse_loss before reduction)."""

    _node_name = "MseLossBackward0"

    @staticmethod
    def forward(ctx, x, y):
        d = x - y
        ctx.save_for_backward(d)
        return d * d

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        gd = d.dtype.type(2) * g * d
        nx, ny = ctx.needs_input_grad
        return (gd if nx else None), (-gd if ny else None)

    @staticmethod
    def backward_graph(ctx, g):
        # d = x - y as a function of both: d stands in for x, zeros for y
        (d,) = ctx.saved_tensors
        gd = 2 * g * (graft(ctx, 0, d) - graft(ctx, 1, np.zeros_like(d)))
        nx, ny = ctx.needs_input_grad
        return (gd if nx else None), (-gd if ny else None)


@_fp32_op
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """``F.mse_loss``: mean((input - target)^2); target broadcasts (with PyTorch's warning)."""
    reduction = _reduction(reduction, size_average, reduce)
    _warn_size(input, target, "mse_loss")
    x, y = _float_pair(input, target, "mse_loss")
    loss = SquaredError.apply(x, y)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


@_fp32_op
def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """``F.l1_loss``: mean(|input - target|); the gradient at 0 is 0 (sign), like PyTorch."""
    from .elementwise import abs, sub
    reduction = _reduction(reduction, size_average, reduce)
    _warn_size(input, target, "l1_loss")
    x, y = _float_pair(input, target, "l1_loss")
    loss = abs(sub(x, y))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


class SmoothL1(ArrayFunction):
    """Quadratic for |d| < beta, linear beyond. ``huber=False``: smooth_l1 (0.5 d^2 / beta,
    |d| - beta / 2); ``huber=True``: huber with delta = beta (0.5 d^2, delta (|d| - delta / 2))."""

    _node_name = "SmoothL1LossBackward0"

    @staticmethod
    def forward(ctx, x, y, beta, huber):
        dt = x.dtype.type
        d = x - y
        ad = np.abs(d)
        ctx.save_for_backward(d)
        ctx.beta, ctx.huber = dt(beta), huber
        b = ctx.beta
        if huber:
            return np.where(ad < b, dt(0.5) * d * d, b * (ad - dt(0.5) * b))
        if beta == 0:
            return ad
        return np.where(ad < b, dt(0.5) * d * d / b, ad - dt(0.5) * b)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        b = ctx.beta
        if ctx.huber:
            gd = g * np.clip(d, -b, b)
        elif b == 0:
            gd = g * np.sign(d)
        else:
            gd = g * np.where(np.abs(d) < b, d / b, np.sign(d))
        nx, ny = ctx.needs_input_grad[:2]
        return (gd if nx else None), (-gd if ny else None)

    @staticmethod
    def backward_graph(ctx, g):
        from .elementwise import clamp, sign, where
        (d,) = ctx.saved_tensors
        b = float(ctx.beta)
        dt_ = graft(ctx, 0, d) - graft(ctx, 1, np.zeros_like(d))   # d stands in for x, zeros for y
        if ctx.huber:
            gd = g * clamp(dt_, -b, b)
        elif b == 0:
            gd = g * sign(dt_)
        else:
            gd = g * where(_wrap(np.abs(d) < b), dt_ / b, sign(dt_))
        nx, ny = ctx.needs_input_grad[:2]
        return (gd if nx else None), (-gd if ny else None)


@_fp32_op
def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """``F.smooth_l1_loss``."""
    reduction = _reduction(reduction, size_average, reduce)
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss does not support negative values for beta (got {beta}).")
    _warn_size(input, target, "smooth_l1_loss")
    x, y = _float_pair(input, target, "smooth_l1_loss")
    return _reduce(SmoothL1.apply(x, y, beta, False), reduction)


@_fp32_op
def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """``F.huber_loss``."""
    reduction = _reduction(reduction)
    if delta <= 0:
        raise RuntimeError(f"huber_loss does not support non-positive values for delta (got {delta}).")
    _warn_size(input, target, "huber_loss")
    x, y = _float_pair(input, target, "huber_loss")
    loss = SmoothL1.apply(x, y, delta, True)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


class BinaryCrossEntropy(ArrayFunction):
    """-(y log x + (1 - y) log(1 - x)) with both logs clamped at -100 (so x = 0 or 1 stays finite)."""

    _node_name = "BinaryCrossEntropyBackward0"

    @staticmethod
    def forward(ctx, x, y):
        dt = x.dtype.type
        with np.errstate(divide="ignore"):
            lx = np.maximum(np.log(x), dt(-100))
            l1x = np.maximum(np.log1p(-x), dt(-100))
        ctx.save_for_backward(x, y, lx, l1x)
        return -(y * lx + (1 - y) * l1x)

    @staticmethod
    def backward(ctx, g):
        x, y, lx, l1x = ctx.saved_tensors
        nx, ny = ctx.needs_input_grad
        gx = g * (x - y) / np.maximum((1 - x) * x, x.dtype.type(1e-12)) if nx else None
        if ny:  # unclamped logs, as PyTorch: +-inf at x = 0 or 1
            with np.errstate(divide="ignore", invalid="ignore"):
                gy = g * (np.log1p(-x) - np.log(x))
        else:
            gy = None
        return gx, gy

    @staticmethod
    def backward_graph(ctx, g):
        from .elementwise import clamp_min, log, log1p
        x, y, lx, l1x = ctx.saved_tensors
        nx, ny = ctx.needs_input_grad
        xt, yt = graft(ctx, 0, x), graft(ctx, 1, y)
        gx = g * (xt - yt) / clamp_min((1 - xt) * xt, 1e-12) if nx else None
        gy = g * (log1p(-xt) - log(xt)) if ny else None
        return gx, gy


@_fp32_op
def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """``F.binary_cross_entropy``: input probabilities in [0, 1], target of the same shape."""
    reduction = _reduction(reduction, size_average, reduce)
    if target._data.shape != input._data.shape:
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input size "
                         f"({input.shape}) is deprecated. Please ensure they have the same size.")
    x, y = _float_pair(input, target, "binary_cross_entropy")
    xa = x._data
    if xa.size and ((xa < 0) | (xa > 1) | np.isnan(xa)).any():
        raise RuntimeError("all elements of input should be between 0 and 1")
    loss = BinaryCrossEntropy.apply(x, y)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


class BCEWithLogits(ArrayFunction):
    """(1 - y) x + (1 + (pw - 1) y) softplus(-x), times weight: stable for any logit x."""

    _node_name = "BinaryCrossEntropyWithLogitsBackward0"

    @staticmethod
    def forward(ctx, x, y, w, pw):
        sp = np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x)))  # softplus(-x) without overflow
        lw = 1 + (pw - 1) * y if pw is not None else None
        loss = (1 - y) * x + (lw * sp if lw is not None else sp)
        ctx.save_for_backward(x, y, w, pw)
        ctx.sp, ctx.lw = sp, lw
        return loss * w if w is not None else loss

    @staticmethod
    def backward(ctx, g):
        x, y, w, pw = ctx.saved_tensors
        sp, lw = ctx.sp, ctx.lw
        nx, ny, nw, npw = ctx.needs_input_grad
        gw_ = g * w if w is not None else g
        gx = gy = gw = gpw = None
        if nx:
            s = _sigmoid(-x)
            gx = gw_ * ((1 - y) - (lw * s if lw is not None else s))
        if ny:
            gy = gw_ * (-x + ((pw - 1) * sp if pw is not None else 0))
        if nw:
            gw = g * ((1 - y) * x + (lw * sp if lw is not None else sp))
        if npw:
            gpw = gw_ * y * sp
        return gx, gy, gw, gpw

    @staticmethod
    def backward_graph(ctx, g):
        from .elementwise import abs, exp, log1p, relu, sigmoid
        x, y, w, pw = ctx.saved_tensors
        nx, ny, nw, npw = ctx.needs_input_grad
        xt, yt = graft(ctx, 0, x), graft(ctx, 1, y)
        wt = graft(ctx, 2, w) if w is not None else None
        pwt = graft(ctx, 3, pw) if pw is not None else None
        sp = relu(-xt) + log1p(exp(-abs(xt)))
        lw = 1 + (pwt - 1) * yt if pwt is not None else None
        gw_ = g * wt if wt is not None else g
        gx = gy = gw = gpw = None
        if nx:
            s = sigmoid(-xt)
            gx = gw_ * ((1 - yt) - (lw * s if lw is not None else s))
        if ny:
            gy = gw_ * (-xt + (pwt - 1) * sp) if pwt is not None else gw_ * -xt
        if nw:
            gw = g * ((1 - yt) * xt + (lw * sp if lw is not None else sp))
        if npw:
            gpw = gw_ * yt * sp
        return gx, gy, gw, gpw


@_fp32_op
def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """``F.binary_cross_entropy_with_logits``: sigmoid + BCE in one stable formula.

    ``weight`` broadcasts to the input; ``pos_weight`` (C,) weighs the positive term per class.
    """
    reduction = _reduction(reduction, size_average, reduce)
    if target._data.shape != input._data.shape:
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    x, y = _float_pair(input, target, "binary_cross_entropy_with_logits")
    dt = x.dtype
    w = weight.to(dt) if weight is not None else None
    pw = pos_weight.to(dt) if pos_weight is not None else None
    return _reduce(BCEWithLogits.apply(x, y, w, pw), reduction)


@_fp32_op
def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """``F.soft_margin_loss``: log(1 + exp(-y x)), target in {-1, 1}."""
    from .activation import softplus
    from .elementwise import mul, neg
    reduction = _reduction(reduction, size_average, reduce)
    x, y = _float_pair(input, target, "soft_margin_loss")
    return _reduce(softplus(neg(mul(x, y)), 1.0, math.inf), reduction)


@_fp32_op
def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """``F.kl_div``: target * (log(target) - input) with input log-probabilities (0 where
    target == 0); ``log_target=True``: exp(target) * (target - input).

    ``'batchmean'`` divides the sum by the batch size (the true KL divergence).
    """
    from .elementwise import exp, mul, sub, log, where
    from .reduce import sum
    if size_average is not None or reduce is not None:
        reduction = _reduction(reduction, size_average, reduce)
    elif reduction not in ("none", "mean", "sum", "batchmean"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      stacklevel=2)
    x, y = _float_pair(input, target, "kl_div")
    if log_target:
        loss = mul(exp(y), sub(y, x))
    else:
        # xlogy(y, y): 0 where y == 0; log of the masked value keeps the gradient finite there
        pos = y > 0
        safe = where(pos, y, y.new_ones(()))
        loss = sub(where(pos, mul(y, log(safe)), y.new_zeros(())), mul(y, x))
    if reduction == "batchmean":
        return sum(loss) / x.shape[0] if x.ndim else sum(loss)
    return _reduce(loss, reduction)


@_fp32_op
def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                        reduction="mean"):
    """``F.margin_ranking_loss``: max(0, -y (x1 - x2) + margin)."""
    from .elementwise import clamp_min, mul, neg, sub
    reduction = _reduction(reduction, size_average, reduce)
    if input1.ndim != input2.ndim or input1.ndim != target.ndim:
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension but got "
                           f"sizes: input1: {input1.shape}, input2: {input2.shape}, target: {target.shape} ")
    loss = clamp_min(neg(mul(target, sub(input1, input2))) + margin, 0)
    return _reduce(loss, reduction)


@_fp32_op
def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    """``F.hinge_embedding_loss``: x where y == 1, max(0, margin - x) where y == -1."""
    from .elementwise import clamp_min, where, neg, add
    reduction = _reduction(reduction, size_average, reduce)
    zeros = input.new_zeros(())
    margin_clamp = clamp_min(add(neg(input), margin), 0)
    loss = where(target == 1, input, zeros) + where(target == -1, margin_clamp, zeros)
    return _reduce(loss, reduction)


@_fp32_op
def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                          reduction="mean"):
    """``F.cosine_embedding_loss``: 1 - cos(x1, x2) where y == 1, max(0, cos - margin) where y == -1.

    x1, x2: (N, D) or (D,); y: (N,) or (). cos uses PyTorch's EPSILON = 1e-12 in both norms.
    """
    from .elementwise import clamp_min, where, sqrt, mul, sub
    from .reduce import sum
    reduction = _reduction(reduction, size_average, reduce)
    if input1.ndim not in (1, 2) or input1.shape != input2.shape:
        raise RuntimeError(f"cosine_embedding_loss: expected 1D or 2D inputs of equal shape, got "
                           f"{fmt_shape(input1.shape)} and {fmt_shape(input2.shape)}")
    if target.ndim != input1.ndim - 1:
        raise RuntimeError(f"{input1.ndim - 1}D target tensor expects {input1.ndim}D input tensors, but "
                           f"found inputs with sizes {fmt_shape(input1.shape)} and {fmt_shape(input2.shape)}.")
    eps = 1e-12
    prod = sum(mul(input1, input2), -1)
    m1 = sum(mul(input1, input1), -1) + eps
    m2 = sum(mul(input2, input2), -1) + eps
    cos = prod / sqrt(mul(m1, m2))
    zeros = cos.new_zeros(())
    pos = where(target == 1, 1 - cos, zeros)
    neg = where(target == -1, clamp_min(sub(cos, margin), 0), zeros)
    return _reduce(pos + neg, reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction="mean"):
    """``F.multilabel_soft_margin_loss``: -mean_c [y log sig(x) + (1 - y) log sig(-x)] per sample."""
    from .activation import logsigmoid
    from .elementwise import mul, neg, add, sub
    from .reduce import mean
    reduction = _reduction(reduction, size_average, reduce)
    x, y = _float_pair(input, target, "multilabel_soft_margin_loss")
    loss = neg(add(mul(y, logsigmoid(x)), mul(sub(1, y), logsigmoid(neg(x)))))
    if weight is not None:
        loss = loss * weight
    loss = mean(loss, x.ndim - 1) if x.ndim else loss
    return _reduce(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """``F.gaussian_nll_loss``: 0.5 (log(max(var, eps)) + (x - y)^2 / max(var, eps)) [+ log(2 pi) / 2].

    The clamp of var is invisible to autograd (PyTorch clamps a copy under no_grad)."""
    from .elementwise import clamp_min, log, sub, mul
    reduction = _reduction(reduction)
    if isinstance(var, (int, float)):
        var = input.new_full(input.shape if input.ndim else (), float(var))
    if var.shape != input.shape:
        if input.shape[:-1] == var.shape:
            var = var.unsqueeze(-1)
        elif not (input.shape[:-1] == var.shape[:-1] and var.shape[-1] == 1):
            raise ValueError("var is of incorrect size")
    if (var._data < 0).any():
        raise ValueError("var has negative entry/entries")
    var_c = var + (clamp_min(var.detach(), eps) - var.detach())
    d = sub(input, target)
    loss = 0.5 * (log(var_c) + mul(d, d) / var_c)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)

