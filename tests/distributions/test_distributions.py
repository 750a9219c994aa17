"""flambeau.distributions against torch.distributions: values and parameter gradients of
log_prob / entropy / moments / cdf / icdf / kl_divergence, shapes, broadcasting, rsample
gradients (with the noise fixed), sampling statistics, seeding and argument validation."""
import math

import numpy as np
import pytest
import torch
import torch.distributions  # noqa: F401  (torch.distributions as the oracle)

import flambeau
import flambeau.distributions as D
from flambeau.ops import special as _special
from helpers import assert_close, check

F32, F64 = np.float32, np.float64
R = np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _fresh_data_rng(request):
    """Each test draws its data from its own fixed seed: values do not depend on which tests ran."""
    global R
    R = np.random.default_rng(sum(map(ord, request.node.name)) * 7919)
    yield


def pos(*shape, lo=0.5, hi=2.5, dt=F64):
    return R.uniform(lo, hi, shape).astype(dt)


def real(*shape, dt=F64):
    return R.standard_normal(shape).astype(dt)


def unit(*shape, dt=F64):
    return R.uniform(0.05, 0.95, shape).astype(dt)


def simplex(*shape, dt=F64):
    p = R.uniform(0.1, 1.0, shape)
    return (p / p.sum(-1, keepdims=True)).astype(dt)


def spd(n, batch=(), dt=F64):
    a = R.standard_normal(batch + (n, n))
    return (a @ np.swapaxes(a, -1, -2) + n * np.eye(n)).astype(dt)


def tril(n, batch=(), dt=F64):
    a = np.tril(R.standard_normal(batch + (n, n)))
    d = np.arange(n)
    a[..., d, d] = np.abs(a[..., d, d]) + 0.5
    return a.astype(dt)


def _dist(lib):
    return lib.distributions


# ------------------------------------------------------------------ special functions
@pytest.mark.parametrize("dt", [F64, F32])
@pytest.mark.parametrize("name", ["lgamma", "digamma"])
def test_special_positive(name, dt):
    x = np.concatenate([np.linspace(0.02, 3, 40), np.linspace(3, 40, 20)]).astype(dt)
    ours = getattr(_special, name)
    # float64 gradients of digamma use trigamma: torch's trigamma is accurate only to ~1e-9
    # (it truncates its asymptotic series at x >= 6); ours matches pi^2/6 at 1 to 1 ulp.
    kw = dict(grad_rtol=1e-8, grad_atol=1e-10) if (name == "digamma" and dt == F64) else {}
    check(lambda lib, t: ours(t) if lib is flambeau else getattr(torch, name)(t), x, **kw)


def test_special_negative_and_poles():
    x = np.array([-2.5, -1.3, -0.7, -0.2, 0.0, -1.0, -3.0, 1.0, 2.0, np.inf])
    for name in ("lgamma", "digamma"):
        a = getattr(_special, name)(flambeau.tensor(x)).numpy()
        b = getattr(torch, name)(torch.tensor(x)).numpy()
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, equal_nan=True, err_msg=name)


def test_trigamma_exact_values():
    out = _special.polygamma(1, flambeau.tensor([1.0, 0.5, 2.0], dtype=flambeau.float64)).numpy()
    np.testing.assert_allclose(out, [math.pi ** 2 / 6, math.pi ** 2 / 2, math.pi ** 2 / 6 - 1], rtol=1e-14)
    # and against torch (whose own trigamma is only ~1e-9 accurate)
    x = np.linspace(0.1, 30, 50)
    np.testing.assert_allclose(_special.polygamma(1, flambeau.tensor(x)).numpy(),
                               torch.polygamma(1, torch.tensor(x)).numpy(), rtol=5e-9)
    np.testing.assert_allclose(_special.polygamma(2, flambeau.tensor(x)).numpy(),
                               torch.polygamma(2, torch.tensor(x)).numpy(), rtol=1e-10)


@pytest.mark.parametrize("dt", [F64, F32])
def test_erfinv_xlogy(dt):
    u = np.linspace(-0.98, 0.98, 41).astype(dt)
    check(lambda lib, t: _special.erfinv(t) if lib is flambeau else torch.erfinv(t), u)
    x = np.array([0.0, 0.5, 2.0, 0.0, 3.0], dt)
    y = np.array([0.0, 1.5, 0.3, 2.0, 4.0], dt)
    check(lambda lib, a, b: _special.xlogy(a, b) if lib is flambeau else torch.xlogy(a, b), x, y)
    e = _special.erfinv(flambeau.tensor([1.0, -1.0, 1.5])).numpy()
    assert e[0] == np.inf and e[1] == -np.inf and np.isnan(e[2])


# ------------------------------------------------------------------ values and gradients
def _cases(dt):
    """name -> (constructor(lib, *params), params, value)"""
    s = (3, 4)
    return {
        "Normal": (lambda L, a, b: L.Normal(a, b), [real(*s, dt=dt), pos(*s, dt=dt)], real(*s, dt=dt)),
        "Uniform": (lambda L, a, b: L.Uniform(a, a + b), [real(*s, dt=dt), pos(*s, dt=dt)], None),
        "Exponential": (lambda L, a: L.Exponential(a), [pos(*s, dt=dt)], pos(*s, dt=dt)),
        "Laplace": (lambda L, a, b: L.Laplace(a, b), [real(*s, dt=dt), pos(*s, dt=dt)], real(*s, dt=dt)),
        "Gamma": (lambda L, a, b: L.Gamma(a, b), [pos(*s, dt=dt), pos(*s, dt=dt)], pos(*s, dt=dt)),
        "Beta": (lambda L, a, b: L.Beta(a, b), [pos(*s, dt=dt), pos(*s, dt=dt)], unit(*s, dt=dt)),
        "Dirichlet": (lambda L, a: L.Dirichlet(a), [pos(3, 5, dt=dt)], simplex(3, 5, dt=dt)),
        "BernoulliP": (lambda L, p: L.Bernoulli(probs=p), [unit(*s, dt=dt)],
                       (R.random(s) < 0.5).astype(dt)),
        "BernoulliL": (lambda L, lg: L.Bernoulli(logits=lg), [real(*s, dt=dt)], (R.random(s) < 0.5).astype(dt)),
        "CategoricalP": (lambda L, p: L.Categorical(probs=p), [pos(3, 5, dt=dt)], R.integers(0, 5, (3,))),
        "CategoricalL": (lambda L, lg: L.Categorical(logits=lg), [real(3, 5, dt=dt)], R.integers(0, 5, (2, 3))),
        "OneHotCategorical": (lambda L, p: L.OneHotCategorical(probs=p), [simplex(3, 5, dt=dt)],
                              np.eye(5, dtype=dt)[R.integers(0, 5, (3,))]),
        "Poisson": (lambda L, r: L.Poisson(r), [pos(*s, hi=6.0, dt=dt)], R.integers(0, 8, s).astype(dt)),
        "BinomialP": (lambda L, p: L.Binomial(7, probs=p), [unit(*s, dt=dt)], R.integers(0, 8, s).astype(dt)),
        "BinomialL": (lambda L, lg: L.Binomial(7, logits=lg), [real(*s, dt=dt)], R.integers(0, 8, s).astype(dt)),
        "MVN_cov": (lambda L, m, c: L.MultivariateNormal(m, covariance_matrix=c), [real(2, 3, dt=dt), spd(3, (2,), dt)],
                    real(4, 2, 3, dt=dt)),
        "MVN_prec": (lambda L, m, c: L.MultivariateNormal(m, precision_matrix=c), [real(3, dt=dt), spd(3, dt=dt)],
                     real(5, 3, dt=dt)),
        "MVN_tril": (lambda L, m, c: L.MultivariateNormal(m, scale_tril=c), [real(2, 3, dt=dt), tril(3, dt=dt)],
                     real(2, 3, dt=dt)),
    }


METHODS = {
    "Normal": ["log_prob", "entropy", "mean", "mode", "variance", "stddev", "cdf", "icdf"],
    "Uniform": ["log_prob", "entropy", "mean", "variance", "stddev", "cdf", "icdf"],
    "Exponential": ["log_prob", "entropy", "mean", "mode", "variance", "stddev", "cdf", "icdf"],
    "Laplace": ["log_prob", "entropy", "mean", "mode", "variance", "stddev", "cdf", "icdf"],
    "Gamma": ["log_prob", "entropy", "mean", "mode", "variance"],
    "Beta": ["log_prob", "entropy", "mean", "mode", "variance"],
    "Dirichlet": ["log_prob", "entropy", "mean", "mode", "variance"],
    "BernoulliP": ["log_prob", "entropy", "mean", "mode", "variance", "logits"],
    "BernoulliL": ["log_prob", "entropy", "mean", "variance", "probs"],
    "CategoricalP": ["log_prob", "entropy", "mode", "logits", "probs"],
    "CategoricalL": ["log_prob", "entropy", "mode", "logits", "probs"],
    "OneHotCategorical": ["log_prob", "entropy", "mean", "mode", "variance"],
    "Poisson": ["log_prob", "mean", "mode", "variance"],
    "BinomialP": ["log_prob", "entropy", "mean", "mode", "variance"],
    "BinomialL": ["log_prob", "entropy", "mean", "variance"],
    "MVN_cov": ["log_prob", "entropy", "mean", "variance", "scale_tril", "precision_matrix"],
    "MVN_prec": ["log_prob", "entropy", "variance", "scale_tril", "covariance_matrix"],
    "MVN_tril": ["log_prob", "entropy", "variance", "covariance_matrix", "precision_matrix"],
}

# float64 gradients that go through digamma's derivative (trigamma) only agree with torch to
# ~1e-9 relative: torch's trigamma truncates its series (see test_trigamma_exact_values)
_TRIGAMMA = {("Gamma", "entropy"), ("Beta", "entropy"), ("Dirichlet", "entropy")}

PARAMS = [(n, m) for n, ms in METHODS.items() for m in ms]


@pytest.mark.parametrize("dt", [F64, F32], ids=["f64", "f32"])
@pytest.mark.parametrize("name,method", PARAMS)
def test_against_torch(name, method, dt):
    ctor, params, value = _cases(dt)[name]
    if name == "Uniform":
        lo, width = params
        value = (lo + width * R.uniform(0.05, 0.95, lo.shape)).astype(dt)
    if method == "icdf":
        value = R.uniform(0.05, 0.95, params[0].shape).astype(dt)

    def fn(lib, *ps):
        d = ctor(_dist(lib), *ps)
        attr = getattr(d, method)
        if callable(attr):
            if method in ("log_prob", "cdf", "icdf"):
                v = value
                if isinstance(v, np.ndarray):
                    v = (flambeau if lib is flambeau else torch).from_numpy(v.copy())
                return attr(v)
            return attr()
        return attr

    kw = {}
    if dt == F64 and (name, method) in _TRIGAMMA:
        kw = dict(grad_rtol=1e-8, grad_atol=1e-10)
    if dt == F32 and (name.startswith("MVN") or name in ("Gamma", "Beta", "Dirichlet", "BinomialP",
                                                        "BinomialL", "Poisson")):
        # float32: a Cholesky / triangular solve or lgamma of values of size ~10 rounds
        # differently in the two libraries (a few float32 ulps of the largest intermediate)
        kw = dict(rtol=1e-4, atol=1e-5)
    if name == "Dirichlet" and method == "mode":
        params = [params[0] + 1.0]
    check(fn, *params, **kw)


# ------------------------------------------------------------------ KL divergences
def _kl_cases(dt):
    s = (3, 4)
    return {
        "Normal": (lambda L, a, b, c, d: (L.Normal(a, b), L.Normal(c, d)),
                   [real(*s, dt=dt), pos(*s, dt=dt), real(*s, dt=dt), pos(*s, dt=dt)]),
        "Bernoulli": (lambda L, a, b: (L.Bernoulli(probs=a), L.Bernoulli(logits=b)),
                      [unit(*s, dt=dt), real(*s, dt=dt)]),
        "Categorical": (lambda L, a, b: (L.Categorical(probs=a), L.Categorical(logits=b)),
                        [pos(3, 5, dt=dt), real(3, 5, dt=dt)]),
        "MVN": (lambda L, a, b, c, d: (L.MultivariateNormal(a, scale_tril=b), L.MultivariateNormal(c, covariance_matrix=d)),
                [real(2, 3, dt=dt), tril(3, (2,), dt), real(3, dt=dt), spd(3, dt=dt)]),
        "Uniform": (lambda L, a, b, c, d: (L.Uniform(a, a + b), L.Uniform(c, c + d)),
                    [real(*s, dt=dt), pos(*s, dt=dt), real(*s, dt=dt) - 3, pos(*s, dt=dt) + 5]),
        "Exponential": (lambda L, a, b: (L.Exponential(a), L.Exponential(b)), [pos(*s, dt=dt), pos(*s, dt=dt)]),
        "Beta": (lambda L, a, b, c, d: (L.Beta(a, b), L.Beta(c, d)), [pos(*s, dt=dt) for _ in range(4)]),
        "Gamma": (lambda L, a, b, c, d: (L.Gamma(a, b), L.Gamma(c, d)), [pos(*s, dt=dt) for _ in range(4)]),
        "Laplace": (lambda L, a, b, c, d: (L.Laplace(a, b), L.Laplace(c, d)),
                    [real(*s, dt=dt), pos(*s, dt=dt), real(*s, dt=dt), pos(*s, dt=dt)]),
        "Dirichlet": (lambda L, a, b: (L.Dirichlet(a), L.Dirichlet(b)), [pos(3, 4, dt=dt), pos(3, 4, dt=dt)]),
        "Poisson": (lambda L, a, b: (L.Poisson(a), L.Poisson(b)), [pos(*s, dt=dt), pos(*s, dt=dt)]),
        "Independent": (lambda L, a, b, c, d: (L.Independent(L.Normal(a, b), 1), L.Independent(L.Normal(c, d), 1)),
                        [real(*s, dt=dt), pos(*s, dt=dt), real(*s, dt=dt), pos(*s, dt=dt)]),
    }


@pytest.mark.parametrize("dt", [F64, F32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", list(_kl_cases(F64)))
def test_kl_against_torch(name, dt):
    ctor, params = _kl_cases(dt)[name]
    kw = {}
    if dt == F64 and name in ("Beta", "Gamma", "Dirichlet"):
        kw = dict(grad_rtol=1e-8, grad_atol=1e-10)  # trigamma in the gradient (see above)
    if dt == F32 and name in ("MVN", "Beta", "Gamma", "Dirichlet"):
        kw = dict(rtol=1e-4, atol=1e-5)
    check(lambda lib, *ps: _dist(lib).kl_divergence(*ctor(_dist(lib), *ps)), *params, **kw)


def test_kl_infinite_and_zero_cases():
    p = D.Uniform(flambeau.tensor([0.0, 0.0]), flambeau.tensor([1.0, 2.0]))
    q = D.Uniform(flambeau.tensor([0.0, 0.5]), flambeau.tensor([1.0, 3.0]))
    out = D.kl_divergence(p, q).numpy()
    assert out[0] == 0.0 and out[1] == np.inf
    pb = D.Bernoulli(probs=flambeau.tensor([0.0, 1.0, 0.3]))
    qb = D.Bernoulli(probs=flambeau.tensor([0.5, 0.5, 0.0]))
    tb = torch.distributions.kl_divergence(torch.distributions.Bernoulli(probs=torch.tensor([0.0, 1.0, 0.3])),
                                           torch.distributions.Bernoulli(probs=torch.tensor([0.5, 0.5, 0.0])))
    assert_close(D.kl_divergence(pb, qb), tb)
    pc = D.Categorical(probs=flambeau.tensor([[0.5, 0.5, 0.0]]))
    qc = D.Categorical(probs=flambeau.tensor([[0.0, 0.5, 0.5]]))
    assert D.kl_divergence(pc, qc).item() == np.inf
    assert D.kl_divergence(qc, qc).item() == 0.0


def test_kl_registry():
    with pytest.raises(NotImplementedError, match="No KL\\(p \\|\\| q\\) is implemented for p type Normal and q type Gamma"):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Gamma(1.0, 1.0))

    class MyNormal(D.Normal):
        pass

    # a subclass dispatches to its base's rule until it registers its own
    p, q = MyNormal(0.0, 1.0), D.Normal(1.0, 2.0)
    base = D.kl_divergence(D.Normal(0.0, 1.0), q).item()
    assert D.kl_divergence(p, q).item() == pytest.approx(base, rel=1e-12)

    @D.register_kl(MyNormal, D.Normal)
    def _kl(p, q):
        return flambeau.tensor(42.0)

    assert D.kl_divergence(p, q).item() == 42.0
    assert D.kl_divergence(D.Normal(0.0, 1.0), q).item() == pytest.approx(base, rel=1e-12)
    with pytest.raises(TypeError):
        D.register_kl(int, D.Normal)


# ------------------------------------------------------------------ shapes, broadcasting, expand
SAMPLERS = {
    "Normal": lambda: D.Normal(flambeau.zeros(3), flambeau.ones(3)),
    "Uniform": lambda: D.Uniform(flambeau.zeros(3), flambeau.ones(3)),
    "Exponential": lambda: D.Exponential(flambeau.ones(3)),
    "Laplace": lambda: D.Laplace(flambeau.zeros(3), flambeau.ones(3)),
    "Gamma": lambda: D.Gamma(flambeau.ones(3), flambeau.ones(3)),
    "Beta": lambda: D.Beta(flambeau.ones(3), flambeau.ones(3)),
    "Bernoulli": lambda: D.Bernoulli(probs=flambeau.full((3,), 0.3)),
    "Poisson": lambda: D.Poisson(flambeau.full((3,), 2.0)),
    "Binomial": lambda: D.Binomial(5, probs=flambeau.full((3,), 0.3)),
    "Categorical": lambda: D.Categorical(probs=flambeau.ones(3, 4)),
    "OneHotCategorical": lambda: D.OneHotCategorical(probs=flambeau.ones(3, 4)),
    "Dirichlet": lambda: D.Dirichlet(flambeau.ones(3, 4)),
    "MultivariateNormal": lambda: D.MultivariateNormal(flambeau.zeros(3, 4), flambeau.eye(4)),
}


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_sample_shapes_and_expand(name):
    d = SAMPLERS[name]()
    batch, event = tuple(d.batch_shape), tuple(d.event_shape)
    assert tuple(d.sample().shape) == batch + event
    x = d.sample((5, 2))
    assert tuple(x.shape) == (5, 2) + batch + event
    assert x.dtype == (flambeau.int64 if name == "Categorical" else flambeau.float32)
    assert tuple(d.log_prob(x).shape) == (5, 2) + batch
    e = d.expand((2,) + batch)
    assert tuple(e.batch_shape) == (2,) + batch and tuple(e.event_shape) == event
    assert tuple(e.sample((4,)).shape) == (4, 2) + batch + event
    assert_close(e.log_prob(x[0, 0]), d.log_prob(x[0, 0]).expand((2,) + batch))


def test_batch_and_event_shapes_match_torch():
    pairs = [
        (lambda L: L.Normal(torch.zeros(2, 1) if L is torch.distributions else flambeau.zeros(2, 1), 1.0)),
        (lambda L: L.Categorical(logits=(torch if L is torch.distributions else flambeau).zeros(2, 3, 4))),
        (lambda L: L.Dirichlet((torch if L is torch.distributions else flambeau).ones(2, 3, 4))),
        (lambda L: L.Independent(L.Normal((torch if L is torch.distributions else flambeau).zeros(2, 3, 4), 1.0), 2)),
        (lambda L: L.MultivariateNormal((torch if L is torch.distributions else flambeau).zeros(5, 1, 3),
                                        (torch if L is torch.distributions else flambeau).eye(3).expand(2, 3, 3))),
        (lambda L: L.Binomial(4, probs=(torch if L is torch.distributions else flambeau).full((2, 2), 0.5))),
    ]
    for mk in pairs:
        a, b = mk(D), mk(torch.distributions)
        assert tuple(a.batch_shape) == tuple(b.batch_shape)
        assert tuple(a.event_shape) == tuple(b.event_shape)


def test_broadcasting_of_parameters():
    check(lambda lib, loc, scale, x: lib.distributions.Normal(loc, scale).log_prob(x),
          real(4, 1), pos(3), real(2, 1, 1))
    check(lambda lib, scale, x: lib.distributions.Normal(0.5, scale).log_prob(x), pos(3), real(3))
    check(lambda lib, loc, x: lib.distributions.Laplace(loc, 2.0).cdf(x), real(2, 3), real(3))
    check(lambda lib, rate: lib.distributions.Gamma(2.0, rate).entropy(), pos(2, 3))
    d = D.Normal(0.0, 1.0)
    assert tuple(d.batch_shape) == () and d.loc.dtype == flambeau.float32
    d = D.Normal(flambeau.zeros(2, dtype=flambeau.float64), 1.0)
    assert d.scale.dtype == flambeau.float64 and tuple(d.scale.shape) == (2,)
    with pytest.raises(ValueError, match="Input arguments must all be instances of numbers.Number"):
        D.Normal("a", 1.0)


def test_float32_stays_float32():
    f = flambeau.float32
    ds = [D.Normal(flambeau.zeros(2), flambeau.ones(2)), D.Gamma(flambeau.ones(2), 2.0),
          D.Beta(flambeau.ones(2), flambeau.ones(2)), D.Poisson(flambeau.ones(2)),
          D.Laplace(flambeau.zeros(2), 1.0), D.Exponential(flambeau.ones(2))]
    for d in ds:
        x = d.sample((3,))
        assert x.dtype == f, type(d).__name__
        assert d.log_prob(x).dtype == f, type(d).__name__
        if not isinstance(d, D.Poisson):
            assert d.entropy().dtype == f, type(d).__name__


# ------------------------------------------------------------------ rsample gradients
@pytest.mark.parametrize("dt", [F64, F32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", ["Normal", "Laplace", "Exponential", "Uniform"])
def test_rsample_reparameterisation(name, dt):
    """Draw with flambeau, recover the noise, then check value and gradients equal torch's
    reparameterisation formula evaluated on the same noise."""
    s = (2, 3)
    p1, p2 = (real(*s, dt=dt), pos(*s, dt=dt))
    flambeau.manual_seed(5)
    a, b = flambeau.from_numpy(p1.copy()).requires_grad_(), flambeau.from_numpy(p2.copy()).requires_grad_()
    d = {"Normal": lambda: D.Normal(a, b), "Laplace": lambda: D.Laplace(a, b),
         "Exponential": lambda: D.Exponential(b), "Uniform": lambda: D.Uniform(a, a + b)}[name]()
    x = d.rsample((4,))
    assert x.requires_grad and tuple(x.shape) == (4,) + s
    xv = x.detach().numpy().astype(np.float64)
    ta, tb = torch.from_numpy(p1.copy()).requires_grad_(), torch.from_numpy(p2.copy()).requires_grad_()
    if name == "Normal":
        eps = torch.from_numpy(((xv - p1) / p2).astype(dt))
        y = ta + eps * tb
    elif name == "Laplace":
        # x = loc - scale * sign(u) * log1p(-|u|)  =>  sign(u) * log1p(-|u|) = (loc - x) / scale
        k = torch.from_numpy(((p1 - xv) / p2).astype(dt))
        y = ta - tb * k
    elif name == "Exponential":
        e = torch.from_numpy((xv * p2).astype(dt))
        y = e / tb
    else:
        u = torch.from_numpy(((xv - p1) / p2).astype(dt))
        y = ta + u * ((ta + tb) - ta)
    g = R.standard_normal(y.shape).astype(dt)
    y.backward(torch.from_numpy(g.copy()))
    x.backward(flambeau.from_numpy(g.copy()))
    tol = dict(rtol=1e-9, atol=1e-10) if dt == F64 else dict(rtol=1e-4, atol=1e-5)
    assert x.dtype == (flambeau.float64 if dt == F64 else flambeau.float32)
    assert_close(x, y, **tol)
    if name != "Exponential":
        assert_close(a.grad, ta.grad, **tol)
    assert_close(b.grad, tb.grad, **tol)


@pytest.mark.parametrize("param", ["scale_tril", "covariance_matrix", "precision_matrix"])
def test_mvn_rsample_gradients(param):
    loc = real(2, 3)
    mat = {"scale_tril": tril(3), "covariance_matrix": spd(3), "precision_matrix": spd(3)}[param]
    flambeau.manual_seed(3)
    fl, fm = flambeau.from_numpy(loc.copy()).requires_grad_(), flambeau.from_numpy(mat.copy()).requires_grad_()
    d = D.MultivariateNormal(fl, **{param: fm})
    x = d.rsample((5,))
    assert tuple(x.shape) == (5, 2, 3)
    L = np.linalg.cholesky(mat) if param == "covariance_matrix" else (
        np.linalg.cholesky(np.linalg.inv(mat)) if param == "precision_matrix" else mat)
    eps = np.linalg.solve(L, (x.detach().numpy() - loc)[..., None])[..., 0]
    tl, tm = torch.from_numpy(loc.copy()).requires_grad_(), torch.from_numpy(mat.copy()).requires_grad_()
    td = torch.distributions.MultivariateNormal(tl, **{param: tm})
    y = tl + (td._unbroadcasted_scale_tril @ torch.from_numpy(eps)[..., None])[..., 0]
    assert_close(x, y, rtol=1e-9, atol=1e-10)
    g = R.standard_normal(y.shape)
    y.backward(torch.from_numpy(g.copy()))
    x.backward(flambeau.from_numpy(g.copy()))
    assert_close(fl.grad, tl.grad, rtol=1e-9, atol=1e-10)
    assert_close(fm.grad, tm.grad, rtol=1e-8, atol=1e-10)


def test_rsample_provided_for_gamma_family():
    # implicit reparameterisation; gradients are checked in test_implicit_rsample.py
    for d in (D.Gamma(flambeau.ones(2), 1.0), D.Beta(flambeau.ones(2), flambeau.ones(2)),
              D.Dirichlet(flambeau.ones(2, 3))):
        assert d.has_rsample is True
        assert d.rsample().shape == d.sample().shape
    assert D.Normal(0.0, 1.0).has_rsample and not D.Bernoulli(0.5).has_rsample


# ------------------------------------------------------------------ sampling statistics
N = 20000


def _moments_ok(x, mean, var, what, k=5.0):
    """Sample mean within k standard errors; sample variance within k standard errors of the
    variance estimate (sd ~ sqrt((m4 - var^2) / n), estimated from the sample)."""
    x = np.asarray(x, np.float64)
    mean, var = np.broadcast_to(mean, x.shape[1:]), np.broadcast_to(var, x.shape[1:])
    se = np.sqrt(var / x.shape[0])
    assert np.all(np.abs(x.mean(0) - mean) <= k * se + 1e-12), f"{what}: mean {x.mean(0)} vs {mean}"
    m4 = ((x - x.mean(0)) ** 4).mean(0)
    se_v = np.sqrt(np.maximum(m4 - x.var(0) ** 2, 1e-12) / x.shape[0])
    assert np.all(np.abs(x.var(0) - var) <= k * se_v + 1e-12), f"{what}: var {x.var(0)} vs {var}"


STAT = {
    "Normal": lambda: D.Normal(flambeau.tensor([0.0, 3.0]), flambeau.tensor([1.0, 0.5])),
    "Uniform": lambda: D.Uniform(flambeau.tensor([0.0, -2.0]), flambeau.tensor([1.0, 5.0])),
    "Exponential": lambda: D.Exponential(flambeau.tensor([0.5, 3.0])),
    "Laplace": lambda: D.Laplace(flambeau.tensor([1.0, -1.0]), flambeau.tensor([0.5, 2.0])),
    "Gamma": lambda: D.Gamma(flambeau.tensor([0.3, 4.0]), flambeau.tensor([1.0, 2.0])),
    "Beta": lambda: D.Beta(flambeau.tensor([0.5, 3.0]), flambeau.tensor([2.0, 1.5])),
    "Bernoulli": lambda: D.Bernoulli(logits=flambeau.tensor([-1.0, 2.0])),
    "Poisson": lambda: D.Poisson(flambeau.tensor([0.7, 12.0])),
    "Binomial": lambda: D.Binomial(flambeau.tensor([3.0, 20.0]), probs=flambeau.tensor([0.2, 0.7])),
    "Categorical": lambda: D.Categorical(probs=flambeau.tensor([0.1, 0.2, 0.3, 0.4])),
    "OneHotCategorical": lambda: D.OneHotCategorical(probs=flambeau.tensor([0.1, 0.2, 0.3, 0.4])),
    "Dirichlet": lambda: D.Dirichlet(flambeau.tensor([0.5, 1.0, 2.5])),
    "MultivariateNormal": lambda: D.MultivariateNormal(flambeau.tensor([1.0, -1.0]),
                                                       flambeau.tensor([[2.0, 0.8], [0.8, 1.0]])),
}


@pytest.mark.parametrize("name", list(STAT))
def test_sampling_statistics(name):
    flambeau.manual_seed(2024)
    d = STAT[name]()
    x = d.sample((N,)).numpy().astype(np.float64)
    if name == "Categorical":
        p = np.array([0.1, 0.2, 0.3, 0.4])
        counts = np.bincount(x.astype(int), minlength=4) / N
        assert np.all(np.abs(counts - p) <= 5 * np.sqrt(p * (1 - p) / N)), counts
        _moments_ok(x[:, None], (p * np.arange(4)).sum(), (p * np.arange(4) ** 2).sum() - (p * np.arange(4)).sum() ** 2,
                    name)
        return
    mean, var = d.mean.numpy(), d.variance.numpy()
    _moments_ok(x, mean, var, name)
    if name == "MultivariateNormal":
        cov = np.cov(x.T)
        np.testing.assert_allclose(cov, [[2.0, 0.8], [0.8, 1.0]], atol=5 * 2.0 / np.sqrt(N) * 2)
    if name in ("Dirichlet", "OneHotCategorical"):
        np.testing.assert_allclose(x.sum(-1), 1.0, rtol=1e-5)
    # the support holds every sample
    assert bool(d.support.check(d.sample((100,))).all())


def test_samples_distribution_matches_cdf():
    """Kolmogorov-Smirnov distance of 20k samples to the (flambeau) cdf: below 1.63/sqrt(n) (p = 0.01)."""
    flambeau.manual_seed(7)
    for d in (D.Normal(1.0, 2.0), D.Laplace(-1.0, 0.5), D.Exponential(2.0), D.Uniform(-1.0, 3.0)):
        x = np.sort(d.sample((N,)).numpy().astype(np.float64))
        c = d.cdf(flambeau.from_numpy(x)).numpy()
        ecdf = np.arange(1, N + 1) / N
        ks = max(np.max(ecdf - c), np.max(c - (ecdf - 1 / N)))
        assert ks < 1.63 / np.sqrt(N), (type(d).__name__, ks)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_seeded_reproducibility(name):
    flambeau.manual_seed(11)
    a = SAMPLERS[name]().sample((6,)).numpy()
    b = SAMPLERS[name]().sample((6,)).numpy()
    flambeau.manual_seed(11)
    c = SAMPLERS[name]().sample((6,)).numpy()
    np.testing.assert_array_equal(a, c)
    if name not in ("Bernoulli", "Categorical", "OneHotCategorical", "Binomial", "Poisson"):
        assert not np.array_equal(a, b)  # continuous: the stream moved on


def test_sampling_ignores_numpy_global_state():
    flambeau.manual_seed(1)
    np.random.seed(0)
    a = D.Gamma(flambeau.full((4,), 2.0), 1.0).sample().numpy()
    flambeau.manual_seed(1)
    np.random.seed(99)
    b = D.Gamma(flambeau.full((4,), 2.0), 1.0).sample().numpy()
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ enumerate_support, Independent, transforms
def test_enumerate_support():
    for mk in (lambda L, t: L.Bernoulli(probs=t.full((2, 3), 0.3)),
               lambda L, t: L.Categorical(probs=t.ones(2, 4)),
               lambda L, t: L.OneHotCategorical(probs=t.ones(2, 4)),
               lambda L, t: L.Binomial(3, probs=t.full((2,), 0.3))):
        a, b = mk(D, flambeau), mk(torch.distributions, torch)
        for expand in (True, False):
            assert_close(a.enumerate_support(expand), b.enumerate_support(expand))


def test_independent():
    loc, scale, x = real(2, 3), pos(2, 3), real(4, 2, 3)
    check(lambda lib, l, s, v: lib.distributions.Independent(lib.distributions.Normal(l, s), 1).log_prob(v),
          loc, scale, x)
    check(lambda lib, l, s: lib.distributions.Independent(lib.distributions.Normal(l, s), 2).entropy(), loc, scale)
    d = D.Independent(D.Normal(flambeau.zeros(2, 3), 1.0), 1)
    assert tuple(d.batch_shape) == (2,) and tuple(d.event_shape) == (3,)
    assert repr(d) == "Independent(Normal(loc: flambeau.Size([2, 3]), scale: flambeau.Size([2, 3])), 1)"
    assert repr(d.support) == repr(torch.distributions.Independent(
        torch.distributions.Normal(torch.zeros(2, 3), 1.0), 1).support)
    with pytest.raises(ValueError, match="Expected reinterpreted_batch_ndims <= len"):
        D.Independent(D.Normal(flambeau.zeros(2), 1.0), 2)


TRANSFORMS = {
    "exp": lambda L: [L.ExpTransform()],
    "affine": lambda L: [L.AffineTransform(1.5, -2.0)],
    "sigmoid": lambda L: [L.SigmoidTransform()],
    "tanh_affine": lambda L: [L.TanhTransform(), L.AffineTransform(0.5, 3.0)],
    "exp_affine": lambda L: [L.ExpTransform(), L.AffineTransform(-1.0, 2.0)],
}


@pytest.mark.parametrize("dt", [F64, F32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_transformed_distribution(name, dt):
    loc, scale = real(2, 3, dt=dt) * 0.5, pos(2, 3, dt=dt) * 0.5
    base_x = real(2, 3, dt=dt) * 0.5

    def make(lib, l, s):
        Dl = lib.distributions
        ts = TRANSFORMS[name](Dl if lib is torch else D)
        return Dl.TransformedDistribution(Dl.Normal(l, s), ts)

    def value(lib):
        t = (torch if lib is torch else flambeau).from_numpy(base_x.copy())
        for tr in TRANSFORMS[name](torch.distributions if lib is torch else D):
            t = tr(t)
        return t

    kw = dict(rtol=1e-4, atol=1e-5) if dt == F32 else {}
    check(lambda lib, l, s: make(lib, l, s).log_prob(value(lib)), loc, scale, **kw)
    check(lambda lib, l, s: make(lib, l, s).cdf(value(lib)), loc, scale, **kw)
    u = R.uniform(0.1, 0.9, (2, 3)).astype(dt)
    check(lambda lib, l, s: make(lib, l, s).icdf((torch if lib is torch else flambeau).from_numpy(u.copy())),
          loc, scale, **kw)
    d = make(flambeau, flambeau.from_numpy(loc), flambeau.from_numpy(scale))
    assert tuple(d.sample((4,)).shape) == (4, 2, 3)
    assert d.has_rsample


def test_transforms_jacobians_and_inverses():
    x = real(5)
    for mk in (lambda L: L.ExpTransform(), lambda L: L.SigmoidTransform(), lambda L: L.TanhTransform(),
               lambda L: L.AffineTransform(0.3, 4.0)):
        check(lambda lib, v: (lambda t: (t(v), t.inv(t(v)), t.log_abs_det_jacobian(v, t(v))))(
            mk(torch.distributions.transforms if lib is torch else D.transforms)), x)
    t = D.AffineTransform(flambeau.zeros(2, 3), flambeau.full((2, 3), 2.0), event_dim=1)
    assert tuple(t.log_abs_det_jacobian(flambeau.zeros(2, 3), flambeau.zeros(2, 3)).shape) == (2,)
    assert D.AffineTransform(0.0, -2.0).sign == -1 and D.ExpTransform().inv.inv is not None


# ------------------------------------------------------------------ validation
def _torch_msg(msg):
    return msg.replace("torch.Size", "flambeau.Size")


@pytest.mark.filterwarnings("ignore:invalid value encountered")
@pytest.mark.parametrize("case", [
    ("Normal", lambda L, t: L.Normal(t.zeros(2), -t.ones(2))),
    ("Normal scalar", lambda L, t: L.Normal(0.0, t.tensor(-1.0))),
    ("Exponential", lambda L, t: L.Exponential(t.tensor([1.0, 0.0]))),
    ("Bernoulli", lambda L, t: L.Bernoulli(probs=t.tensor([0.5, 1.5]))),
    ("Categorical", lambda L, t: L.Categorical(probs=t.tensor([[0.5, -0.5]]))),
    ("Gamma", lambda L, t: L.Gamma(t.tensor([1.0, -1.0]), 1.0)),
    ("Beta", lambda L, t: L.Beta(t.tensor([1.0, 2.0]), t.tensor([1.0, -2.0]))),
    ("Dirichlet", lambda L, t: L.Dirichlet(t.tensor([1.0, -2.0]))),
    ("Poisson", lambda L, t: L.Poisson(t.tensor([-1.0]))),
    ("Binomial", lambda L, t: L.Binomial(t.tensor([2.5]), probs=t.tensor([0.5]))),
    ("MVN", lambda L, t: L.MultivariateNormal(t.zeros(2), t.tensor([[1.0, 2.0], [2.0, 1.0]]))),
    ("MVN tril", lambda L, t: L.MultivariateNormal(t.zeros(2), scale_tril=t.tensor([[1.0, 1.0], [0.0, 1.0]]))),
    ("Laplace", lambda L, t: L.Laplace(t.tensor([float("nan")]), 1.0)),
], ids=lambda c: c[0])
def test_validate_args_errors_match_torch(case):
    _, mk = case
    with pytest.raises(ValueError) as te:
        mk(torch.distributions, torch)
    with pytest.raises(ValueError) as fe:
        mk(D, flambeau)
    assert str(fe.value) == _torch_msg(str(te.value))


def test_validate_args_message_text():
    with pytest.raises(ValueError) as e:
        D.Normal(flambeau.zeros(2), -flambeau.ones(2))
    assert str(e.value).startswith(
        "Expected parameter scale (Tensor of shape (2,)) of distribution Normal(loc: flambeau.Size([2]), "
        "scale: flambeau.Size([2])) to satisfy the constraint GreaterThan(lower_bound=0.0), but found invalid values")
    with pytest.raises(ValueError, match="Uniform is not defined when low>= high"):
        D.Uniform(1.0, 0.0)
    with pytest.raises(ValueError, match="Either `probs` or `logits` must be specified, but not both."):
        D.Bernoulli(probs=0.5, logits=0.0)
    with pytest.raises(ValueError, match="Exactly one of covariance_matrix or precision_matrix or scale_tril"):
        D.MultivariateNormal(flambeau.zeros(2))


@pytest.mark.parametrize("case", [
    ("Normal shape", lambda L, t: L.Normal(t.zeros(3), 1.0).log_prob(t.zeros(2))),
    ("Exponential support", lambda L, t: L.Exponential(t.ones(2)).log_prob(t.tensor([1.0, -1.0]))),
    ("Bernoulli support", lambda L, t: L.Bernoulli(probs=t.tensor([0.5])).log_prob(t.tensor([0.5]))),
    ("Categorical support", lambda L, t: L.Categorical(logits=t.zeros(3)).log_prob(t.tensor(3))),
    ("Beta support", lambda L, t: L.Beta(2.0, 2.0).log_prob(t.tensor(1.5))),
    ("Uniform support", lambda L, t: L.Uniform(0.0, 1.0).log_prob(t.tensor(2.0))),
    ("MVN event", lambda L, t: L.MultivariateNormal(t.zeros(2), t.eye(2)).log_prob(t.zeros(3))),
    ("log_prob not tensor", lambda L, t: L.Normal(0.0, 1.0).log_prob(0.5)),
], ids=lambda c: c[0])
def test_sample_validation_matches_torch(case):
    _, mk = case
    with pytest.raises(ValueError) as te:
        mk(torch.distributions, torch)
    with pytest.raises(ValueError) as fe:
        mk(D, flambeau)
    assert str(fe.value) == _torch_msg(str(te.value))


def test_set_default_validate_args():
    try:
        D.Distribution.set_default_validate_args(False)
        d = D.Normal(0.0, -1.0)  # no error
        assert math.isnan(d.log_prob(flambeau.tensor(0.0)).item())
        assert D.Uniform(0.0, 1.0).log_prob(flambeau.tensor(2.0)).item() == -math.inf
    finally:
        D.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError):
        D.Normal(0.0, -1.0)
    D.Normal(0.0, -1.0, validate_args=False)
    with pytest.raises(ValueError):
        D.Distribution.set_default_validate_args("yes")


def test_repr_matches_torch():
    cases = [lambda L, t: L.Normal(t.zeros(2), t.ones(2)), lambda L, t: L.Normal(0.0, 1.0),
             lambda L, t: L.Bernoulli(logits=t.zeros(3)), lambda L, t: L.Categorical(probs=t.ones(2, 3)),
             lambda L, t: L.Gamma(t.tensor(2.0), t.tensor(3.0)), lambda L, t: L.Beta(1.0, 2.0),
             lambda L, t: L.MultivariateNormal(t.zeros(2), t.eye(2))]
    for mk in cases:
        assert repr(mk(D, flambeau)) == _torch_msg(repr(mk(torch.distributions, torch)))
    for c in ("real", "positive", "unit_interval", "simplex", "nonnegative_integer", "boolean", "real_vector",
              "lower_cholesky", "positive_definite", "one_hot", "nonnegative"):
        assert repr(getattr(D.constraints, c)) == repr(getattr(torch.distributions.constraints, c)), c
    assert repr(D.constraints.interval(0.0, 2.0)) == repr(torch.distributions.constraints.interval(0.0, 2.0))
    assert repr(D.constraints.integer_interval(0, 3)) == repr(torch.distributions.constraints.integer_interval(0, 3))


def test_lazy_probs_logits_and_perplexity():
    d = D.Bernoulli(logits=flambeau.tensor([0.0, 2.0]))
    assert "probs" not in d.__dict__
    p = d.probs
    assert "probs" in d.__dict__ and d.probs is p
    check(lambda lib, lg: lib.distributions.Categorical(logits=lg).perplexity(), real(2, 4))
    with pytest.raises(NotImplementedError):
        D.Poisson(1.0).entropy()
    with pytest.raises(NotImplementedError, match="does not implement mode"):
        D.Distribution(validate_args=False).mode
