"""Layers against torch with identical weights: Linear, Bilinear, Embedding, LayerNorm, RMSNorm,
PReLU, activations, Flatten/Unflatten, Dropout; default initialisation; course snippets."""
import math

import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn  # noqa: F401
from helpers import away_from, check, rand

DTYPES = [np.float32, np.float64]


def build(lib, ctor, params):
    """``ctor(lib.nn)`` with its parameters set to ``params`` (name -> array), in ``params``' dtype."""
    m = ctor(lib.nn)
    dtype = next(iter(params.values())).dtype if params else None
    if dtype == np.float64:
        m.double()
    with lib.no_grad():
        for name, arr in params.items():
            m.get_parameter(name).copy_(lib.from_numpy(np.array(arr, copy=True)))
    return m


def params_of(ctor, dtype, seed=0):
    m = ctor(flambeau.nn)
    rng = np.random.default_rng(seed)
    return {n: rng.uniform(-1, 1, p.shape).astype(dtype) for n, p in m.named_parameters()}


def check_layer(ctor, x, dtype, grad_params=True, **tol):
    """Forward, input gradient and parameter gradients of the same layer in both libraries."""
    params = params_of(ctor, dtype)
    mods = {}

    def run(lib, x):
        m = mods[lib.__name__] = build(lib, ctor, params)
        return m(x)
    check(run, x, **tol)
    if grad_params:
        for (n, pf), (_, pt) in zip(mods["flambeau"].named_parameters(), mods["torch"].named_parameters()):
            assert (pf.grad is None) == (pt.grad is None), n
            if pt.grad is not None:
                np.testing.assert_allclose(pf.grad.numpy(), pt.grad.numpy(), err_msg=n,
                                           **(tol or ({"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32
                                                      else {"rtol": 1e-10, "atol": 1e-12})))


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear(dtype):
    check_layer(lambda nn: nn.Linear(5, 3), rand(4, 5, dtype=dtype), dtype)
    check_layer(lambda nn: nn.Linear(5, 3, bias=False), rand(2, 4, 5, dtype=dtype), dtype)
    check_layer(lambda nn: nn.Linear(5, 3), rand(5, dtype=dtype), dtype)  # unbatched
    check_layer(lambda nn: nn.Linear(5, 3), np.zeros((0, 5), dtype), dtype)


def test_linear_course_snippet_1d_input():
    layer = flambeau.nn.Linear(in_features=4, out_features=2)
    Output = layer(flambeau.FloatTensor([1, 2, 3, 4]))
    assert Output.shape == (2,) and Output.requires_grad and Output.dtype == flambeau.float32
    expected = layer.weight.detach().numpy() @ np.array([1, 2, 3, 4], np.float32) + layer.bias.detach().numpy()
    np.testing.assert_allclose(Output.detach().numpy(), expected, rtol=1e-6)


def test_linear_errors():
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        flambeau.nn.Linear(4, 2)(flambeau.ones(3, 5))


def test_linear_default_init_matches_torch_distribution():
    m = flambeau.nn.Linear(400, 300)
    w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
    bound = 1 / math.sqrt(400)  # kaiming_uniform_(a=sqrt(5)) on fan_in 400
    assert w.dtype == np.float32 and np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound / math.sqrt(3) * 5
    assert np.abs(b).max() <= bound and abs(w.mean()) < 0.01 * bound
    flambeau.manual_seed(5)
    a = flambeau.nn.Linear(3, 3).weight.detach().numpy().copy()
    flambeau.manual_seed(5)
    assert np.array_equal(a, flambeau.nn.Linear(3, 3).weight.detach().numpy())  # seeded, deterministic


@pytest.mark.parametrize("dtype", DTYPES)
def test_bilinear(dtype):
    params = params_of(lambda nn: nn.Bilinear(3, 4, 2), dtype)
    x1, x2 = rand(5, 3, dtype=dtype), rand(5, 4, dtype=dtype, seed=1)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else {}
    check(lambda lib, a, b: build(lib, lambda nn: nn.Bilinear(3, 4, 2), params)(a, b), x1, x2, **tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_layer(dtype):
    idx = np.array([[0, 2, 2], [4, 1, 0]])
    params = params_of(lambda nn: nn.Embedding(5, 3, padding_idx=0), dtype)
    grads = {}

    def run(lib):
        m = build(lib, lambda nn: nn.Embedding(5, 3, padding_idx=0), params)
        out = m(lib.from_numpy(idx))
        (out * lib.arange(3, dtype=out.dtype)).sum().backward()
        grads[lib.__name__] = m.weight.grad.numpy()
        return out.detach()
    check(lambda lib: run(lib))
    np.testing.assert_array_equal(grads["flambeau"], grads["torch"])
    assert not grads["flambeau"][0].any()  # the padding row gets no gradient
    e = flambeau.nn.Embedding(6, 2, padding_idx=-1)
    assert e.padding_idx == 5 and not e.weight.detach().numpy()[5].any()
    w = flambeau.randn(4, 2)
    pre = flambeau.nn.Embedding.from_pretrained(w)
    assert not pre.weight.requires_grad and pre.weight.data_ptr() == w.data_ptr()
    assert flambeau.nn.Embedding.from_pretrained(w, freeze=False).weight.requires_grad
    assert repr(e) == repr(torch.nn.Embedding(6, 2, padding_idx=-1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_and_rms_norm_layers(dtype):
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else {}
    x = rand(3, 4, 5, dtype=dtype, seed=2)
    check_layer(lambda nn: nn.LayerNorm(5), x, dtype, **tol)
    check_layer(lambda nn: nn.LayerNorm([4, 5], eps=1e-3, bias=False), x, dtype, **tol)
    check_layer(lambda nn: nn.LayerNorm(5, elementwise_affine=False), x, dtype, **tol)
    check_layer(lambda nn: nn.RMSNorm(5, eps=1e-6), x, dtype, **tol)
    ln = flambeau.nn.LayerNorm(5)
    assert ln.weight.detach().numpy().tolist() == [1.0] * 5 and not ln.bias.detach().numpy().any()


ACT_LAYERS = [
    lambda nn: nn.ReLU(), lambda nn: nn.ReLU6(), lambda nn: nn.LeakyReLU(0.3), lambda nn: nn.ELU(0.8),
    lambda nn: nn.SELU(), lambda nn: nn.CELU(0.5), lambda nn: nn.GELU(), lambda nn: nn.GELU("tanh"),
    lambda nn: nn.SiLU(), lambda nn: nn.Mish(), lambda nn: nn.Tanh(), lambda nn: nn.Sigmoid(),
    lambda nn: nn.Hardtanh(-0.7, 0.8), lambda nn: nn.Hardswish(), lambda nn: nn.Softplus(2.0, 5.0),
    lambda nn: nn.Softsign(), lambda nn: nn.Tanhshrink(), lambda nn: nn.Threshold(0.2, -1.0),
    lambda nn: nn.Softmax(dim=1), lambda nn: nn.LogSoftmax(dim=-1), lambda nn: nn.Softmin(dim=0),
    lambda nn: nn.LogSigmoid(), lambda nn: nn.Hardshrink(0.4), lambda nn: nn.Softshrink(0.4), lambda nn: nn.GLU(),
    lambda nn: nn.Identity(3, k=2), lambda nn: nn.Flatten(), lambda nn: nn.Flatten(0, 1),
    lambda nn: nn.Unflatten(1, (2, 3)), lambda nn: nn.PReLU(), lambda nn: nn.PReLU(4),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("i", range(len(ACT_LAYERS)))
def test_activation_and_shape_layers(i, dtype):
    x = away_from(rand(4, 6, dtype=dtype, seed=3, low=-2, high=2), (0.0, 0.2, -0.7, 0.8, 0.4, -0.4, 2.5, -3.0))
    if "num_parameters=4" in repr(ACT_LAYERS[i](flambeau.nn)):  # channels on dim 1
        x = x.T.copy()
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else {}
    check_layer(ACT_LAYERS[i], x, dtype, **tol)


def test_inplace_activation_layers():
    x = flambeau.tensor([-1.0, 0.5])
    assert flambeau.nn.ReLU(inplace=True)(x) is x and x.tolist() == [0.0, 0.5]
    check(lambda lib, x: lib.nn.LeakyReLU(0.1, inplace=True)(x * 1.0), rand(3, 3, dtype=np.float64))


def test_dropout_layers_train_and_eval():
    flambeau.manual_seed(1)
    d = flambeau.nn.Dropout(0.25)
    y = d(flambeau.ones(100, 100)).numpy()
    assert abs((y == 0).mean() - 0.25) < 0.02 and set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    d.eval()
    x = flambeau.ones(3)
    assert d(x) is x
    d2 = flambeau.nn.Dropout2d(0.5)
    y2 = d2(flambeau.ones(4, 8, 3, 3)).numpy().reshape(32, 9)
    assert ((y2 == 0).all(1) | (y2 == 2).all(1)).all()
    assert repr(d2) == repr(torch.nn.Dropout2d(0.5))
    with pytest.raises(ValueError, match="between 0 and 1"):
        flambeau.nn.Dropout(-0.1)


def test_module_handles_float64_models_end_to_end():
    model = flambeau.nn.Sequential(flambeau.nn.Linear(3, 4), flambeau.nn.GELU(), flambeau.nn.LayerNorm(4),
                                   flambeau.nn.Linear(4, 2)).double()
    out = model(flambeau.randn(5, 3, dtype=flambeau.float64))
    assert out.dtype == flambeau.float64
    flambeau.nn.functional.cross_entropy(out, flambeau.tensor([0, 1, 1, 0, 1])).backward()
    assert all(p.grad is not None and p.grad.dtype == flambeau.float64 for p in model.parameters())
