"""Pooling, adaptive pooling, interpolate and the pooling/upsampling layers against PyTorch.

Max pooling and average pooling with PyTorch's summation order are exact; float32 results use
the helper's default tolerances (rtol 1e-5, atol 1e-6) except the GEMM-based adaptive averages
and linear interpolation (rtol 1e-5, atol 1e-6 as well: a 2-term weighted sum per axis).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import check, gradcheck, rand

import flambeau
from flambeau.nn.modules.pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
)
from flambeau.nn.modules.upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
from flambeau.ops import pool as P


def F(lib):
    return P if lib is flambeau else torch.nn.functional


POOL2D = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(2, 3), stride=(1, 2)),
    dict(kernel_size=3, stride=1),
    dict(kernel_size=1, stride=2),
]


@pytest.mark.parametrize("kw", POOL2D + [dict(kernel_size=(2, 3), dilation=2, padding=1),
                                         dict(kernel_size=2, dilation=(1, 2), ceil_mode=True)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool2d_matches_torch(kw, dtype):
    x = rand(2, 3, 9, 8, dtype=dtype)
    check(lambda lib, x: F(lib).max_pool2d(x, **kw), x)
    check(lambda lib, x: F(lib).max_pool2d(x, return_indices=True, **kw), x)


def test_max_pool2d_ties_route_to_the_first_maximum():
    x = np.round(rand(2, 2, 7, 6, dtype=np.float64) * 2) / 2     # many equal values
    check(lambda lib, x: F(lib).max_pool2d(x, 3, 1, return_indices=True), x)
    check(lambda lib, x: F(lib).max_pool2d(x, 2), np.zeros((1, 1, 4, 4)))


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=(2, 3)), dict(kernel_size=3),
                                dict(kernel_size=(1, 2)), dict(kernel_size=(3, 1)), dict(kernel_size=2, ceil_mode=True)])
@pytest.mark.parametrize("shape", [(2, 3, 6, 12), (2, 3, 7, 11), (3, 9, 12)])
def test_max_pool2d_tiling_windows_with_ties_match_torch(kw, shape):
    """Windows that tile the input (stride = kernel) take a row-then-column tournament: the winner
    must still be the first maximum in row-major order, with ties everywhere, windows of only
    -inf, rows and columns left over at the edges, strided input and unbatched input."""
    x = np.round(rand(*shape, dtype=np.float64) * 2) / 2
    x[..., :2, :4] = -np.inf
    check(lambda lib, x: F(lib).max_pool2d(x, return_indices=True, **kw), x)
    check(lambda lib, x: F(lib).max_pool2d(x.transpose(-1, -2), **kw), x)
    x[..., 2, 3] = x[..., 3, 2] = np.nan   # NaN wins, the last one seen when a window holds two
    check(lambda lib, x: F(lib).max_pool2d(x, return_indices=True, **kw), x, grad=False)


def test_max_pool2d_tiling_windows_split_among_threads():
    # more than one block of rows (256K elements each), float32, ties from a ReLU
    x = np.maximum(rand(16, 8, 64, 64, dtype=np.float32), 0)
    check(lambda lib, x: F(lib).max_pool2d(x, 2), x)


def test_max_pool2d_nan_and_minus_inf_like_torch():
    x = rand(1, 2, 6, 6, dtype=np.float64)
    x[0, 0, 1, 1] = np.nan
    x[0, 1, :3, :3] = -np.inf
    check(lambda lib, x: F(lib).max_pool2d(x, 3, 2, padding=1, return_indices=True), x, grad=False)


@pytest.mark.parametrize("kw", POOL2D)
@pytest.mark.parametrize("cip", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_avg_pool2d_matches_torch(kw, cip, dtype):
    check(lambda lib, x: F(lib).avg_pool2d(x, count_include_pad=cip, **kw), rand(2, 3, 9, 8, dtype=dtype))


def test_avg_pool2d_divisor_override_and_unbatched():
    check(lambda lib, x: F(lib).avg_pool2d(x, 3, 2, 1, divisor_override=5), rand(2, 3, 7, 8, dtype=np.float64))
    check(lambda lib, x: F(lib).avg_pool2d(x, 2), rand(3, 6, 5, dtype=np.float64))
    check(lambda lib, x: F(lib).max_pool2d(x, 2), rand(3, 6, 5, dtype=np.float64))


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=3, stride=2, ceil_mode=True), dict(kernel_size=4, stride=1,
                                                                                   padding=2)])
def test_pool1d_matches_torch(kw):
    x = rand(2, 3, 11, dtype=np.float64)
    check(lambda lib, x: F(lib).max_pool1d(x, return_indices=True, **kw), x)
    check(lambda lib, x: F(lib).avg_pool1d(x, count_include_pad=False, **kw), x)
    check(lambda lib, x: F(lib).avg_pool1d(x, **kw), x.astype(np.float32))


@pytest.mark.parametrize("out", [(3, 4), 1, (5, 3), (9, 8), (4, 4), (12, 10), (None, 2), (2, 7)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adaptive_pool2d_matches_torch(out, dtype):
    x = rand(2, 3, 9, 8, dtype=dtype)
    check(lambda lib, x: F(lib).adaptive_avg_pool2d(x, out), x)
    check(lambda lib, x: F(lib).adaptive_max_pool2d(x, out, return_indices=True), x)


def test_adaptive_pool_global_and_1d():
    check(lambda lib, x: F(lib).adaptive_avg_pool2d(x, 1), rand(4, 5, 13, 11))
    check(lambda lib, x: F(lib).adaptive_avg_pool2d(x, (2, 2)), rand(2, 3, 16, 16))   # divisible, big windows
    check(lambda lib, x: F(lib).adaptive_avg_pool1d(x, 4), rand(2, 3, 10, dtype=np.float64))
    check(lambda lib, x: F(lib).adaptive_max_pool1d(x, 4), rand(2, 3, 10, dtype=np.float64))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_adaptive_max_pool_first_maximum_and_nan(dtype):
    """Output size 1 takes one argmax per plane: the first of tied maxima wins, a plane of -inf
    routes to its first element, and a NaN (PyTorch keeps the last one) takes the general path."""
    x = np.round(rand(4, 5, 6, 7, dtype=dtype) * 2) / 2
    x[0, 0] = -np.inf
    x[1, 1, 2:4, 2:4] = x.max() + 1
    check(lambda lib, x: F(lib).adaptive_max_pool2d(x, 1, return_indices=True), x)
    check(lambda lib, x: F(lib).adaptive_max_pool1d(x, 1, return_indices=True), x.reshape(4, 5, 42))
    check(lambda lib, x: F(lib).adaptive_max_pool2d(x.transpose(-1, -2), (1, 1)), x)
    x[2, 3, 1, 1] = x[2, 3, 4, 5] = np.nan
    check(lambda lib, x: F(lib).adaptive_max_pool2d(x, 1, return_indices=True), x, grad=False)


INTERP = [
    dict(scale_factor=2),
    dict(size=(5, 13)),
    dict(scale_factor=1.7),
    dict(scale_factor=(0.5, 3)),
    dict(size=(4, 3), mode="nearest-exact"),
    dict(scale_factor=2, mode="bilinear"),
    dict(scale_factor=2, mode="bilinear", align_corners=True),
    dict(size=(5, 13), mode="bilinear", align_corners=True),
    dict(size=(4, 3), mode="bilinear"),
    dict(scale_factor=0.6, mode="bilinear"),
    dict(scale_factor=1.5, mode="bilinear", recompute_scale_factor=True),
    dict(size=(3, 4), mode="area"),
    dict(scale_factor=2, mode="bicubic"),
    dict(size=(5, 13), mode="bicubic", align_corners=True),
    dict(scale_factor=0.6, mode="bicubic"),                      # taps clamped at both borders
    dict(size=(4, 3), mode="bilinear", antialias=True),
    dict(size=(20, 5), mode="bilinear", antialias=True, align_corners=True),
    dict(scale_factor=0.4, mode="bicubic", antialias=True),
    dict(size=(3, 17), mode="bicubic", antialias=True, align_corners=True),
    dict(size=(4, 3), mode="lanczos", antialias=True),
    dict(scale_factor=1.6, mode="lanczos", antialias=True),
]


@pytest.mark.parametrize("kw", INTERP)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_interpolate_matches_torch(kw, dtype):
    check(lambda lib, x: F(lib).interpolate(x, **kw), rand(2, 3, 9, 8, dtype=dtype))


def test_interpolate_linear_1d():
    check(lambda lib, x: F(lib).interpolate(x, scale_factor=2.5, mode="linear"), rand(2, 3, 7, dtype=np.float64))
    check(lambda lib, x: F(lib).interpolate(x, size=4, mode="nearest"), rand(2, 3, 7, dtype=np.float64))


def test_interpolate_errors():
    x = flambeau.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="only one of size or scale_factor should be defined"):
        P.interpolate(x, size=3, scale_factor=2)
    with pytest.raises(ValueError, match="either size or scale_factor should be defined"):
        P.interpolate(x)
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        P.interpolate(x, size=3, align_corners=True)
    with pytest.raises(NotImplementedError, match="Got 4D input, but linear mode needs 3D input"):
        P.interpolate(x, size=3, mode="linear")
    with pytest.raises(ValueError, match="Anti-alias option is restricted to bilinear, bicubic, and lanczos"):
        P.interpolate(x, size=3, mode="nearest", antialias=True)
    with pytest.raises(ValueError, match="Anti-alias option is restricted"):
        P.interpolate(flambeau.zeros(1, 1, 4), size=3, mode="linear", antialias=True)
    with pytest.raises(ValueError, match="Lanczos mode requires antialias=True"):
        P.interpolate(x, size=3, mode="lanczos")
    with pytest.raises(ValueError, match="Lanczos mode does not support align_corners=True"):
        P.interpolate(x, size=3, mode="lanczos", antialias=True, align_corners=True)
    with pytest.raises(NotImplementedError, match=r"Only 3D, 4D and 5D input .* \(got 5D\) .* \(got bicubic\)"):
        P.interpolate(flambeau.zeros(1, 1, 4, 4, 4), size=3, mode="bicubic")


@pytest.mark.parametrize("kw", [dict(mode="bilinear"), dict(mode="bicubic"), dict(mode="bilinear", antialias=True),
                                dict(mode="bicubic", antialias=True), dict(mode="bilinear", align_corners=True)])
def test_interpolate_uint8_images(kw):
    """uint8 images resample one axis at a time, each pass rounded and clipped to 0..255: within
    1 of PyTorch's fixed-point uint8 kernels (bicubic overshoots are clipped between passes)."""
    img = np.random.default_rng(0).integers(0, 256, (2, 3, 9, 7)).astype(np.uint8)
    for size in [(5, 11), (4, 3)]:
        out = P.interpolate(flambeau.tensor(img), size=size, **kw)
        ref = torch.nn.functional.interpolate(torch.tensor(img), size=size, **kw)
        assert out.dtype == flambeau.uint8
        assert np.abs(out.numpy().astype(int) - ref.numpy().astype(int)).max() <= 1
    for lib in (flambeau, torch):
        with pytest.raises(RuntimeError, match="not implemented for 'Long'"):
            F(lib).interpolate(lib.zeros(1, 1, 4, 4, dtype=lib.int64), size=3, **kw)


@pytest.mark.parametrize("mode, antialias, node", [
    ("bicubic", False, "UpsampleBicubic2DBackward0"),
    ("bilinear", True, "UpsampleBilinear2DAaBackward0"),
    ("bicubic", True, "UpsampleBicubic2DAaBackward0"),
    ("lanczos", True, "UpsampleLanczos2DAaBackward0"),
])
def test_interpolate_node_names_follow_torch(mode, antialias, node):
    for lib in (flambeau, torch):
        x = lib.ones(1, 1, 6, 6, requires_grad=True)
        assert F(lib).interpolate(x, size=(3, 4), mode=mode, antialias=antialias).grad_fn.name() == node


def test_antialiased_downsampling_removes_aliasing():
    """One-pixel stripes shrunk 3x: plain bilinear lands on single pixels and keeps a
    full-contrast alias (0, 1, 0, 1 ...); the antialiased filter averages each output's six
    pixels to near the mean."""
    row = np.tile(np.array([0.0, 1.0], np.float32), 24)
    x = flambeau.from_numpy(np.ascontiguousarray(np.broadcast_to(row, (1, 1, 3, 48))))
    plain = P.interpolate(x, size=(1, 16), mode="bilinear").numpy().ravel()
    smooth = P.interpolate(x, size=(1, 16), mode="bilinear", antialias=True).numpy().ravel()
    assert plain.max() - plain.min() == 1.0
    assert np.abs(smooth - 0.5).max() < 0.1


# ---------------------------------------------------------------------------- gradcheck (float64)
def test_gradcheck_pools():
    x = rand(1, 2, 5, 6)
    assert gradcheck(lambda lib, x: P.max_pool2d(x, 3, 2, padding=1, ceil_mode=True), x)
    assert gradcheck(lambda lib, x: P.max_pool2d(x, 2, 1, dilation=2), x)
    assert gradcheck(lambda lib, x: P.avg_pool2d(x, 3, 2, padding=1, count_include_pad=False), x)
    assert gradcheck(lambda lib, x: P.avg_pool1d(x, 2), rand(2, 2, 5))
    assert gradcheck(lambda lib, x: P.adaptive_avg_pool2d(x, (3, 4)), x)
    assert gradcheck(lambda lib, x: P.adaptive_max_pool2d(x, (2, 4)), x)


def test_gradcheck_interpolate():
    x = rand(1, 2, 3, 4)
    assert gradcheck(lambda lib, x: P.interpolate(x, scale_factor=1.5), x)
    assert gradcheck(lambda lib, x: P.interpolate(x, size=(5, 3), mode="bilinear"), x)
    assert gradcheck(lambda lib, x: P.interpolate(x, size=(5, 7), mode="bilinear", align_corners=True), x)
    assert gradcheck(lambda lib, x: P.interpolate(x, size=(5, 2), mode="bicubic"), x)
    assert gradcheck(lambda lib, x: P.interpolate(x, size=(2, 7), mode="bicubic", align_corners=True), x)
    assert gradcheck(lambda lib, x: P.interpolate(x, size=(2, 3), mode="bicubic", antialias=True), x)


# ---------------------------------------------------------------------------- errors
def test_pool_error_messages_match_torch():
    x = flambeau.zeros(64, 3, 28, 28)
    with pytest.raises(RuntimeError) as e:
        P.max_pool2d(x, 3, padding=2)
    assert str(e.value) == "pad should be at most half of effective kernel size, but got pad=2, kernel_size=3 and dilation=1"
    with pytest.raises(RuntimeError) as e:
        P.max_pool2d(flambeau.zeros(1, 1, 2, 2), 3)
    assert str(e.value) == "Given input size: (1x2x2). Calculated output size: (1x0x0). Output size is too small"
    with pytest.raises(RuntimeError) as e:
        P.avg_pool2d(flambeau.zeros(1, 1, 2, 2), 3)
    assert "Output size is too small" in str(e.value)
    with pytest.raises(RuntimeError, match=r"Expected 3D or 4D tensor, but got \[2, 3\]"):
        P.adaptive_avg_pool2d(flambeau.zeros(2, 3), 2)


# ---------------------------------------------------------------------------- layers
@pytest.mark.parametrize("name,args,kwargs", [
    ("MaxPool2d", (2,), {}),
    ("MaxPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True)),
    ("MaxPool1d", (3,), dict(stride=1, dilation=2)),
    ("AvgPool2d", (2,), {}),
    ("AvgPool2d", ((3, 2),), dict(stride=1, padding=1, count_include_pad=False)),
    ("AvgPool1d", (3,), dict(stride=2)),
    ("AdaptiveAvgPool2d", ((1, 1),), {}),
    ("AdaptiveAvgPool2d", ((3, None),), {}),
    ("AdaptiveAvgPool1d", (4,), {}),
    ("AdaptiveMaxPool2d", ((3, 2),), {}),
    ("Upsample", (), dict(scale_factor=2)),
    ("Upsample", (), dict(size=(5, 7), mode="bilinear", align_corners=False)),
    ("UpsamplingNearest2d", (), dict(scale_factor=3)),
    ("UpsamplingBilinear2d", (), dict(size=(4, 5))),
])
def test_pool_layers_repr_and_forward(name, args, kwargs):
    import flambeau.nn.modules.pooling as fp
    import flambeau.nn.modules.upsampling as fu
    fl = getattr(fp, name, None) or getattr(fu, name)
    fl, th = fl(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(fl) == repr(th)
    assert list(fl.state_dict()) == list(th.state_dict()) == []
    x = rand(2, 3, 7, dtype=np.float64) if "1d" in name else rand(2, 3, 6, 7, dtype=np.float64)
    check(lambda lib, x: (fl if lib is flambeau else th)(x), x)


def test_max_pool_layer_return_indices():
    fl, th = MaxPool2d(2, return_indices=True), torch.nn.MaxPool2d(2, return_indices=True)
    check(lambda lib, x: (fl if lib is flambeau else th)(x), rand(2, 3, 6, 7, dtype=np.float64))
    fl, th = AdaptiveMaxPool2d(3, return_indices=True), torch.nn.AdaptiveMaxPool2d(3, return_indices=True)
    check(lambda lib, x: (fl if lib is flambeau else th)(x), rand(2, 3, 6, 7, dtype=np.float64))
    assert MaxPool1d(2)(flambeau.zeros(1, 2, 6)).shape == (1, 2, 3)
    assert AvgPool1d(2)(flambeau.zeros(1, 2, 6)).shape == (1, 2, 3)
    assert AvgPool2d(2)(flambeau.zeros(1, 2, 6, 6)).shape == (1, 2, 3, 3)
    assert AdaptiveAvgPool1d(2)(flambeau.zeros(1, 2, 6)).shape == (1, 2, 2)
    assert AdaptiveAvgPool2d(2)(flambeau.zeros(1, 2, 6, 5)).shape == (1, 2, 2, 2)
    assert Upsample(scale_factor=2)(flambeau.zeros(1, 2, 3, 3)).shape == (1, 2, 6, 6)
    assert UpsamplingNearest2d(size=4)(flambeau.zeros(1, 2, 3, 3)).shape == (1, 2, 4, 4)
    assert UpsamplingBilinear2d(scale_factor=2)(flambeau.zeros(1, 2, 3, 3)).shape == (1, 2, 6, 6)


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1)])
def test_max_pool2d_backward_routes_only_to_winners(kw):
    """Positions that won nothing get +0, as in PyTorch: not -0 from a negative gradient, nor NaN
    from an infinite one (disjoint and overlapping windows)."""
    x = rand(2, 3, 6, 6, dtype=np.float32)
    g = -np.abs(rand(2, 3, *F(torch).max_pool2d(torch.from_numpy(x), **kw).shape[2:], dtype=np.float32, seed=1))
    g[0, 0, 0, 0] = -np.inf
    fx, tx = flambeau.from_numpy(x).requires_grad_(), torch.from_numpy(x).requires_grad_()
    F(flambeau).max_pool2d(fx, **kw).backward(flambeau.from_numpy(g))
    F(torch).max_pool2d(tx, **kw).backward(torch.from_numpy(g))
    got, want = fx.grad.numpy(), tx.grad.numpy()
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
