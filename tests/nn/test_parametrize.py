"""``nn.utils.parametrize`` and ``nn.utils.parametrizations`` against PyTorch's: state-dict and
parameter names, the swapped class, outputs and gradients over training calls, assignment
through right_inverse, caching, chaining and removal (float64, rtol 1e-10 / atol 1e-12)."""
import numpy as np
import pytest
import torch
from torch.nn.utils import parametrizations as TP, parametrize as TZ

import flambeau
from flambeau.nn.utils import parametrizations as FP, parametrize as FZ

LAYERS = {"linear": (lambda lib: lib.nn.Linear(5, 4).double(), (3, 5)),
          "conv": (lambda lib: lib.nn.Conv2d(3, 4, 3).double(), (2, 3, 6, 6)),
          "conv_transpose": (lambda lib: lib.nn.ConvTranspose2d(3, 4, 3).double(), (2, 3, 5, 5))}


def _agree(a, b, what=""):
    np.testing.assert_allclose(np.asarray(b.detach().numpy()), a.detach().numpy(), rtol=1e-10, atol=1e-12,
                               err_msg=what)


def _copy(tm, fm):
    fm.load_state_dict({k: flambeau.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})


@pytest.mark.parametrize("layer", sorted(LAYERS))
@pytest.mark.parametrize("which, kw", [("spectral_norm", {}), ("spectral_norm", {"n_power_iterations": 2}),
                                       ("weight_norm", {"dim": 0}), ("weight_norm", {"dim": None})])
def test_parametrizations_follow_torch(layer, which, kw):
    make, shape = LAYERS[layer]
    tm, fm = getattr(TP, which)(make(torch), **kw), getattr(FP, which)(make(flambeau), **kw)
    assert type(fm).__name__ == type(tm).__name__
    assert sorted(fm.state_dict()) == sorted(tm.state_dict())
    assert [n for n, _ in fm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    _copy(tm, fm)
    x = np.random.default_rng(0).standard_normal(shape)
    for _ in range(3):
        yt, yf = tm(torch.tensor(x)), fm(flambeau.tensor(x))
        _agree(yt, yf, "output")
        yt.square().sum().backward()
        yf.square().sum().backward()
    for (name, p), q in zip(fm.named_parameters(), tm.parameters()):
        _agree(q.grad, p.grad, name)
    for k, v in tm.state_dict().items():
        _agree(v, fm.state_dict()[k], k)
    TZ.remove_parametrizations(tm, "weight")
    FZ.remove_parametrizations(fm, "weight")
    assert type(fm) is type(make(flambeau)) and sorted(fm.state_dict()) == sorted(tm.state_dict())
    _agree(tm.weight, fm.weight, "weight after removal")


class _Symmetric:
    """X -> triu(X) + triu(X, 1)^T, written once for both libraries."""

    @staticmethod
    def make(lib):
        class Symmetric(lib.nn.Module):
            def forward(self, X):
                return X.triu() + X.triu(1).transpose(-1, -2)

            def right_inverse(self, A):
                return A.triu()
        return Symmetric()


def test_custom_parametrization_assignment_chaining_and_cache():
    results = []
    for lib, pz in ((torch, TZ), (flambeau, FZ)):
        m = lib.nn.Linear(3, 3).double()
        with lib.no_grad():
            m.weight.copy_(lib.tensor(np.arange(9.0).reshape(3, 3)))
            m.bias.zero_()
        pz.register_parametrization(m, "weight", _Symmetric.make(lib))
        w1 = m.weight.detach().clone()
        m.weight = lib.tensor(np.diag([1.0, 2.0, 3.0]) + np.triu(np.ones((3, 3)), 1))   # through right_inverse
        w2 = m.weight.detach().clone()

        class Scale(lib.nn.Module):
            def forward(self, X):
                return 2 * X
        pz.register_parametrization(m, "weight", Scale())                               # chained
        with pz.cached():
            assert m.weight is m.weight
        y = m(lib.tensor(np.ones((2, 3))))
        y.sum().backward()
        orig = m.parametrizations.weight.original
        results.append((w1, w2, m.weight.detach().clone(), y.detach(), orig.grad.clone(), pz.is_parametrized(m)))
        pz.remove_parametrizations(m, "weight", leave_parametrized=False)
        results[-1] += (m.weight.detach().clone(),)
    for a, b in zip(*results):
        if isinstance(a, bool):
            assert a == b
        else:
            _agree(a, b)


def test_parametrize_errors():
    m = flambeau.nn.Linear(3, 3)

    class Shrink(flambeau.nn.Module):
        def forward(self, X):
            return X[:2]
    with pytest.raises(ValueError, match="may not change the shape or dtype"):
        FZ.register_parametrization(m, "weight", Shrink())
    assert not FZ.is_parametrized(m) and type(m) is flambeau.nn.Linear
    with pytest.raises(ValueError, match="does not have a parameter, a buffer, or a parametrized element"):
        FZ.register_parametrization(m, "nothing", Shrink())
    with pytest.raises(ValueError, match="does not have a parametrization on weight"):
        FZ.remove_parametrizations(m, "weight")


def test_weight_norm_negative_dims_and_old_state_dicts():
    for dim in (-2, -4, 1):
        t = torch.nn.utils.parametrizations.weight_norm(torch.nn.Conv2d(2, 3, 3), dim=dim)
        f = FP.weight_norm(flambeau.nn.Conv2d(2, 3, 3), dim=dim)
        g_t, g_f = t.parametrizations.weight.original0, f.parametrizations.weight.original0
        assert tuple(g_f.shape) == tuple(g_t.shape)
    old = flambeau.nn.utils.weight_norm(flambeau.nn.Linear(3, 2))
    new = FP.weight_norm(flambeau.nn.Linear(3, 2))
    sd = old.state_dict()
    new.load_state_dict(sd)                            # weight_g / weight_v renamed, as PyTorch
    assert "weight_g" in sd                            # the caller's dict is left as it was
    _agree(old.weight, new.weight)
