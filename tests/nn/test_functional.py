"""nn.functional activations, padding, dropout, embedding, one_hot, normalize and distances vs torch."""
import warnings

import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn  # noqa: F401  (flambeau/__init__ may not import nn eagerly)
from helpers import away_from, check, gradcheck, rand

DTYPES = [np.float32, np.float64]


def F(lib):
    return lib.nn.functional


# name -> (call, kink points to keep finite differences away from)
ACTIVATIONS = {
    "relu": (lambda lib, x: F(lib).relu(x), (0.0,)),
    "relu6": (lambda lib, x: F(lib).relu6(x * 4), (0.0, 1.5)),
    "leaky_relu": (lambda lib, x: F(lib).leaky_relu(x, 0.2), (0.0,)),
    "elu": (lambda lib, x: F(lib).elu(x, 0.7), (0.0,)),
    "selu": (lambda lib, x: F(lib).selu(x), (0.0,)),
    # alpha = 0.5: PyTorch's celu backward rounds 1/alpha to float32 even for float64; 1/0.5 is exact
    "celu": (lambda lib, x: F(lib).celu(x, 0.5), (0.0,)),
    "gelu": (lambda lib, x: F(lib).gelu(x), ()),
    "gelu_tanh": (lambda lib, x: F(lib).gelu(x, approximate="tanh"), ()),
    "silu": (lambda lib, x: F(lib).silu(x), ()),
    "mish": (lambda lib, x: F(lib).mish(x), ()),
    "hardtanh": (lambda lib, x: F(lib).hardtanh(x, -0.5, 0.6), (-0.5, 0.6)),
    "hardsigmoid": (lambda lib, x: F(lib).hardsigmoid(x * 4), (-0.75, 0.75)),
    "hardswish": (lambda lib, x: F(lib).hardswish(x * 4), (-0.75, 0.75)),
    "softplus": (lambda lib, x: F(lib).softplus(x, beta=2.0, threshold=1.0), (0.5,)),
    "softsign": (lambda lib, x: F(lib).softsign(x), ()),
    "tanhshrink": (lambda lib, x: F(lib).tanhshrink(x), ()),
    "threshold": (lambda lib, x: F(lib).threshold(x, 0.1, -2.0), (0.1,)),
    "logsigmoid": (lambda lib, x: F(lib).logsigmoid(x * 10), ()),
    "hardshrink": (lambda lib, x: F(lib).hardshrink(x, 0.3), (0.3, -0.3)),
    "softshrink": (lambda lib, x: F(lib).softshrink(x, 0.3), (0.3, -0.3)),
    "sigmoid": (lambda lib, x: F(lib).sigmoid(x), ()),
    "tanh": (lambda lib, x: F(lib).tanh(x), ()),
    "softmax": (lambda lib, x: F(lib).softmax(x, dim=-1), ()),
    "log_softmax": (lambda lib, x: F(lib).log_softmax(x, dim=1), ()),
    "softmin": (lambda lib, x: F(lib).softmin(x, dim=0), ()),
    "glu": (lambda lib, x: F(lib).glu(x, dim=-1), ()),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_matches_torch(name, dtype):
    fn, kinks = ACTIVATIONS[name]
    x = away_from(rand(4, 6, dtype=dtype, seed=1, low=-3, high=3), kinks)
    # transcendental float32 rounding differs slightly between libraries
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else {}
    if name == "hardsigmoid" and dtype == np.float64:
        # PyTorch's double kernel multiplies by the float32 constant 1.0f / 6.0f (rel. error 3e-8)
        tol = dict(rtol=1e-7, atol=1e-12)
    check(fn, x, **tol)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_gradcheck(name):
    fn, kinks = ACTIVATIONS[name]
    x = away_from(rand(3, 4, dtype=np.float64, seed=2, low=-3, high=3), kinks)
    assert gradcheck(fn, x)


@pytest.mark.parametrize("name", ["relu", "gelu", "silu", "softplus", "elu", "hardswish"])
def test_activation_0d_and_empty(name):
    fn, _ = ACTIVATIONS[name]
    check(fn, np.array(0.7, dtype=np.float32))
    check(fn, np.zeros((0, 3), dtype=np.float32))


def test_gradient_at_kinks_matches_torch():
    x = np.array([-3.0, -1.0, -0.5, 0.0, 0.3, 0.5, 1.0, 3.0, 6.0], dtype=np.float64)
    for fn in [lambda lib, x: F(lib).relu(x), lambda lib, x: F(lib).leaky_relu(x, 0.1),
               lambda lib, x: F(lib).hardtanh(x, -1.0, 1.0), lambda lib, x: F(lib).relu6(x),
               lambda lib, x: F(lib).hardswish(x),
               lambda lib, x: F(lib).elu(x), lambda lib, x: F(lib).threshold(x, 0.5, 0.0),
               lambda lib, x: F(lib).hardshrink(x, 0.5), lambda lib, x: F(lib).softshrink(x, 0.5)]:
        check(fn, x)
    check(lambda lib, x: F(lib).hardsigmoid(x), x, rtol=1e-7, atol=1e-12)  # see the float32 1/6 note


def test_float32_stays_float32():
    x = flambeau.randn(3, 3)
    for f in [F(flambeau).gelu, F(flambeau).silu, F(flambeau).elu, F(flambeau).softplus, F(flambeau).mish,
              F(flambeau).selu, lambda t: F(flambeau).leaky_relu(t, 0.3)]:
        assert f(x).dtype == flambeau.float32


def test_large_float32_gelu_matches_torch_and_the_exact_function():
    """Large float32 GELUs take a chunked float32 path (split among threads): forward and gradient
    match PyTorch, on strided input too, and the exact x·Phi(x) (math.erfc) to 1e-5 relative for
    |x| <= 8, deep into the negative tail where 1 + erf(x/√2) would cancel."""
    import math
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((64, 40, 33)) * 3).astype(np.float32)
    x[0, 0, :9] = [0.0, -0.0, -4.0, -6.0, -8.0, 5.0, 9.0, -1e-30, 1e-30]
    for strided in (False, True):           # contiguous, then a transposed view
        check(lambda lib, a: F(lib).gelu(a), x, rtol=2e-5, atol=2e-6, noncontiguous=strided)
    xd = x.reshape(-1).astype(np.float64)
    cdf = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in xd])
    xt = flambeau.tensor(x, requires_grad=True)
    y = F(flambeau).gelu(xt)
    y.sum().backward()
    assert y.dtype == flambeau.float32 and xt.grad.dtype == flambeau.float32
    got = y.detach().numpy().reshape(-1).astype(np.float64)
    near = np.abs(xd) <= 8          # beyond, float32's rounding of x² alone exceeds 1e-5 of exp(-x²/2)
    np.testing.assert_allclose(got[near], (xd * cdf)[near], rtol=1e-5, atol=1e-37)
    np.testing.assert_allclose(got, xd * cdf, rtol=1e-4, atol=1e-37)
    dref = cdf + xd * np.exp(-xd * xd / 2) / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(xt.grad.numpy().reshape(-1), dref, rtol=1e-5, atol=3e-7)
    assert np.signbit(y.detach().numpy()[0, 0, 1])                # gelu(-0.0) = -0.0, as PyTorch


def test_activation_rejects_integer_input():
    with pytest.raises(RuntimeError, match="gelu"):
        F(flambeau).gelu(flambeau.tensor([1, 2]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_prelu(dtype):
    x = away_from(rand(2, 3, 4, dtype=dtype, seed=3))
    w = np.array([0.1, 0.25, -0.3], dtype=dtype)
    check(lambda lib, x, w: F(lib).prelu(x, w), x, w)
    check(lambda lib, x, w: F(lib).prelu(x, w), x, np.array([0.2], dtype=dtype))
    assert gradcheck(lambda lib, x, w: F(lib).prelu(x, w), x, w)
    with pytest.raises(RuntimeError, match="Mismatch of parameter numbers"):
        F(flambeau).prelu(flambeau.randn(2, 4), flambeau.randn(3))


def test_inplace_activation_writes_into_input():
    x = flambeau.tensor([-1.0, 2.0])
    y = F(flambeau).relu(x, inplace=True)
    assert y is x and x.tolist() == [0.0, 2.0]
    x = flambeau.tensor([-1.0, 2.0])
    F(flambeau).leaky_relu_(x, 0.5)
    assert x.tolist() == [-0.5, 2.0]
    # gradients through an in-place activation on a non-leaf equal torch's
    check(lambda lib, x: F(lib).elu((x * 2), inplace=True) * 3, rand(3, 4, dtype=np.float64))
    with pytest.raises(RuntimeError, match="leaf"):
        F(flambeau).relu(flambeau.randn(2, requires_grad=True), inplace=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm(dtype):
    x = rand(3, 4, 5, dtype=dtype, seed=4)
    w, b = rand(4, 5, dtype=dtype, seed=5), rand(4, 5, dtype=dtype, seed=6)
    check(lambda lib, x, w, b: F(lib).layer_norm(x, (4, 5), w, b), x, w, b, rtol=1e-4 if dtype == np.float32
          else None, atol=1e-5 if dtype == np.float32 else None)
    check(lambda lib, x: F(lib).layer_norm(x, [5], eps=1e-3), x, rtol=1e-4 if dtype == np.float32 else None,
          atol=1e-5 if dtype == np.float32 else None)
    assert gradcheck(lambda lib, x, w, b: F(lib).layer_norm(x, (5,), w[0], b[0]), x, w, b)
    with pytest.raises(RuntimeError, match="normalized_shape"):
        F(flambeau).layer_norm(flambeau.randn(3, 4), (5,))


def test_rms_norm():
    x, w = rand(3, 6, dtype=np.float64, seed=7), rand(6, dtype=np.float64, seed=8)
    check(lambda lib, x, w: F(lib).rms_norm(x, (6,), w, 1e-5), x, w)
    assert gradcheck(lambda lib, x, w: F(lib).rms_norm(x, (6,), w, 1e-5), x, w)


# ---------------------------------------------------------------- pad
PADS = [((1, 2), "constant"), ((1, 0, 2, 1), "constant"), ((-1, 2, 0, -1), "constant"), ((2, 1), "reflect"),
        ((1, 2, 2, 0), "reflect"), ((2, 3), "replicate"), ((1, 1, 2, 0), "replicate"), ((1, 2), "circular"),
        ((2, 1, 1, 3), "circular"), ((1, 1, 1, 1, 1, 1), "reflect"), ((0, 2, 1, 0, 2, 1), "replicate")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pad,mode", PADS)
def test_pad(pad, mode, dtype):
    # non-constant modes pad the trailing len(pad) // 2 dims of an input with one or two more dims
    x = rand(2, 3, 4, 5, dtype=dtype, seed=9)
    if mode != "constant" and len(pad) == 2:
        x = x[0]
    check(lambda lib, x: F(lib).pad(x, pad, mode=mode), x)
    assert gradcheck(lambda lib, x: F(lib).pad(x, pad, mode=mode), x[:1, :2])


def test_pad_value_and_errors():
    check(lambda lib, x: F(lib).pad(x, (1, 1), value=3.5), rand(2, 3))
    check(lambda lib, x: F(lib).pad(x, (1, 1, 1, 1, 1, 1)), rand(2, 3, 2))
    with pytest.raises(RuntimeError, match="divisible by 2"):
        F(flambeau).pad(flambeau.randn(2, 3), (1,))
    with pytest.raises(RuntimeError, match="Padding size should be less than"):
        F(flambeau).pad(flambeau.randn(1, 2, 3), (3, 0), mode="reflect")
    with pytest.raises(NotImplementedError, match="Padding size 2 is not supported for 4D"):
        F(flambeau).pad(flambeau.randn(1, 2, 3, 4), (1, 1), mode="replicate")


# ---------------------------------------------------------------- dropout
def test_dropout_statistics_and_scaling():
    flambeau.manual_seed(0)
    x = flambeau.ones(200, 500)
    y = F(flambeau).dropout(x, p=0.3)
    kept = (y.numpy() != 0).mean()
    assert abs(kept - 0.7) < 0.01
    np.testing.assert_allclose(np.unique(y.numpy()), [0.0, 1 / 0.7], rtol=1e-6)
    assert y.dtype == flambeau.float32
    assert F(flambeau).dropout(x, 0.3, training=False) is x
    assert (F(flambeau).dropout(x, 1.0).numpy() == 0).all()
    with pytest.raises(ValueError, match="between 0 and 1"):
        F(flambeau).dropout(x, 1.5)


def test_dropout_deterministic_under_manual_seed_and_gradient():
    flambeau.manual_seed(3)
    a = F(flambeau).dropout(flambeau.ones(50), 0.5)
    flambeau.manual_seed(3)
    x = flambeau.ones(50, requires_grad=True)
    b = F(flambeau).dropout(x, 0.5)
    np.testing.assert_array_equal(a.numpy(), b.detach().numpy())
    b.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), b.detach().numpy())  # grad = mask / (1 - p)


def test_channel_dropout_zeroes_whole_channels():
    x = flambeau.ones(8, 16, 5, 5)
    y = F(flambeau).dropout2d(x, 0.5).numpy()
    per_channel = y.reshape(8, 16, -1)
    assert ((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1)).all()
    y1 = F(flambeau).dropout1d(flambeau.ones(4, 16, 7), 0.5).numpy()
    assert ((y1 == 0).all(-1) | (y1 == 2.0).all(-1)).all()
    y1u = F(flambeau).dropout1d(flambeau.ones(16, 7), 0.5).numpy()  # unbatched (C, L)
    assert ((y1u == 0).all(-1) | (y1u == 2.0).all(-1)).all()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        y3 = F(flambeau).dropout2d(flambeau.ones(4, 16, 7), 0.5).numpy()  # (N, C, L), as PyTorch
    assert any("3D input to dropout2d" in str(m.message) for m in w)
    assert ((y3 == 0).all(-1) | (y3 == 2.0).all(-1)).all()
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input"):
        F(flambeau).dropout1d(flambeau.ones(2, 3, 4, 5))


def test_alpha_dropout_keeps_mean_and_variance():
    x = flambeau.randn(400, 500)
    y = F(flambeau).alpha_dropout(x, 0.2, training=True).numpy()
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02


# ---------------------------------------------------------------- embedding, one_hot
@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding(dtype):
    w = rand(10, 4, dtype=dtype, seed=10)
    idx = np.array([[1, 3, 3], [0, 9, 1]])
    check(lambda lib, w: F(lib).embedding(lib.from_numpy(idx), w), w)
    check(lambda lib, w: F(lib).embedding(lib.from_numpy(idx), w, padding_idx=3), w)
    check(lambda lib, w: F(lib).embedding(lib.from_numpy(idx), w, scale_grad_by_freq=True), w)
    assert gradcheck(lambda lib, w: F(lib).embedding(lib.from_numpy(idx), w), w)
    with pytest.raises(IndexError, match="out of range"):
        F(flambeau).embedding(flambeau.tensor([10]), flambeau.from_numpy(w))


def test_embedding_max_norm_renormalises_rows_like_torch():
    w = rand(6, 3, seed=11, low=-3, high=3)
    idx = np.array([0, 2, 2, 5])
    wf, wt = flambeau.from_numpy(w.copy()), torch.from_numpy(w.copy())
    out_f = F(flambeau).embedding(flambeau.from_numpy(idx), wf, max_norm=1.0)
    out_t = F(torch).embedding(torch.from_numpy(idx), wt, max_norm=1.0)
    np.testing.assert_allclose(out_f.numpy(), out_t.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(wf.numpy(), wt.numpy(), rtol=1e-5, atol=1e-6)


def test_one_hot():
    t = np.array([[0, 2], [1, 4]])
    check(lambda lib: F(lib).one_hot(lib.from_numpy(t)))
    check(lambda lib: F(lib).one_hot(lib.from_numpy(t), num_classes=6))
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F(flambeau).one_hot(flambeau.tensor([3]), 2)
    with pytest.raises(RuntimeError, match="LongTensor"):
        F(flambeau).one_hot(flambeau.tensor([1.0]))


# ---------------------------------------------------------------- normalize, distances, linear
@pytest.mark.parametrize("dtype", DTYPES)
def test_normalize_and_distances(dtype):
    x, y = rand(4, 5, dtype=dtype, seed=12), rand(4, 5, dtype=dtype, seed=13)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else {}
    check(lambda lib, x: F(lib).normalize(x), x, **tol)
    check(lambda lib, x: F(lib).normalize(x, p=1.0, dim=0), x, **tol)
    check(lambda lib, x, y: F(lib).cosine_similarity(x, y), x, y, **tol)
    check(lambda lib, x, y: F(lib).cosine_similarity(x, y[:1], dim=-1), x, y, **tol)
    check(lambda lib, x, y: F(lib).pairwise_distance(x, y), x, y, **tol)
    check(lambda lib, x, y: F(lib).pairwise_distance(x, y, p=1.0, keepdim=True), x, y, **tol)
    assert gradcheck(lambda lib, x, y: F(lib).cosine_similarity(x, y), x, y)
    assert gradcheck(lambda lib, x: F(lib).normalize(x), x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_and_bilinear(dtype):
    x, w, b = rand(3, 4, dtype=dtype, seed=14), rand(2, 4, dtype=dtype, seed=15), rand(2, dtype=dtype, seed=16)
    check(lambda lib, x, w, b: F(lib).linear(x, w, b), x, w, b)
    check(lambda lib, x, w: F(lib).linear(x, w), x[0], w)
    x2, wb = rand(3, 5, dtype=dtype, seed=17), rand(2, 4, 5, dtype=dtype, seed=18)
    check(lambda lib, x, y, w, b: F(lib).bilinear(x, y, w, b), x, x2, wb, b,
          rtol=1e-5 if dtype == np.float32 else None, atol=1e-5 if dtype == np.float32 else None)
