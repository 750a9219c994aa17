"""nn.init: fans and gains against torch; distributions checked statistically on large tensors."""
import math

import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn  # noqa: F401

init = flambeau.nn.init


@pytest.mark.parametrize("shape", [(3, 4), (8, 3, 5), (6, 2, 3, 3), (4, 5, 2, 2, 2)])
def test_fans_match_torch(shape):
    assert init._calculate_fan_in_and_fan_out(flambeau.empty(*shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(flambeau.empty(3))


def test_gains_match_torch():
    for nl, p in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                  ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("selu", None)]:
        assert init.calculate_gain(nl, p) == torch.nn.init.calculate_gain(nl, p)
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")


def _stats(t):
    a = t.detach().numpy()
    return a, a.mean(), a.std()


def test_uniform_normal_constant_are_in_place_and_no_grad():
    w = flambeau.nn.Parameter(flambeau.empty(300, 400))
    assert init.uniform_(w, -2, 3) is w and w.requires_grad and w.grad_fn is None
    a, m, s = _stats(w)
    assert a.min() >= -2 and a.max() <= 3 and abs(m - 0.5) < 0.02 and abs(s - 5 / math.sqrt(12)) < 0.02
    init.normal_(w, 1.0, 0.5)
    a, m, s = _stats(w)
    assert abs(m - 1.0) < 0.005 and abs(s - 0.5) < 0.005 and a.dtype == np.float32
    init.constant_(w, 0.25)
    assert (w.detach().numpy() == 0.25).all()
    init.zeros_(w), init.ones_(w)
    assert (w.detach().numpy() == 1).all()


def test_xavier_and_kaiming_std_and_bounds():
    w = flambeau.empty(256, 128, 3, 3)
    fan_in, fan_out = 128 * 9, 256 * 9
    init.xavier_uniform_(w, gain=2.0)
    bound = 2.0 * math.sqrt(6 / (fan_in + fan_out))
    a, m, s = _stats(w)
    assert np.abs(a).max() <= bound and abs(s - bound / math.sqrt(3)) < 0.01 * s
    init.xavier_normal_(w)
    assert abs(_stats(w)[2] - math.sqrt(2 / (fan_in + fan_out))) < 0.01 * _stats(w)[2]
    init.kaiming_uniform_(w, a=0.1, mode="fan_out", nonlinearity="leaky_relu")
    bound = math.sqrt(2 / (1 + 0.01)) * math.sqrt(3 / fan_out)
    a, m, s = _stats(w)
    assert np.abs(a).max() <= bound and abs(s - bound / math.sqrt(3)) < 0.01 * s
    init.kaiming_normal_(w, nonlinearity="relu")
    assert abs(_stats(w)[2] - math.sqrt(2 / fan_in)) < 0.01 * _stats(w)[2]
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_normal_(w, mode="fan_avg")


def test_trunc_normal_bounds_and_moments():
    w = flambeau.empty(500, 400)
    init.trunc_normal_(w, mean=0.5, std=1.0, a=-1.0, b=2.0)
    a = w.numpy()
    assert a.min() >= -1.0 and a.max() <= 2.0
    ref = torch.distributions.Normal(0.5, 1.0)
    lo, hi = ref.cdf(torch.tensor(-1.0)).item(), ref.cdf(torch.tensor(2.0)).item()
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    expected_mean = 0.5 + (phi(-1.5) - phi(1.5)) / (hi - lo)
    assert abs(a.mean() - expected_mean) < 0.01


def test_orthogonal_eye_dirac_sparse():
    w = flambeau.empty(6, 10)
    init.orthogonal_(w, gain=2.0)
    a = w.numpy()
    np.testing.assert_allclose(a @ a.T, 4 * np.eye(6), atol=1e-5)
    w = flambeau.empty(10, 2, 3)
    init.orthogonal_(w)
    a = w.numpy().reshape(10, 6)
    np.testing.assert_allclose(a.T @ a, np.eye(6), atol=1e-5)
    e = flambeau.empty(3, 5)
    init.eye_(e)
    np.testing.assert_array_equal(e.numpy(), torch.nn.init.eye_(torch.empty(3, 5)).numpy())
    d = flambeau.empty(4, 2, 3, 3)
    init.dirac_(d, groups=2)
    np.testing.assert_array_equal(d.numpy(), torch.nn.init.dirac_(torch.empty(4, 2, 3, 3), groups=2).numpy())
    s = flambeau.empty(10, 50)
    init.sparse_(s, 0.3)
    assert ((s.numpy() == 0).sum(0) == 3).all()


def test_generator_and_seed_determinism():
    g = flambeau.Generator().manual_seed(7)
    a = init.normal_(flambeau.empty(5), generator=g).numpy().copy()
    g.manual_seed(7)
    assert np.array_equal(a, init.normal_(flambeau.empty(5), generator=g).numpy())
    flambeau.manual_seed(3)
    b = init.uniform_(flambeau.empty(5)).numpy().copy()
    flambeau.manual_seed(3)
    assert np.array_equal(b, init.uniform_(flambeau.empty(5)).numpy())
