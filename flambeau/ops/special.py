"""Special functions (``torch.lgamma``, ``digamma``, ``polygamma``, ``erfinv``, ``erfc``,
``logit``, ``xlogy``, ``torch.special.xlog1py``); ``flambeau.special`` is their torch.special
namespace and the distributions use them.

NumPy-only numerics, evaluated in float64 and cast back to the input's dtype:

* lgamma: the standard library's ``math.lgamma`` (correctly rounded to a few ulps), element by
  element; ``inf`` at the poles 0, -1, -2, ... as in PyTorch.
* digamma / polygamma(n, x), n >= 1: shift x up to >= 12 with the recurrences
  psi(x) = psi(x + 1) - 1/x, psi_n(x) = psi_n(x + 1) + (-1)^(n+1) n! / x^(n+1), then the
  asymptotic (Bernoulli-number) series; x < 0 by the reflection formulas.
* erfinv: Giles' single-precision rational approximation as the start, then two Newton steps
  on erf (quadratic convergence: ~1e-7 -> ~1e-14 -> machine precision).
* erfc: ``math.erfc`` (float64, or small arrays), else Numerical Recipes' rational form.

Each is an ArrayFunction: lgamma' = digamma, digamma' = polygamma(1), polygamma(n)' =
polygamma(n + 1), erfinv' = sqrt(pi)/2 exp(erfinv(x)^2). Each ``backward_graph`` (double
backward) is that derivative on Tensors, the input grafted (``autograd/function.py``): lgamma''
is polygamma(1), digamma'' polygamma(2), and so on.
"""
from __future__ import annotations

__all__ = ["lgamma", "digamma", "polygamma", "erfinv", "erfc", "logit", "xlogy", "xlog1py"]

import math

import numpy as np

from .. import _dtype as D
from ..autograd.function import ArrayFunction, graft, saved_output
from .._tensor import Tensor, _wrap
from ._util import promote, to_dtype

# B_2k for k = 1..9
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510, 43867 / 798)
_SHIFT = 12.0


def _float_dtype(x):
    return x.dtype if x.dtype.kind == "f" else D.get_default_dtype().np


def _lgamma_scalar(v):
    if math.isnan(v):
        return math.nan
    if v <= 0 and v == math.floor(v):
        return math.inf
    if math.isinf(v):
        return math.inf
    return math.lgamma(v)


_lgamma_vec = np.frompyfunc(_lgamma_scalar, 1, 1)


def lgamma_np(x):
    x64 = np.asarray(x, dtype=np.float64)
    if x64.size == 0:
        return x64.copy()
    return np.asarray(_lgamma_vec(x64), dtype=np.float64).reshape(x64.shape)


def _digamma_pos(x):
    """psi(x) for x > 0 (float64 array)."""
    x = x.copy()
    acc = np.zeros_like(x)
    while True:
        small = x < _SHIFT
        if not small.any():
            break
        acc = acc - np.where(small, 1.0 / np.where(small, x, 1.0), 0.0)
        x = np.where(small, x + 1.0, x)
    inv2 = 1.0 / (x * x)
    series = np.zeros_like(x)
    p = inv2.copy()
    for k, b in enumerate(_BERNOULLI, start=1):
        series = series + b / (2 * k) * p
        p = p * inv2
    return acc + np.log(x) - 0.5 / x - series


def digamma_np(x):
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    with np.errstate(all="ignore"):
        pos = x > 0
        out[pos] = _digamma_pos(x[pos])
        neg = ~pos & np.isfinite(x)
        if neg.any():
            xn = x[neg]
            r = _digamma_pos(1.0 - xn) - np.pi / np.tan(np.pi * xn)  # psi(1-x) - psi(x) = pi cot(pi x)
            r = np.where(xn == np.floor(xn), np.nan, r)
            r = np.where(xn == 0, np.copysign(np.inf, -xn), r)     # -inf at +0, +inf at -0, as PyTorch
            out[neg] = r
        out[x == np.inf] = np.inf
        out[x == -np.inf] = np.nan
        out[np.isnan(x)] = np.nan
    return out


def _polygamma_pos(n, x):
    """psi_n(x) for x > 0, n >= 1."""
    x = x.copy()
    sign = (-1.0) ** (n + 1)
    nfact = math.factorial(n)
    acc = np.zeros_like(x)
    while True:
        small = x < _SHIFT
        if not small.any():
            break
        xs = np.where(small, x, 1.0)
        acc = acc + np.where(small, sign * nfact / xs ** (n + 1), 0.0)
        x = np.where(small, x + 1.0, x)
    # psi_n(x) ~ (-1)^(n+1) [ (n-1)!/x^n + n!/(2 x^(n+1)) + sum_k B_2k (2k+n-1)!/((2k)! x^(2k+n)) ]
    s = math.factorial(n - 1) / x ** n + nfact / (2 * x ** (n + 1))
    for k, b in enumerate(_BERNOULLI, start=1):
        s = s + b * math.factorial(2 * k + n - 1) / math.factorial(2 * k) / x ** (2 * k + n)
    return acc + sign * s


def polygamma_np(n, x):
    x = np.asarray(x, dtype=np.float64)
    out = np.full_like(x, np.nan)
    with np.errstate(all="ignore"):
        pos = x > 0
        out[pos] = _polygamma_pos(n, x[pos])
        neg = ~pos & np.isfinite(x)
        if neg.any():
            xn = x[neg]
            pole = xn == np.floor(xn)           # 0, -1, -2 ...: (-1)^(n+1) inf, as PyTorch
            if n == 1:
                # psi_1(1-x) + psi_1(x) = pi^2 / sin^2(pi x)
                r = (np.pi / np.sin(np.pi * xn)) ** 2 - _polygamma_pos(1, 1.0 - xn)
            else:
                # the upward recurrence of _polygamma_pos also holds below 0, between the poles
                r = _polygamma_pos(n, np.where(pole, 0.5, xn))
            out[neg] = np.where(pole, (-1.0) ** (n + 1) * np.inf, r)
        out[x == np.inf] = 0.0
    return out


_erf_vec = np.frompyfunc(math.erf, 1, 1)


def _erf64(y):
    return np.asarray(_erf_vec(y), dtype=np.float64).reshape(np.shape(y))


def erfinv_np(x):
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        w = -np.log((1.0 - x) * (1.0 + x))
        wc = w - 2.5
        p1 = 2.81022636e-08
        for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
                  -0.00417768164, 0.246640727, 1.50140941):
            p1 = c + p1 * wc
        wt = np.sqrt(np.maximum(w, 5.0)) - 3.0
        p2 = -0.000200214257
        for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
                  0.00943887047, 1.00167406, 2.83297682):
            p2 = c + p2 * wt
        y = np.where(w < 5.0, p1, p2) * x
        inside = np.abs(x) < 1
        yi = np.where(inside, y, 0.0)
        for _ in range(2):
            err = _erf64(yi) - np.where(inside, x, 0.0)
            yi = yi - err / (2.0 / math.sqrt(math.pi) * np.exp(-yi * yi))
        y = np.where(inside, yi, np.where(x == 1, np.inf, np.where(x == -1, -np.inf, np.nan)))
    return y


def _polygamma_any(n, x):
    """lgamma (n = -1), digamma (n = 0), polygamma(n) (n >= 1): each the derivative of the last."""
    if n == -1:
        return lgamma_np(x)
    return digamma_np(x) if n == 0 else polygamma_np(n, x)


class Polygamma(ArrayFunction):
    """The polygamma family, lgamma and digamma included: the derivative of order ``n`` is the
    function of order ``n + 1``, to any order."""

    _node_name = "PolygammaBackward0"

    @staticmethod
    def forward(ctx, x, n):
        ctx.save_for_backward(x)
        ctx.n = n
        return _polygamma_any(n, x).astype(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return (g * _polygamma_any(ctx.n + 1, x)).astype(g.dtype), None

    @staticmethod
    def backward_graph(ctx, g):
        (x,) = ctx.saved_tensors
        return g * polygamma(ctx.n + 1, graft(ctx, 0, x)), None


class Lgamma(Polygamma):
    _node_name = "LgammaBackward0"


class Digamma(Polygamma):
    _node_name = "DigammaBackward0"


class Erfinv(ArrayFunction):
    _node_name = "ErfinvBackward0"

    @staticmethod
    def forward(ctx, x):
        y = erfinv_np(x).astype(x.dtype)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        with np.errstate(all="ignore"):
            return (g * (math.sqrt(math.pi) / 2) * np.exp(y.astype(np.float64) ** 2)).astype(g.dtype)

    @staticmethod
    def backward_graph(ctx, g):
        from .elementwise import exp
        (y,) = ctx.saved_tensors
        yt = saved_output(ctx, y)       # erfinv'' = 2 y erfinv'^2: through this node's output
        return g * (math.sqrt(math.pi) / 2) * exp(yt * yt)


class Xlogy(ArrayFunction):
    _node_name = "XlogyBackward0"

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        with np.errstate(all="ignore"):
            out = np.where((x == 0) & ~np.isnan(y), 0, x * np.log(y))
        return np.asarray(out, dtype=np.result_type(x, y))

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        with np.errstate(all="ignore"):
            # PyTorch: d/dx = log(y), masked to 0 where x == 0 and y <= 0
            gx = np.where((x == 0) & (y <= 0), 0, g * np.log(y)) if ctx.needs_input_grad[0] else None
            gy = g * x / y if ctx.needs_input_grad[1] else None
        return (None if gx is None else np.asarray(gx, g.dtype)), (None if gy is None else np.asarray(gy, g.dtype))

    @staticmethod
    def backward_graph(ctx, g):
        from .elementwise import log
        x, y = ctx.saved_tensors
        nx, ny = ctx.needs_input_grad
        gx = gy = None
        if nx:
            # log(y) masked to 0 where x == 0 and y <= 0 (y taken as 1 there: finite, then masked)
            gx = g * _masked_of_y(log, ctx, y, (x == 0) & (y <= 0), 1)
        if ny:
            gy = g * graft(ctx, 0, x) / graft(ctx, 1, y)
        return gx, gy


def _masked_of_y(fn, ctx, y, mask, safe):
    """``fn`` of the op's second input ``y`` as a Tensor, 0 where ``mask``: there y is first
    replaced by the finite ``safe``, so that neither the value nor its slopes are NaN."""
    if not mask.any():
        return fn(graft(ctx, 1, y))
    return fn(graft(ctx, 1, np.where(mask, y.dtype.type(safe), y))) * _wrap((~mask).astype(y.dtype))


def _float(input):
    if input._data.dtype.kind != "f":
        return to_dtype(input, D.get_default_dtype().np)
    return input


def lgamma(input):
    """``torch.lgamma``: log |Gamma(x)|, differentiable."""
    return Lgamma.apply(_float(input), -1)


def digamma(input):
    """``torch.digamma``: d/dx lgamma(x), differentiable."""
    return Digamma.apply(_float(input), 0)


def polygamma(n, input):
    """``torch.polygamma``: the n-th derivative of digamma (n >= 1 here; n = 0 is digamma)."""
    if n == 0:
        return digamma(input)
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    return Polygamma.apply(_float(input), int(n))


def erfinv(input):
    """``torch.erfinv``: the inverse error function, differentiable."""
    return Erfinv.apply(_float(input))


def xlogy(input, other):
    """``torch.xlogy``: x * log(y), 0 where x == 0 (and y is not NaN), differentiable."""
    return _xlog(Xlogy, input, other)


# ---------------------------------------------------------------------------- logit, erfc, xlog1py
def _vec(fn, x):
    """A math-module function elementwise, in float64, cast back to x's dtype."""
    if x.size == 0:
        return x.copy()
    return np.vectorize(fn, otypes=[np.float64])(x.astype(np.float64)).astype(x.dtype)


class Logit(ArrayFunction):
    """log(x / (1 - x)), x clamped to [eps, 1 - eps] when eps is given (zero gradient outside)."""

    _node_name = "LogitBackward0"

    @staticmethod
    def forward(ctx, x, eps):
        ctx.save_for_backward(x)
        ctx.eps = eps
        z = x if eps is None else np.clip(x, x.dtype.type(eps), x.dtype.type(1 - eps))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(z / (1 - z)).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            d = g / (x * (1 - x))
            if ctx.eps is not None:
                lo, hi = x.dtype.type(ctx.eps), x.dtype.type(1 - ctx.eps)
                d = np.where((x < lo) | (x > hi), x.dtype.type(0), d)
        return d.astype(g.dtype, copy=False), None

    @staticmethod
    def backward_graph(ctx, g):
        (x,) = ctx.saved_tensors
        if ctx.eps is None:
            xt = graft(ctx, 0, x)
            return g / (xt * (1 - xt)), None
        lo, hi = x.dtype.type(ctx.eps), x.dtype.type(1 - ctx.eps)
        inside = (x >= lo) & (x <= hi)
        # outside the clamp the gradient is 0: x is taken as 1/2 there (finite, and masked out)
        xt = graft(ctx, 0, np.where(inside, x, x.dtype.type(0.5)))
        return g / (xt * (1 - xt)) * _wrap(inside.astype(x.dtype)), None


def logit(input, eps=None):
    """``torch.special.logit(input, eps=None)``: log(p / (1 - p))."""
    return Logit.apply(_float(input), None if eps is None else float(eps))


def _erfc(x):
    if x.dtype == np.float64 or x.size < 4096:
        return _vec(math.erfc, x)
    # float32 at scale: Numerical Recipes' erfc (relative error < 1.2e-7 everywhere), in float64
    z = np.abs(x.astype(np.float64))
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    y = t * np.exp(poly)
    return np.where(x >= 0, y, 2 - y).astype(x.dtype)


class Erfc(ArrayFunction):
    _node_name = "ErfcBackward0"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _erfc(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return (g * (x.dtype.type(-2 / math.sqrt(math.pi)) * np.exp(-x * x))).astype(g.dtype, copy=False)

    @staticmethod
    def backward_graph(ctx, g):
        from .elementwise import exp
        (x,) = ctx.saved_tensors
        xt = graft(ctx, 0, x)
        return g * (-2 / math.sqrt(math.pi)) * exp(-(xt * xt))


def erfc(input):
    """``torch.special.erfc``: 1 - erf(x), accurate in the tails."""
    return Erfc.apply(_float(input))


class XLog1pY(ArrayFunction):
    """x * log1p(y), 0 where x == 0 (unless y is NaN); the gradient of x is zeroed where x == 0
    and y is at or below the pole -1, as PyTorch's."""

    _node_name = "SpecialXlog1PyBackward0"

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = x * np.log1p(y)
        out = np.where((x == 0) & ~np.isnan(y), x.dtype.type(0), out)
        return out.astype(np.result_type(x, y), copy=False)

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        gx = gy = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if ctx.needs_input_grad[0]:
                zero = g.dtype.type(0)
                gx = np.where((g == 0) & ~np.isnan(y), zero, g * np.log1p(y))
                gx = np.where((x == 0) & (y <= -1), zero, gx)
            if ctx.needs_input_grad[1]:
                gy = g * x / (1 + y)
        return gx, gy

    @staticmethod
    def backward_graph(ctx, g):
        from .elementwise import log1p
        x, y = ctx.saved_tensors
        nx, ny = ctx.needs_input_grad
        gx = gy = None
        if nx:
            # backward's masks (0 where x == 0 and y <= -1, and where g == 0 but g log1p(y) would
            # be NaN): y taken as 0 there (finite), then masked, value and slopes, as PyTorch's
            gd = g._data
            mask = ((x == 0) & (y <= -1)) | ((gd == 0) & ((y <= -1) | (y == np.inf)))
            gx = g * _masked_of_y(log1p, ctx, y, mask, 0)
        if ny:
            gy = g * graft(ctx, 0, x) / (1 + graft(ctx, 1, y))
        return gx, gy


def _xlog(cls, input, other):
    a, b = promote(input, other, cls.__name__.lower())
    if isinstance(a, Tensor) and a._data.dtype.kind != "f":
        a = _float(a)
    if isinstance(b, Tensor) and b._data.dtype.kind != "f":
        b = _float(b)
    if not isinstance(a, Tensor):
        a = Tensor._make(np.asarray(a, b._data.dtype))
    if not isinstance(b, Tensor):
        b = Tensor._make(np.asarray(b, a._data.dtype))
    return cls.apply(a, b)


def xlog1py(input, other):
    """``torch.special.xlog1py``: x * log1p(y), 0 where x == 0 (unless y is NaN)."""
    return _xlog(XLog1pY, input, other)

