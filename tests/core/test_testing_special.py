"""flambeau.testing (assert_close messages and tolerances, make_tensor) and flambeau.special
against torch. special tolerances: helpers.check's defaults, except where stated per function
(gammaln / digamma in float32: torch evaluates its own float32 approximations, rtol 1e-5 on
values, 1e-4 on gradients; digamma's float64 gradient, trigamma, agrees to rtol 1e-9)."""
import numpy as np
import pytest
import torch

import flambeau
from flambeau import special as S
from flambeau import testing as T
from tests.helpers import check, gradcheck

DTYPES = [np.float32, np.float64]


def _pair(a):
    return flambeau.from_numpy(np.array(a, copy=True)), torch.from_numpy(np.array(a, copy=True))


def _same_error(fl_args, th_args, **kw):
    with pytest.raises(Exception) as et:
        torch.testing.assert_close(*th_args, **kw)
    with pytest.raises(Exception) as ef:
        T.assert_close(*fl_args, **kw)
    assert type(ef.value) is type(et.value)
    got = str(ef.value).replace("flambeau._tensor.Tensor", "flambeau.Tensor")   # the class's module path
    assert got == str(et.value).replace("torch.", "flambeau."), (got, str(et.value))


# ---------------------------------------------------------------------------- assert_close
def test_assert_close_passes_within_default_tolerances():
    a = np.array([1.0, 2.0, 3.0], np.float32)
    fa, _ = _pair(a)
    T.assert_close(fa, flambeau.from_numpy(a * (1 + 1e-6)))          # rtol 1.3e-6 for float32
    T.assert_close(flambeau.from_numpy(a.astype(np.float64)), flambeau.from_numpy(a.astype(np.float64) + 1e-7))
    T.assert_close(1.0, 1.0 + 1e-8)
    T.assert_close([fa, {"k": fa}], (fa, {"k": fa}))
    T.assert_close(fa, flambeau.from_numpy(a.astype(np.float64)), check_dtype=False)
    n = flambeau.tensor([float("nan"), 1.0])
    T.assert_close(n, n.clone(), equal_nan=True)
    T.assert_close(fa, fa + 0.5, rtol=0, atol=0.5)


@pytest.mark.parametrize("case", range(14))
def test_assert_close_messages_match_torch(case):
    a = np.array([1.0, 2.0, 3.0], np.float32)
    f, t = _pair(a)
    d = np.array([0, 0.5, 0.1], np.float32)
    cases = [
        lambda L, x: (x, x + L.from_numpy(d.copy()) if L is flambeau else x + torch.from_numpy(d.copy())),
        lambda L, x: (x, x.double()),
        lambda L, x: (x, x[:2]),
        lambda L, x: (x.long(), x.long() + (flambeau if L is flambeau else torch).tensor([0, 1, 0])),
        lambda L, x: (1.0, 1.5),
        lambda L, x: (1, 2),
        lambda L, x: (1, 1.0),
        lambda L, x: (x, [1.0, 2.0, 3.0]),
        lambda L, x: ([x, x], [x, x + 1]),
        lambda L, x: ({"x": x}, {"x": x + 1}),
        lambda L, x: (x.reshape(3, 1), x.reshape(3, 1) + (flambeau if L is flambeau else torch).tensor([[0], [0], [1.]])),
        lambda L, x: ((flambeau if L is flambeau else torch).tensor([True, False]),
                      (flambeau if L is flambeau else torch).tensor([True, True])),
        lambda L, x: ((flambeau if L is flambeau else torch).tensor(1.), (flambeau if L is flambeau else torch).tensor(2.)),
        lambda L, x: ((flambeau if L is flambeau else torch).tensor([1.0, float("inf"), float("nan")]),
                      (flambeau if L is flambeau else torch).tensor([1.0, float("-inf"), float("nan")])),
    ]
    _same_error(cases[case](flambeau, f), cases[case](torch, t))


def test_assert_close_options():
    f, t = _pair(np.array([1.0, 2.0, 3.0], np.float32))
    _same_error((f, f + 1), (t, t + 1), msg="custom")
    _same_error((f, f + 1), (t, t + 1), msg=lambda m: m + "!!")
    _same_error((f, f + 0.01), (t, t + 0.01), rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="but got no atol"):
        T.assert_close(f, f, rtol=1e-3)
    z2 = flambeau.zeros(2, 3)
    z2t = flambeau.zeros(3, 2).t()
    T.assert_close(z2, z2t)
    _same_error((z2, z2t), (torch.zeros(2, 3), torch.zeros(3, 2).t()), check_stride=True)


# ---------------------------------------------------------------------------- make_tensor
def test_make_tensor():
    flambeau.manual_seed(0)
    x = T.make_tensor((200, 30), dtype=flambeau.float32, device="cpu")
    assert x.dtype == flambeau.float32 and x.shape == (200, 30)
    xn = x.numpy()
    assert xn.min() >= -9 and xn.max() <= 9 and abs(xn.mean()) < 0.3 and xn.std() > 4
    y = T.make_tensor(4, 5, dtype=flambeau.float64, device="cpu", low=2, high=3, requires_grad=True)
    assert y.requires_grad and y.shape == (4, 5) and y.dtype == flambeau.float64
    assert y.detach().numpy().min() >= 2 and y.detach().numpy().max() <= 3
    i = T.make_tensor((1000,), dtype=flambeau.int64, device="cpu", low=0, high=3)
    assert set(np.unique(i.numpy())) == {0, 1, 2}
    u = T.make_tensor((1000,), dtype=flambeau.uint8, device="cpu")
    assert u.dtype == flambeau.uint8 and u.numpy().min() >= 0 and u.numpy().max() <= 9
    b = T.make_tensor((100,), dtype=flambeau.bool, device="cpu")
    assert b.dtype == flambeau.bool and 0 < b.numpy().sum() < 100
    nc = T.make_tensor((3, 4), dtype=flambeau.float32, device="cpu", noncontiguous=True)
    assert not nc.is_contiguous() and nc.shape == (3, 4)
    assert np.all(T.make_tensor((50,), dtype=flambeau.float32, device="cpu", exclude_zero=True, low=-1,
                                high=1).numpy() != 0)
    flambeau.manual_seed(9)
    a = T.make_tensor((5,), dtype=flambeau.float32, device="cpu")
    flambeau.manual_seed(9)
    np.testing.assert_array_equal(a.numpy(), T.make_tensor((5,), dtype=flambeau.float32, device="cpu").numpy())
    for kw in (dict(dtype=flambeau.float32, low=5, high=2), dict(dtype=flambeau.int64, requires_grad=True),
               dict(dtype=flambeau.float32, low=float("nan"))):
        th = {k: (getattr(torch, str(v).split(".")[-1]) if k == "dtype" else v) for k, v in kw.items()}
        with pytest.raises(ValueError) as et:
            torch.testing.make_tensor((2, 3), device="cpu", **th)
        with pytest.raises(ValueError) as ef:
            T.make_tensor((2, 3), device="cpu", **kw)
        assert str(ef.value) == str(et.value).replace("torch.", "flambeau.")


# ---------------------------------------------------------------------------- special
def _u(lo, hi, n=60, seed=0, extra=()):
    return np.concatenate([np.random.default_rng(seed).uniform(lo, hi, n), extra])


@pytest.mark.parametrize("dtype", DTYPES)
def test_special_wrappers(dtype):
    x = _u(-4, 4).astype(dtype).reshape(6, 10)
    check(lambda lib, a: lib.special.expit(a), x, noncontiguous=True)
    check(lambda lib, a: lib.special.erf(a), x, rtol=2e-6 if dtype == np.float32 else None)
    check(lambda lib, a: lib.special.softmax(a, 1), x)
    check(lambda lib, a: lib.special.log_softmax(a, 0), x)
    check(lambda lib, a: lib.special.logsumexp(a, 1, keepdim=True), x)


# flambeau.special is a new module, not yet attached as flambeau.special: call it through S
def _sp(lib):
    return S if lib is flambeau else torch.special


@pytest.mark.parametrize("dtype", DTYPES)
def test_logit(dtype):
    x = _u(0.02, 0.98).astype(dtype)
    check(lambda lib, a: _sp(lib).logit(a), x)
    y = _u(-0.2, 1.2, seed=1, extra=(0.0, 1.0)).astype(dtype)
    check(lambda lib, a: _sp(lib).logit(a, 0.05), y)
    with np.errstate(all="ignore"):
        check(lambda lib, a: _sp(lib).logit(a), y, grad=False)


@pytest.mark.parametrize("dtype", DTYPES)
def test_erfc_erfinv(dtype):
    x = _u(-5, 9, 200, extra=(0.0, 30.0, -30.0)).astype(dtype)
    check(lambda lib, a: _sp(lib).erfc(a), x)
    big = _u(-3, 8, 5000, seed=2).astype(dtype)          # the vectorised float32 path
    check(lambda lib, a: _sp(lib).erfc(a), big, rtol=3e-7 if dtype == np.float32 else None)
    y = _u(-0.999, 0.999, 200, seed=3, extra=(0.0, 1e-9, -0.9999999)).astype(dtype)
    check(lambda lib, a: _sp(lib).erfinv(a), y, rtol=1e-9 if dtype == np.float64 else None,
          grad_rtol=1e-9 if dtype == np.float64 else 2e-5)
    edge = np.array([1.0, -1.0, 1.5, np.nan], dtype)
    check(lambda lib, a: _sp(lib).erfinv(a), edge, grad=False)
    assert gradcheck(lambda lib, a: S.erfinv(a), _u(-0.9, 0.9, 10, seed=4))
    assert gradcheck(lambda lib, a: S.erfc(a), _u(-2, 2, 10, seed=4))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gammaln_digamma(dtype):
    # away from the poles and from digamma's root (x ~ 1.4616), where a relative error is ill-posed
    x = np.concatenate([_u(0.05, 1.3, 40), _u(1.6, 40, 60, seed=5), _u(-4.8, -4.2, 10, seed=6),
                        _u(-2.7, -2.3, 10, seed=7)]).astype(dtype)
    f32 = dtype == np.float32
    check(lambda lib, a: _sp(lib).gammaln(a), x, rtol=1e-5 if f32 else None, grad_rtol=1e-4 if f32 else 1e-9)
    check(lambda lib, a: _sp(lib).digamma(a), x, rtol=1e-5 if f32 else 1e-10,
          grad_rtol=1e-4 if f32 else 1e-9, atol=1e-6 if f32 else 1e-12)
    poles = np.array([0.0, -0.0, -1.0, -3.0, np.inf, 1.0, 2.0, 0.5], dtype)
    check(lambda lib, a: _sp(lib).digamma(a), poles, grad=False)
    check(lambda lib, a: _sp(lib).gammaln(a), poles, grad=False)
    assert gradcheck(lambda lib, a: S.digamma(a), _u(0.3, 6, 10, seed=8))
    assert gradcheck(lambda lib, a: S.gammaln(a), _u(-2.8, 6, 10, seed=9))


@pytest.mark.parametrize("dtype", DTYPES)
def test_xlogy_xlog1py(dtype):
    x = np.array([[0.0, 0.0, 1.5, -2.0], [3.0, 0.0, 0.5, 1.0]], dtype)
    y = np.array([[0.0, 2.0, 2.5, 3.0], [0.7, 1.5, 4.0, 0.2]], dtype)
    check(lambda lib, a, b: _sp(lib).xlogy(a, b), x, y, noncontiguous=True)
    check(lambda lib, a, b: _sp(lib).xlog1py(a, b), x, y)
    check(lambda lib, a, b: _sp(lib).xlogy(a, b), x, y[0])               # broadcasting
    check(lambda lib, a: _sp(lib).xlogy(a, 3.0), x)
    check(lambda lib, b: _sp(lib).xlogy(2.0, b), y)
    nan = np.array([0.0, 0.0], dtype), np.array([np.nan, 1.0], dtype)
    check(lambda lib, a, b: _sp(lib).xlogy(a, b), *nan, grad=False)
    check(lambda lib, a, b: _sp(lib).xlog1py(a, b), *nan, grad=False)
    assert gradcheck(lambda lib, a, b: S.xlog1py(a, b), _u(-1, 1, 6), _u(0.1, 2, 6, seed=1))


def _pos(*shape, seed=0):
    return np.random.default_rng(seed).uniform(0.3, 2.5, shape)


GRADCHECK_CASES = {
    "special.Lgamma": (lambda lib, a: lib.lgamma(a), (_pos(3, 2),)),
    "special.Digamma": (lambda lib, a: lib.digamma(a), (_pos(3, 2, seed=1),)),
    "special.Polygamma": (lambda lib, a: lib.polygamma(2, a), (_pos(3, 2, seed=2),)),
    "special.Erfinv": (lambda lib, a: lib.erfinv(a / 3), (_pos(3, 2, seed=3),)),
    "special.Erfc": (lambda lib, a: lib.erfc(a), (_pos(3, 2, seed=4),)),
    "special.Logit": (lambda lib, a: lib.logit(a / 3), (_pos(3, 2, seed=5),)),
    "special.Xlogy": (lambda lib, a, b: lib.xlogy(a, b), (_pos(3, 2, seed=6), _pos(3, 2, seed=7))),
    "special.XLog1pY": (lambda lib, a, b: lib.special.xlog1py(a, b), (_pos(3, 2, seed=8), _pos(3, 2, seed=9))),
}


def test_toplevel_special_functions_and_methods_match_torch():
    x = _pos(4, 3, seed=10)
    # digamma's and polygamma's gradients: PyTorch's own trigamma/polygamma are accurate to ~1e-9
    # relative (ours to the last digits, see test_special_positive), hence grad_rtol 1e-8
    for name in ("lgamma", "digamma", "erfc"):
        check(lambda lib, a: getattr(lib, name)(a) + getattr(a, name)(), x, grad_rtol=1e-8)
    check(lambda lib, a: lib.polygamma(1, a) + a.polygamma(2), x, rtol=1e-8, grad_rtol=1e-8)
    check(lambda lib, a: lib.logit(a / 3) + (a / 3).logit(), x)
    check(lambda lib, a: lib.erfinv(a / 3) + (a / 3).erfinv(), x)
    check(lambda lib, a, b: lib.xlogy(a, b) + a.xlogy(b), x, _pos(4, 3, seed=11))


def test_polygamma_below_zero_and_assert_close_on_arrays():
    x = np.array([-0.5, -3.7, -2.3, 1.5])
    for n in (1, 2, 3):
        check(lambda lib, a: lib.polygamma(n, a), x, grad=False, rtol=1e-8)
    # the poles 0, -1, -2 ... are (-1)^(n+1) inf (for n = 1 PyTorch returns a large finite value there)
    for n in (2, 3):
        check(lambda lib, a: lib.polygamma(n, a), np.array([0.0, -1.0, -4.0]), grad=False)
    assert_close = flambeau.testing.assert_close
    assert_close(np.array([1.0, 2.0]), np.array([1.0, 2.0]))
    with pytest.raises(AssertionError, match="not close"):
        assert_close(np.array([1.0]), np.array([2.0]))
