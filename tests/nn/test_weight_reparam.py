"""``nn.utils.spectral_norm`` / ``weight_norm`` against PyTorch's: state-dict keys, outputs,
gradients of every parameter and the power-iteration buffers over several training calls
(float64, atol 1e-12 relative to values ~10), eval mode (no power iteration), removal."""
import warnings

import numpy as np
import pytest
import torch

import flambeau

LAYERS = {
    "linear": (lambda lib: lib.nn.Linear(5, 4), (3, 5)),
    "conv": (lambda lib: lib.nn.Conv2d(3, 4, 3), (2, 3, 6, 6)),
    "conv_transpose": (lambda lib: lib.nn.ConvTranspose2d(3, 4, 3), (2, 3, 5, 5)),
}


def _pair(layer, apply, **kw):
    make, shape = LAYERS[layer]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # torch.nn.utils.weight_norm is deprecated
        tm = getattr(torch.nn.utils, apply)(make(torch).double(), **kw)
    fm = getattr(flambeau.nn.utils, apply)(make(flambeau).double(), **kw)
    fm.load_state_dict({k: flambeau.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return tm, fm, np.random.default_rng(0).standard_normal(shape)


def _agree(a, b):
    np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("layer", sorted(LAYERS))
@pytest.mark.parametrize("apply, kw", [("spectral_norm", {}), ("spectral_norm", {"n_power_iterations": 3}),
                                       ("weight_norm", {"dim": 0}), ("weight_norm", {"dim": None}),
                                       ("weight_norm", {"dim": 1})])
def test_reparametrised_layers_follow_torch(layer, apply, kw):
    tm, fm, x = _pair(layer, apply, **kw)
    assert sorted(fm.state_dict()) == sorted(tm.state_dict())
    for _ in range(3):                      # training mode: the power iteration moves u and v
        yt, yf = tm(torch.tensor(x)), fm(flambeau.tensor(x))
        _agree(yt, yf)
        yt.square().sum().backward()
        yf.square().sum().backward()
    for (name, p), q in zip(fm.named_parameters(), tm.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
    for k, v in tm.state_dict().items():
        _agree(v, fm.state_dict()[k])
    tm.eval()
    fm.eval()
    _agree(tm(torch.tensor(x)), fm(flambeau.tensor(x)))
    remove = getattr(flambeau.nn.utils, "remove_" + apply)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        getattr(torch.nn.utils, "remove_" + apply)(tm)
    remove(fm)
    assert sorted(fm.state_dict()) == sorted(tm.state_dict())
    _agree(tm(torch.tensor(x)), fm(flambeau.tensor(x)))


def test_spectral_norm_bounds_the_largest_singular_value():
    flambeau.manual_seed(0)
    m = flambeau.nn.utils.spectral_norm(flambeau.nn.Linear(20, 30), n_power_iterations=1)
    for _ in range(30):                      # the estimate converges across calls
        m(flambeau.ones(1, 20))
    sigma = flambeau.linalg.svdvals(m.weight.detach())[0].item()
    assert abs(sigma - 1.0) < 1e-3


def test_errors():
    m = flambeau.nn.utils.spectral_norm(flambeau.nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match="Cannot register two spectral_norm hooks"):
        flambeau.nn.utils.spectral_norm(m)
    with pytest.raises(ValueError, match="weight_norm of 'weight' not found"):
        flambeau.nn.utils.remove_weight_norm(m)
    with pytest.raises(ValueError, match="Expected n_power_iterations to be positive"):
        flambeau.nn.utils.spectral_norm(flambeau.nn.Linear(2, 2), n_power_iterations=0)
