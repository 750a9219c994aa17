"""Convolutions, unfold/fold and the Conv layers against PyTorch.

Tolerances: float64 the helper's defaults (rtol 1e-10); float32 rtol 1e-4 / atol 1e-5, since a
convolution output is a sum of C*kh*kw float32 products accumulated in another order than
PyTorch's (oneDNN) kernels. With oneDNN installed, every test also runs on flambeau's oneDNN
path (float32 only; float64 stays with NumPy).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import check, gradcheck, rand

import flambeau
from flambeau.nn.modules.conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, Fold, Unfold
from flambeau.ops import conv as C

F32 = dict(rtol=1e-4, atol=1e-5)


@pytest.fixture(autouse=True, params=["batch GEMM", "per-sample GEMMs", "oneDNN"])
def layout(request, monkeypatch):
    """Every test runs with both column layouts of flambeau's own convolution: one GEMM over the
    chunk's batch, and the thin layers' GEMM per sample (chosen by C*k; these tests' layers are
    thin); and once more with oneDNN's float32 convolutions when it is installed."""
    if request.param == "oneDNN":
        if not flambeau.backends.mkldnn.is_available():
            pytest.skip("oneDNN is not installed (pip install 'flambeau[onednn]')")
        monkeypatch.setattr(flambeau.backends.mkldnn, "enabled", True)
        return request.param
    monkeypatch.setattr(flambeau.backends.mkldnn, "enabled", False)
    limit = 0 if request.param == "batch GEMM" else 1 << 30
    monkeypatch.setattr(C, "_PER_SAMPLE_FWD", limit)
    monkeypatch.setattr(C, "_PER_SAMPLE_GW", limit)
    return request.param
# PyTorch warns that an even kernel with padding="same" needs a padded copy; flambeau does not
pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")


def F(lib):
    return C if lib is flambeau else torch.nn.functional


def _conv_case(dtype, n, cin, cout, hw, k, groups, seed=0):
    x = rand(n, cin, *hw, dtype=dtype, seed=seed)
    w = rand(cout, cin // groups, *k, dtype=dtype, seed=seed + 1)
    b = rand(cout, dtype=dtype, seed=seed + 2)
    return x, w, b


# ---------------------------------------------------------------------------- conv2d
CONV2D = [
    # kernel, stride, padding, dilation, groups, bias
    (1, 1, 0, 1, 1, True),
    (3, 1, 0, 1, 1, True),
    (3, 1, 1, 1, 1, False),
    (3, 2, 1, 1, 1, True),
    (5, 1, 2, 1, 1, True),
    (5, 2, 0, 1, 1, False),
    (3, 1, "same", 1, 1, True),
    (4, 1, "same", 1, 1, True),          # even kernel: PyTorch pads the extra one at the end
    (3, 1, "same", 2, 1, False),
    (3, 1, "valid", 1, 1, True),
    (3, 1, 2, 2, 1, True),
    (3, 2, 1, 2, 2, True),
    (3, 1, 1, 1, 2, True),
    (3, 1, 1, 1, 4, True),               # depthwise (groups == in_channels)
    ((2, 3), (2, 1), (1, 0), (1, 2), 1, True),
]


@pytest.mark.parametrize("k,s,p,d,g,bias", CONV2D)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_matches_torch(k, s, p, d, g, bias, dtype):
    kk = (k, k) if isinstance(k, int) else k
    x, w, b = _conv_case(dtype, 2, 4, 6 if g != 4 else 8, (7, 6), kk, g)
    tol = F32 if dtype == np.float32 else {}
    if bias:
        check(lambda lib, x, w, b: F(lib).conv2d(x, w, b, stride=s, padding=p, dilation=d, groups=g), x, w, b, **tol)
    else:
        check(lambda lib, x, w: F(lib).conv2d(x, w, stride=s, padding=p, dilation=d, groups=g), x, w, **tol)


@pytest.mark.parametrize("shape", [(1, 3, 5, 5), (3, 2, 9, 4), (1, 1, 3, 3)])
def test_conv2d_odd_sizes_and_batch_one(shape):
    x = rand(*shape, dtype=np.float32)
    w = rand(4, shape[1], 3, 3, seed=1)
    check(lambda lib, x, w: F(lib).conv2d(x, w, padding=1), x, w, **F32)


def test_conv2d_unbatched_and_noncontiguous():
    check(lambda lib, x, w, b: F(lib).conv2d(x, w, b, padding=1), rand(3, 5, 6, dtype=np.float64),
          rand(2, 3, 3, 3, dtype=np.float64, seed=1), rand(2, dtype=np.float64, seed=2))
    check(lambda lib, x, w: F(lib).conv2d(x, w, stride=2), rand(2, 3, 6, 7, dtype=np.float64),
          rand(4, 3, 6, 3, dtype=np.float64, seed=1), noncontiguous=True)


def test_conv2d_large_batch_spans_several_chunks(monkeypatch):
    monkeypatch.setattr(C, "_CHUNK_BYTES", 4096)       # force the cache-blocked path to chunk
    x, w, b = _conv_case(np.float64, 7, 3, 5, (6, 5), (3, 3), 1)
    check(lambda lib, x, w, b: F(lib).conv2d(x, w, b, stride=(1, 2), padding=1), x, w, b)
    check(lambda lib, x, w, b: F(lib).conv_transpose2d(x, w, b, stride=2, padding=1),
          rand(7, 3, 4, 5, dtype=np.float64), rand(3, 2, 3, 3, dtype=np.float64, seed=1),
          rand(2, dtype=np.float64, seed=2))


def test_conv2d_keeps_float32_and_grad_fn_name():
    x = flambeau.randn(2, 3, 5, 5, requires_grad=True)
    w = flambeau.randn(4, 3, 3, 3, requires_grad=True)
    y = C.conv2d(x, w)
    assert y.dtype == flambeau.float32 and y.shape == (2, 4, 3, 3)
    assert y.grad_fn.name() == "ConvolutionBackward0"
    y.sum().backward()
    assert x.grad.dtype == flambeau.float32 and w.grad.dtype == flambeau.float32


def test_conv2d_only_weight_or_only_input_grad():
    x, w, _ = _conv_case(np.float64, 2, 3, 4, (5, 5), (3, 3), 1)
    fx = flambeau.from_numpy(x)
    fw = flambeau.from_numpy(w).requires_grad_()
    tw = torch.from_numpy(w).requires_grad_()
    C.conv2d(fx, fw, padding=1).sum().backward()
    torch.nn.functional.conv2d(torch.from_numpy(x), tw, padding=1).sum().backward()
    np.testing.assert_allclose(fw.grad.numpy(), tw.grad.numpy(), rtol=1e-10)
    fx = flambeau.from_numpy(x).requires_grad_()
    tx = torch.from_numpy(x).requires_grad_()
    C.conv2d(fx, flambeau.from_numpy(w), padding=1).sum().backward()
    torch.nn.functional.conv2d(tx, torch.from_numpy(w), padding=1).sum().backward()
    np.testing.assert_allclose(fx.grad.numpy(), tx.grad.numpy(), rtol=1e-10)


# ---------------------------------------------------------------------------- conv1d / transpose
@pytest.mark.parametrize("k,s,p,d,g", [(1, 1, 0, 1, 1), (3, 2, 1, 1, 1), (5, 1, "same", 1, 1), (3, 1, 2, 2, 2),
                                       (3, 1, 1, 1, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv1d_matches_torch(k, s, p, d, g, dtype):
    x, w, b = _conv_case(dtype, 2, 4, 4, (9,), (k,), g)
    check(lambda lib, x, w, b: F(lib).conv1d(x, w, b, stride=s, padding=p, dilation=d, groups=g), x, w, b,
          **(F32 if dtype == np.float32 else {}))


CONVT = [
    # kernel, stride, padding, output_padding, groups, dilation
    (3, 1, 0, 0, 1, 1),
    (3, 2, 0, 0, 1, 1),
    (3, 2, 1, 1, 1, 1),
    (4, 2, 1, 0, 1, 1),
    (2, 2, 0, 0, 1, 1),
    (3, 1, 1, 0, 2, 1),
    (3, 2, 2, 1, 1, 2),
    ((2, 3), (1, 2), (0, 1), (0, 1), 1, 1),
]


@pytest.mark.parametrize("k,s,p,op,g,d", CONVT)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_transpose2d_matches_torch(k, s, p, op, g, d, dtype):
    kk = (k, k) if isinstance(k, int) else k
    x = rand(2, 4, 5, 4, dtype=dtype)
    w = rand(4, 6 // g, *kk, dtype=dtype, seed=1)
    b = rand(6 // g * g, dtype=dtype, seed=2)
    check(lambda lib, x, w, b: F(lib).conv_transpose2d(x, w, b, stride=s, padding=p, output_padding=op, groups=g,
                                                       dilation=d), x, w, b, **(F32 if dtype == np.float32 else {}))


def test_conv_transpose1d_matches_torch():
    check(lambda lib, x, w: F(lib).conv_transpose1d(x, w, stride=3, padding=1, output_padding=2),
          rand(2, 3, 6, dtype=np.float64), rand(3, 2, 4, dtype=np.float64, seed=1))


# ---------------------------------------------------------------------------- unfold / fold
@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=(2, 3), padding=1, stride=2),
                                dict(kernel_size=3, dilation=2, padding=(2, 1)), dict(kernel_size=1, stride=3)])
def test_unfold_matches_torch(kw):
    check(lambda lib, x: F(lib).unfold(x, **kw), rand(2, 3, 7, 6, dtype=np.float64))
    check(lambda lib, x: F(lib).unfold(x, **kw), rand(3, 7, 6))


@pytest.mark.parametrize("size,kw,L", [((4, 5), dict(kernel_size=2), 12), ((5, 6), dict(kernel_size=(2, 3), padding=1,
                                                                                       stride=2), 9),
                                       ((6, 6), dict(kernel_size=3, dilation=2), 4)])
def test_fold_matches_torch(size, kw, L):
    kk = kw["kernel_size"] if isinstance(kw["kernel_size"], tuple) else (kw["kernel_size"],) * 2
    check(lambda lib, x: F(lib).fold(x, size, **kw), rand(2, 3 * kk[0] * kk[1], L, dtype=np.float64))


def test_fold_of_unfold_counts_overlaps():
    x = flambeau.ones(1, 1, 4, 4)
    y = C.fold(C.unfold(x, 2, stride=1), (4, 4), 2, stride=1)
    t = torch.nn.functional.fold(torch.nn.functional.unfold(torch.ones(1, 1, 4, 4), 2), (4, 4), 2)
    np.testing.assert_array_equal(y.numpy(), t.numpy())


# ---------------------------------------------------------------------------- gradcheck (float64)
def test_gradcheck_conv2d():
    assert gradcheck(lambda lib, x, w, b: C.conv2d(x, w, b, stride=2, padding=1, dilation=1),
                     rand(1, 2, 5, 4), rand(3, 2, 3, 3, seed=1), rand(3, seed=2))
    assert gradcheck(lambda lib, x, w: C.conv2d(x, w, padding="same", dilation=2, groups=2),
                     rand(1, 2, 4, 4), rand(2, 1, 2, 3, seed=1))


def test_gradcheck_conv1d_and_transpose():
    assert gradcheck(lambda lib, x, w, b: C.conv1d(x, w, b, stride=2, padding=1), rand(2, 2, 5), rand(2, 2, 3, seed=1),
                     rand(2, seed=2))
    assert gradcheck(lambda lib, x, w, b: C.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
                     rand(1, 2, 3, 2), rand(2, 2, 3, 3, seed=1), rand(2, seed=2))


def test_gradcheck_unfold_fold():
    assert gradcheck(lambda lib, x: C.unfold(x, 2, padding=1, stride=2), rand(1, 2, 3, 4))
    assert gradcheck(lambda lib, x: C.fold(x, (3, 4), 2, padding=1, stride=2), rand(1, 8, 6))


# ---------------------------------------------------------------------------- errors
def _err(fn):
    with pytest.raises(Exception) as e:
        fn()
    return e


def test_conv2d_error_messages_match_torch():
    x = flambeau.zeros(64, 3, 28, 28)
    e = _err(lambda: C.conv2d(x, flambeau.zeros(32, 1, 3, 3)))
    assert e.type is RuntimeError and str(e.value) == (
        "Given groups=1, weight of size [32, 1, 3, 3], expected input[64, 3, 28, 28] to have 1 channels, "
        "but got 3 channels instead")
    e = _err(lambda: C.conv2d(flambeau.zeros(64, 784), flambeau.zeros(32, 1, 3, 3)))
    assert str(e.value) == ("Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: "
                            "[64, 784]")
    e = _err(lambda: C.conv2d(flambeau.zeros(2, 1, 2, 2), flambeau.zeros(3, 1, 3, 3)))
    assert "Kernel size can't be greater than actual input size" in str(e.value)
    e = _err(lambda: C.conv2d(x, flambeau.zeros(4, 3, 3, 3), flambeau.zeros(3)))
    assert "expected bias to be 1-dimensional with 4 elements, but got bias of size [3]" in str(e.value)
    e = _err(lambda: C.conv2d(x, flambeau.zeros(4, 3, 3, 3), stride=2, padding="same"))
    assert str(e.value) == "padding='same' is not supported for strided convolutions"
    e = _err(lambda: C.conv2d(x, flambeau.zeros(4, 3, 3, 3), padding="foo"))
    assert str(e.value) == "Invalid padding string: 'foo'"
    e = _err(lambda: C.conv2d(x.double(), flambeau.zeros(4, 3, 3, 3)))
    assert e.type is RuntimeError and "Input type (double) and weight type (float)" in str(e.value)
    e = _err(lambda: C.conv2d(x, flambeau.zeros(3, 1, 3, 3), groups=2))
    assert "expected weight to be divisible by 2 at dimension 0" in str(e.value)
    e = _err(lambda: C.conv_transpose2d(x, flambeau.zeros(4, 3, 3, 3)))
    assert str(e.value) == ("Given transposed=1, weight of size [4, 3, 3, 3], expected input[64, 3, 28, 28] to "
                            "have 4 channels, but got 3 channels instead")
    e = _err(lambda: C.conv_transpose2d(flambeau.zeros(1, 4, 5, 5), flambeau.zeros(4, 3, 3, 3), output_padding=1))
    assert str(e.value).startswith("output padding must be smaller than either stride or dilation, but got "
                                   "output_padding_height: 1 output_padding_width: 1 stride_height: 1")
    e = _err(lambda: C.fold(flambeau.zeros(1, 7, 9), (4, 5), (2, 3)))
    assert "divisible by the product of kernel_size, but got input.size(1)=7" in str(e.value)


# ---------------------------------------------------------------------------- layers
def _copy_params(fl, th):
    with torch.no_grad():
        for (n, p), (m, q) in zip(fl.named_parameters(), th.named_parameters()):
            assert n == m and tuple(p.shape) == tuple(q.shape)
            q.copy_(torch.from_numpy(p.detach().numpy().copy()))


@pytest.mark.parametrize("ctor", [
    lambda nn: nn.Conv2d(1, 32, 3),
    lambda nn: nn.Conv2d(3, 8, (3, 5), stride=2, padding=1, dilation=2, bias=False),
    lambda nn: nn.Conv2d(4, 4, 3, padding="same", groups=2),
    lambda nn: nn.Conv2d(4, 6, 3, padding=1, padding_mode="zeros"),
    lambda nn: nn.Conv1d(3, 5, 3, stride=2),
    lambda nn: nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1),
    lambda nn: nn.ConvTranspose1d(4, 2, 3, groups=2, bias=False),
])
def test_conv_layers_repr_state_dict_and_forward(ctor):
    import types
    fl_nn = types.SimpleNamespace(Conv1d=Conv1d, Conv2d=Conv2d, ConvTranspose1d=ConvTranspose1d,
                                  ConvTranspose2d=ConvTranspose2d)
    fl, th = ctor(fl_nn), ctor(torch.nn)
    assert repr(fl) == repr(th)
    assert list(fl.state_dict().keys()) == list(th.state_dict().keys())
    for (n, p), (m, q) in zip(fl.state_dict().items(), th.state_dict().items()):
        assert tuple(p.shape) == tuple(q.shape) and p.dtype == flambeau.float32
    _copy_params(fl, th)
    nd = fl.weight.dim() - 2
    x = rand(2, fl.weight.shape[1] * fl.groups if not fl.transposed else fl.weight.shape[0], *([7] * nd))
    check(lambda lib, x: (fl if lib is flambeau else th)(x), x, **F32)


def test_conv_padding_modes_match_torch():
    for mode in ("reflect", "replicate", "circular"):
        fl, th = Conv2d(2, 3, 3, padding=(1, 2), padding_mode=mode), torch.nn.Conv2d(2, 3, 3, padding=(1, 2),
                                                                                   padding_mode=mode)
        assert repr(fl) == repr(th)
        _copy_params(fl, th)
        check(lambda lib, x: (fl if lib is flambeau else th)(x), rand(2, 2, 5, 6), **F32)


def test_conv_default_init_matches_torch_distribution():
    conv = Conv2d(16, 32, 3)
    bound = 1 / math.sqrt(16 * 9)      # kaiming_uniform_(a=sqrt(5)) on fan_in = 144
    w, b = conv.weight.detach().numpy(), conv.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(b).max() <= bound and abs(w.mean()) < 0.1 * bound
    assert conv.weight.requires_grad and conv.weight.dtype == flambeau.float32


def test_conv_layer_argument_errors():
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        Conv2d(3, 4, 3, padding_mode="foo")


def test_conv_transpose_output_size_argument():
    fl, th = ConvTranspose2d(3, 2, 3, stride=2, padding=1), torch.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    _copy_params(fl, th)
    x = rand(1, 3, 4, 4)
    yf = fl(flambeau.from_numpy(x), output_size=[8, 8])
    yt = th(torch.from_numpy(x), output_size=[8, 8])
    assert tuple(yf.shape) == tuple(yt.shape) == (1, 2, 8, 8)
    np.testing.assert_allclose(yf.detach().numpy(), yt.detach().numpy(), **F32)
    with pytest.raises(ValueError, match="requested an output size of"):
        fl(flambeau.from_numpy(x), output_size=[12, 12])


def test_unfold_fold_layers():
    assert repr(Unfold(kernel_size=(2, 3))) == repr(torch.nn.Unfold(kernel_size=(2, 3)))
    assert repr(Fold(output_size=(4, 5), kernel_size=2)) == repr(torch.nn.Fold(output_size=(4, 5), kernel_size=2))
    check(lambda lib, x: (Unfold(2, padding=1) if lib is flambeau else torch.nn.Unfold(2, padding=1))(x),
          rand(2, 3, 4, 4, dtype=np.float64))


@pytest.mark.parametrize("transposed", [False, True])
def test_conv_empty_batch_forward_and_backward(transposed):
    """A batch of 0 gives an empty output and zero weight/bias gradients, as in PyTorch."""
    import torch
    x = np.zeros((0, 3, 6, 6), np.float32)
    w = np.random.default_rng(0).standard_normal((3, 4, 3, 3) if transposed else (4, 3, 3, 3)).astype(np.float32)
    b = np.ones(4, np.float32)
    outs = []
    for lib in (flambeau, torch):
        xt, wt, bt = (lib.from_numpy(a.copy()).requires_grad_() for a in (x, w, b))
        f = lib.nn.functional.conv_transpose2d if transposed else lib.nn.functional.conv2d
        y = f(xt, wt, bt, padding=1)
        y.sum().backward()
        outs.append((tuple(y.shape), wt.grad.numpy().copy(), bt.grad.numpy().copy(), tuple(xt.grad.shape)))
    (s1, gw1, gb1, gx1), (s2, gw2, gb2, gx2) = outs
    assert s1 == s2 and gx1 == gx2
    np.testing.assert_array_equal(gw1, gw2)
    np.testing.assert_array_equal(gb1, gb2)
