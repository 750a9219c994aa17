"""Random numbers: seeding, Generator objects, in-place initialisers (flambeau's own streams)."""
import numpy as np
import pytest

import flambeau

DRAWS = [lambda g=None: flambeau.rand(3, 4, generator=g), lambda g=None: flambeau.randn(5, generator=g),
         lambda g=None: flambeau.randint(0, 100, (6,), generator=g), lambda g=None: flambeau.randperm(9, generator=g),
         lambda g=None: flambeau.rand(2, dtype=flambeau.float64, generator=g),
         lambda g=None: flambeau.empty(4).normal_(2.0, 3.0, generator=g),
         lambda g=None: flambeau.empty(4).uniform_(-1, 1, generator=g)]


def _seq(seed, g=None):
    if g is None:
        flambeau.manual_seed(seed)
    else:
        g.manual_seed(seed)
    return [d(g).numpy().tobytes() for d in DRAWS]


def test_manual_seed_bit_identical():
    a, b = _seq(123), _seq(123)
    assert a == b
    assert _seq(124) != a
    flambeau.manual_seed(5)
    x = flambeau.rand(3)
    y = flambeau.rand(3)
    assert not np.array_equal(x.numpy(), y.numpy())  # the stream advances
    assert flambeau.initial_seed() == 5


def test_generator_objects_are_independent():
    g1, g2 = flambeau.Generator(), flambeau.Generator()
    assert _seq(7, g1) == _seq(7, g2) == _seq(7)
    g = flambeau.Generator().manual_seed(3)
    flambeau.manual_seed(3)
    a = flambeau.rand(4, generator=g)
    flambeau.rand(100)  # the default generator's draws do not touch g
    g2 = flambeau.Generator().manual_seed(3)
    assert np.array_equal(a.numpy(), flambeau.rand(4, generator=g2).numpy())
    assert g.initial_seed() == 3
    assert isinstance(flambeau.default_generator, flambeau.Generator)


def test_rng_state_roundtrip():
    flambeau.manual_seed(11)
    flambeau.rand(3)
    st = flambeau.get_rng_state()
    assert st.dtype == flambeau.uint8
    a = flambeau.randn(5)
    flambeau.set_rng_state(st)
    assert np.array_equal(a.numpy(), flambeau.randn(5).numpy())
    g = flambeau.Generator().manual_seed(1)
    s = g.get_state()
    b = flambeau.rand(3, generator=g)
    g.set_state(s)
    assert np.array_equal(b.numpy(), flambeau.rand(3, generator=g).numpy())


def test_inplace_initialisers():
    flambeau.manual_seed(0)
    w = flambeau.empty(200, 100)
    ptr = w.data_ptr()
    r = w.normal_(1.0, 0.5)
    assert r is w and w.data_ptr() == ptr and w.dtype == flambeau.float32
    assert abs(w.mean().item() - 1.0) < 0.01 and abs(w.std().item() - 0.5) < 0.01
    w.uniform_(-2, 3)
    assert w.min().item() >= -2 and w.max().item() < 3 and abs(w.mean().item() - 0.5) < 0.05
    d = flambeau.empty(1000, dtype=flambeau.float64).normal_()
    assert d.dtype == flambeau.float64
    v = w._version_value
    w.normal_()
    assert w._version_value > v  # an in-place write bumps the version counter
    # a leaf that requires grad is initialised under no_grad (what nn.init does)
    p = flambeau.zeros(3, requires_grad=True)
    with flambeau.no_grad():
        p.uniform_(0, 1)
    assert p.requires_grad and p.is_leaf and (p > 0).all().item()
    with pytest.raises(RuntimeError):
        flambeau.zeros(3, requires_grad=True).normal_()
    b = flambeau.empty(10000).bernoulli_(0.3)
    assert abs(b.mean().item() - 0.3) < 0.02 and set(np.unique(b.numpy()).tolist()) <= {0.0, 1.0}


def test_distributions():
    flambeau.manual_seed(1)
    r = flambeau.rand(20000)
    assert r.dtype == flambeau.float32 and 0 <= r.min().item() and r.max().item() < 1
    assert abs(r.mean().item() - 0.5) < 0.01
    n = flambeau.randn(20000, dtype=flambeau.float64)
    assert abs(n.mean().item()) < 0.03 and abs(n.std().item() - 1) < 0.03
    i = flambeau.randint(-3, 4, (5000,))
    assert i.dtype == flambeau.int64 and set(np.unique(i.numpy()).tolist()) == set(range(-3, 4))
    assert sorted(flambeau.randperm(50).tolist()) == list(range(50))
    nm = flambeau.normal(2.0, 0.5, (5000,))
    assert nm.dtype == flambeau.float32 and abs(nm.mean().item() - 2.0) < 0.05
    nt = flambeau.normal(flambeau.zeros(3, dtype=flambeau.float64), 1.0)
    assert nt.dtype == flambeau.float64 and nt.shape == (3,)
    m = flambeau.multinomial(flambeau.tensor([0.0, 1.0, 0.0]), 2, replacement=True)
    assert m.tolist() == [1, 1]
