"""Implicit reparameterisation gradients for Gamma and Dirichlet (Beta) samples.

A Gamma(alpha, 1) draw cannot be written as a smooth function of alpha and parameter-free
noise, but it can be written as ``x = F^-1(u; alpha)`` with ``u`` uniform and ``F`` the CDF.
Holding ``u = F(x; alpha)`` fixed and differentiating gives

    dx/dalpha = -(dF/dalpha)(x; alpha) / pdf(x; alpha),

which needs only the drawn ``x``, never ``F^-1``. Neither ``dF/dalpha`` nor the ratio has a
closed form, so each function below evaluates it with PyTorch's approximations (series,
saddle-point expansions and fitted rational functions, each used where it is accurate), so
that ``rsample`` gradients agree with PyTorch's for the same draws.

``standard_gamma_grad(alpha, x)``  dx/dalpha for x ~ Gamma(alpha, 1).
``dirichlet_grad(x, alpha, total)`` dx/dalpha / (1 - x) for the Beta(alpha, total - alpha)
    marginal x of a Dirichlet component; the Dirichlet backward combines these.

Precision follows PyTorch's CPU kernels, whose accumulation type is float64: the gamma
gradient and parts of the Dirichlet one are computed in float64 whatever the input dtype,
while the Beta series near 0 and 1 (and the digammas feeding them) round in the input dtype.
The result has the input dtype. Every function is vectorised: each branch is evaluated on
the elements that take it.
"""
from __future__ import annotations

import numpy as np

__all__ = ["dirichlet_grad", "standard_gamma_grad"]

_ACC = np.float64

# Cephes' asymptotic digamma coefficients and psi(10), as PyTorch's ``digamma_one`` uses them.
_PSI_A = (8.33333333333333333333E-2, -2.10927960927960927961E-2, 7.57575757575757575758E-3,
          -4.16666666666666666667E-3, 3.96825396825396825397E-3, -8.33333333333333333333E-3,
          8.33333333333333333333E-2)
_PSI_10 = 2.25175258906672110764


def _log(x):
    """log in x's dtype. For float32 it is the float64 log rounded once, which agrees with the C
    library's ``logf`` (what PyTorch's scalar kernels call) far more often than NumPy's own
    float32 log does; the cancelling digamma differences below magnify such last-bit changes."""
    if x.dtype == np.float32:
        return np.log(x.astype(_ACC)).astype(np.float32)
    return np.log(x)


def _pow(x, y):
    """x ** y in the inputs' dtype, float32 rounded once from float64 (see ``_log``)."""
    if x.dtype == np.float32:
        return np.power(x.astype(_ACC), np.asarray(y).astype(_ACC)).astype(np.float32)
    return np.power(x, y)


def _digamma_one(x):
    """PyTorch's ``digamma_one``: the recurrence steps ``1 / x`` and ``log(x)`` round in x's
    dtype while the sum accumulates in float64; the result has x's dtype. The gradients below
    subtract digammas of nearby arguments, so this one, rather than a more accurate digamma,
    is what reproduces PyTorch's float32 results to the last bits."""
    s = x.dtype.type
    out = np.empty(x.shape, _ACC)
    with np.errstate(all="ignore"):
        neg = x < 0
        pole = (x == 0) | (neg & (x == np.floor(x)))
        # reflection psi(1 - x) - psi(x) = pi cot(pi x), for negative x
        extra = np.where(neg, (-s(np.pi) / np.tan(s(np.pi) * x)).astype(_ACC), _ACC(0))
        x = np.where(neg, s(1) - x, x)
        # psi(x) = psi(x + 1) - 1 / x: push x to >= 10, where the asymptotic series is accurate
        result = np.zeros(x.shape, _ACC)
        for _ in range(11):   # x > 0 here, so at most ceil(10 - x) <= 10 steps
            m = x < 10
            if not m.any():
                break
            result = result - np.where(m, (s(1) / x).astype(_ACC), _ACC(0))
            x = np.where(m, x + s(1), x)
        z = _ACC(1.0) / (x * x).astype(_ACC)
        poly = np.zeros(x.shape, _ACC)
        for c in _PSI_A:
            poly = poly * z + c
        y = np.where(x < np.float32(1e17), z * poly, _ACC(0))   # beyond it the series term is below rounding
        out = result + _log(x).astype(_ACC) - (s(0.5) / x).astype(_ACC) - y + extra
        out = np.where(x == 10, result + _PSI_10 + extra, out)   # psi(10) exactly
        out = np.where(pole, np.inf, out)
    return out.astype(s)


# --------------------------------------------------------------------------- Gamma
_F32_08 = _ACC(np.float32(0.8))   # PyTorch writes these thresholds as float literals
_F32_09 = _ACC(np.float32(0.9))
_F32_11 = _ACC(np.float32(1.1))

_GAMMA_UV = np.array([
    [0.16009398, -0.094634809, 0.025146376, -0.0030648343, 1, 0.32668115, 0.10406089, 0.0014179084],
    [0.53487893, 0.1298071, 0.065735949, -0.0015649758, 0.16639465, 0.020070113, -0.0035938915,
     -0.00058392623],
    [0.040121004, -0.0065914022, -0.0026286047, -0.0013441777, 0.017050642, -0.0021309326, 0.00085092367,
     -1.5247877e-07],
], dtype=_ACC)


def _gamma_grad_small_x(alpha, x):
    """x < 0.8: the lower incomplete gamma as its power series in x (6 terms suffice below
    0.8), differentiated in alpha term by term; F and pdf share the factor x^alpha."""
    numer = np.ones_like(x)
    denom = alpha.copy()
    series1 = numer / denom
    series2 = numer / (denom * denom)
    for i in range(1, 6):
        numer = numer * (-x / i)
        denom = denom + 1
        series1 = series1 + numer / denom
        series2 = series2 + numer / (denom * denom)
    pow_x_alpha = np.power(x, alpha)
    gamma_pdf = np.power(x, alpha - 1) * np.exp(-x)
    gamma_cdf = pow_x_alpha * series1
    gamma_cdf_alpha = (np.log(x) - _digamma_one(alpha)) * gamma_cdf - pow_x_alpha * series2
    result = -gamma_cdf_alpha / gamma_pdf
    return np.where(np.isnan(result), _ACC(0), result)   # pdf underflow: 0, as PyTorch


def _gamma_grad_large_alpha(alpha, x):
    """alpha > 8: Rice's saddle-point expansion of the CDF, accurate for large alpha; it is
    singular at x = alpha, so within 10% of alpha its Taylor expansion there is used."""
    out = np.empty_like(x)
    near = (_F32_09 * alpha <= x) & (x <= _F32_11 * alpha)
    a, xs = alpha[near], x[near]
    numer_1 = 1 + 24 * a * (1 + 12 * a)
    numer_2 = 1440 * (a * a) + 6 * xs * (53 - 120 * xs) - 65 * xs * xs / a + a * (107 + 3600 * xs)
    denom = 1244160 * (a * a) * (a * a)
    out[near] = numer_1 * numer_2 / denom
    far = ~near
    a, xs = alpha[far], x[far]
    denom = np.sqrt(8 * a)
    term2 = denom / (a - xs)
    term3 = np.power(xs - a - a * np.log(xs / a), _ACC(-1.5))
    term23 = np.where(xs < a, term2 - term3, term2 + term3)
    term1 = np.log(xs / a) * term23 - np.sqrt(2 / a) * (a + xs) / ((a - xs) * (a - xs))
    stirling = 1 + 1 / (12 * a) * (1 + 1 / (24 * a))
    numer = xs * term1
    out[far] = -stirling * numer / denom
    return out


def _gamma_grad_rational(alpha, x):
    """Otherwise (x >= 0.8, alpha <= 8): a bivariate rational function of log(x / alpha) and
    log(alpha) fitted to the exact gradient, exponentiated (the gradient is positive)."""
    u = np.log(x / alpha)
    v = np.log(alpha)
    c = _GAMMA_UV
    cv = [c[0, i] + u * (c[1, i] + u * c[2, i]) for i in range(8)]
    p = cv[0] + v * (cv[1] + v * (cv[2] + v * cv[3]))
    q = cv[4] + v * (cv[5] + v * (cv[6] + v * cv[7]))
    return np.exp(p / q)


def standard_gamma_grad(alpha, x):
    """dx/dalpha for a draw ``x`` of Gamma(``alpha``, 1) (PyTorch's ``_standard_gamma_grad``).

    ``alpha`` and ``x`` broadcast together; the result has their (common floating) dtype."""
    alpha, x = np.broadcast_arrays(np.asarray(alpha), np.asarray(x))
    dtype = np.result_type(alpha, x)
    shape = alpha.shape
    a = alpha.astype(_ACC).ravel()
    xs = x.astype(_ACC).ravel()
    out = np.empty(a.shape, _ACC)
    small = xs < _F32_08
    large = ~small & (a > 8)
    rest = ~small & ~large
    with np.errstate(all="ignore"):
        for mask, fn in ((small, _gamma_grad_small_x), (large, _gamma_grad_large_alpha),
                         (rest, _gamma_grad_rational)):
            if mask.any():
                out[mask] = fn(a[mask], xs[mask])
        # a float32 result beyond float32's range becomes inf quietly, as PyTorch's cast does
        return out.astype(dtype).reshape(shape)


# --------------------------------------------------------------------------- Beta / Dirichlet
def _beta_grad_alpha_small(x, alpha, beta):
    """x near 0: the Beta CDF's series in x, differentiated in alpha (in the input dtype)."""
    s = x.dtype.type
    factor = _digamma_one(alpha) - _digamma_one(alpha + beta) - _log(x)
    numer = np.ones_like(x)
    series = numer / alpha * (factor + s(1) / alpha)
    for i in range(1, 11):
        ci = s(i)
        numer = numer * ((ci - beta) * x / ci)
        denom = alpha + ci
        series = series + numer / denom * (factor + s(1) / denom)
    result = x * _pow(s(1) - x, -beta) * series
    return np.where(np.isnan(result), s(0), result)


def _beta_grad_beta_small(x, alpha, beta):
    """x near 0: the Beta CDF's series in x, differentiated in beta (in the input dtype); with
    the roles of x and 1 - x swapped it covers x near 1."""
    s = x.dtype.type
    factor = _digamma_one(alpha + beta) - _digamma_one(beta)
    numer = np.ones_like(x)
    betas = np.ones_like(x)
    dbetas = np.zeros_like(x)
    series = factor / alpha
    for i in range(1, 9):
        ci = s(i)
        numer = numer * (-x / ci)
        dbetas = dbetas * (beta - ci) + betas
        betas = betas * (beta - ci)
        series = series + numer / (alpha + ci) * (dbetas + factor * betas)
    result = -_pow(s(1) - x, s(1) - beta) * series
    return np.where(np.isnan(result), s(0), result)


def _beta_grad_alpha_mid(x, alpha, beta):
    """alpha and beta both large: Rice's saddle-point expansion (in float64, where it is
    stable); it is singular at the mean, so within 0.1 std of it a Taylor expansion is used."""
    total = alpha + beta
    mean = alpha / total
    std = np.sqrt(alpha * beta / (total + 1)) / total
    out = np.empty_like(x)
    near = (mean - 0.1 * std <= x) & (x <= mean + 0.1 * std)
    xs, a, b, t = x[near], alpha[near], beta[near], total[near]
    poly = 47 * xs * (b * b) * (b * b) + a * (
        (43 + 20 * (16 + 27 * b) * xs) * (b * b) * b + a * (
            3 * (59 + 180 * b - 90 * xs) * (b * b) + a * (
                (453 + 1620 * b * (1 - xs) - 455 * xs) * b + a * (
                    8 * (1 - xs) * (135 * b - 11)))))
    prefactor_num = (1 + 12 * a) * (1 + 12 * b) / (t * t)
    prefactor_den = 12960 * a * a * a * b * b * (1 + 12 * t)
    out[near] = prefactor_num / (1 - xs) * poly / prefactor_den
    far = ~near
    xs, a, b, t, m = x[far], alpha[far], beta[far], total[far], mean[far]
    prefactor = -xs / np.sqrt(2 * a * b / t)
    stirling = ((1 + 1 / (12 * a) + 1 / (288 * a * a)) * (1 + 1 / (12 * b) + 1 / (288 * b * b))
                / (1 + 1 / (12 * t) + 1 / (288 * t * t)))
    term1_num = 2 * (a * a) * (xs - 1) + a * b * (xs - 1) - xs * (b * b)
    axbx = a * (xs - 1) + b * xs
    term1_den = np.sqrt(2 * a / b) * np.power(t, _ACC(1.5)) * axbx * axbx
    term1 = term1_num / term1_den
    term2 = 0.5 * np.log(a / (t * xs))
    term3 = np.sqrt(8 * a * b / t) / (b * xs + a * (xs - 1))
    term4 = np.power(b * np.log(b / (t * (1 - xs))) + a * np.log(a / (t * xs)), _ACC(-1.5))
    out[far] = stirling * prefactor * (term1 + term2 * (term3 + np.where(xs < m, term4, -term4)))
    return out


_DIRICHLET_C = np.array([
    [[[1.003668233, -0.01061107488, -0.0657888334, 0.01201642863],
      [0.6336835991, -0.3557432599, 0.05486251648, -0.001465281033],
      [-0.03276231906, 0.004474107445, 0.002429354597, -0.0001557569013]],
     [[0.221950385, -0.3187676331, 0.01799915743, 0.01074823814],
      [-0.2951249643, 0.06219954479, 0.01535556598, 0.001550077057],
      [0.02155310298, 0.004170831599, 0.001292462449, 6.976601077e-05]],
     [[-0.05980841433, 0.008441916499, 0.01085618172, 0.002319392565],
      [0.02911413504, 0.01400243777, -0.002721828457, 0.000751041181],
      [0.005900514878, -0.001936558688, -9.495446725e-06, 5.385558597e-05]]],
    [[[1, -0.02924021934, -0.04438342661, 0.007285809825],
      [0.6357567472, -0.3473456711, 0.05454656494, -0.002407477521],
      [-0.03301322327, 0.004845219414, 0.00231480583, -0.0002307248149]],
     [[0.5925320577, -0.1757678135, 0.01505928619, 0.000564515273],
      [0.1014815858, -0.06589186703, 0.01272886114, -0.0007316646956],
      [-0.007258481865, 0.001096195486, 0.0003934994223, -4.12701925e-05]],
     [[0.06469649321, -0.0236701437, 0.002902096474, -5.896963079e-05],
      [0.001925008108, -0.002869809258, 0.0008000589141, -6.063713228e-05],
      [-0.0003477407336, 6.959756487e-05, 1.097287507e-05, -1.650964693e-06]]],
], dtype=_ACC)


def _dirichlet_grad_rational(x, alpha, total, x_, alpha_, total_, beta_):
    """Elsewhere: the analytic approximation x (psi(total) - psi(alpha)) / beta, corrected by
    a rational function of log x, log(alpha / x) and log(total x / alpha) fitted to the exact
    gradient (in float64; the digamma difference rounds in the input dtype, as PyTorch's)."""
    u = np.log(x_)
    a = np.log(alpha_) - u
    b = np.log(total_) - a
    pow_u = (np.ones_like(u), u, u * u)
    pow_a = (np.ones_like(a), a, a * a)
    c = _DIRICHLET_C
    p = np.zeros_like(u)
    q = np.zeros_like(u)
    for i in range(3):
        for j in range(3):
            ua = pow_u[i] * pow_a[j]
            p = p + ua * (c[0, i, j, 0] + b * (c[0, i, j, 1] + b * (c[0, i, j, 2] + b * c[0, i, j, 3])))
            q = q + ua * (c[1, i, j, 0] + b * (c[1, i, j, 1] + b * (c[1, i, j, 2] + b * c[1, i, j, 3])))
    approx = x_ * (_digamma_one(total) - _digamma_one(alpha)).astype(_ACC) / beta_
    return p / q * approx


def dirichlet_grad(x, alpha, total):
    """PyTorch's ``_dirichlet_grad``: for the Beta(``alpha``, ``total - alpha``) marginal ``x``
    of a Dirichlet component, -(dF/dalpha) / pdf / (1 - x) with the other concentrations'
    sum held fixed. The three arrays broadcast together; the result has their dtype."""
    x, alpha, total = np.broadcast_arrays(np.asarray(x), np.asarray(alpha), np.asarray(total))
    dtype = np.result_type(x, alpha, total)
    shape = x.shape
    x, alpha, total = (v.astype(dtype).ravel() for v in (x, alpha, total))
    s = dtype.type
    x_, alpha_, total_ = x.astype(_ACC), alpha.astype(_ACC), total.astype(_ACC)
    out = np.empty(x.shape, dtype)
    with np.errstate(all="ignore"):   # inf parameters give NaN here quietly, as in PyTorch
        beta = total - alpha
        beta_ = total_ - alpha_
        boundary = total * x * (s(1) - x)
        # the series near 0 and 1 converge where total * x * (1 - x) is small; the saddle point
        # needs both concentrations large; the fitted rational function covers the rest
        small = (x <= s(0.5)) & (boundary < s(2.5))
        large = ~small & (x >= s(0.5)) & (boundary < s(0.75))
        mid = ~small & ~large & (alpha > 6) & (beta > 6)
        rest = ~small & ~large & ~mid
        if small.any():
            out[small] = _beta_grad_alpha_small(x[small], alpha[small], beta[small])
        if large.any():
            m = large
            out[m] = -_beta_grad_beta_small(s(1) - x[m], beta[m], alpha[m])
        if mid.any():
            out[mid] = _beta_grad_alpha_mid(x_[mid], alpha_[mid], beta_[mid]).astype(dtype)
        if rest.any():
            m = rest
            out[m] = _dirichlet_grad_rational(x[m], alpha[m], total[m], x_[m], alpha_[m], total_[m],
                                              beta_[m]).astype(dtype)
    return out.reshape(shape)
