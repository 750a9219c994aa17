"""The layers and functionals of flambeau.nn.functional_extra / flambeau.nn.modules.extra against
torch. Tolerances: helpers.check's defaults (float32 1e-5/1e-6, float64 1e-10/1e-12) unless stated:
grid_sample's float32 *grid* gradient sums value * weight-derivative over channels and corners in a
different order than torch's kernel, so it is compared at rtol 1e-4 / atol 1e-5."""
import re
import warnings

import numpy as np
import pytest
import torch

import flambeau
from flambeau.nn import functional_extra as FE
from flambeau.nn.modules import extra as M
from tests.helpers import check, gradcheck, rand

DTYPES = [np.float32, np.float64]


def _fe(lib):
    return FE if lib is flambeau else torch.nn.functional


def _mods(lib):
    return M if lib is flambeau else torch.nn


# ---------------------------------------------------------------------------- padding modules
PADS = [("ZeroPad1d", (2, 1), 1), ("ZeroPad2d", (1, 0, 2, 1), 2), ("ZeroPad3d", 1, 3),
        ("ReflectionPad1d", (2, 1), 1), ("ReflectionPad2d", (1, 2, 2, 0), 2), ("ReflectionPad3d", (1, 0, 1, 1, 0, 1), 3),
        ("ReplicationPad1d", 3, 1), ("ReplicationPad2d", (1, 3, 0, 2), 2), ("ReplicationPad3d", 2, 3),
        ("CircularPad1d", (2, 1), 1), ("CircularPad2d", (1, 2, 2, 0), 2), ("CircularPad3d", (1, 0, 1, 1, 0, 1), 3)]


@pytest.mark.parametrize("name,padding,nd", PADS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batched", [True, False])
def test_padding_modules(name, padding, nd, dtype, batched):
    shape = ((2,) if batched else ()) + (3,) + (4, 5, 3)[:nd]
    x = rand(*shape, dtype=dtype)
    check(lambda lib, a: getattr(_mods(lib), name)(padding)(a), x, noncontiguous=True)
    assert repr(getattr(M, name)(padding)) == repr(getattr(torch.nn, name)(padding))


@pytest.mark.parametrize("name,padding,nd", [("ConstantPad1d", (2, 1), 1), ("ConstantPad2d", (1, 0, 2, 1), 2),
                                             ("ConstantPad3d", 1, 3), ("ConstantPad2d", (-1, 2, 1, -1), 2)])
def test_constant_pad_modules(name, padding, nd):
    x = rand(2, 3, *(4, 5, 3)[:nd], dtype=np.float64)
    check(lambda lib, a: getattr(_mods(lib), name)(padding, 2.5)(a), x)
    assert repr(M.ConstantPad1d((1, 2), 3.5)) == repr(torch.nn.ConstantPad1d((1, 2), 3.5))


def test_padding_module_errors():
    with pytest.raises(ValueError, match=r"expected 3D or 4D input \(got 2D input\)"):
        M.CircularPad2d(1)(flambeau.zeros(3, 3))
    with pytest.raises(RuntimeError, match="Padding size should be less than"):
        M.ReflectionPad1d(3)(flambeau.zeros(1, 2, 3))


# ---------------------------------------------------------------------------- shuffles
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,r", [((2, 8, 3, 2), 2), ((9, 2, 2), 3), ((2, 2, 4, 3, 1), 2)])
def test_pixel_shuffle(dtype, shape, r):
    x = rand(*shape, dtype=dtype)
    check(lambda lib, a: _fe(lib).pixel_shuffle(a, r), x, noncontiguous=True)
    check(lambda lib, a: _mods(lib).PixelShuffle(r)(a), x)
    y = rand(*shape[:-3], shape[-3], shape[-2] * r, shape[-1] * r, dtype=dtype)
    check(lambda lib, a: _fe(lib).pixel_unshuffle(a, r), y, noncontiguous=True)
    check(lambda lib, a: _mods(lib).PixelUnshuffle(r)(a), y)
    out = FE.pixel_unshuffle(FE.pixel_shuffle(flambeau.from_numpy(x), r), r)
    np.testing.assert_array_equal(out.numpy(), x)


@pytest.mark.parametrize("shape,g", [((2, 6, 3, 2), 3), ((1, 4, 5), 2), ((2, 6, 2, 2, 2), 2), ((3, 5, 1), 1)])
def test_channel_shuffle(shape, g):
    x = rand(*shape, dtype=np.float64)
    check(lambda lib, a: _fe(lib).channel_shuffle(a, g), x, noncontiguous=True)
    check(lambda lib, a: _mods(lib).ChannelShuffle(g)(a), x.astype(np.float32))


def test_shuffle_reprs_and_errors():
    assert repr(M.PixelShuffle(2)) == repr(torch.nn.PixelShuffle(2))
    assert repr(M.PixelUnshuffle(3)) == repr(torch.nn.PixelUnshuffle(3))
    assert repr(M.ChannelShuffle(3)) == repr(torch.nn.ChannelShuffle(3))
    cases = [(lambda lib: _fe(lib).pixel_shuffle(lib.zeros(3, 4), 2)),
             (lambda lib: _fe(lib).pixel_shuffle(lib.zeros(1, 5, 4, 4), 2)),
             (lambda lib: _fe(lib).pixel_shuffle(lib.zeros(1, 4, 4, 4), 0)),
             (lambda lib: _fe(lib).pixel_unshuffle(lib.zeros(1, 5, 4, 3), 2)),
             (lambda lib: _fe(lib).pixel_unshuffle(lib.zeros(1, 5, 3, 4), 2)),
             (lambda lib: _fe(lib).channel_shuffle(lib.zeros(1, 5, 4, 4), 2)),
             (lambda lib: _fe(lib).channel_shuffle(lib.zeros(1, 6, 4, 4), 0)),
             (lambda lib: _fe(lib).channel_shuffle(lib.zeros(2, 6), 2))]
    for case in cases:
        with pytest.raises(RuntimeError) as et:
            case(torch)
        with pytest.raises(RuntimeError) as ef:
            case(flambeau)
        assert str(ef.value) == str(et.value)


# ---------------------------------------------------------------------------- affine_grid / grid_sample
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("size", [(2, 3, 4, 5), (1, 1, 1, 3), (2, 2, 3, 4, 2)])
def test_affine_grid(dtype, align, size):
    nd = len(size) - 2
    theta = rand(size[0], nd, nd + 1, dtype=dtype, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(lambda lib, t: _fe(lib).affine_grid(t, size, align_corners=align), theta)


def test_affine_grid_errors_and_default_warning():
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        FE.affine_grid(flambeau.zeros(1, 2, 3), (1, 1, 2, 2))
    with pytest.raises(ValueError, match="Nx2x3"):
        FE.affine_grid(flambeau.zeros(1, 3, 3), (1, 1, 2, 2), align_corners=False)
    with pytest.raises(ValueError, match="floating point"):
        FE.affine_grid(flambeau.zeros(1, 2, 3, dtype=flambeau.int64), (1, 1, 2, 2), align_corners=False)
    with pytest.raises(NotImplementedError, match="only supports 4D and 5D"):
        FE.affine_grid(flambeau.zeros(1, 2, 3), (1, 2, 3), align_corners=False)
    with pytest.raises(ValueError, match="non-zero, positive"):
        FE.affine_grid(flambeau.zeros(1, 2, 3), (1, 1, 0, 2), align_corners=False)


GS_CASES = [(m, p, a) for m in ("bilinear", "nearest", "bicubic") for p in ("zeros", "border", "reflection")
            for a in (False, True)]


@pytest.mark.parametrize("mode,pad,align", GS_CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_grid_sample_2d(mode, pad, align, dtype):
    x = rand(2, 3, 4, 5, dtype=dtype, seed=1)
    grid = rand(2, 3, 6, 2, dtype=dtype, seed=2, low=-1.4, high=1.4)   # some points outside [-1, 1]
    kw = dict(grad_rtol=1e-4, grad_atol=1e-5) if dtype == np.float32 else {}
    out = check(lambda lib, a, g: _fe(lib).grid_sample(a, g, mode, pad, align), x, grid, **kw)
    assert out.dtype == (flambeau.float32 if dtype == np.float32 else flambeau.float64)
    assert out.grad_fn.name() == "GridSampler2DBackward0"


@pytest.mark.parametrize("mode,pad,align", [c for c in GS_CASES if c[0] != "bicubic"])
def test_grid_sample_3d(mode, pad, align):
    x = rand(2, 2, 3, 4, 5, dtype=np.float64, seed=1)
    grid = rand(2, 2, 3, 2, 3, dtype=np.float64, seed=2, low=-1.3, high=1.3)
    check(lambda lib, a, g: _fe(lib).grid_sample(a, g, mode, pad, align), x, grid)


def test_grid_sample_noncontiguous_and_affine_pipeline():
    x = rand(2, 3, 5, 4, dtype=np.float32, seed=4)
    grid = rand(2, 4, 3, 2, dtype=np.float32, seed=5)
    check(lambda lib, a, g: _fe(lib).grid_sample(a, g, "bilinear", "zeros", False), x, grid, noncontiguous=True,
          grad_rtol=1e-4, grad_atol=1e-5)
    theta = rand(2, 2, 3, dtype=np.float64, seed=6)
    xx = rand(2, 3, 5, 6, dtype=np.float64, seed=7)
    check(lambda lib, a, t: _fe(lib).grid_sample(a, _fe(lib).affine_grid(t, (2, 3, 4, 4), align_corners=True),
                                                 align_corners=True), xx, theta)


def test_grid_sample_gradcheck():
    x = rand(1, 2, 3, 4, dtype=np.float64, seed=8)
    grid = rand(1, 2, 3, 2, dtype=np.float64, seed=9, low=-0.9, high=0.9)
    for mode in ("bilinear", "bicubic"):
        for pad in ("zeros", "border", "reflection"):
            assert gradcheck(lambda lib, a, g: FE.grid_sample(a, g, mode, pad, False), x, grid)
    x3 = rand(1, 2, 2, 3, 3, dtype=np.float64, seed=10)
    g3 = rand(1, 2, 2, 1, 3, dtype=np.float64, seed=11, low=-0.9, high=0.9)
    assert gradcheck(lambda lib, a, g: FE.grid_sample(a, g, "bilinear", "reflection", True), x3, g3)


def test_grid_sample_errors():
    x = flambeau.zeros(2, 3, 4, 5)
    cases = [lambda lib, x: _fe(lib).grid_sample(x, lib.zeros(2, 3, 3), align_corners=False),
             lambda lib, x: _fe(lib).grid_sample(x, lib.zeros(3, 3, 3, 2), align_corners=False),
             lambda lib, x: _fe(lib).grid_sample(x, lib.zeros(2, 3, 3, 3), align_corners=False),
             lambda lib, x: _fe(lib).grid_sample(x, lib.zeros(2, 3, 3, 2, dtype=lib.float64), align_corners=False),
             lambda lib, x: _fe(lib).grid_sample(lib.zeros(1, 1, 2, 2, 2), lib.zeros(1, 1, 1, 1, 3), "bicubic",
                                                 align_corners=False)]
    for case in cases:
        with pytest.raises(RuntimeError) as et:
            case(torch, torch.zeros(2, 3, 4, 5))
        with pytest.raises(RuntimeError) as ef:
            case(flambeau, x)
        assert str(ef.value) == str(et.value)
    with pytest.raises(ValueError, match="expected mode to be"):
        FE.grid_sample(x, flambeau.zeros(2, 1, 1, 2), mode="area")
    with pytest.raises(ValueError, match="expected padding_mode to be"):
        FE.grid_sample(x, flambeau.zeros(2, 1, 1, 2), padding_mode="wrap")


# ---------------------------------------------------------------------------- gumbel_softmax
def test_gumbel_softmax_matches_formula_and_seed():
    logits = rand(4, 5, dtype=np.float64, seed=12)
    flambeau.manual_seed(7)
    e = flambeau.random.rng().standard_exponential((4, 5), dtype=np.float64)
    flambeau.manual_seed(7)
    x = flambeau.from_numpy(logits.copy()).requires_grad_()
    y = FE.gumbel_softmax(x, tau=0.5)
    xt = torch.from_numpy(logits.copy()).requires_grad_()
    yt = torch.softmax((xt - torch.from_numpy(np.log(e))) / 0.5, -1)
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    up = rand(4, 5, dtype=np.float64, seed=13)
    y.backward(flambeau.from_numpy(up))
    yt.backward(torch.from_numpy(up))
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    flambeau.manual_seed(3)
    a = FE.gumbel_softmax(flambeau.from_numpy(logits), dim=0)
    flambeau.manual_seed(3)
    b = FE.gumbel_softmax(flambeau.from_numpy(logits), dim=0)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_allclose(a.numpy().sum(0), 1.0, rtol=1e-12)


def test_gumbel_softmax_hard_statistics_and_straight_through():
    p = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    logits = flambeau.from_numpy(np.tile(np.log(p), (20000, 1)))
    flambeau.manual_seed(0)
    y = FE.gumbel_softmax(logits, hard=True)
    assert y.dtype == flambeau.float32
    yn = y.numpy()
    assert set(np.unique(yn)) <= {0.0, 1.0} and np.all(yn.sum(1) == 1)
    np.testing.assert_allclose(yn.mean(0), p, atol=0.015)   # ~4 standard errors at n = 20000
    x = flambeau.from_numpy(rand(3, 4, seed=14)).requires_grad_()
    flambeau.manual_seed(1)
    FE.gumbel_softmax(x, hard=True).backward(flambeau.from_numpy(rand(3, 4, seed=15)))
    g_hard = x.grad.numpy().copy()
    x.grad = None
    flambeau.manual_seed(1)
    FE.gumbel_softmax(x, hard=False).backward(flambeau.from_numpy(rand(3, 4, seed=15)))
    np.testing.assert_array_equal(g_hard, x.grad.numpy())


# ---------------------------------------------------------------------------- rrelu
def test_rrelu_eval_matches_torch():
    for dtype in DTYPES:
        x = rand(3, 7, dtype=dtype, seed=16)
        check(lambda lib, a: _fe(lib).rrelu(a, 0.1, 0.3, training=False) if lib is flambeau
              else torch.nn.functional.rrelu(a, 0.1, 0.3, training=False), x)
        m = M.RReLU().eval()
        check(lambda lib, a: (m if lib is flambeau else torch.nn.RReLU().eval())(a), x)
    assert repr(M.RReLU()) == repr(torch.nn.RReLU())
    assert repr(M.RReLU(0.1, 0.3, True)) == repr(torch.nn.RReLU(0.1, 0.3, True))


def test_rrelu_training_statistics_and_gradient():
    x = flambeau.from_numpy(-np.ones(40000, np.float32)).requires_grad_()
    flambeau.manual_seed(0)
    y = FE.rrelu(x, 0.1, 0.5, training=True)
    assert y.dtype == flambeau.float32
    slopes = -y.detach().numpy()
    assert slopes.min() >= 0.1 and slopes.max() <= 0.5
    assert abs(slopes.mean() - 0.3) < 0.005 and abs(slopes.var() - 0.4 ** 2 / 12) < 0.001
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), slopes)          # d(a x)/dx = a, the same draw
    pos = flambeau.from_numpy(np.array([0.5, 2.0], np.float32))
    np.testing.assert_array_equal(FE.rrelu(pos, training=True).numpy(), pos.numpy())
    flambeau.manual_seed(5)
    a = M.RReLU()(flambeau.from_numpy(rand(50, seed=17)))
    flambeau.manual_seed(5)
    b = M.RReLU()(flambeau.from_numpy(rand(50, seed=17)))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    t = flambeau.from_numpy(rand(6, seed=18))
    assert FE.rrelu(t, training=True, inplace=True) is t
    with pytest.raises(NotImplementedError):
        FE.rrelu(flambeau.zeros(3, dtype=flambeau.int64), training=True)


# ---------------------------------------------------------------------------- LP pooling
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [2.0, 1.5, 3])
def test_lp_pool(dtype, p):
    x1 = rand(2, 3, 9, dtype=dtype, seed=19, low=0.1, high=2.0)
    check(lambda lib, a: _fe(lib).lp_pool1d(a, p, 3), x1)
    check(lambda lib, a: _fe(lib).lp_pool1d(a, p, 3, 2, True), x1)
    x2 = rand(2, 2, 7, 6, dtype=dtype, seed=20, low=0.1, high=2.0)
    check(lambda lib, a: _fe(lib).lp_pool2d(a, p, (3, 2)), x2, noncontiguous=True)
    check(lambda lib, a: _fe(lib).lp_pool2d(a, p, 2, (1, 2), True), x2)
    check(lambda lib, a: _mods(lib).LPPool2d(p, 2)(a), x2)
    check(lambda lib, a: _mods(lib).LPPool1d(p, 2, 1)(a), x1)
    x3 = rand(1, 2, 4, 4, 5, dtype=dtype, seed=21, low=0.1, high=2.0)
    check(lambda lib, a: _fe(lib).lp_pool3d(a, p, 2), x3)
    assert repr(M.LPPool1d(1.5, 3, 2, True)) == repr(torch.nn.LPPool1d(1.5, 3, 2, True))
    assert repr(M.LPPool2d(2, 3)) == repr(torch.nn.LPPool2d(2, 3))


# ---------------------------------------------------------------------------- max unpooling
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,s,p", [(2, None, 0), (3, 2, 1), ((2, 3), (2, 1), 0)])
def test_max_unpool2d(dtype, k, s, p):
    x = rand(2, 3, 7, 7, dtype=dtype, seed=22)

    def fn(lib, a):
        y, idx = lib.nn.functional.max_pool2d(a, k, s, p, return_indices=True)
        default = (k, s, p) == (3, 2, 1)     # 7x7 is then also the default output size
        return _fe(lib).max_unpool2d(y, idx, k, s, p, output_size=None if default else a.shape[-2:])
    check(fn, x)

    def fn2(lib, a):
        y, idx = lib.nn.functional.max_pool2d(a, k, s, p, return_indices=True)
        return _mods(lib).MaxUnpool2d(k, s, p)(y, idx, output_size=a.shape)
    check(fn2, x)


@pytest.mark.parametrize("batched", [True, False])
def test_max_unpool1d(batched):
    x = rand(*(((2,) if batched else ()) + (3, 9)), dtype=np.float64, seed=23)

    def fn(lib, a):
        y, idx = lib.nn.functional.max_pool1d(a, 3, 2, 1, return_indices=True)
        return _mods(lib).MaxUnpool1d(3, 2, 1)(y, idx)
    check(fn, x)
    assert repr(M.MaxUnpool1d(3, 2, 1)) == repr(torch.nn.MaxUnpool1d(3, 2, 1))
    assert repr(M.MaxUnpool2d(2)) == repr(torch.nn.MaxUnpool2d(2))


@pytest.mark.parametrize("batched", [True, False])
def test_max_unpool3d(batched):
    x = rand(*(((2,) if batched else ()) + (3, 5, 6, 4)), dtype=np.float64, seed=24)

    def fn(lib, a):
        y, idx = lib.nn.functional.max_pool3d(a, 2, 2, return_indices=True)
        return _mods(lib).MaxUnpool3d(2)(y, idx, output_size=a.shape[-3:])
    check(fn, x)
    assert repr(M.MaxUnpool3d(2, 1)) == repr(torch.nn.MaxUnpool3d(2, 1))


def test_max_unpool_errors():
    xt = torch.randn(1, 1, 4, 4)
    yt, it = torch.nn.functional.max_pool2d(xt, 2, return_indices=True)
    yf, i_f = flambeau.from_numpy(yt.numpy().copy()), flambeau.from_numpy(it.numpy().copy())
    cases = [(RuntimeError, lambda F, y, i: F.max_unpool2d(y, i + 100, 2)),
             (ValueError, lambda F, y, i: F.max_unpool2d(y, i, 2, output_size=(9, 9))),
             (ValueError, lambda F, y, i: F.max_unpool2d(y, i, 2, output_size=(5,))),
             (RuntimeError, lambda F, y, i: F.max_unpool2d(y, i.int(), 2)),
             (RuntimeError, lambda F, y, i: F.max_unpool2d(y, i[..., :1], 2))]
    for exc, case in cases:
        with pytest.raises(exc) as et:
            case(torch.nn.functional, yt, it)
        with pytest.raises(exc) as ef:
            case(FE, yf, i_f)
        if "invalid max index" in str(et.value):   # which bad index is named depends on the scan order
            assert re.fullmatch(r"Found an invalid max index: 1\d\d \(output volumes are of size 4x4\)",
                                str(ef.value)), str(ef.value)
        else:
            assert str(ef.value) == str(et.value)
    out = FE.max_unpool2d(yf, i_f, 2, output_size=(5, 5))
    np.testing.assert_array_equal(out.numpy(), torch.nn.functional.max_unpool2d(yt, it, 2, output_size=(5, 5)).numpy())


# ---------------------------------------------------------------------------- losses
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("swap,p", [(False, 2), (True, 1), (True, 3)])
def test_triplet_margin_loss(dtype, reduction, swap, p):
    a, b, c = (rand(5, 4, dtype=dtype, seed=s) for s in (24, 25, 26))
    check(lambda lib, x, y, z: _fe(lib).triplet_margin_loss(x, y, z, margin=0.7, p=p, swap=swap,
                                                            reduction=reduction), a, b, c)
    check(lambda lib, x, y, z: _mods(lib).TripletMarginLoss(0.5, p, swap=swap, reduction=reduction)(x, y, z),
          a[0], b[0], c[0])
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        FE.triplet_margin_loss(flambeau.zeros(3, 4), flambeau.zeros(4), flambeau.zeros(3, 4))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("log_input,full", [(True, False), (False, False), (True, True), (False, True)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_poisson_nll_loss(dtype, log_input, full, reduction):
    x = rand(4, 5, dtype=dtype, seed=27, low=0.1, high=2.0)
    y = rand(4, 5, dtype=dtype, seed=28, low=0.0, high=4.0)
    check(lambda lib, a, b: _fe(lib).poisson_nll_loss(a, b, log_input=log_input, full=full, reduction=reduction),
          x, y)
    check(lambda lib, a, b: _mods(lib).PoissonNLLLoss(log_input, full, reduction=reduction)(a, b), x, y,
          noncontiguous=True)
    with pytest.raises(ValueError, match="bad is not a valid value for reduction"):
        FE.poisson_nll_loss(flambeau.zeros(2), flambeau.zeros(2), reduction="bad")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_multilabel_margin_loss(dtype, reduction):
    x = rand(4, 5, dtype=dtype, seed=29)
    t = np.array([[3, 0, -1, 1, 2], [1, 2, 3, 4, 0], [-1, 0, 0, 0, 0], [2, 2, 4, -1, 3]], np.int64)
    check(lambda lib, a, b: _fe(lib).multilabel_margin_loss(a, b, reduction=reduction), x, t)
    check(lambda lib, a, b: _mods(lib).MultiLabelMarginLoss(reduction=reduction)(a, b), x[1], t[0])
    assert gradcheck(lambda lib, a: FE.multilabel_margin_loss(a, flambeau.from_numpy(t), reduction=reduction), x)


def test_multilabel_margin_loss_errors():
    cases = [lambda lib: _fe(lib).multilabel_margin_loss(lib.zeros(2, 3), lib.tensor([[0, 5, -1], [1, -1, 0]])),
             lambda lib: _fe(lib).multilabel_margin_loss(lib.zeros(2, 3), lib.tensor([[0, 1], [1, -1]])),
             lambda lib: _fe(lib).multilabel_margin_loss(lib.zeros(2, 3), lib.zeros(2, 3)),
             lambda lib: _fe(lib).multilabel_margin_loss(lib.zeros(2, 3, 2), lib.zeros(2, 3, 2, dtype=lib.int64))]
    for case in cases:
        with pytest.raises(RuntimeError) as et:
            case(torch)
        with pytest.raises(RuntimeError) as ef:
            case(flambeau)
        assert str(ef.value) == str(et.value)


def test_loss_reprs():
    for name in ("TripletMarginLoss", "PoissonNLLLoss", "MultiLabelMarginLoss"):
        assert repr(getattr(M, name)()) == repr(getattr(torch.nn, name)())


# ---------------------------------------------------------------------------- feature_alpha_dropout
def test_feature_alpha_dropout():
    x = flambeau.from_numpy(rand(400, 50, 6, dtype=np.float32, seed=30)).requires_grad_()
    assert FE.feature_alpha_dropout(x, 0.5, training=False) is x
    flambeau.manual_seed(0)
    y = FE.feature_alpha_dropout(x, 0.3, training=True)
    assert y.dtype == flambeau.float32
    alpha = 1.7580993408473766
    a = 1.0 / np.sqrt((alpha * alpha * 0.3 + 1) * 0.7)
    yn, xn = y.detach().numpy(), x.detach().numpy()
    dropped_val = -alpha * a + alpha * a * 0.3
    dropped = np.all(np.isclose(yn, dropped_val, rtol=0, atol=1e-6), axis=2)
    kept = np.all(np.isclose(yn, xn * a + alpha * a * 0.3, rtol=1e-6, atol=1e-6), axis=2)
    assert np.all(dropped ^ kept)                                     # whole channels, one or the other
    assert abs(dropped.mean() - 0.3) < 0.015
    y.backward(flambeau.ones_like(y))
    np.testing.assert_allclose(x.grad.numpy(), np.broadcast_to((kept * a)[..., None], xn.shape), rtol=1e-6)
    # SELU-normalised statistics survive
    z = flambeau.from_numpy(np.random.default_rng(0).standard_normal((2000, 100, 1)).astype(np.float32))
    out = FE.feature_alpha_dropout(z, 0.2, training=True).numpy()
    assert abs(out.mean()) < 0.02 and abs(out.std() - 1) < 0.02
    flambeau.manual_seed(4)
    r1 = FE.feature_alpha_dropout(z, 0.5, True).numpy()
    flambeau.manual_seed(4)
    np.testing.assert_array_equal(r1, FE.feature_alpha_dropout(z, 0.5, True).numpy())
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        FE.feature_alpha_dropout(flambeau.zeros(4), 0.5, True)
    with pytest.raises(ValueError, match="between 0 and 1"):
        FE.feature_alpha_dropout(flambeau.zeros(4, 3), 1.5, True)
    assert np.all(FE.feature_alpha_dropout(z, 1.0, True).numpy() == 0)


# ---------------------------------------------------------------------------- adaptive_avg_pool3d
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,out", [((2, 3, 4, 6, 5), (2, 3, None)), ((1, 2, 5, 7, 3), 3),
                                       ((2, 4, 4, 4), (2, 2, 1))])
def test_adaptive_avg_pool3d(dtype, shape, out):
    x = rand(*shape, dtype=dtype, seed=31)
    check(lambda lib, a: _fe(lib).adaptive_avg_pool3d(a, out), x, noncontiguous=True)
    check(lambda lib, a: _mods(lib).AdaptiveAvgPool3d(out)(a), x)
    assert repr(M.AdaptiveAvgPool3d(out)) == repr(torch.nn.AdaptiveAvgPool3d(out))


@pytest.mark.parametrize("amounts", [(-1, 2), (2, -1), (-2, 0), (1, -1, 2, -2)])
def test_circular_padding_crops_then_wraps(amounts):
    x = np.arange(2 * 5 * 6, dtype=np.float64).reshape((1, 2, 5, 6) if len(amounts) == 4 else (2, 5, 6))
    check(lambda lib, a: lib.nn.functional.pad(a, amounts, mode="circular"), x)


def test_multilabel_margin_loss_scales_with_the_targets_not_classes_squared():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 2000)).astype(np.float32)
    y = -np.ones((64, 2000), np.int64)
    y[:, :4] = rng.integers(0, 2000, (64, 4))
    # the (N, C, C) formulation would need ~1 GB here; (N, T, C) is 2 MB
    check(lambda lib, a, t: lib.nn.functional.multilabel_margin_loss(a, t), x, y)


def test_small_modules_follow_torch():
    rng = np.random.default_rng(3)
    a, p, n = (rng.standard_normal((4, 5)) for _ in range(3))
    check(lambda lib, x, y: lib.nn.CosineSimilarity(dim=1, eps=1e-6)(x, y), a, p)
    check(lambda lib, x, y: lib.nn.PairwiseDistance(p=3.0, keepdim=True)(x, y), a, p)
    for swap in (False, True):
        check(lambda lib, x, y, z: lib.nn.TripletMarginWithDistanceLoss(margin=0.5, swap=swap)(x, y, z), a, p, n)
        check(lambda lib, x, y, z: lib.nn.functional.triplet_margin_with_distance_loss(
            x, y, z, distance_function=lambda u, v: (u - v).abs().sum(-1), reduction="sum"), a, p, n)
    v = rng.standard_normal((2, 3, 4, 5, 6))
    check(lambda lib, x: lib.nn.InstanceNorm3d(3, affine=True).double()(x), v)
    check(lambda lib, x: lib.nn.InstanceNorm3d(3)(x[0]), v)
    assert repr(M.TripletMarginWithDistanceLoss()) == repr(torch.nn.TripletMarginWithDistanceLoss())
    assert repr(M.Dropout3d(0.2)) == repr(torch.nn.Dropout3d(0.2))


def test_dropout3d_drops_whole_channels():
    flambeau.manual_seed(0)
    out = FE.dropout3d(flambeau.ones(64, 16, 2, 3, 3), p=0.25).numpy()
    per_channel = out.reshape(64, 16, -1)
    assert np.all(per_channel.min(-1) == per_channel.max(-1))          # a channel is kept or dropped whole
    assert np.allclose(np.unique(out), [0.0, 1 / 0.75]) and abs((out == 0).mean() - 0.25) < 0.03
    assert np.array_equal(FE.dropout3d(flambeau.ones(2, 3, 2, 2, 2), 0.5, training=False).numpy(), np.ones((2, 3, 2, 2, 2)))
    with pytest.warns(UserWarning, match="Received a 2-D input to dropout3d"):
        flat = FE.dropout3d(flambeau.ones(64, 30), 0.5).numpy()          # a batch dim is added: rows drop whole
    assert np.all(flat.min(1) == flat.max(1))
