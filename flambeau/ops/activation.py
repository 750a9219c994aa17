"""Activation functions and layer normalisation (the ops behind ``torch.nn.functional``).

Each op is an ArrayFunction with its backward beside it. The gradient at a kink (``x == 0``
for leaky_relu, the ends of hardtanh's interval …) is PyTorch's choice, so that gradients match
exactly. Scalar parameters are converted with ``x.dtype.type`` to keep float32 float32.
``relu``, ``sigmoid``, ``tanh``, ``softmax`` and ``log_softmax`` live in elementwise.py and
reduce.py.
"""
from __future__ import annotations

import math

import numpy as np

from .._tensor import Tensor, _wrap
from ..autograd.function import ArrayFunction, BareCtx, graft, recompute_backward
from .._threads import parallel_for
from .elementwise import _erf, _sigmoid
from .inplace import inplace
from ._util import fmt_shape, norm_dim
from ..amp import _state as _amp

__all__ = ["leaky_relu", "elu", "selu", "celu", "gelu", "silu", "mish", "hardtanh", "relu6", "hardsigmoid",
           "hardswish", "softplus", "softsign", "tanhshrink", "threshold", "prelu", "logsigmoid",
           "hardshrink", "softshrink", "softmin", "glu", "layer_norm", "rms_norm"]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _float_input(input, op):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"{op}: expected a floating-point input, got {input.dtype}")
    return input


def _maybe_inplace(input, inplace_flag, fn, *args):
    """``inplace=True``: the result is written into ``input`` (ops.inplace keeps autograd right)."""
    if inplace_flag:
        return inplace(input, fn, *args)
    return fn(input, *args)


# ---------------------------------------------------------------------------- rectifiers
class LeakyRelu(ArrayFunction):
    _node_name = "LeakyReluBackward0"

    @staticmethod
    def forward(ctx, x, slope):
        ctx.save_for_backward(x)
        if x.dtype == np.float16:   # the slope stays float32, as in PyTorch (1e-8 is 0 in float16)
            ctx.slope = np.float32(slope)
            return LeakyRelu.forward(BareCtx(), x.astype(np.float32), slope).astype(np.float16)
        ctx.slope = s = x.dtype.type(slope)
        if 0 < s <= 1:
            # max(x, s x) is the same value (NaN included), and much faster than np.where on a
            # random sign pattern (no data-dependent branch): a DCGAN's activations
            y = np.multiply(x, s, out=np.empty_like(x))
            return np.maximum(x, y, out=y)
        with np.errstate(invalid="ignore", over="ignore"):   # inf * 0 is NaN, as in PyTorch, silently
            return np.where(x > 0, x, x * s)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        s = ctx.slope
        if g.dtype == np.float16:
            bare = BareCtx(saved_tensors=(x.astype(np.float32),), slope=s)
            return LeakyRelu.backward(bare, g.astype(np.float32)).astype(np.float16)
        if 0 < s <= 1:
            # g times (1 where x > 0, else s): the factor is max(x > 0, s), exact in both cases
            k = np.asarray(np.greater(x, 0), dtype=g.dtype)
            k = np.maximum(k, s, out=np.empty_like(k))
            return np.multiply(g, k, out=k)
        with np.errstate(over="ignore"):
            return np.where(x > 0, g, g * s)  # slope at x == 0, like PyTorch

    @staticmethod
    def backward_graph(ctx, g):
        (x,) = ctx.saved_tensors   # piecewise linear: the slopes are constants
        return g * _wrap(np.where(x > 0, x.dtype.type(1), ctx.slope))


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """``F.leaky_relu``: x if x > 0 else negative_slope * x."""
    _float_input(input, "leaky_relu")
    return _maybe_inplace(input, inplace, LeakyRelu.apply, negative_slope)


class Elu(ArrayFunction):
    """``scale * (x if x > 0 else alpha * (exp(x * input_scale) - 1))``: elu, selu and celu."""

    _node_name = "EluBackward0"

    @staticmethod
    def forward(ctx, x, alpha, scale, input_scale):
        t = x.dtype.type
        ctx.save_for_backward(x)
        ctx.alpha, ctx.scale, ctx.input_scale = t(alpha), t(scale), t(input_scale)
        neg = ctx.alpha * np.expm1(np.minimum(x, 0) * ctx.input_scale)  # min: no overflow for x > 0
        return ctx.scale * np.where(x > 0, x, neg)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        dneg = ctx.alpha * ctx.input_scale * np.exp(np.minimum(x, 0) * ctx.input_scale)
        return g * ctx.scale * np.where(x > 0, x.dtype.type(1), dneg)

    @staticmethod
    def backward_graph(ctx, g):
        from .elementwise import exp, clamp_max, where
        (x,) = ctx.saved_tensors
        xt = graft(ctx, 0, x)
        a, s, k = float(ctx.alpha), float(ctx.scale), float(ctx.input_scale)
        dneg = exp(clamp_max(xt, 0.0) * k) * (a * k)
        return g * s * where(_wrap(x > 0), _wrap(np.ones_like(x)), dneg)


def elu(input, alpha=1.0, inplace=False):
    """``F.elu``: x if x > 0 else alpha * (exp(x) - 1)."""
    _float_input(input, "elu")
    return _maybe_inplace(input, inplace, Elu.apply, alpha, 1.0, 1.0)


def selu(input, inplace=False):
    """``F.selu``: scale * elu(x, alpha) with the self-normalising constants."""
    _float_input(input, "selu")
    return _maybe_inplace(input, inplace, Elu.apply, _SELU_ALPHA, _SELU_SCALE, 1.0)


def celu(input, alpha=1.0, inplace=False):
    """``F.celu``: max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    _float_input(input, "celu")
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: celu: alpha must not be 0")
    return _maybe_inplace(input, inplace, Elu.apply, alpha, 1.0, 1.0 / alpha)


class Hardtanh(ArrayFunction):
    _node_name = "HardtanhBackward0"

    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = x.dtype.type(lo), x.dtype.type(hi)
        return np.clip(x, ctx.lo, ctx.hi)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * ((x > ctx.lo) & (x < ctx.hi))  # zero at both ends, like PyTorch

    @staticmethod
    def backward_graph(ctx, g):
        (x,) = ctx.saved_tensors
        return g * _wrap(((x > ctx.lo) & (x < ctx.hi)).astype(x.dtype))


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """``F.hardtanh``: clamp to [min_val, max_val]."""
    _float_input(input, "hardtanh")
    if min_val > max_val:
        raise ValueError("hardtanh: min_val cannot be greater than max_val")
    return _maybe_inplace(input, inplace, Hardtanh.apply, min_val, max_val)


def relu6(input, inplace=False):
    """``F.relu6``: min(max(0, x), 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


class Threshold(ArrayFunction):
    _node_name = "ThresholdBackward0"

    @staticmethod
    def forward(ctx, x, th, value):
        ctx.save_for_backward(x)
        ctx.th = x.dtype.type(th)
        return np.where(x > ctx.th, x, x.dtype.type(value))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x > ctx.th)

    @staticmethod
    def backward_graph(ctx, g):
        (x,) = ctx.saved_tensors
        return g * _wrap((x > ctx.th).astype(x.dtype))


def threshold(input, threshold, value, inplace=False):
    """``F.threshold``: x if x > threshold else value."""
    _float_input(input, "threshold")
    return _maybe_inplace(input, inplace, Threshold.apply, threshold, value)


class Prelu(ArrayFunction):
    """x if x > 0 else w * x, with one learnable slope per channel (dim 1)."""

    _node_name = "PreluKernelBackward0"

    @staticmethod
    def forward(ctx, x, w):
        wb = w.reshape((-1,) + (1,) * (x.ndim - 2)) if x.ndim >= 2 else w
        ctx.save_for_backward(x, wb)
        ctx.w_shape = w.shape
        return np.where(x > 0, x, wb * x)

    @staticmethod
    def backward(ctx, g):
        x, wb = ctx.saved_tensors
        nx, nw = ctx.needs_input_grad
        gx = np.where(x > 0, g, wb * g) if nx else None
        gw = None
        if nw:
            gneg = np.where(x > 0, x.dtype.type(0), x * g)
            if x.ndim >= 2 and ctx.w_shape[0] > 1:  # per channel: sum over all but dim 1
                gw = gneg.sum(axis=tuple(i for i in range(x.ndim) if i != 1))
            else:
                gw = gneg.sum().reshape(ctx.w_shape)
        return gx, gw

    @staticmethod
    def backward_graph(ctx, g):
        from .elementwise import where
        x, wb = ctx.saved_tensors
        w_shape = ctx.w_shape
        pos = _wrap(x > 0)

        def prelu(xt, wt):
            wbt = wt.reshape((-1,) + (1,) * (x.ndim - 2)) if x.ndim >= 2 else wt
            return where(pos, xt, wbt * xt)
        w = wb.reshape(w_shape)
        return recompute_backward(ctx, (g,), prelu, [graft(ctx, 0, x), graft(ctx, 1, w)])


def prelu(input, weight):
    """``F.prelu(input, weight)``: weight has 1 or C (= input.shape[1]) elements."""
    if _amp.active:             # autocast: runs in float16
        input, weight = _amp.lower(input, weight)
    _float_input(input, "prelu")
    n = weight._data.size
    if weight._data.ndim > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = "
                           f"{weight._data.ndim}")
    channels = input._data.shape[1] if input._data.ndim >= 2 else 1
    if n != 1 and n != channels:
        raise RuntimeError(f"prelu: Mismatch of parameter numbers and input channel size. Found parameter "
                           f"numbers = {n} and channel size = {channels} (input shape "
                           f"{fmt_shape(input._data.shape)}).")
    return Prelu.apply(input, weight.reshape(n))


# ---------------------------------------------------------------------------- smooth gates
# Large float32 GELUs are computed in float32, chunk by chunk (each chunk's temporaries stay in
# cache), the chunks shared among the threads. Phi(x) comes from erfc(|x|/√2)/2, the upper tail
# of a standard normal, by Numerical Recipes' erfc (t·exp(-z² + P(t)), t = 1/(1 + z/2)): it has
# a small *relative* error everywhere, so x·Phi(x) keeps its digits in the negative tail, where
# 1 + erf(x/√2) would cancel. Error against the exact GELU: < 1e-5 relative for |x| <= 8.
_NR_ERFC = tuple(np.float32(c) for c in (0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807,
                                          -0.18628806, 0.09678418, 0.37409196, 1.00002368, -1.26551223))
_GELU_CHUNK = 16384         # elements: a chunk's few temporaries fit in the L2 cache
_F32 = np.dtype(np.float32)


def _normal_cdf_f32(x):
    """Phi(x) for a float32 array, and x²/2 (the backward's density needs it)."""
    f = np.float32
    z = np.abs(x)
    z *= f(1 / math.sqrt(2))
    t = z * f(0.5)
    t += f(1)
    np.reciprocal(t, out=t)
    p = t * _NR_ERFC[0]                             # Horner, innermost coefficient first
    for c in _NR_ERFC[1:-1]:
        p += c
        p *= t
    p += _NR_ERFC[-1]
    z *= z                                          # z² = x²/2
    p -= z
    np.exp(p, out=p)
    p *= t
    p *= f(0.5)                                     # erfc(|x|/√2)/2 = P(N > |x|)
    return np.where(x >= 0, f(1) - p, p), z


def _gelu_chunked(fn, x, *more):
    """``fn(out, x, *more)`` over chunks of the flattened (contiguous) arrays, shared among threads."""
    x = np.ascontiguousarray(x)
    more = [np.ascontiguousarray(m) for m in more]
    out = np.empty(x.shape, x.dtype)
    flat, flats, fout = x.reshape(-1), [m.reshape(-1) for m in more], out.reshape(-1)

    def chunk(i):
        s = slice(i * _GELU_CHUNK, (i + 1) * _GELU_CHUNK)
        fn(fout[s], flat[s], *(m[s] for m in flats))
    parallel_for(chunk, -(-flat.size // _GELU_CHUNK))
    return out


def _gelu_f32(out, x):
    cdf, _ = _normal_cdf_f32(x)
    np.multiply(x, cdf, out=out)


def _gelu_grad_f32(out, x, g):
    cdf, half_x2 = _normal_cdf_f32(x)       # d/dx x·Phi(x) = Phi(x) + x·phi(x)
    np.negative(half_x2, out=half_x2)
    np.exp(half_x2, out=half_x2)
    half_x2 *= np.float32(1 / math.sqrt(2 * math.pi))
    half_x2 *= x
    half_x2 += cdf
    np.multiply(g, half_x2, out=out)


def _fast_gelu(x, g=None):
    return x.dtype == _F32 and x.size >= 4096 and (g is None or (g.dtype == _F32 and g.shape == x.shape))


class Gelu(ArrayFunction):
    _node_name = "GeluBackward0"

    @staticmethod
    def forward(ctx, x, approximate):
        t = x.dtype.type
        ctx.save_for_backward(x)
        ctx.approximate = approximate
        if approximate == "tanh":
            inner = t(math.sqrt(2.0 / math.pi)) * (x + t(0.044715) * x * x * x)
            return t(0.5) * x * (1 + np.tanh(inner))
        if _fast_gelu(x):
            return _gelu_chunked(_gelu_f32, x)
        return t(0.5) * x * (1 + _erf(x * t(1 / math.sqrt(2.0))))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        t = x.dtype.type
        if ctx.approximate == "tanh":
            k = t(math.sqrt(2.0 / math.pi))
            th = np.tanh(k * (x + t(0.044715) * x * x * x))
            dinner = k * (1 + t(3 * 0.044715) * x * x)
            return g * (t(0.5) * (1 + th) + t(0.5) * x * (1 - th * th) * dinner)
        if _fast_gelu(x, g):
            return _gelu_chunked(_gelu_grad_f32, x, g)
        cdf = t(0.5) * (1 + _erf(x * t(1 / math.sqrt(2.0))))
        pdf = np.exp(t(-0.5) * x * x) * t(1 / math.sqrt(2 * math.pi))
        return g * (cdf + x * pdf)

    @staticmethod
    def backward_graph(ctx, g):
        from .elementwise import erf, exp, tanh
        xt = graft(ctx, 0, ctx.saved_tensors[0])
        if ctx.approximate == "tanh":
            k = math.sqrt(2.0 / math.pi)
            th = tanh(k * (xt + 0.044715 * xt * xt * xt))
            return g * (0.5 * (1 + th) + 0.5 * xt * (1 - th * th) * (k * (1 + 3 * 0.044715 * xt * xt)))
        cdf = 0.5 * (1 + erf(xt * (1 / math.sqrt(2.0))))
        pdf = exp(-0.5 * xt * xt) * (1 / math.sqrt(2 * math.pi))
        return g * (cdf + xt * pdf)


def gelu(input, approximate="none"):
    """``F.gelu``: x * Phi(x) (``approximate='tanh'``: the tanh formula)."""
    _float_input(input, "gelu")
    if approximate not in ("none", "tanh"):
        raise RuntimeError(f"approximate argument must be either none or tanh, got {approximate!r}")
    return Gelu.apply(input, approximate)


class Silu(ArrayFunction):
    _node_name = "SiluBackward0"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * _sigmoid(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        s = _sigmoid(x)
        return g * s * (1 + x * (1 - s))

    @staticmethod
    def backward_graph(ctx, g):
        from .elementwise import sigmoid
        xt = graft(ctx, 0, ctx.saved_tensors[0])
        s = sigmoid(xt)
        return g * s * (1 + xt * (1 - s))


def silu(input, inplace=False):
    """``F.silu`` (swish): x * sigmoid(x)."""
    _float_input(input, "silu")
    return _maybe_inplace(input, inplace, Silu.apply)


def _softplus1(x):
    """log(1 + exp(x)), stable for large |x|."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _softplus_t(x):
    """``_softplus1`` on Tensors (differentiable)."""
    from .elementwise import abs, exp, log1p, relu
    return relu(x) + log1p(exp(-abs(x)))


class Mish(ArrayFunction):
    _node_name = "MishBackward0"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * np.tanh(_softplus1(x))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        tsp = np.tanh(_softplus1(x))
        return g * (tsp + x * _sigmoid(x) * (1 - tsp * tsp))

    @staticmethod
    def backward_graph(ctx, g):
        from .elementwise import sigmoid, tanh
        xt = graft(ctx, 0, ctx.saved_tensors[0])
        tsp = tanh(_softplus_t(xt))
        return g * (tsp + xt * sigmoid(xt) * (1 - tsp * tsp))


def mish(input, inplace=False):
    """``F.mish``: x * tanh(softplus(x))."""
    _float_input(input, "mish")
    return _maybe_inplace(input, inplace, Mish.apply)


class Hardsigmoid(ArrayFunction):
    _node_name = "HardsigmoidBackward0"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.clip(x + x.dtype.type(3), 0, 6) / x.dtype.type(6)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * ((x > -3) & (x < 3)) / x.dtype.type(6)

    @staticmethod
    def backward_graph(ctx, g):
        (x,) = ctx.saved_tensors
        return g * _wrap((((x > -3) & (x < 3)) / x.dtype.type(6)).astype(x.dtype))


def hardsigmoid(input, inplace=False):
    """``F.hardsigmoid``: relu6(x + 3) / 6."""
    _float_input(input, "hardsigmoid")
    return _maybe_inplace(input, inplace, Hardsigmoid.apply)


class Hardswish(ArrayFunction):
    _node_name = "HardswishBackward0"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * np.clip(x + x.dtype.type(3), 0, 6) / x.dtype.type(6)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        mid = g * (x / x.dtype.type(3) + x.dtype.type(0.5))
        # PyTorch's ends: 0 at x = -3, g at x = 3
        return np.where(x <= -3, x.dtype.type(0), np.where(x < 3, mid, g))

    @staticmethod
    def backward_graph(ctx, g):
        from .elementwise import where
        (x,) = ctx.saved_tensors
        mid = g * (graft(ctx, 0, x) / 3 + 0.5)
        return where(_wrap(x <= -3), g * 0, where(_wrap(x < 3), mid, g))


def hardswish(input, inplace=False):
    """``F.hardswish``: x * relu6(x + 3) / 6."""
    _float_input(input, "hardswish")
    return _maybe_inplace(input, inplace, Hardswish.apply)


class Softplus(ArrayFunction):
    _node_name = "SoftplusBackward0"

    @staticmethod
    def forward(ctx, x, beta, th):
        t = x.dtype.type
        ctx.save_for_backward(x)
        ctx.beta, ctx.th = t(beta), t(th)
        bx = x * ctx.beta
        return np.where(bx > ctx.th, x, _softplus1(bx) / ctx.beta)  # linear past the threshold

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        bx = x * ctx.beta
        return np.where(bx > ctx.th, g, g * _sigmoid(bx))

    @staticmethod
    def backward_graph(ctx, g):
        from .elementwise import sigmoid, where
        (x,) = ctx.saved_tensors
        xt = graft(ctx, 0, x)
        return where(_wrap(x * ctx.beta > ctx.th), g, g * sigmoid(xt * float(ctx.beta)))


def softplus(input, beta=1.0, threshold=20.0):
    """``F.softplus``: log(1 + exp(beta * x)) / beta, and x where beta * x > threshold."""
    _float_input(input, "softplus")
    return Softplus.apply(input, beta, threshold)


class Softsign(ArrayFunction):
    _node_name = "SoftsignBackward0"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x / (1 + np.abs(x))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        d = 1 + np.abs(x)
        return g / (d * d)

    @staticmethod
    def backward_graph(ctx, g):
        from .elementwise import abs
        d = 1 + abs(graft(ctx, 0, ctx.saved_tensors[0]))
        return g / (d * d)


def softsign(input):
    """``F.softsign``: x / (1 + |x|)."""
    _float_input(input, "softsign")
    return Softsign.apply(input)


class Tanhshrink(ArrayFunction):
    _node_name = "TanhshrinkBackward0"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x - np.tanh(x)

    @staticmethod
    def backward(ctx, g):
        th = np.tanh(ctx.saved_tensors[0])
        return g * th * th

    @staticmethod
    def backward_graph(ctx, g):
        from .elementwise import tanh
        t = tanh(graft(ctx, 0, ctx.saved_tensors[0]))
        return g * t * t


def tanhshrink(input):
    """``F.tanhshrink``: x - tanh(x)."""
    _float_input(input, "tanhshrink")
    return Tanhshrink.apply(input)


class LogSigmoid(ArrayFunction):
    _node_name = "LogSigmoidBackward0"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return -_softplus1(-x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * _sigmoid(-x)

    @staticmethod
    def backward_graph(ctx, g):
        from .elementwise import sigmoid
        return g * sigmoid(-graft(ctx, 0, ctx.saved_tensors[0]))


def logsigmoid(input):
    """``F.logsigmoid``: log(sigmoid(x)) = -softplus(-x), stable in both tails."""
    _float_input(input, "logsigmoid")
    return LogSigmoid.apply(input)


class Shrink(ArrayFunction):
    """hardshrink (``soft=False``): x where |x| > lambd else 0; softshrink also moves x toward 0."""

    _node_name = "HardshrinkBackward0"

    @staticmethod
    def forward(ctx, x, lambd, soft):
        ctx.save_for_backward(x)
        ctx.lambd = x.dtype.type(lambd)
        keep = np.abs(x) > ctx.lambd
        if soft:
            return np.where(keep, x - np.sign(x) * ctx.lambd, x.dtype.type(0))
        return np.where(keep, x, x.dtype.type(0))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (np.abs(x) > ctx.lambd)

    @staticmethod
    def backward_graph(ctx, g):
        (x,) = ctx.saved_tensors
        return g * _wrap((np.abs(x) > ctx.lambd).astype(x.dtype))


def hardshrink(input, lambd=0.5):
    _float_input(input, "hardshrink")
    return Shrink.apply(input, lambd, False)


class SoftShrink(Shrink):
    _node_name = "SoftshrinkBackward0"


def softshrink(input, lambd=0.5):
    _float_input(input, "softshrink")
    if lambd < 0:
        raise RuntimeError(f"lambda must be greater or equal to 0, but found to be {lambd}.")
    return SoftShrink.apply(input, lambd, True)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """``F.softmin``: softmax(-x) along ``dim``."""
    from .reduce import softmax
    from .elementwise import neg
    return softmax(neg(input), dim, dtype)


def glu(input, dim=-1):
    """``F.glu``: a * sigmoid(b) where (a, b) are the halves of ``input`` along ``dim``."""
    from .elementwise import sigmoid, mul
    from .shape import chunk
    d = norm_dim(dim, input._data.ndim, "glu")
    if input._data.ndim == 0 or input._data.shape[d] % 2:
        raise RuntimeError(f"glu: Halving dimension must be even, but dimension {d} is size "
                           f"{input._data.shape[d] if input._data.ndim else 1}")
    a, b = chunk(input, 2, d)
    return mul(a, sigmoid(b))


# ---------------------------------------------------------------------------- layer norm
class LayerNorm(ArrayFunction):
    """Normalise over the trailing ``len(normalized_shape)`` dims, then scale and shift.

    forward: xhat = (x - mean) * rstd,  y = xhat * w + b
    backward: gx = rstd * (gxhat - mean(gxhat) - xhat * mean(gxhat * xhat)),  gxhat = g * w
    """

    _node_name = "NativeLayerNormBackward0"

    @staticmethod
    def forward(ctx, x, w, b, axes, eps):
        mean = x.mean(axis=axes, keepdims=True)
        xc = x - mean
        var = (xc * xc).mean(axis=axes, keepdims=True)  # biased, like PyTorch
        rstd = 1 / np.sqrt(var + x.dtype.type(eps))
        xhat = xc * rstd
        ctx.save_for_backward(xhat, rstd, w)
        ctx.axes, ctx.eps = axes, eps
        y = xhat
        if w is not None:
            y = y * w
        if b is not None:
            y = y + b
        # float32 weights on a float16 input (autocast) keep the input's type, as in PyTorch
        return y.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        xhat, rstd, w = ctx.saved_tensors
        nx, nw, nb = ctx.needs_input_grad[:3]
        lead = tuple(range(g.ndim - len(ctx.axes)))
        gx = gw = gb = None
        if nx:
            gxhat = g * w if w is not None else g
            m1 = gxhat.mean(axis=ctx.axes, keepdims=True)
            m2 = (gxhat * xhat).mean(axis=ctx.axes, keepdims=True)
            gx = rstd * (gxhat - m1 - xhat * m2)
        if nw:
            gw = (g * xhat).sum(axis=lead)
        if nb:
            gb = g.sum(axis=lead)
        return gx, gw, gb

    @staticmethod
    def backward_graph(ctx, g):
        from .elementwise import rsqrt
        xhat, rstd, w = ctx.saved_tensors
        axes, eps = ctx.axes, ctx.eps

        def layer_norm(xt, wt, bt):
            xc = xt - xt.mean(axes, keepdim=True)
            y = xc * rsqrt((xc * xc).mean(axes, keepdim=True) + eps)
            y = y * wt if wt is not None else y
            return y + bt if bt is not None else y
        # x minus its mean is xhat / rstd; layer norm is blind to the mean itself
        return recompute_backward(ctx, (g,), layer_norm, [
            graft(ctx, 0, xhat / rstd), graft(ctx, 1, w) if w is not None else None,
            graft(ctx, 2, np.zeros(xhat.shape[len(xhat.shape) - len(axes):], xhat.dtype))
            if ctx.needs_input_grad[2] else None])


def _check_norm_shape(input, normalized_shape, weight, bias, op):
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    shape = tuple(int(s) for s in normalized_shape)
    k = len(shape)
    if k == 0 or input._data.shape[input._data.ndim - k:] != shape or input._data.ndim < k:
        raise RuntimeError(f"Given normalized_shape={list(shape)}, expected input with shape "
                           f"[*, {', '.join(str(s) for s in shape)}], but got input of size "
                           f"{fmt_shape(input._data.shape)} ({op})")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p._data.shape) != shape:
            raise RuntimeError(f"{op}: expected {name} of shape {list(shape)}, got {fmt_shape(p._data.shape)}")
    return tuple(range(input._data.ndim - k, input._data.ndim))


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """``F.layer_norm``: input (*, *normalized_shape); weight and bias of normalized_shape."""
    _float_input(input, "layer_norm")
    axes = _check_norm_shape(input, normalized_shape, weight, bias, "layer_norm")
    return LayerNorm.apply(input, weight, bias, axes, eps)


class RMSNorm(ArrayFunction):
    """y = x * rrms * w with rrms = 1 / sqrt(mean(x^2) + eps) over the trailing dims."""

    _node_name = "RmsNormBackward0"

    @staticmethod
    def forward(ctx, x, w, axes, eps):
        rrms = 1 / np.sqrt((x * x).mean(axis=axes, keepdims=True) + x.dtype.type(eps))
        xhat = x * rrms
        ctx.save_for_backward(xhat, rrms, w)
        ctx.axes, ctx.eps = axes, eps
        # float32 weights on a float16 input (autocast) keep the input's type, as in PyTorch
        return (xhat * w).astype(x.dtype, copy=False) if w is not None else xhat

    @staticmethod
    def backward(ctx, g):
        xhat, rrms, w = ctx.saved_tensors
        nx, nw = ctx.needs_input_grad[:2]
        gx = gw = None
        if nx:
            gxhat = g * w if w is not None else g
            gx = rrms * (gxhat - xhat * (gxhat * xhat).mean(axis=ctx.axes, keepdims=True))
        if nw:
            gw = (g * xhat).sum(axis=tuple(range(g.ndim - len(ctx.axes))))
        return gx, gw

    @staticmethod
    def backward_graph(ctx, g):
        from .elementwise import rsqrt
        xhat, rrms, w = ctx.saved_tensors
        axes, eps = ctx.axes, ctx.eps

        def rms_norm(xt, wt):
            y = xt * rsqrt((xt * xt).mean(axes, keepdim=True) + eps)
            return y * wt if wt is not None else y
        return recompute_backward(ctx, (g,), rms_norm, [graft(ctx, 0, xhat / rrms),
                                                         graft(ctx, 1, w) if w is not None else None])


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """``F.rms_norm``; ``eps=None`` means the dtype's machine epsilon, as in PyTorch."""
    _float_input(input, "rms_norm")
    axes = _check_norm_shape(input, normalized_shape, weight, None, "rms_norm")
    if eps is None:
        eps = float(np.finfo(input._data.dtype).eps)
    return RMSNorm.apply(input, weight, axes, eps)
