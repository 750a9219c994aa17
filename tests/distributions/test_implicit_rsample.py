"""Implicit reparameterisation: ``rsample`` of Gamma, Chi2, Beta, Dirichlet and StudentT, and the
two gradient kernels behind it, against PyTorch.

Kernels (``standard_gamma_grad`` vs ``torch._standard_gamma_grad``, ``dirichlet_grad`` vs
``torch._dirichlet_grad``), on grids that reach every branch:

* with NumPy's transcendental functions replaced by the C library's (what PyTorch's CPU kernels
  call), the results are bitwise equal in float64 and float32: the algorithm, its branch
  thresholds and its float32/float64 mix are PyTorch's;
* with NumPy's own (vectorised) log/exp/pow, which differ from the C library's by at most an
  ulp, float64 agrees to rtol 1e-12 for the gamma kernel and 1e-10 for the Dirichlet kernel
  (its saddle-point branch cancels a few digits); float32 gamma agrees to rtol 1e-6 (it is
  computed in float64 and rounded once). The float32 Dirichlet kernel rounds its Beta series and
  digamma differences in float32, as PyTorch's does; where those cancel (beta = total - alpha
  much smaller than alpha) a one-ulp log difference moves the result by up to ~1e-3 relative.
  There flambeau is required to stay within PyTorch's own float32 error (its distance from the
  float64 result) plus rtol 1e-5, and at least 99% of values must be bitwise equal.

rsample gradients: the draws flambeau made are fed into torch.distributions' own rsample code
(its standard-gamma draw, Dirichlet sample and normal noise replaced by flambeau's), so both
libraries differentiate the same values; float64 values and gradients at rtol 1e-10.

Monte Carlo: d/dalpha E[x] from 200000 draws (50000 for the Dirichlet), within 5 standard
errors estimated from the per-draw gradients (0.1% to 0.3% of the value here): the fitted
approximations' bias is well below that.

Learning: Adam on rsample gradients recovers a target Gamma (ELBO) within 5% in each
parameter and KL < 1e-3, and a target Beta's mean within 0.02, variance within 10% and
parameters within 10%.
"""
import ctypes
import ctypes.util
import math
import types

import numpy as np
import pytest
import torch
import torch.distributions as TD
from distribution_data import R
from helpers import assert_close

import flambeau
import flambeau.distributions as D
from flambeau.distributions import _implicit_grad as ig
from flambeau.distributions.gamma import _standard_gamma_array
from flambeau.random import rng

F32, F64 = np.float32, np.float64
THRESH_08 = F64(F32(0.8))


# ---------------------------------------------------------------------------- grids
def _gamma_grid(dtype, n_draws=40):
    """alpha log-spaced over [1e-3, 1e3]; x both drawn from Gamma(alpha) and on a fixed grid
    (tiny x, the series/rational boundary at 0.8, and around alpha for the saddle point)."""
    alpha = np.logspace(-3, 3, 61)
    draws = np.maximum(R.standard_gamma(np.repeat(alpha, n_draws)), 1e-300)
    a_draw = np.repeat(alpha, n_draws)
    xg = np.concatenate([np.logspace(-12, 3.5, 40), [0.79, 0.8, 0.81]])
    a_grid, x_grid = (v.ravel() for v in np.meshgrid(alpha, xg))
    rel = np.array([0.5, 0.85, 0.899, 0.9, 0.95, 1.0, 1.05, 1.1, 1.101, 1.2, 2.0])
    big = alpha[alpha > 8]
    a_near, r_near = (v.ravel() for v in np.meshgrid(big, rel))
    a = np.concatenate([a_draw, a_grid, a_near])
    x = np.concatenate([draws, x_grid, a_near * r_near])
    a, x = a.astype(dtype), x.astype(dtype)
    return a, np.maximum(x, np.finfo(dtype).tiny)


def _gamma_branches(a, x):
    a, x = a.astype(F64), x.astype(F64)
    small = x < THRESH_08
    large = ~small & (a > 8)
    near = large & (F64(F32(0.9)) * a <= x) & (x <= F64(F32(1.1)) * a)
    return {"series": small, "rice": large & ~near, "rice_near": near, "rational": ~small & ~large}


def _dirichlet_grid(dtype, n=6000):
    """Beta(alpha, beta) draws with alpha, beta log-uniform on [1e-2, 1e3], plus fixed x near 0
    and near 1 and concentrations on both sides of 6."""
    a = np.exp(R.uniform(np.log(1e-2), np.log(1e3), n))
    b = np.exp(R.uniform(np.log(1e-2), np.log(1e3), n))
    x = R.beta(a, b)
    conc = np.array([0.05, 0.5, 2.0, 5.9, 6.5, 20.0, 300.0])
    xs = np.array([1e-30, 1e-8, 1e-3, 0.02, 0.3, 0.5, 0.7, 0.98, 1 - 1e-6])
    ga, gb, gx = (v.ravel() for v in np.meshgrid(conc, conc, xs))
    a, b, x = (np.concatenate(p) for p in ((a, ga), (b, gb), (x, gx)))
    a, b = a.astype(dtype), b.astype(dtype)
    x = np.clip(x, np.finfo(dtype).tiny, np.nextafter(dtype(1), dtype(0))).astype(dtype)
    return x, a, (a + b).astype(dtype)


def _dirichlet_branches(x, alpha, total):
    s = x.dtype.type
    beta = total - alpha
    boundary = total * x * (s(1) - x)
    small = (x <= 0.5) & (boundary < 2.5)
    large = ~small & (x >= 0.5) & (boundary < 0.75)
    mid = ~small & ~large & (alpha > 6) & (beta > 6)
    return {"near0": small, "near1": large, "saddle": mid, "rational": ~small & ~large & ~mid}


def _torch_gamma_grad(a, x):
    return torch._standard_gamma_grad(torch.from_numpy(a), torch.from_numpy(x)).numpy()


def _torch_dirichlet_grad(x, a, t):
    return torch._dirichlet_grad(torch.from_numpy(x), torch.from_numpy(a), torch.from_numpy(t)).numpy()


# ---------------------------------------------------------------------------- C library functions
def _libm():
    name = ctypes.util.find_library("m")
    if name is None:
        pytest.skip("no C math library to load")
    lib = ctypes.CDLL(name)
    for fn, n, t in (("log", 1, ctypes.c_double), ("exp", 1, ctypes.c_double), ("pow", 2, ctypes.c_double),
                     ("logf", 1, ctypes.c_float), ("powf", 2, ctypes.c_float)):
        f = getattr(lib, fn)
        f.restype, f.argtypes = t, [t] * n
    return lib


@pytest.fixture
def libm_kernels(monkeypatch):
    """Point the kernels' log, exp and pow at the C library's, element by element."""
    lib = _libm()

    def elementwise(f, dtype, *args):
        args = np.broadcast_arrays(*(np.asarray(v) for v in args))
        return np.array([f(*map(float, vs)) for vs in zip(*(v.ravel() for v in args))],
                        dtype).reshape(args[0].shape)

    def unary(double_fn, np_fn):
        def fn(x, *a, **k):
            x = np.asarray(x)
            return elementwise(double_fn, F64, x) if x.dtype == F64 and not a and not k else np_fn(x, *a, **k)
        return fn

    def power(x, y):
        x, y = np.asarray(x), np.asarray(y)
        return elementwise(lib.pow, F64, x, y) if np.result_type(x, y) == F64 else np.power(x, y)

    shim = types.SimpleNamespace(**{k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    shim.log, shim.exp, shim.power = unary(lib.log, np.log), unary(lib.exp, np.exp), power
    monkeypatch.setattr(ig, "np", shim)
    monkeypatch.setattr(ig, "_log", lambda x: elementwise(lib.logf, F32, x) if x.dtype == F32 else shim.log(x))
    monkeypatch.setattr(ig, "_pow", lambda x, y: elementwise(lib.powf, F32, x, y) if x.dtype == F32
                        else shim.power(x, y))


# ---------------------------------------------------------------------------- 1. standard_gamma_grad
@pytest.mark.parametrize("dtype", [F64, F32])
def test_standard_gamma_grad_bitwise_with_libm(dtype, libm_kernels):
    a, x = _gamma_grid(dtype, n_draws=8)
    ours, theirs = ig.standard_gamma_grad(a, x), _torch_gamma_grad(a, x)
    assert ours.dtype == dtype
    for name, m in _gamma_branches(a, x).items():
        assert m.sum() >= 20, name
        np.testing.assert_array_equal(ours[m], theirs[m], err_msg=name)


@pytest.mark.parametrize("dtype,rtol", [(F64, 1e-12), (F32, 1e-6)])
def test_standard_gamma_grad_vs_torch(dtype, rtol):
    a, x = _gamma_grid(dtype)
    ours, theirs = ig.standard_gamma_grad(a, x), _torch_gamma_grad(a, x)
    assert ours.dtype == dtype and ours.shape == a.shape
    assert np.array_equal(np.isfinite(ours), np.isfinite(theirs))
    for name, m in _gamma_branches(a, x).items():
        assert m.sum() >= 100, name
        np.testing.assert_allclose(ours[m], theirs[m], rtol=rtol, atol=0, err_msg=name)


def test_standard_gamma_grad_broadcasts_and_edges():
    a = np.array([[0.5], [3.0], [20.0]])
    x = np.array([0.1, 1.0, 25.0])
    out = ig.standard_gamma_grad(a, x)
    assert out.shape == (3, 3)
    ab, xb = np.broadcast_arrays(a, x)
    np.testing.assert_allclose(out, _torch_gamma_grad(ab.copy(), xb.copy()), rtol=1e-12)
    # x so small that the pdf underflows: 0, as PyTorch
    tiny = np.array([np.finfo(F64).tiny])
    assert ig.standard_gamma_grad(np.array([5.0]), tiny)[0] == _torch_gamma_grad(np.array([5.0]), tiny)[0]
    assert ig.standard_gamma_grad(np.float64(2.0), np.float64(1.5)).shape == ()


# ---------------------------------------------------------------------------- 2. dirichlet_grad
@pytest.mark.parametrize("dtype", [F64, F32])
def test_dirichlet_grad_bitwise_with_libm(dtype, libm_kernels):
    x, a, t = _dirichlet_grid(dtype, n=1500)
    ours, theirs = ig.dirichlet_grad(x, a, t), _torch_dirichlet_grad(x, a, t)
    assert ours.dtype == dtype
    for name, m in _dirichlet_branches(x, a, t).items():
        assert m.sum() >= 20, name
        np.testing.assert_array_equal(ours[m], theirs[m], err_msg=name)


def test_dirichlet_grad_vs_torch_float64():
    x, a, t = _dirichlet_grid(F64)
    ours, theirs = ig.dirichlet_grad(x, a, t), _torch_dirichlet_grad(x, a, t)
    assert ours.dtype == F64
    assert np.array_equal(np.isfinite(ours), np.isfinite(theirs))
    for name, m in _dirichlet_branches(x, a, t).items():
        assert m.sum() >= 100, name
        np.testing.assert_allclose(ours[m], theirs[m], rtol=1e-10, atol=0, err_msg=name)


def test_dirichlet_grad_vs_torch_float32():
    x, a, t = _dirichlet_grid(F32)
    ours, theirs = ig.dirichlet_grad(x, a, t), _torch_dirichlet_grad(x, a, t)
    exact64 = _torch_dirichlet_grad(x.astype(F64), a.astype(F64), t.astype(F64))
    assert ours.dtype == F32
    fin = np.isfinite(theirs)
    assert np.array_equal(np.isfinite(ours), fin)
    o, th, e = ours[fin].astype(F64), theirs[fin].astype(F64), exact64[fin]
    # PyTorch's own float32 rounding error bounds how far two faithful float32 evaluations may be
    np.testing.assert_array_less(np.abs(o - th), 2 * np.abs(th - e) + 1e-5 * np.abs(th) + 1e-30)
    assert np.mean(ours[fin] == theirs[fin]) > 0.99
    for name, m in _dirichlet_branches(x, a, t).items():
        assert m.sum() >= 100, name


def test_dirichlet_grad_broadcasts():
    x = np.array([[0.1, 0.6, 0.3]])
    a = np.array([[1.0, 2.0, 3.0], [0.5, 7.0, 8.0]])
    t = a.sum(-1, keepdims=True)
    out = ig.dirichlet_grad(x, a, t)
    xb, ab, tb = (v.copy() for v in np.broadcast_arrays(x, a, t))
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out, _torch_dirichlet_grad(xb, ab, tb), rtol=1e-12)


# ---------------------------------------------------------------------------- 3. rsample gradients
class _GivenStandardGamma(torch.autograd.Function):
    """torch._standard_gamma with a given draw: forward returns it, backward is PyTorch's
    derivative of _standard_gamma (grad * _standard_gamma_grad(alpha, x))."""

    @staticmethod
    def forward(ctx, alpha, x):
        ctx.save_for_backward(alpha, x)
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        alpha, x = ctx.saved_tensors
        return g * torch._standard_gamma_grad(alpha, x), None


def _flambeau_draws(seed, fn):
    """Re-run flambeau's generator from ``seed`` through ``fn``: the arrays rsample drew."""
    flambeau.manual_seed(seed)
    return fn()


@pytest.fixture
def feed_torch(monkeypatch):
    """Replace torch.distributions' sources of randomness by given arrays (consumed in order)."""
    gammas, dirichlets, normals = [], [], []

    def std_gamma(concentration):
        x = torch.from_numpy(np.asarray(gammas.pop(0))).to(concentration.dtype)
        assert x.shape == concentration.shape
        return _GivenStandardGamma.apply(concentration, x)

    def sample_dirichlet(concentration):
        x = torch.from_numpy(np.asarray(dirichlets.pop(0))).to(concentration.dtype)
        assert x.shape == concentration.shape
        return x

    def std_normal(shape, dtype, device):
        x = torch.from_numpy(np.asarray(normals.pop(0))).to(dtype)
        assert tuple(x.shape) == tuple(shape)
        return x

    monkeypatch.setattr(TD.gamma, "_standard_gamma", std_gamma)
    monkeypatch.setattr(torch, "_sample_dirichlet", sample_dirichlet)
    monkeypatch.setattr(TD.studentT, "_standard_normal", std_normal)
    yield types.SimpleNamespace(gammas=gammas, dirichlets=dirichlets, normals=normals)
    assert not gammas and not dirichlets and not normals


def _params(*arrays, dtype=F64):
    fl = [flambeau.from_numpy(np.array(a, dtype=dtype)).requires_grad_() for a in arrays]
    th = [torch.from_numpy(np.array(a, dtype=dtype)).requires_grad_() for a in arrays]
    return fl, th


def _backprop_same(fl_out, th_out, fl_params, th_params, rtol=1e-10, atol=1e-12):
    """Values equal; gradients of the same random weighting of the outputs equal."""
    assert_close(fl_out, th_out, rtol=rtol, atol=atol, what="rsample value")
    w = R.standard_normal(tuple(th_out.shape)).astype(th_out.detach().numpy().dtype)
    (th_out * torch.from_numpy(w)).sum().backward()
    (fl_out * flambeau.from_numpy(w)).sum().backward()
    for i, (f, t) in enumerate(zip(fl_params, th_params)):
        assert f.grad is not None, f"no gradient for parameter {i}"
        assert_close(f.grad, t.grad, rtol=rtol, atol=atol, what=f"gradient of parameter {i}")


GAMMA_CASES = [  # concentration, rate, sample_shape
    (R.uniform(0.05, 30.0, (3, 4)), R.uniform(0.5, 3.0, (3, 4)), ()),
    (R.uniform(0.05, 30.0, (4,)), R.uniform(0.5, 3.0, (3, 1)), (5,)),   # parameters broadcast
    (np.array(2.5), np.array(0.7), (2, 3)),                               # 0-d parameters
]


@pytest.mark.parametrize("case", range(len(GAMMA_CASES)))
def test_gamma_rsample_grad_vs_torch(case, feed_torch):
    conc, rate, sample_shape = GAMMA_CASES[case]
    (fc, fr), (tc, tr) = _params(conc, rate)
    seed = 11 + case
    flambeau.manual_seed(seed)
    fl_x = D.Gamma(fc, fr).rsample(sample_shape)
    shape = tuple(fl_x.shape)
    feed_torch.gammas.append(_flambeau_draws(seed, lambda: _standard_gamma_array(
        np.broadcast_to(np.broadcast_arrays(conc, rate)[0], shape))))
    th_x = TD.Gamma(tc, tr).rsample(sample_shape)
    _backprop_same(fl_x, th_x, [fc, fr], [tc, tr])


def test_gamma_rsample_grad_float32(feed_torch):
    conc, rate = R.uniform(0.05, 30.0, (50,)), R.uniform(0.5, 3.0, (50,))
    (fc, fr), (tc, tr) = _params(conc, rate, dtype=F32)
    flambeau.manual_seed(3)
    fl_x = D.Gamma(fc, fr).rsample((4,))
    feed_torch.gammas.append(_flambeau_draws(3, lambda: _standard_gamma_array(
        np.broadcast_to(conc.astype(F32), (4, 50)))))
    th_x = TD.Gamma(tc, tr).rsample((4,))
    assert fl_x.dtype == flambeau.float32
    _backprop_same(fl_x, th_x, [fc, fr], [tc, tr], rtol=1e-5, atol=1e-6)
    assert fc.grad.dtype == flambeau.float32 and fr.grad.dtype == flambeau.float32


@pytest.mark.parametrize("df,sample_shape", [(R.uniform(0.3, 20.0, (2, 3)), (4,)), (np.array(3.5), ())])
def test_chi2_rsample_grad_vs_torch(df, sample_shape, feed_torch):
    (fd,), (td,) = _params(df)
    flambeau.manual_seed(5)
    fl_x = D.Chi2(fd).rsample(sample_shape)
    feed_torch.gammas.append(_flambeau_draws(5, lambda: _standard_gamma_array(
        np.broadcast_to(0.5 * df, tuple(fl_x.shape)))))
    th_x = TD.Chi2(td).rsample(sample_shape)
    _backprop_same(fl_x, th_x, [fd], [td])


@pytest.mark.parametrize("shape,sample_shape", [((2, 4), ()), ((3,), (5,)), ((2, 1, 6), (2,))])
def test_dirichlet_rsample_grad_vs_torch(shape, sample_shape, feed_torch):
    conc = np.exp(R.uniform(np.log(0.05), np.log(50.0), shape))
    (fc,), (tc,) = _params(conc)
    flambeau.manual_seed(7)
    fl_x = D.Dirichlet(fc).rsample(sample_shape)
    feed_torch.dirichlets.append(fl_x.detach().numpy().copy())
    th_x = TD.Dirichlet(tc).rsample(sample_shape)
    # a weighting of every component: the simplex constraint couples them in the backward
    _backprop_same(fl_x, th_x, [fc], [tc])


def test_dirichlet_rsample_grad_float32(feed_torch):
    conc = np.exp(R.uniform(np.log(0.05), np.log(50.0), (40, 3)))
    (fc,), (tc,) = _params(conc, dtype=F32)
    flambeau.manual_seed(8)
    fl_x = D.Dirichlet(fc).rsample()
    feed_torch.dirichlets.append(fl_x.detach().numpy().copy())
    th_x = TD.Dirichlet(tc).rsample()
    assert fl_x.dtype == flambeau.float32
    # float32 kernel: see the module docstring; these concentrations stay clear of cancellation
    _backprop_same(fl_x, th_x, [fc], [tc], rtol=1e-4, atol=1e-6)
    assert fc.grad.dtype == flambeau.float32


@pytest.mark.parametrize("shape,sample_shape", [((3,), (4,)), ((2, 3), ()), ((), (6,))])
def test_beta_rsample_grad_vs_torch(shape, sample_shape, feed_torch):
    c1, c0 = (np.exp(R.uniform(np.log(0.1), np.log(40.0), shape)) for _ in range(2))
    (f1, f0), (t1, t0) = _params(c1, c0)
    flambeau.manual_seed(9)
    fd = D.Beta(f1, f0)
    fl_x = fd.rsample(sample_shape)
    feed_torch.dirichlets.append(_flambeau_draws(9, lambda: fd._dirichlet.sample(sample_shape).numpy()))
    th_x = TD.Beta(t1, t0).rsample(sample_shape)
    _backprop_same(fl_x, th_x, [f1, f0], [t1, t0])


def test_beta_rsample_broadcast_parameters(feed_torch):
    c1, c0 = R.uniform(0.5, 5.0, (3, 1)), R.uniform(0.5, 5.0, (4,))
    (f1, f0), (t1, t0) = _params(c1, c0)
    flambeau.manual_seed(10)
    fd = D.Beta(f1, f0)
    fl_x = fd.rsample((2,))
    assert tuple(fl_x.shape) == (2, 3, 4)
    feed_torch.dirichlets.append(_flambeau_draws(10, lambda: fd._dirichlet.sample((2,)).numpy()))
    _backprop_same(fl_x, TD.Beta(t1, t0).rsample((2,)), [f1, f0], [t1, t0])


@pytest.mark.parametrize("shapes,sample_shape", [(((3,), (3,), (3,)), (5,)), (((2, 1), (4,), ()), ()),
                                                 (((), (), ()), (3,))])
def test_studentt_rsample_grad_vs_torch(shapes, sample_shape, feed_torch):
    df = R.uniform(0.5, 15.0, shapes[0])
    loc, scale = R.standard_normal(shapes[1]), R.uniform(0.5, 2.0, shapes[2])
    (fdf, fl, fs), (tdf, tl, ts) = _params(df, loc, scale)
    flambeau.manual_seed(12)
    fl_x = D.StudentT(fdf, fl, fs).rsample(sample_shape)
    shape = tuple(fl_x.shape)

    def draws():   # normal draws first, then the chi-squared ones
        z = rng().standard_normal(shape)
        half_df = np.broadcast_to(0.5 * np.broadcast_arrays(df, loc, scale)[0], shape)
        return z, _standard_gamma_array(half_df)
    normal, gamma = _flambeau_draws(12, draws)
    feed_torch.normals.append(normal)
    feed_torch.gammas.append(gamma)
    th_x = TD.StudentT(tdf, tl, ts).rsample(sample_shape)
    _backprop_same(fl_x, th_x, [fdf, fl, fs], [tdf, tl, ts])


# ---------------------------------------------------------------------------- 4. Monte Carlo
N_MC = 200_000


def _mc_ok(per_draw, truth, what):
    est = per_draw.mean()
    se = per_draw.std(ddof=1) / math.sqrt(per_draw.size)
    assert abs(est - truth) < 5 * se, f"{what}: {est} vs {truth} (se {se})"


@pytest.mark.parametrize("alpha,rate", [(0.3, 1.0), (2.0, 0.5), (5.0, 3.0), (40.0, 2.0)])
def test_gamma_implicit_gradient_of_mean(alpha, rate):
    # E[x] = alpha / rate: d/dalpha = 1 / rate, d/drate = -alpha / rate^2
    conc = flambeau.full((N_MC,), alpha, dtype=flambeau.float64).requires_grad_()
    r = flambeau.full((N_MC,), rate, dtype=flambeau.float64).requires_grad_()
    flambeau.manual_seed(21)
    D.Gamma(conc, r).rsample().sum().backward()
    _mc_ok(conc.grad.numpy(), 1.0 / rate, "dE/dalpha")
    _mc_ok(r.grad.numpy(), -alpha / rate ** 2, "dE/drate")


@pytest.mark.parametrize("a,b", [(0.4, 0.7), (2.0, 3.0), (10.0, 15.0), (0.8, 12.0)])
def test_beta_implicit_gradient_of_mean(a, b):
    # E[x] = a / (a + b): d/da = b / (a + b)^2, d/db = -a / (a + b)^2
    c1 = flambeau.full((N_MC,), a, dtype=flambeau.float64).requires_grad_()
    c0 = flambeau.full((N_MC,), b, dtype=flambeau.float64).requires_grad_()
    flambeau.manual_seed(22)
    D.Beta(c1, c0).rsample().sum().backward()
    _mc_ok(c1.grad.numpy(), b / (a + b) ** 2, "dE/dalpha")
    _mc_ok(c0.grad.numpy(), -a / (a + b) ** 2, "dE/dbeta")


def test_dirichlet_implicit_gradient_of_mean():
    # E[x_j] = alpha_j / total: d/dalpha_i = (delta_ij total - alpha_j) / total^2
    alpha = np.array([0.7, 2.0, 5.0])
    total = alpha.sum()
    conc = flambeau.from_numpy(np.tile(alpha, (N_MC // 4, 1))).requires_grad_()
    flambeau.manual_seed(23)
    x = D.Dirichlet(conc).rsample()
    x[:, 1].sum().backward()
    for i in range(3):
        _mc_ok(conc.grad.numpy()[:, i], ((i == 1) * total - alpha[1]) / total ** 2, f"dE[x_1]/dalpha_{i}")


# ---------------------------------------------------------------------------- 5. learning
def test_gamma_fit_by_elbo():
    # q = Gamma(exp(u), exp(v)) fitted to p = Gamma(3, 2) by maximising E_q[log p - log q]
    # (= -KL(q || p)) with rsample gradients: the optimum is q = p
    flambeau.manual_seed(0)
    u = flambeau.tensor(0.0, dtype=flambeau.float64, requires_grad=True)
    v = flambeau.tensor(0.0, dtype=flambeau.float64, requires_grad=True)
    target = D.Gamma(flambeau.tensor(3.0, dtype=flambeau.float64), flambeau.tensor(2.0, dtype=flambeau.float64))
    opt = flambeau.optim.Adam([u, v], lr=0.05)
    for _ in range(400):
        q = D.Gamma(u.exp(), v.exp())
        x = q.rsample((256,))
        loss = (q.log_prob(x) - target.log_prob(x)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert abs(u.exp().item() - 3.0) < 0.15 and abs(v.exp().item() - 2.0) < 0.1, (u.exp().item(), v.exp().item())
    kl = D.kl_divergence(D.Gamma(u.exp(), v.exp()), target).item()
    assert kl < 1e-3, kl


def test_beta_fit_moments():
    # match a target mean and variance of Beta(2, 5) from rsample moments alone
    flambeau.manual_seed(1)
    p = flambeau.zeros(2, dtype=flambeau.float64, requires_grad=True)
    m_t, v_t = 2 / 7, 2 * 5 / (7 ** 2 * 8)
    opt = flambeau.optim.Adam([p], lr=0.05)
    for _ in range(300):
        x = D.Beta(p[0].exp(), p[1].exp()).rsample((512,))
        loss = (x.mean() - m_t) ** 2 + 10 * (x.var() - v_t) ** 2 / v_t
        opt.zero_grad()
        loss.backward()
        opt.step()
    a, b = p.exp().detach().numpy()
    assert abs(a / (a + b) - m_t) < 0.02 and abs(a * b / ((a + b) ** 2 * (a + b + 1)) - v_t) < 0.1 * v_t, (a, b)
    assert abs(a - 2) < 0.2 and abs(b - 5) < 0.5, (a, b)


# ---------------------------------------------------------------------------- 6. behaviour
def _makers(dtype, leaves=None):
    def t(a):
        p = flambeau.tensor(a, dtype=dtype, requires_grad=True)
        if leaves is not None:
            leaves.append(p)
        return p
    return {
        "Gamma": lambda: D.Gamma(t([0.5, 4.0]), t([1.0, 2.0])),
        "Chi2": lambda: D.Chi2(t([0.5, 4.0])),
        "Beta": lambda: D.Beta(t([0.5, 4.0]), t([2.0, 0.3])),
        "Dirichlet": lambda: D.Dirichlet(t([[0.5, 4.0, 1.0], [2.0, 0.3, 9.0]])),
        "StudentT": lambda: D.StudentT(t([0.5, 4.0]), t([0.0, 1.0]), t([1.0, 2.0])),
    }


@pytest.mark.parametrize("name", list(_makers(flambeau.float64)))
def test_rsample_equals_sample_and_consumes_rng_alike(name):
    d = _makers(flambeau.float64)[name]()
    assert d.has_rsample is True
    flambeau.manual_seed(31)
    a = d.sample((3,))
    after_sample = flambeau.rand(2).numpy()
    flambeau.manual_seed(31)
    b = d.rsample((3,))
    after_rsample = flambeau.rand(2).numpy()
    assert b.requires_grad and not a.requires_grad
    np.testing.assert_array_equal(a.numpy(), b.detach().numpy())
    np.testing.assert_array_equal(after_sample, after_rsample)


@pytest.mark.parametrize("name,make", [
    ("Gamma", lambda t: D.Gamma(t(2.0), t(3.0))), ("Chi2", lambda t: D.Chi2(t(3.0))),
    ("Beta", lambda t: D.Beta(t(0.5), t(2.0))), ("StudentT", lambda t: D.StudentT(t(4.0), t(1.0), t(2.0))),
])
def test_rsample_equals_sample_zero_dim(name, make):
    d = make(lambda v: flambeau.tensor(v, requires_grad=True))
    flambeau.manual_seed(32)
    a = d.sample()
    flambeau.manual_seed(32)
    b = d.rsample()
    assert a.shape == b.shape == ()
    assert a.item() == b.item()


@pytest.mark.parametrize("name", list(_makers(flambeau.float32)))
def test_float32_stays_float32(name):
    leaves = []
    d = _makers(flambeau.float32, leaves)[name]()
    x = d.rsample((4,))
    assert x.dtype == flambeau.float32
    (x * x).sum().backward()
    assert leaves
    for p in leaves:
        assert p.grad is not None and p.grad.dtype == flambeau.float32
        assert np.isfinite(p.grad.numpy()).all()


def test_zero_dim_parameters():
    c, r = flambeau.tensor(2.0, requires_grad=True), flambeau.tensor(3.0, requires_grad=True)
    x = D.Gamma(c, r).rsample()
    assert x.shape == () and x.requires_grad
    x.backward()
    assert c.grad.shape == () and r.grad.shape == ()
    df = flambeau.tensor(3.0, requires_grad=True)
    y = D.StudentT(df).rsample()
    y.backward()
    assert y.shape == () and df.grad.shape == ()
    z = D.Chi2(df).rsample()
    assert z.shape == ()
    b1 = flambeau.tensor(2.0, requires_grad=True)
    w = D.Beta(b1, 1.5).rsample()
    w.backward()
    assert w.shape == () and b1.grad.shape == ()
    assert D.Beta(2.0, 3.0).rsample((2,)).shape == (2,)


def test_rsample_underflow_clamped_and_gradient_finite():
    # concentrations this small draw values that underflow: clamped to the smallest normal
    c = flambeau.full((200,), 1e-3, dtype=flambeau.float32, requires_grad=True)
    flambeau.manual_seed(4)
    x = D.Gamma(c, 1.0).rsample()
    assert (x.detach().numpy() >= np.finfo(F32).tiny).all()
    x.sum().backward()
    assert np.isfinite(c.grad.numpy()).all()
    a = flambeau.tensor([[1e-3, 1e-3, 5.0]], requires_grad=True)
    y = D.Dirichlet(a).rsample((50,))
    v = y.detach().numpy()
    assert (v > 0).all() and (v < 1).all()
    y[..., 0].sum().backward()
    assert np.isfinite(a.grad.numpy()).all()


@pytest.mark.parametrize("make,op", [
    (lambda p: D.Gamma(p, 2.0), "StandardGammaBackward0"),
    (lambda p: D.Dirichlet(p.unsqueeze(0).expand(2, 2)), "_DirichletBackward"),
    (lambda p: D.Beta(p[0], p[1]), "_DirichletBackward"),
])
def test_second_derivative_raises(make, op):
    p = flambeau.tensor([1.5, 2.5], dtype=flambeau.float64, requires_grad=True)
    flambeau.manual_seed(6)
    x = make(p).rsample()
    (g,) = flambeau.autograd.grad(x.sum(), p, create_graph=True)
    with pytest.raises(RuntimeError, match=op):
        g.sum().backward()


def test_gradient_without_rate_grad():
    # only the concentration requires grad; rate is a plain number
    c = flambeau.tensor([1.0, 9.0], dtype=flambeau.float64, requires_grad=True)
    flambeau.manual_seed(2)
    x = D.Gamma(c, 2.0).rsample()
    x.sum().backward()
    flambeau.manual_seed(2)
    std = _standard_gamma_array(np.array([1.0, 9.0]))
    np.testing.assert_allclose(c.grad.numpy(), ig.standard_gamma_grad(np.array([1.0, 9.0]), std) / 2.0,
                               rtol=1e-14)


def test_dirichlet_float32_draws_normalised_in_float64():
    # float32 Gamma draws for small concentrations underflow to one clamp value, which tied the
    # components at 1 / K (Beta(1e-3, 1e-3) gave 0.5 in most draws); huge ones overflowed the
    # sum. PyTorch draws and normalises in float64, so float32 draws are float64's rounded.
    for conc in ([2.0 ** -10, 2.0 ** -10], [2.0 ** -6, 2.0 ** -10, 3.0], [2.0 ** 127, 2.0 ** 127]):  # exact in float32
        flambeau.manual_seed(11)
        x32 = D.Dirichlet(flambeau.tensor(conc, dtype=flambeau.float32)).sample((400,)).numpy()
        flambeau.manual_seed(11)
        x64 = D.Dirichlet(flambeau.tensor(conc, dtype=flambeau.float64)).sample((400,)).numpy()
        expect = np.clip(x64.astype(F32), np.finfo(F32).tiny, np.nextafter(F32(1), F32(0)))
        np.testing.assert_array_equal(x32, expect)
    flambeau.manual_seed(12)
    b = D.Beta(flambeau.tensor(1e-3), flambeau.tensor(1e-3)).rsample((2000,)).detach().numpy()
    assert np.mean(b == 0.5) < 0.35   # draws that underflow in float64 too (about a quarter)


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_kernels_quiet_on_overflowing_and_infinite_inputs():
    # tiny float32 concentrations give gradients beyond float32's range, and infinite ones give
    # NaN: PyTorch returns inf / NaN without a warning
    g = ig.standard_gamma_grad(np.float32([1e-30, 1e-45]), np.float32([0.5, 1.0]))
    assert g.dtype == F32 and np.isinf(g).all()
    t = torch._standard_gamma_grad(torch.tensor([1e-30, 1e-45]), torch.tensor([0.5, 1.0]))
    np.testing.assert_array_equal(g, t.numpy())
    args = [np.array(v, dtype=F64) for v in ([0.3, 0.3], [np.inf, 1.0], [np.inf, np.inf])]
    d = ig.dirichlet_grad(*args)
    np.testing.assert_array_equal(d, torch._dirichlet_grad(*map(torch.from_numpy, args)).numpy())
