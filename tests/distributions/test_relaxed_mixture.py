"""Multinomial, RelaxedBernoulli / LogitRelaxedBernoulli, RelaxedOneHotCategorical /
ExpRelaxedCategorical, MixtureSameFamily and LowRankMultivariateNormal against
torch.distributions (float64).

Tolerances: closed forms (values and parameter gradients) use the helpers' float64 defaults,
rtol 1e-10 / atol 1e-12, except Multinomial.entropy: torch evaluates ``lgamma(total_count + 1)``
on an int64 tensor, i.e. in float32, so it is compared at rtol 1e-6 (and flambeau's float64 value
is checked at 1e-10 against a direct sum over the support). rsample: the same uniform (or normal)
noise is fed to both libraries' own rsample code, values and gradients at the float64 defaults.
Sample statistics: 20000 draws, within 5 standard errors."""
import itertools
import math

import numpy as np
import pytest
import torch
import torch.distributions as TD
from distribution_data import R, pos, real
from helpers import check
from torch.distributions.relaxed_bernoulli import LogitRelaxedBernoulli as TLogitRelaxedBernoulli
from torch.distributions.relaxed_categorical import ExpRelaxedCategorical as TExpRelaxedCategorical

import flambeau
import flambeau.distributions as D
from flambeau.distributions import lowrank_multivariate_normal as fl_lowrank
from flambeau.distributions import relaxed_bernoulli as fl_rb
from flambeau.distributions import relaxed_categorical as fl_rc
from flambeau.distributions.relaxed_bernoulli import LogitRelaxedBernoulli
from flambeau.distributions.relaxed_categorical import ExpRelaxedCategorical

F64 = np.float64


def _L(lib):
    return lib.distributions


def _lrb(lib):
    return LogitRelaxedBernoulli if lib is flambeau else TLogitRelaxedBernoulli


def _erc(lib):
    return ExpRelaxedCategorical if lib is flambeau else TExpRelaxedCategorical


def _T(lib):
    return flambeau if lib is flambeau else torch


B, K = (3,), 4


def _counts(n, shape):
    """Integer count vectors of length K summing to n (last dim)."""
    return R.multinomial(n, np.full(K, 1.0 / K), size=shape).astype(F64)


def _simplex(shape):
    x = R.uniform(0.05, 1.0, shape + (K,))
    return x / x.sum(-1, keepdims=True)


def _mix_normal(L, lib, logits, loc, scale):
    return L.MixtureSameFamily(L.Categorical(logits=logits), L.Normal(loc, scale))


def _mix_mvn(L, lib, probs, loc, tril):
    return L.MixtureSameFamily(L.Categorical(probs=probs), L.MultivariateNormal(loc, scale_tril=tril))


def _tril(*batch, n=3):
    a = np.tril(R.standard_normal(batch + (n, n)) * 0.3)
    idx = np.arange(n)
    a[..., idx, idx] = R.uniform(0.5, 1.5, batch + (n,))
    return a


def _cases():
    """name -> (constructor(lib, *params), params, value maker, methods)"""
    c = {
        "MultinomialP": (lambda lib, p: _L(lib).Multinomial(5, probs=p), [pos(3, K)], lambda: _counts(5, (3,)),
                         ["log_prob", "mean", "variance", "logits", "probs"]),
        "MultinomialL": (lambda lib, lg: _L(lib).Multinomial(6, logits=lg), [real(2, 3, K)],
                         lambda: _counts(6, (2, 3)), ["log_prob", "mean", "variance", "probs"]),
        # log_prob only needs the counts: total_count may differ per value
        "MultinomialNoCount": (lambda lib, p: _L(lib).Multinomial(probs=p, validate_args=False), [pos(3, K)],
                               lambda: _counts(7, (3,)), ["log_prob"]),
        "LogitRelaxedBernoulliP": (lambda lib, t, p: _lrb(lib)(t, probs=p), [pos(3, 1, lo=0.3, hi=2),
                                                                             R.uniform(0.05, 0.95, (3, 4))],
                                   lambda: 3 * real(3, 4), ["log_prob", "logits"]),
        "LogitRelaxedBernoulliL": (lambda lib, t, lg: _lrb(lib)(t, logits=lg), [pos(lo=0.3, hi=2), real(3, 4)],
                                   lambda: 3 * real(3, 4), ["log_prob", "probs"]),
        "RelaxedBernoulliP": (lambda lib, t, p: _L(lib).RelaxedBernoulli(t, probs=p),
                              [pos(lo=0.3, hi=2), R.uniform(0.05, 0.95, (3, 4))],
                              lambda: R.uniform(0.02, 0.98, (3, 4)), ["log_prob", "logits", "probs"]),
        "RelaxedBernoulliL": (lambda lib, t, lg: _L(lib).RelaxedBernoulli(t, logits=lg),
                              [pos(4, lo=0.3, hi=2), real(3, 4)],
                              lambda: R.uniform(0.02, 0.98, (3, 4)), ["log_prob", "logits", "probs", "temperature"]),
        "ExpRelaxedCategoricalP": (lambda lib, t, p: _erc(lib)(t, probs=p), [pos(lo=0.3, hi=2), pos(3, K)],
                                   lambda: np.log(_simplex((3,))), ["log_prob", "logits", "probs"]),
        "ExpRelaxedCategoricalL": (lambda lib, t, lg: _erc(lib)(t, logits=lg), [pos(lo=0.3, hi=2), real(3, K)],
                                   lambda: 2 * real(3, K), ["log_prob"]),
        "RelaxedOneHotCategoricalP": (lambda lib, t, p: _L(lib).RelaxedOneHotCategorical(t, probs=p),
                                      [pos(lo=0.3, hi=2), pos(3, K)], lambda: _simplex((3,)),
                                      ["log_prob", "logits", "probs"]),
        "RelaxedOneHotCategoricalL": (lambda lib, t, lg: _L(lib).RelaxedOneHotCategorical(t, logits=lg),
                                      [pos(lo=0.3, hi=2), real(3, K)], lambda: _simplex((2, 3)),
                                      ["log_prob", "temperature"]),
        "MixtureNormal": (lambda lib, lg, a, b: _mix_normal(_L(lib), lib, lg, a, b), [real(3, K), real(3, K), pos(3, K)],
                          lambda: 2 * real(5, 3), ["log_prob", "mean", "variance", "stddev", "cdf"]),
        # mixture weights without batch dims, shared by every batch element
        "MixtureNormalSharedWeights": (lambda lib, lg, a, b: _mix_normal(_L(lib), lib, lg, a, b),
                                       [real(K), real(2, 3, K), pos(2, 3, K)], lambda: 2 * real(2, 3),
                                       ["log_prob", "mean", "variance", "cdf"]),
        "MixtureMVN": (lambda lib, p, a, L_: _mix_mvn(_L(lib), lib, p, a, L_), [pos(2, K), real(2, K, 3), _tril(2, K)],
                       lambda: real(5, 2, 3), ["log_prob", "mean", "variance"]),
        "MixtureIndependent": (lambda lib, lg, a, b: _L(lib).MixtureSameFamily(
            _L(lib).Categorical(logits=lg), _L(lib).Independent(_L(lib).Normal(a, b), 1)),
            [real(K), real(K, 2), pos(K, 2)], lambda: real(6, 2), ["log_prob", "mean", "variance"]),
        "LowRankMVN": (lambda lib, a, w, d: _L(lib).LowRankMultivariateNormal(a, w, d),
                       [real(3, 4), real(3, 4, 2), pos(3, 4)], lambda: real(5, 3, 4),
                       ["log_prob", "entropy", "mean", "mode", "variance", "stddev", "covariance_matrix",
                        "precision_matrix", "scale_tril"]),
        # broadcasting batch shapes: loc (2, 1, n), cov_factor (3, n, m), cov_diag (n,)
        "LowRankMVNBroadcast": (lambda lib, a, w, d: _L(lib).LowRankMultivariateNormal(a, w, d),
                                [real(2, 1, 4), real(3, 4, 3), pos(4)], lambda: real(2, 3, 4),
                                ["log_prob", "entropy", "variance", "covariance_matrix", "precision_matrix",
                                 "scale_tril"]),
    }
    return c


PARAMS = [(n, m) for n, v in _cases().items() for m in v[3]]


@pytest.mark.parametrize("name,method", PARAMS)
def test_against_torch(name, method):
    ctor, params, mk_value, _ = _cases()[name]
    value = mk_value()

    def fn(lib, *ps):
        attr = getattr(ctor(lib, *ps), method)
        if callable(attr):
            if method in ("log_prob", "cdf"):
                return attr(_T(lib).from_numpy(value.copy()))
            return attr()
        return attr

    check(fn, *params)


def test_multinomial_entropy():
    p = pos(3, K)
    # torch's lgamma(total_count + 1) is evaluated in float32 (int64 tensor): rtol 1e-6
    check(lambda lib, q: _L(lib).Multinomial(4, probs=q).entropy(), p, rtol=1e-6, atol=1e-6, grad_rtol=1e-10,
          grad_atol=1e-12)
    # flambeau's value at float64 accuracy: -sum_x P(x) log P(x) over all count vectors
    d = D.Multinomial(4, probs=flambeau.from_numpy(p.copy()))
    support = np.array([c for c in itertools.product(range(5), repeat=K) if sum(c) == 4], dtype=F64)
    lp = d.log_prob(flambeau.from_numpy(support[:, None, :].copy())).numpy()
    np.testing.assert_allclose(d.entropy().numpy(), -(np.exp(lp) * lp).sum(0), rtol=1e-10)
    np.testing.assert_allclose(np.exp(lp).sum(0), 1.0, rtol=1e-12)


def test_multinomial_log_prob_zero_probability():
    """A category with probability 0 that was never drawn contributes nothing (not 0 * -inf)."""
    for lib in (flambeau, torch):
        T = _T(lib)
        d = _L(lib).Multinomial(3, probs=T.tensor([0.5, 0.5, 0.0], dtype=T.float64))
        lp = d.log_prob(T.tensor([[1.0, 2.0, 0.0], [3.0, 0.0, 0.0]], dtype=T.float64)).numpy()
        np.testing.assert_allclose(lp, [math.log(3 / 8), math.log(1 / 8)], rtol=1e-12)
        dl = _L(lib).Multinomial(3, logits=T.tensor([0.0, 0.0, -math.inf], dtype=T.float64))
        np.testing.assert_allclose(dl.log_prob(T.tensor([1.0, 2.0, 0.0], dtype=T.float64)).item(),
                                   math.log(3 / 8), rtol=1e-12)


def _invalid(lib):
    """(constructors that must raise ValueError, (distribution, value) pairs whose log_prob must)"""
    L, T = _L(lib), _T(lib)

    def t(v):
        return T.tensor(v, dtype=T.float64)

    one = t(1.0)
    bad = (lambda: L.Multinomial(3, probs=t([0.5, -0.1])), lambda: L.Multinomial(3),
           lambda: L.Multinomial(3, probs=t([0.5, 0.5]), logits=t([0.0, 0.0])),
           lambda: L.Multinomial(3, probs=t(0.5)),
           lambda: L.RelaxedBernoulli(one, probs=t([1.5])), lambda: L.RelaxedBernoulli(one),
           lambda: L.RelaxedBernoulli(one, probs=t([0.5]), logits=t([0.0])),
           lambda: _lrb(lib)(one, probs=t([-0.5])),
           lambda: L.RelaxedOneHotCategorical(one, probs=t([0.5, -0.2])),
           lambda: L.RelaxedOneHotCategorical(one), lambda: _erc(lib)(one, probs=t([-1.0, 2.0])),
           # like torch, the wrappers build their base distribution with the default validation
           lambda: L.RelaxedBernoulli(one, probs=t([1.5]), validate_args=False),
           lambda: L.RelaxedOneHotCategorical(one, probs=t([1.5, -0.2]), validate_args=False),
           lambda: L.MixtureSameFamily(L.Normal(t([0.0]), t([1.0])), L.Normal(t([0.0]), t([1.0]))),
           lambda: L.MixtureSameFamily(L.Categorical(t([0.5, 0.5])), "not a distribution"),
           lambda: L.MixtureSameFamily(L.Categorical(t([0.5, 0.5])), L.Normal(t([0.0] * 3), t([1.0] * 3))),
           lambda: L.MixtureSameFamily(L.Categorical(t([[0.5, 0.5]] * 2)),
                                       L.Normal(t([[0.0] * 2] * 3), t([[1.0] * 2] * 3))),
           lambda: L.LowRankMultivariateNormal(t(0.0), t([[1.0]]), t([1.0])),
           lambda: L.LowRankMultivariateNormal(t([0.0, 0.0]), t([1.0, 1.0]), t([1.0, 1.0])),
           lambda: L.LowRankMultivariateNormal(t([0.0, 0.0]), t([[1.0, 1.0]]), t([1.0, 1.0])),
           lambda: L.LowRankMultivariateNormal(t([0.0, 0.0]), t([[1.0], [1.0]]), t([1.0])),
           lambda: L.LowRankMultivariateNormal(t([0.0, 0.0]), t([[1.0], [1.0]]), t([1.0, -1.0])),
           lambda: L.LowRankMultivariateNormal(t([[0.0, 0.0]] * 2), t([[[1.0], [1.0]]] * 3), t([1.0, 1.0])))
    mult = L.Multinomial(3, probs=t([0.2, 0.3, 0.5]))
    mix = L.MixtureSameFamily(L.Categorical(t([0.5, 0.5])), L.HalfNormal(t([1.0, 2.0])))
    lr = L.LowRankMultivariateNormal(t([0.0, 0.0]), t([[1.0], [0.5]]), t([1.0, 1.0]))
    bad_values = [(mult, t([1.0, -1.0, 3.0])), (mult, t([2.0, 1.0, 1.0])), (mult, t([1.0, 2.0])),
                  (L.RelaxedBernoulli(one, probs=t([0.3])), t([1.5])),
                  (L.RelaxedBernoulli(one, probs=t([0.3])), t([-0.1])),
                  (L.RelaxedOneHotCategorical(one, probs=t([0.3, 0.7])), t([0.3, 0.3])),
                  (L.RelaxedOneHotCategorical(one, probs=t([0.3, 0.7])), t([-0.5, 1.5])),
                  (mix, t([-1.0])), (lr, t([0.0, 0.0, 0.0]))]
    return bad, bad_values


@pytest.mark.parametrize("lib", [flambeau, torch], ids=["flambeau", "torch"])
def test_validate_args_errors(lib):
    L, T = _L(lib), _T(lib)

    def t(v):
        return T.tensor(v, dtype=T.float64)

    bad, bad_values = _invalid(lib)
    for ctor in bad:
        with pytest.raises(ValueError):
            ctor()
    with pytest.raises(NotImplementedError):
        L.Multinomial(T.tensor(3), probs=t([0.5, 0.5]))
    with pytest.raises(NotImplementedError):
        L.Multinomial(3.0, probs=t([0.5, 0.5]))
    for d, v in bad_values:
        with pytest.raises(ValueError):
            d.log_prob(v)
    # validation off: no error
    one = t(1.0)
    assert not L.RelaxedBernoulli(one, probs=t([0.3]), validate_args=False)._validate_args
    L.LowRankMultivariateNormal(t([0.0, 0.0]), t([[1.0], [1.0]]), t([1.0, 1.0]), validate_args=False)
    L.Multinomial(3, probs=t([0.2, 0.8]), validate_args=False).log_prob(t([5.0, 1.0]))
    L.MixtureSameFamily(L.Categorical(t([0.5, 0.5])), L.HalfNormal(t([1.0, 2.0]), validate_args=False),
                        validate_args=False).log_prob(t([-1.0]))
    L.RelaxedOneHotCategorical(one, probs=t([0.3, 0.7]), validate_args=False).log_prob(t([0.3, 0.3]))


def _attr_cases(lib):
    L, T = _L(lib), _T(lib)
    def t(v):
        return T.tensor(v, dtype=T.float64)

    return {
        "Multinomial": L.Multinomial(4, probs=t([[0.2, 0.8], [0.5, 0.5], [0.1, 0.9]])),
        "LogitRelaxedBernoulli": _lrb(lib)(t(0.5), logits=t([0.0, 1.0])),
        "RelaxedBernoulli": L.RelaxedBernoulli(t(0.5), probs=t([0.2, 0.7])),
        "RelaxedBernoulliScalar": L.RelaxedBernoulli(t(0.5), probs=0.3),
        "ExpRelaxedCategorical": _erc(lib)(t(0.5), probs=t([[0.2, 0.3, 0.5]] * 2)),
        "RelaxedOneHotCategorical": L.RelaxedOneHotCategorical(t(0.5), logits=t([[0.2, 0.3, 0.5]] * 2)),
        "MixtureSameFamily": L.MixtureSameFamily(L.Categorical(t([0.5, 0.5])), L.Normal(t([[0.0, 1.0]] * 3),
                                                                                         t([1.0, 2.0]))),
        "MixtureMVN": L.MixtureSameFamily(L.Categorical(t([0.5, 0.5])),
                                          L.MultivariateNormal(t([[0.0, 1.0, 2.0]] * 2), T.eye(3, dtype=T.float64))),
        "LowRankMultivariateNormal": L.LowRankMultivariateNormal(t([[0.0, 1.0]] * 3), t([[1.0], [0.5]]),
                                                                 t([1.0, 2.0])),
    }


def test_attributes_match_torch():
    fl, th = _attr_cases(flambeau), _attr_cases(torch)
    for name in fl:
        a, b = fl[name], th[name]
        assert tuple(a.batch_shape) == tuple(b.batch_shape), name
        assert tuple(a.event_shape) == tuple(b.event_shape), name
        assert sorted(a.arg_constraints) == sorted(b.arg_constraints), name
        for k in a.arg_constraints:
            ca, cb = a.arg_constraints[k], b.arg_constraints[k]
            assert type(ca).__name__ == type(cb).__name__, (name, k)
            assert ca.event_dim == cb.event_dim, (name, k)
        assert type(a.support).__name__ == type(b.support).__name__, name
        assert a.support.is_discrete == b.support.is_discrete and a.support.event_dim == b.support.event_dim, name
        assert a.has_rsample == b.has_rsample, name
        assert isinstance(a, D.TransformedDistribution) == isinstance(b, TD.TransformedDistribution), name
        # the methods torch does not provide are missing here too
        for m in ("mean", "variance", "mode"):
            try:
                getattr(b, m)
                has = True
            except NotImplementedError:
                has = False
            if not has:
                with pytest.raises(NotImplementedError):
                    getattr(a, m)
        try:
            b.entropy()
            has = True
        except NotImplementedError:
            has = False
        if not has:
            with pytest.raises(NotImplementedError):
                a.entropy()
    assert fl["Multinomial"].support.upper_bound == 4
    assert type(fl["MixtureMVN"].support.base_constraint).__name__ == "_IndependentConstraint"
    assert fl["MixtureMVN"].support.event_dim == 1


def _samplers():
    def f(v):
        return flambeau.tensor(v, dtype=flambeau.float32)

    return {
        "Multinomial": (lambda: D.Multinomial(5, probs=f([[0.2, 0.3, 0.5]] * 3)), (3,), (3,)),
        "LogitRelaxedBernoulli": (lambda: LogitRelaxedBernoulli(f(0.5), probs=f([0.2, 0.5, 0.7])), (3,), ()),
        "RelaxedBernoulli": (lambda: D.RelaxedBernoulli(f(0.5), logits=f([0.2, 0.5, 0.7])), (3,), ()),
        "ExpRelaxedCategorical": (lambda: ExpRelaxedCategorical(f(0.5), probs=f([[0.2, 0.3, 0.5]] * 3)), (3,),
                                  (3,)),
        "RelaxedOneHotCategorical": (lambda: D.RelaxedOneHotCategorical(f(0.5), probs=f([[0.2, 0.3, 0.5]] * 3)),
                                     (3,), (3,)),
        "MixtureSameFamily": (lambda: D.MixtureSameFamily(D.Categorical(f([0.3, 0.7])),
                                                          D.Normal(f([[0.0, 1.0]] * 3), f([1.0, 2.0]))), (3,), ()),
        "MixtureMVN": (lambda: D.MixtureSameFamily(D.Categorical(f([[0.3, 0.7]] * 3)),
                                                   D.MultivariateNormal(f([[[0.0, 1.0]] * 2] * 3),
                                                                        flambeau.eye(2))), (3,), (2,)),
        "LowRankMultivariateNormal": (lambda: D.LowRankMultivariateNormal(f([[0.0, 1.0]] * 3), f([[1.0], [0.5]]),
                                                                          f([1.0, 2.0])), (3,), (2,)),
    }


@pytest.mark.parametrize("name", list(_samplers()))
def test_sample_shapes_and_expand(name):
    mk, bs, es = _samplers()[name]
    d = mk()
    assert tuple(d.batch_shape) == bs and tuple(d.event_shape) == es
    assert tuple(d.sample().shape) == bs + es
    x = d.sample((5, 2))
    assert tuple(x.shape) == (5, 2) + bs + es and x.dtype == flambeau.float32
    assert tuple(d.log_prob(x).shape) == (5, 2) + bs
    e = d.expand((2,) + bs)
    assert type(e) is type(d)
    assert tuple(e.batch_shape) == (2,) + bs and tuple(e.event_shape) == es
    assert tuple(e.sample((4,)).shape) == (4, 2) + bs + es
    np.testing.assert_allclose(e.log_prob(x[0, 0]).numpy(), np.broadcast_to(d.log_prob(x[0, 0]).numpy(), (2,) + bs),
                               rtol=1e-6)
    if name.startswith("Mixture"):
        assert not d.has_rsample
        with pytest.raises(NotImplementedError):
            d.rsample()
    elif name != "Multinomial":  # LogitRelaxedBernoulli: has_rsample False (as in torch) but rsample works
        assert tuple(d.rsample((4,)).shape) == (4,) + bs + es


@pytest.mark.parametrize("name", ["Multinomial", "RelaxedBernoulli", "RelaxedOneHotCategorical", "MixtureSameFamily",
                                  "LowRankMultivariateNormal", "LogitRelaxedBernoulli", "ExpRelaxedCategorical"])
def test_expand_matches_torch(name):
    """expand: batch shape, parameters and log_prob equal to torch's expanded distribution (float64)."""
    fl, th = _attr_cases(flambeau), _attr_cases(torch)
    a, b = fl[name], th[name]
    new = (4,) + tuple(b.batch_shape)
    ea, eb = a.expand(new), b.expand(new)
    assert type(ea) is type(a) and tuple(ea.batch_shape) == tuple(eb.batch_shape)
    assert tuple(ea.event_shape) == tuple(eb.event_shape)
    assert ea._validate_args == eb._validate_args
    xb = eb.sample()
    np.testing.assert_allclose(ea.log_prob(flambeau.from_numpy(xb.numpy().copy())).numpy(), eb.log_prob(xb).numpy(),
                               rtol=1e-10, atol=1e-12)
    for attr in ("probs", "logits", "loc", "cov_diag", "cov_factor", "mean", "variance"):
        try:
            vb = getattr(eb, attr)
        except (AttributeError, NotImplementedError):
            continue
        np.testing.assert_allclose(getattr(ea, attr).numpy(), vb.numpy(), rtol=1e-12, err_msg=(name, attr))


def test_scalar_batch_shapes_match_torch():
    for lib_pair in [(lambda L, T: L.RelaxedBernoulli(T.tensor(0.5), probs=0.3)),
                     (lambda L, T: L.RelaxedBernoulli(T.tensor(0.5), logits=T.tensor(0.3))),
                     (lambda L, T: L.Multinomial(3, probs=T.tensor([0.3, 0.7]))),
                     (lambda L, T: L.RelaxedOneHotCategorical(T.tensor(0.5), probs=T.tensor([0.3, 0.7]))),
                     (lambda L, T: L.MixtureSameFamily(L.Categorical(T.tensor([0.3, 0.7])),
                                                       L.Normal(T.tensor([0.0, 1.0]), T.tensor([1.0, 1.0])))),
                     (lambda L, T: L.LowRankMultivariateNormal(T.zeros(2), T.ones(2, 1), T.ones(2)))]:
        a, b = lib_pair(D, flambeau), lib_pair(TD, torch)
        assert tuple(a.batch_shape) == tuple(b.batch_shape)
        assert tuple(a.sample((2,)).shape) == tuple(b.sample((2,)).shape)
        assert a.sample().dtype == flambeau.float32


# ------------------------------------------------------------------ rsample with the same noise
class _Noise:
    """Hands out the given arrays (in call order) in place of the library's rand / randn."""

    def __init__(self, lib, arrays):
        self.lib, self.arrays, self.i = lib, arrays, 0

    def __call__(self, *size, dtype=None, **kw):
        shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) or (
            len(size) == 1 and hasattr(size[0], "__len__")) else tuple(size)
        a = self.arrays[self.i]
        self.i += 1
        assert a.shape == shape, (a.shape, shape)
        return _T(self.lib).from_numpy(a.copy())


def _rs_cases():
    return {
        "LogitRelaxedBernoulli": (lambda lib, t, p: _lrb(lib)(t, probs=p), [pos(lo=0.3, hi=2), R.uniform(0.05, 0.95, 4)],
                                  "rand", [(6, 4)]),
        "RelaxedBernoulliP": (lambda lib, t, p: _L(lib).RelaxedBernoulli(t, probs=p),
                              [pos(4, lo=0.3, hi=2), R.uniform(0.05, 0.95, (3, 4))], "rand", [(6, 3, 4)]),
        "RelaxedBernoulliL": (lambda lib, t, lg: _L(lib).RelaxedBernoulli(t, logits=lg), [pos(lo=0.3, hi=2), real(4)],
                              "rand", [(6, 4)]),
        "ExpRelaxedCategorical": (lambda lib, t, lg: _erc(lib)(t, logits=lg), [pos(lo=0.3, hi=2), real(3, K)],
                                  "rand", [(6, 3, K)]),
        "RelaxedOneHotCategoricalP": (lambda lib, t, p: _L(lib).RelaxedOneHotCategorical(t, probs=p),
                                      [pos(3, 1, lo=0.3, hi=2), pos(3, K)], "rand", [(6, 3, K)]),
        "RelaxedOneHotCategoricalL": (lambda lib, t, lg: _L(lib).RelaxedOneHotCategorical(t, logits=lg),
                                      [pos(lo=0.3, hi=2), real(K)], "rand", [(6, K)]),
        "LowRankMVN": (lambda lib, a, w, d: _L(lib).LowRankMultivariateNormal(a, w, d),
                       [real(3, 4), real(4, 2), pos(3, 4)], "randn", [(6, 3, 2), (6, 3, 4)]),
    }


@pytest.mark.parametrize("name", list(_rs_cases()))
def test_rsample_same_noise(name, monkeypatch):
    """Both libraries' own rsample, fed the same uniform / normal noise: values and parameter
    gradients match (float64 defaults)."""
    ctor, params, kind, shapes = _rs_cases()[name]
    noise = [R.uniform(0.0, 1.0, s) if kind == "rand" else R.standard_normal(s) for s in shapes]
    if kind == "rand":
        noise[0].flat[0] = 0.0  # exercised by clamp_probs
    fl_noise, th_noise = _Noise(flambeau, noise), _Noise(torch, noise)
    if kind == "rand":
        monkeypatch.setattr(fl_rb, "rand", fl_noise)
        monkeypatch.setattr(fl_rc, "rand", fl_noise)
        monkeypatch.setattr(torch, "rand", th_noise)
    else:
        monkeypatch.setattr(fl_lowrank, "_standard_normal", lambda shape, dtype, device=None: fl_noise(tuple(shape)))
        monkeypatch.setattr(torch.distributions.lowrank_multivariate_normal, "_standard_normal",
                            lambda shape, dtype, device=None: th_noise(tuple(shape)))
    check(lambda lib, *ps: ctor(lib, *ps).rsample((6,)), *params)
    assert fl_noise.i == th_noise.i == len(noise)


def test_relaxed_rsample_analytic():
    """The relaxed samples are differentiable functions of the parameters: d sample / d logits
    of RelaxedBernoulli is s (1 - s) / temperature, and the rows of RelaxedOneHotCategorical's
    Jacobian w.r.t. its logits sum to zero (the sample stays on the simplex)."""
    flambeau.manual_seed(0)
    lg = flambeau.tensor([0.3, -1.0, 2.0], dtype=flambeau.float64, requires_grad=True)
    temp = flambeau.tensor(0.7, dtype=flambeau.float64)
    s = D.RelaxedBernoulli(temp, logits=lg).rsample()
    s.sum().backward()
    sv = s.detach().numpy()
    np.testing.assert_allclose(lg.grad.numpy(), sv * (1 - sv) / 0.7, rtol=1e-10)
    lg2 = flambeau.tensor([0.3, -1.0, 2.0], dtype=flambeau.float64, requires_grad=True)
    x = D.RelaxedOneHotCategorical(temp, logits=lg2).rsample((5,))
    np.testing.assert_allclose(x.detach().numpy().sum(-1), 1.0, rtol=1e-12)
    x.sum().backward()  # d(sum of a simplex point)/d logits = 0
    np.testing.assert_allclose(lg2.grad.numpy(), 0.0, atol=1e-12)


# ------------------------------------------------------------------ sample statistics
N = 20000


def _f64(v):
    return flambeau.tensor(v, dtype=flambeau.float64)


def _within(mean_hat, mean, var, n=N):
    np.testing.assert_array_less(np.abs(mean_hat - mean), 5 * np.sqrt(var / n) + 1e-12)


def test_multinomial_moments():
    flambeau.manual_seed(1)
    p = np.array([[0.1, 0.2, 0.3, 0.4], [0.7, 0.1, 0.1, 0.1]])
    d = D.Multinomial(10, probs=_f64(p))
    x = d.sample((N,)).numpy()
    assert x.dtype == np.float64 and np.all(x == np.floor(x)) and np.all(x >= 0) and np.all(x.sum(-1) == 10)
    mean, var = 10 * p, 10 * p * (1 - p)
    _within(x.mean(0), mean, var)
    m4 = ((x - x.mean(0)) ** 4).mean(0)
    np.testing.assert_array_less(np.abs(x.var(0) - var), 5 * np.sqrt((m4 - x.var(0) ** 2) / N))
    # covariance between categories: -n p_i p_j
    c01 = ((x[:, 0, 0] - x[:, 0, 0].mean()) * (x[:, 0, 1] - x[:, 0, 1].mean())).mean()
    assert abs(c01 - (-10 * 0.1 * 0.2)) < 5 * math.sqrt(var[0, 0] * var[0, 1] / N)


def test_relaxed_samples_statistics():
    flambeau.manual_seed(2)
    p = np.array([0.2, 0.5, 0.9])
    x = D.RelaxedBernoulli(_f64(0.5), probs=_f64(p)).sample((N,)).numpy()
    assert np.all((x > 0) & (x < 1))
    # P(X > 1/2) = p exactly, whatever the temperature
    _within((x > 0.5).mean(0), p, p * (1 - p))
    q = np.array([0.1, 0.2, 0.3, 0.4])
    y = D.RelaxedOneHotCategorical(_f64(0.3), probs=_f64(q)).sample((N,)).numpy()
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-12)
    # Gumbel-max: the argmax of a relaxed sample is Categorical(q)
    freq = np.bincount(y.argmax(-1), minlength=4) / N
    _within(freq, q, q * (1 - q))
    z = ExpRelaxedCategorical(_f64(0.3), probs=_f64(q)).sample((N,)).numpy()
    np.testing.assert_allclose(np.exp(z).sum(-1), 1.0, rtol=1e-12)
    # low temperature: close to one-hot
    w = D.RelaxedOneHotCategorical(_f64(0.01), probs=_f64(q)).sample((1000,)).numpy()
    assert np.median(w.max(-1)) > 0.99


def test_mixture_moments():
    flambeau.manual_seed(3)
    d = D.MixtureSameFamily(D.Categorical(_f64([0.3, 0.7])), D.Normal(_f64([[-2.0, 1.0], [0.0, 3.0]]),
                                                                      _f64([0.5, 1.0])))
    td = TD.MixtureSameFamily(TD.Categorical(torch.tensor([0.3, 0.7], dtype=torch.float64)),
                              TD.Normal(torch.tensor([[-2.0, 1.0], [0.0, 3.0]], dtype=torch.float64),
                                        torch.tensor([0.5, 1.0], dtype=torch.float64)))
    x = d.sample((N,)).numpy()
    mean, var = td.mean.numpy(), td.variance.numpy()
    _within(x.mean(0), mean, var)
    m4 = ((x - x.mean(0)) ** 4).mean(0)
    np.testing.assert_array_less(np.abs(x.var(0) - var), 5 * np.sqrt((m4 - x.var(0) ** 2) / N))
    # the component weights: fraction of draws below the midpoint between the components
    frac = (x[:, 0] < -0.5).mean()
    expect = 0.3 * TD.Normal(-2.0, 0.5).cdf(torch.tensor(-0.5)).item() + 0.7 * TD.Normal(1.0, 1.0).cdf(
        torch.tensor(-0.5)).item()
    assert abs(frac - expect) < 5 * math.sqrt(expect * (1 - expect) / N)
    # multivariate components
    dm = D.MixtureSameFamily(D.Categorical(_f64([0.4, 0.6])),
                             D.MultivariateNormal(_f64([[0.0, 1.0], [2.0, -1.0]]), scale_tril=_f64([[1.0, 0.0],
                                                                                                     [0.5, 0.5]])))
    y = dm.sample((N,)).numpy()
    assert y.shape == (N, 2)
    _within(y.mean(0), dm.mean.numpy(), dm.variance.numpy())


def test_lowrank_moments():
    flambeau.manual_seed(4)
    loc, W, Dg = np.array([0.5, -1.0, 2.0]), np.array([[1.0, 0.2], [0.5, -0.3], [-0.4, 0.8]]), np.array([0.3, 0.5, 0.2])
    d = D.LowRankMultivariateNormal(_f64(loc), _f64(W), _f64(Dg))
    x = d.sample((N,)).numpy()
    cov = W @ W.T + np.diag(Dg)
    _within(x.mean(0), loc, np.diag(cov))
    emp = np.cov(x.T)
    se = np.sqrt((cov ** 2 + np.outer(np.diag(cov), np.diag(cov))) / N)  # Gaussian: var of s_ij
    np.testing.assert_array_less(np.abs(emp - cov), 5 * se)
    # rsample: Monte-Carlo gradient of E[x^2] w.r.t. cov_diag is 1 (analytic: d(var)/d D = 1)
    dd = _f64(Dg).requires_grad_(True)
    xs = D.LowRankMultivariateNormal(_f64(loc), _f64(W), dd).rsample((N,))
    (xs - _f64(loc)).pow(2).mean(0).sum().backward()
    np.testing.assert_allclose(dd.grad.numpy(), 1.0, rtol=5e-2)
