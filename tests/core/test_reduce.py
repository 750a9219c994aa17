"""Reductions and scans against PyTorch: values, dtypes, shapes, indices, gradients (ties too)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import array_shapes

import flambeau
from helpers import check, gradcheck, rand

# Tolerances: float32 reductions sum in a different order than PyTorch's (pairwise vs vectorised):
# RED32 allows a few ulps of the result; float64 keeps helpers' rtol=1e-10, atol=1e-12.
RED32 = dict(rtol=1e-5, atol=1e-5)
# gradcheck: central finite differences in float64, eps=1e-6.
GC = dict(eps=1e-6, atol=1e-5, rtol=1e-3)

DIMS = [None, 0, -1, (0, 2), (-1, 0), (1,), ()]


def _tol(dtype):
    return RED32 if dtype == np.float32 else {}


# ---------------------------------------------------------------------------- sum / mean / prod
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS, ids=str)
@pytest.mark.parametrize("op", ["sum", "mean", "nansum"])
def test_sum_mean(op, dim, keepdim, dtype):
    x = rand(2, 3, 4, dtype=dtype)
    if dim is None:
        if keepdim:
            check(lambda L, t: getattr(L, op)(t, None, keepdim=True), x, **_tol(dtype))
            return
        check(lambda L, t: getattr(L, op)(t), x, **_tol(dtype))
        check(lambda L, t: getattr(t, op)(), x, noncontiguous=True, **_tol(dtype))
        return
    check(lambda L, t: getattr(L, op)(t, dim, keepdim=keepdim), x, **_tol(dtype))
    check(lambda L, t: getattr(t, op)(dim=dim, keepdim=keepdim), x, noncontiguous=True, **_tol(dtype))


def test_sum_mean_special():
    check(lambda L, t: L.sum(t), np.array(2.5, np.float32))
    check(lambda L, t: t.sum(0), np.array(2.5, np.float32))
    check(lambda L, t: t.mean(-1), np.array(2.5, np.float32))
    check(lambda L, t: L.sum(t), np.zeros((0, 3), np.float32))
    check(lambda L, t: L.sum(t, 0), np.zeros((0, 3), np.float32))
    check(lambda L, t: L.mean(t, 0), np.zeros((0, 3), np.float32), grad=False)
    check(lambda L, t: L.sum(t, dtype=L.float64), rand(3, 4))
    check(lambda L, t: L.mean(t, dtype=L.float64), rand(3, 4))
    check(lambda L, t: L.mean(t, (0, 1), True), rand(3, 4))
    # integer and bool sums accumulate in int64
    for dt in (np.int32, np.int8, np.uint8, np.bool_, np.int64):
        x = (np.arange(12).reshape(3, 4) % 5).astype(dt)
        check(lambda L, t: L.sum(t), x)
        check(lambda L, t: t.sum(1), x)
        check(lambda L, t: t.sum(1, dtype=L.int32), x)
        check(lambda L, t: L.prod(t, 0), x)
        check(lambda L, t: L.prod(t), x)
    for L in (flambeau, torch):
        with pytest.raises(RuntimeError, match="mean"):
            L.mean(L.tensor([1, 2]))
        with pytest.raises(IndexError, match="Dimension out of range"):
            L.ones(2, 3).sum(2)
        with pytest.raises(RuntimeError, match="appears multiple times"):
            L.ones(2, 3).sum((0, 0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prod_with_zeros(dtype):
    x = rand(3, 4, dtype=dtype, seed=3)
    x0 = x.copy()
    x0[0, 1] = 0
    x00 = x0.copy()
    x00[0, 3] = 0
    x00[2, 2] = 0
    for a in (x, x0, x00):
        check(lambda L, t: t.prod(), a, **_tol(dtype))
        check(lambda L, t: t.prod(1), a, **_tol(dtype))
        check(lambda L, t: t.prod(-2, keepdim=True), a, **_tol(dtype))
        check(lambda L, t: L.prod(t, 0), a, noncontiguous=True, **_tol(dtype))
    check(lambda L, t: t.prod(), np.array(3.0, dtype))
    check(lambda L, t: t.prod(0), np.zeros((0, 2), dtype))


# ---------------------------------------------------------------------------- max / min
@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_three_forms(op):
    x = rand(3, 4, 5)
    check(lambda L, t: getattr(L, op)(t), x)                        # full: a 0-d tensor
    for dim in (0, -1, 1):
        for keepdim in (False, True):
            check(lambda L, t: getattr(t, op)(dim, keepdim), x)     # (values, indices)
            check(lambda L, t: getattr(L, op)(t, dim=dim, keepdim=keepdim), x, noncontiguous=True)
    y = rand(4, 5, seed=2)
    check(lambda L, t, u: getattr(L, op)(t, u), x, y)               # elementwise with another tensor
    for L in (flambeau, torch):
        r = getattr(L, op)(L.tensor([[1.0, 5.0], [3.0, 2.0]]), 1)
        assert r.values.tolist() == r[0].tolist() and r.indices.tolist() == r[1].tolist()
        v, i = r
        assert i.dtype == L.int64
        assert type(r).__name__ == op
    rf = getattr(flambeau, op)(flambeau.tensor([[1.0, 5.0], [3.0, 2.0]]), 1)
    rt = getattr(torch, op)(torch.tensor([[1.0, 5.0], [3.0, 2.0]]), 1)
    assert repr(rf).replace("flambeau.", "torch.") == repr(rt)


@pytest.mark.parametrize("op", ["max", "min", "amax", "amin"])
def test_max_min_ties(op):
    # full reductions and amax/amin share the gradient evenly among ties; max(dim) picks one index
    x = np.array([[1.0, 3.0, 3.0], [3.0, 0.0, 3.0]], np.float32)
    check(lambda L, t: getattr(L, op)(t), x)
    if op in ("amax", "amin"):
        check(lambda L, t: getattr(L, op)(t, 1), x)
        check(lambda L, t: getattr(L, op)(t, (0, 1), keepdim=True), x)
        check(lambda L, t: getattr(L, op)(t, -2), x)
    else:
        check(lambda L, t: getattr(L, op)(t, 1), np.array([[1.0, 3.0, 2.0], [3.0, 0.0, -1.0]], np.float32))
        # ties along dim: PyTorch returns the first index on CPU
        r = getattr(flambeau, op)(flambeau.tensor([[2.0, 2.0, 1.0, 1.0]]), 1)
        rt = getattr(torch, op)(torch.tensor([[2.0, 2.0, 1.0, 1.0]]), 1)
        assert r.indices.tolist() == rt.indices.tolist()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dim", [None, 0, -1, (0, 2), ()], ids=str)
def test_amax_amin(dim, dtype):
    x = rand(2, 3, 4, dtype=dtype)
    for op in ("amax", "amin"):
        if dim is None:
            check(lambda L, t: getattr(L, op)(t), x)
        else:
            check(lambda L, t: getattr(L, op)(t, dim), x)
            check(lambda L, t: getattr(t, op)(dim, keepdim=True), x, noncontiguous=True)


def test_max_min_integer_empty_zero_dim():
    i = np.array([[3, 1, 4], [1, 5, 9]])
    for op in ("max", "min", "amax", "amin", "argmax", "argmin"):
        check(lambda L, t: getattr(L, op)(t), i)
        check(lambda L, t: getattr(L, op)(t, 1), i)
        check(lambda L, t: getattr(L, op)(t, 0, keepdim=True), i.astype(np.uint8))
        check(lambda L, t: getattr(L, op)(t), np.array(2.5, np.float32))
        check(lambda L, t: getattr(L, op)(t, 0), np.array(2.5, np.float32))
    check(lambda L, t: L.max(t), np.array([True, False]))
    for L in (flambeau, torch):
        with pytest.raises(RuntimeError, match="numel"):
            L.max(L.zeros(0))
        with pytest.raises(IndexError):
            L.max(L.zeros(2, 0), 1)
    check(lambda L, t: L.max(t, 1), np.zeros((0, 3), np.float32))


def test_argmax_argmin():
    x = rand(3, 4, 5)
    for op in ("argmax", "argmin"):
        check(lambda L, t: getattr(L, op)(t), x)
        check(lambda L, t: getattr(L, op)(t, 1), x)
        check(lambda L, t: getattr(L, op)(t, -1, keepdim=True), x, noncontiguous=True)
        check(lambda L, t: getattr(L, op)(t, keepdim=True), x)
        check(lambda L, t: getattr(t, op)(0), np.array([2.0, 5.0, 5.0, 1.0, 1.0], np.float32))  # first of ties
        check(lambda L, t: getattr(L, op)(t), np.array([1.0, np.nan, 3.0], np.float32))


def test_max_min_nan():
    x = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]], np.float32)
    for op in ("max", "min", "amax", "amin"):
        check(lambda L, t: getattr(L, op)(t), x, grad=False)
        check(lambda L, t: getattr(L, op)(t, 1), x, grad=False)


# ---------------------------------------------------------------------------- var / std
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["var", "std"])
def test_var_std(op, dtype):
    x = rand(3, 4, 5, dtype=dtype)
    tol = _tol(dtype)
    f = lambda *a, **k: (lambda L, t: getattr(L, op)(t, *a, **k))  # noqa: E731
    for fn in (f(), f(0), f(-1), f((0, 2)), f(1, keepdim=True), f(unbiased=False), f(1, unbiased=False),
               f(True), f(False), f(dim=(1, 2), correction=0), f(dim=1, correction=2), f((0, -1), keepdim=True),
               f(dim=None, correction=0)):
        check(fn, x, **tol)
    check(lambda L, t: getattr(t, op)(1), x, noncontiguous=True, **tol)
    check(lambda L, t: getattr(L, op)(t), np.array([2.0], dtype), grad=False)  # n - 1 = 0: nan
    check(lambda L, t: getattr(L, op)(t, unbiased=False), np.array(2.0, dtype))
    check(lambda L, t: getattr(L, op)(t, 0), np.full((4, 2), 1.5, dtype))  # constant: std' = nan/0
    vm = getattr(flambeau, op + "_mean")(flambeau.from_numpy(x), 1)
    vt = getattr(torch, op + "_mean")(torch.from_numpy(x), 1)
    np.testing.assert_allclose(vm[0].numpy(), vt[0].numpy(), **tol)
    np.testing.assert_allclose(vm[1].numpy(), vt[1].numpy(), **tol)


# ---------------------------------------------------------------------------- norm
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [2, 1, float("inf"), 3, "fro", 0.5, -float("inf")], ids=str)
def test_norm(p, dtype):
    x = rand(3, 4, dtype=dtype, seed=4)
    x[np.abs(x) < 0.05] = 0.3
    tol = _tol(dtype)
    check(lambda L, t: t.norm(p), x, **tol)
    check(lambda L, t: L.norm(t, p, dim=1), x, **tol)
    check(lambda L, t: L.norm(t, p, dim=-2, keepdim=True), x, noncontiguous=True, **tol)
    if p != "fro":
        check(lambda L, t: L.norm(t, p, dim=(0, 1)), x, **tol)


def test_norm_edges():
    check(lambda L, t: t.norm(), np.zeros(3, np.float32))  # subgradient 0 at the zero vector
    check(lambda L, t: t.norm(1), np.array([0.0, 1.0, -2.0], np.float32))  # sign(0) = 0
    check(lambda L, t: t.norm(), np.array(3.0, np.float32))
    check(lambda L, t: t.norm(), np.zeros((0,), np.float32))
    check(lambda L, t: t.norm(float("inf")), np.array([1.0, -3.0, 3.0], np.float32))  # ties
    check(lambda L, t: t.norm(0), np.array([0.0, 1.0, -2.0], np.float32))
    for L in (flambeau, torch):
        with pytest.raises(RuntimeError):
            L.norm(L.tensor([1, 2]))


# ---------------------------------------------------------------------------- logsumexp / softmax
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logsumexp_softmax(dtype):
    x = rand(3, 4, 5, dtype=dtype) * 5
    tol = _tol(dtype)
    for dim in (0, -1, (0, 2), 1):
        check(lambda L, t: L.logsumexp(t, dim), x, **tol)
        check(lambda L, t: t.logsumexp(dim, keepdim=True), x, noncontiguous=True, **tol)
    for dim in (0, 1, -1):
        check(lambda L, t: L.softmax(t, dim), x, **tol)
        check(lambda L, t: t.log_softmax(dim), x, **tol)
        check(lambda L, t: L.log_softmax(t, dim=dim), x, noncontiguous=True, **tol)
    check(lambda L, t: L.softmax(t, 0, dtype=L.float64), x.astype(np.float32))
    big = np.array([[1000.0, 0.0, -1000.0], [-np.inf, 0.0, 1.0]], dtype)  # no overflow
    check(lambda L, t: L.logsumexp(t, 1), big)
    check(lambda L, t: L.softmax(t, 1), big)
    check(lambda L, t: L.log_softmax(t, 1), big, grad=False)
    check(lambda L, t: L.logsumexp(t, 0), np.array([-np.inf, -np.inf], dtype), grad=False)
    check(lambda L, t: L.logsumexp(t, 0), np.array(2.0, dtype))
    check(lambda L, t: L.softmax(t, 0), np.array(2.0, dtype))
    check(lambda L, t: L.logsumexp(t, 1), np.zeros((2, 0), dtype))
    check(lambda L, t: L.logsumexp(t, 0), np.array([1, 2, 3]))


# ---------------------------------------------------------------------------- scans
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cumsum_cumprod(dtype):
    x = rand(3, 4, dtype=dtype, seed=5)
    tol = _tol(dtype)
    for op in ("cumsum", "cumprod"):
        for dim in (0, 1, -1):
            check(lambda L, t: getattr(L, op)(t, dim), x, **tol)
            check(lambda L, t: getattr(t, op)(dim), x, noncontiguous=True, **tol)
        check(lambda L, t: getattr(L, op)(t, 0), np.array(1.5, dtype))
        check(lambda L, t: getattr(L, op)(t, 0), np.zeros((0, 3), dtype))
        check(lambda L, t: getattr(L, op)(t, 0, dtype=L.float64), x)
        for dt in (np.int32, np.uint8, np.bool_, np.int64):
            check(lambda L, t: getattr(L, op)(t, 1), (np.arange(6).reshape(2, 3) % 3).astype(dt))
    z = x.copy()
    z[0, 1] = 0
    z[2, 0] = 0
    z[2, 3] = 0
    check(lambda L, t: L.cumprod(t, 1), z, **tol)  # exact gradient through zeros
    check(lambda L, t: L.cumprod(t, 0), z, **tol)


# ---------------------------------------------------------------------------- all / any / count_nonzero
def test_all_any():
    b = np.array([[True, False, True], [True, True, True]])
    f = np.array([[1.0, 0.0, 2.0], [3.0, 4.0, 5.0]], np.float32)
    i = np.array([[1, 0, 2], [3, 4, 5]], np.uint8)
    for op in ("all", "any"):
        for x in (b, f, i):
            check(lambda L, t: getattr(L, op)(t), x)
            check(lambda L, t: getattr(t, op)(1), x)
            check(lambda L, t: getattr(L, op)(t, 0, keepdim=True), x)
            check(lambda L, t: getattr(L, op)(t, dim=-1), x)
        check(lambda L, t: getattr(L, op)(t), np.zeros((0,), bool))
        check(lambda L, t: getattr(L, op)(t, 1), np.zeros((2, 0), bool))
    check(lambda L, t: L.count_nonzero(t), f)
    check(lambda L, t: L.count_nonzero(t, 1), f)


# ---------------------------------------------------------------------------- gradcheck
GRADCHECK = {
    "sum": lambda L, t: t.sum((0, 2)), "mean": lambda L, t: t.mean(1, keepdim=True), "prod": lambda L, t: t.prod(1),
    "prod_all": lambda L, t: t.prod(), "max": lambda L, t: t.max(), "max_dim": lambda L, t: t.max(1)[0],
    "min_dim": lambda L, t: t.min(-1).values, "amax": lambda L, t: t.amax((0, 1)), "amin": lambda L, t: t.amin(2),
    "var": lambda L, t: t.var(1), "std": lambda L, t: t.std((0, 2), correction=0), "norm2": lambda L, t: t.norm(),
    "norm1": lambda L, t: t.norm(1, dim=1), "norm3": lambda L, t: t.norm(3, dim=0),
    "norminf": lambda L, t: t.norm(float("inf")), "logsumexp": lambda L, t: t.logsumexp(1),
    "softmax": lambda L, t: t.softmax(-1), "log_softmax": lambda L, t: t.log_softmax(0),
    "cumsum": lambda L, t: t.cumsum(1), "cumprod": lambda L, t: t.cumprod(2),
}


@pytest.mark.parametrize("name", list(GRADCHECK))
def test_gradcheck(name):
    x = rand(2, 3, 4, dtype=np.float64, seed=9)
    x = np.where(np.abs(x) < 0.1, 0.5, x)  # no near-zeros (norm 1/inf kinks), distinct values
    assert gradcheck(GRADCHECK[name], x, **GC)


def test_gradcheck_cumprod_with_zero():
    x = rand(2, 4, dtype=np.float64, seed=9) + 2
    x[0, 1] = 0.0
    assert gradcheck(lambda L, t: t.cumprod(1), x, **GC)
    assert gradcheck(lambda L, t: t.prod(1), x, **GC)


# ---------------------------------------------------------------------------- float32 stays float32
@pytest.mark.parametrize("name", list(GRADCHECK) + ["nansum", "var_unbiased", "mean_all"])
def test_float32_stays_float32(name):
    fn = GRADCHECK.get(name) or {"nansum": lambda L, t: L.nansum(t, 1), "var_unbiased": lambda L, t: t.var(),
                                 "mean_all": lambda L, t: t.mean()}[name]
    x = flambeau.from_numpy(rand(2, 3, 4, seed=1)).requires_grad_()
    out = fn(flambeau, x)
    assert out.dtype == flambeau.float32
    out.sum().backward()
    assert x.grad.dtype == flambeau.float32


# ---------------------------------------------------------------------------- property-based
@settings(max_examples=25, deadline=None)
@given(shape=array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4), data=st.data(),
       op=st.sampled_from(["sum", "mean", "amax", "amin", "var", "std", "logsumexp", "prod", "norm"]),
       keepdim=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]))
def test_reduction_property(shape, data, op, keepdim, dtype):
    nd = len(shape)
    dims = data.draw(st.lists(st.integers(-nd, nd - 1), min_size=1, max_size=nd,
                              unique_by=lambda d: d % nd))
    dim = tuple(dims) if len(dims) > 1 else dims[0]
    x = rand(*shape, dtype=dtype, seed=len(shape))
    if op in ("var", "std"):
        n = int(np.prod([shape[d % nd] for d in dims]))
        if n < 2:
            return
    if op == "norm":
        check(lambda L, t: L.norm(t, 2, dim, keepdim), x, **_tol(dtype))
        return
    if op == "prod" and isinstance(dim, tuple):
        dim = dim[0]
    check(lambda L, t: getattr(L, op)(t, dim, keepdim=keepdim), x, **_tol(dtype))


@settings(max_examples=25, deadline=None)
@given(shape=array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5), data=st.data(),
       op=st.sampled_from(["max", "min", "argmax", "argmin", "cumsum", "cumprod", "softmax", "log_softmax"]))
def test_dim_op_property(shape, data, op):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = rand(*shape, seed=3)
    check(lambda L, t: getattr(L, op)(t, dim), x, **RED32)


# ---------------------------------------------------------------------------- grad_fn names
GRAD_FN = {"a.sum()": "SumBackward0", "a.sum(0)": "SumBackward1", "a.mean()": "MeanBackward0",
           "a.mean(0)": "MeanBackward1", "a.prod()": "ProdBackward0", "a.prod(0)": "ProdBackward1",
           "a.max()": "MaxBackward1", "a.min()": "MinBackward1", "a.max(0)[0]": "MaxBackward0",
           "a.min(0)[0]": "MinBackward0", "a.amax()": "AmaxBackward0", "a.amin(0)": "AminBackward0",
           "a.var()": "VarBackward0", "a.std(0)": "StdBackward0", "a.norm()": "LinalgVectorNormBackward0",
           "a.norm(1)": "LinalgVectorNormBackward0", "a.norm(3, dim=0)": "LinalgVectorNormBackward0",
           "a.logsumexp(0)": "LogsumexpBackward0", "a.softmax(0)": "SoftmaxBackward0",
           "a.log_softmax(0)": "LogSoftmaxBackward0", "a.cumsum(0)": "CumsumBackward0",
           "a.cumprod(0)": "CumprodBackward0", "L.nansum(a)": "NansumBackward0"}


@pytest.mark.parametrize("code", list(GRAD_FN))
def test_grad_fn_names(code):
    for L in (flambeau, torch):
        a = L.tensor([[0.5, 1.5], [2.0, -1.0]], requires_grad=True)
        r = eval(code)
        name = type(r.grad_fn).__name__ if L is torch else r.grad_fn.name()
        assert name == GRAD_FN[code], (L.__name__, name)
