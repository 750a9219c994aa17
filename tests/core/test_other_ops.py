"""PyTorch's "Other operations" (flambeau/ops/other.py) against PyTorch: values, dtypes and
gradients of diag/diag_embed/diagflat/trace, tril/triu_indices, kron, cdist/pdist/dist,
cosine_similarity, cartesian_prod, block_diag, cummax/cummin, logcumsumexp, histc, bincount,
bucketize, searchsorted, unique(_consecutive), meshgrid, vander, atleast_*d, baddbmm/addbmm/
addmv/addr, chain_matmul, renorm and cross; the error cases raise PyTorch's exception types.
"""
import warnings

import numpy as np
import pytest
import torch

import flambeau
from helpers import check, gradcheck, rand

NAN, INF = float("nan"), float("inf")
# float32 GEMMs (matmul, bmm) accumulate in a different order than PyTorch's BLAS
TOL32 = dict(rtol=1e-5, atol=1e-5)


def _x(*shape, low=0.2, high=0.9, seed=0):
    """Distinct values in [low, high] (no ties: cummax/cummin are differentiable there)."""
    n = int(np.prod(shape))
    return (low + (high - low) * (np.random.default_rng(seed).permutation(n) + 0.5) / n).reshape(shape)


GRADCHECK_CASES = {
    "other.DiagEmbed": (lambda lib, a: lib.ops.diag_embed(a, 1, 0, 2), (_x(2, 3),)),
    "other.Cummax": (lambda lib, a: lib.ops.cummax(a, 1).values, (_x(3, 4),)),
    "other.Cummin": (lambda lib, a: lib.ops.cummin(a, -1).values, (_x(3, 4),)),
    "other.Logcumsumexp": (lambda lib, a: lib.ops.logcumsumexp(a * 5, 0), (_x(3, 4),)),
}


def _lib_args(lib, arrays):
    conv = torch.from_numpy if lib is torch else flambeau.from_numpy
    return [conv(np.array(a, copy=True)) if isinstance(a, np.ndarray) else a for a in arrays]


def same_error(fn, *arrays, match=None):
    """``fn(lib, *tensors)`` raises in torch, and flambeau raises the same exception type
    (and a message containing ``match`` if given)."""
    with pytest.raises(Exception) as et:
        fn(torch, *_lib_args(torch, arrays))
    with pytest.raises(Exception) as ef:
        fn(flambeau, *_lib_args(flambeau, arrays))
    assert type(ef.value) is type(et.value), f"flambeau raised {ef.value!r}, torch {et.value!r}"
    if match is not None:
        assert match in str(ef.value), str(ef.value)


def ints(*vals, dtype=np.int64):
    return np.array(vals, dtype=dtype)


# ---------------------------------------------------------------------------- diag, diag_embed, diagflat, trace
@pytest.mark.parametrize("offset", [0, 1, 2, -1, -3, 5])
def test_diag_vector(offset):
    check(lambda lib, x: lib.diag(x, offset), rand(3))
    check(lambda lib, x: lib.diag(x, diagonal=offset), rand(4, dtype=np.float64))


@pytest.mark.parametrize("offset", [0, 1, -2, 3, -3, 7])
def test_diag_matrix(offset):
    check(lambda lib, x: lib.diag(x, offset), rand(3, 4), noncontiguous=True)


def test_diag_int_and_empty():
    check(lambda lib, x: lib.diag(x), ints(1, 2, 3), grad=False)
    check(lambda lib, x: lib.diag(x, 1), ints(1, 2, 3, 4, dtype=np.int32).reshape(2, 2), grad=False)
    check(lambda lib, x: lib.diag(x), rand(0))
    check(lambda lib, x: lib.diag(x, 1), rand(0, 3))


def test_diag_is_a_copy():
    x = flambeau.ones(2, 2)
    d = flambeau.diag(x)
    d.add_(1)
    assert x.numpy().tolist() == [[1, 1], [1, 1]]


def test_diag_errors():
    same_error(lambda lib, x: lib.diag(x), rand(2, 2, 2), match="Supports 1D or 2D tensors. Got 3D")
    same_error(lambda lib, x: lib.diag(x), np.array(1.0, np.float32))


@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 3, 4)])
@pytest.mark.parametrize("offset,d1,d2", [(0, -2, -1), (1, 0, 2), (-1, 2, 0), (2, 1, -1), (0, -1, 0)])
def test_diag_embed(shape, offset, d1, d2):
    n = len(shape) + 1
    f = lambda lib, x: lib.diag_embed(x, offset, d1, d2)  # noqa: E731
    if not (-n <= d1 < n and -n <= d2 < n) or d1 % n == d2 % n:
        same_error(f, rand(*shape))  # dims out of range or identical
    else:
        check(f, rand(*shape), noncontiguous=True)


def test_diag_embed_defaults_inf_and_int():
    check(lambda lib, x: lib.diag_embed(x), rand(2, 3))
    check(lambda lib, x: lib.diag_embed(x, offset=-2), rand(2, 3, dtype=np.float64))
    # an inf stays on the diagonal (no inf * 0 = NaN off it)
    check(lambda lib, x: lib.diag_embed(x), np.array([[1.0, INF], [-INF, NAN]], np.float32), grad=False)
    check(lambda lib, x: lib.diag_embed(x, 1), ints(1, 2, 3), grad=False)
    check(lambda lib, x: lib.diag_embed(x), rand(2, 0))


def test_diag_embed_grad_fn_and_gradcheck():
    x = flambeau.from_numpy(rand(2, 3)).requires_grad_()
    assert flambeau.diag_embed(x).grad_fn.name() == "DiagEmbedBackward0"
    for args in [(0, -2, -1), (-1, 0, 2), (2, 2, 1)]:
        assert gradcheck(lambda lib, a: lib.diag_embed(a, *args), _x(2, 3))


def test_diag_embed_errors():
    same_error(lambda lib, x: lib.diag_embed(x, 0, 1, 1), rand(2, 3), match="cannot be identical")
    same_error(lambda lib, x: lib.diag_embed(x, 0, 0, 3), rand(2, 3))
    same_error(lambda lib, x: lib.diag_embed(x), np.array(1.0, np.float32))


@pytest.mark.parametrize("shape", [(2, 2), (3,), (), (2, 1, 3), (0,)])
@pytest.mark.parametrize("offset", [0, -1, 2])
def test_diagflat(shape, offset):
    check(lambda lib, x: lib.diagflat(x, offset), rand(*shape))


def test_diagflat_int():
    check(lambda lib, x: lib.diagflat(x, offset=1), ints(1, 2, 3, 4).reshape(2, 2), grad=False)


@pytest.mark.parametrize("shape", [(3, 4), (4, 3), (3, 3), (0, 2), (1, 1)])
def test_trace(shape):
    check(lambda lib, x: lib.trace(x), rand(*shape), noncontiguous=True)
    check(lambda lib, x: lib.trace(x), rand(*shape, dtype=np.float64))


def test_trace_int_gives_int64():
    check(lambda lib, x: lib.trace(x), ints(1, 2, 3, 4, 5, 6, dtype=np.int32).reshape(2, 3), grad=False)
    check(lambda lib, x: lib.trace(x), ints(1, 2, 3, 4).reshape(2, 2), grad=False)


def test_trace_errors():
    same_error(lambda lib, x: lib.trace(x), rand(3), match="expected a matrix, but got tensor with dim 1")
    same_error(lambda lib, x: lib.trace(x), rand(2, 2, 2))
    same_error(lambda lib, x: lib.trace(x), np.ones((2, 2), np.bool_))


# ---------------------------------------------------------------------------- tril_indices, triu_indices
@pytest.mark.parametrize("row,col,offset", [(3, 3, 0), (3, 4, -1), (4, 3, 1), (3, 4, 2), (0, 3, 0), (3, 0, 0),
                                            (1, 1, 0), (3, 3, 10), (3, 3, -10), (5, 2, -2)])
def test_tri_indices(row, col, offset):
    check(lambda lib: lib.tril_indices(row, col, offset), grad=False)
    check(lambda lib: lib.triu_indices(row, col, offset), grad=False)
    check(lambda lib: lib.tril_indices(row, col, offset=offset, dtype=lib.int32), grad=False)
    check(lambda lib: lib.triu_indices(row, col, offset=offset, dtype=lib.int32, device="cpu"), grad=False)


def test_tri_indices_errors():
    same_error(lambda lib: lib.tril_indices(-1, 3), match="row must be non-negative")
    same_error(lambda lib: lib.triu_indices(3, -1), match="col must be non-negative")
    same_error(lambda lib: lib.tril_indices(3, 3, dtype=lib.float32))


# ---------------------------------------------------------------------------- kron
@pytest.mark.parametrize("sa,sb", [((2, 3), (4, 5)), ((3,), (2, 2)), ((2, 2), (3,)), ((2, 1, 3), (2, 2)),
                                   ((), (3,)), ((3,), ()), ((), ()), ((0, 2), (3, 1)), ((2, 3), (1,))])
def test_kron(sa, sb):
    check(lambda lib, x, y: lib.kron(x, y), rand(*sa), rand(*sb, seed=1))
    check(lambda lib, x, y: lib.kron(x, y), rand(*sa, dtype=np.float64), rand(*sb, seed=1, dtype=np.float64))


def test_kron_noncontiguous_and_dtypes():
    check(lambda lib, x, y: lib.kron(x, y), rand(3, 2), rand(2, 4, seed=1), noncontiguous=True)
    check(lambda lib, x, y: lib.kron(x, y), ints(1, 2, 3), rand(2, 2), grad=False)
    check(lambda lib, x, y: lib.kron(x, y), rand(2, dtype=np.float64), rand(2, 2))  # promoted to float64
    check(lambda lib, x, y: lib.kron(x, y), ints(1, 2, 3).reshape(3, 1), ints(4, 5, dtype=np.int32), grad=False)


# ---------------------------------------------------------------------------- cdist, pdist, dist
P_VALUES = [2.0, 1.0, 0.0, 3.0, 0.5, 1.5, INF]


@pytest.mark.parametrize("p", P_VALUES)
@pytest.mark.parametrize("sa,sb", [((3, 2), (4, 2)), ((2, 3, 4), (2, 5, 4)), ((2, 1, 3, 2), (5, 4, 2)),
                                   ((3, 1), (2, 1)), ((0, 3), (2, 3)), ((2, 0), (3, 0))])
def test_cdist(p, sa, sb):
    check(lambda lib, x, y: lib.cdist(x, y, p), rand(*sa), rand(*sb, seed=1))
    check(lambda lib, x, y: lib.cdist(x, y, p=p), rand(*sa, dtype=np.float64), rand(*sb, seed=1, dtype=np.float64))


def test_cdist_noncontiguous():
    check(lambda lib, x, y: lib.cdist(x, y), rand(4, 3), rand(3, 3, seed=1), noncontiguous=True)


@pytest.mark.parametrize("mode", ["use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
                                  "donot_use_mm_for_euclid_dist"])
@pytest.mark.parametrize("sa,sb", [((30, 4), (27, 4)), ((5, 4), (6, 4)), ((2, 26, 3), (2, 3, 3))])
def test_cdist_compute_modes(mode, sa, sb):
    # float64: the matrix-multiply form (|a|^2 + |b|^2 - 2ab) cancels digits, differently in the two
    # libraries' GEMMs; float64 keeps that far below the tolerance
    check(lambda lib, x, y: lib.cdist(x, y, compute_mode=mode), rand(*sa, dtype=np.float64),
          rand(*sb, seed=1, dtype=np.float64), rtol=1e-9, atol=1e-9)
    # float32: the cancellation error of the mm form is ~1e-7 * |a|^2 / d: looser atol there
    check(lambda lib, x, y: lib.cdist(x, y, compute_mode=mode), rand(*sa), rand(*sb, seed=1),
          rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("p", P_VALUES)
def test_cdist_zero_distance_has_zero_gradient(p):
    a = rand(3, 2)
    a[2] = a[0]          # a repeated row: zero distances
    a[1, 0] = a[0, 0]    # a shared coordinate: a zero component in a nonzero distance
    check(lambda lib, x: lib.cdist(x, x, p), a)
    check(lambda lib, x, y: lib.cdist(x, y, p), a, a.copy())


def test_cdist_mm_zero_distance_gradient():
    a = rand(30, 3)
    a[5] = a[0]
    out = check(lambda lib, x, y: lib.cdist(x, y), a, a.copy(), rtol=1e-4, atol=1e-3, grad=False)
    x = flambeau.from_numpy(a.copy()).requires_grad_()
    d = flambeau.cdist(x, flambeau.from_numpy(a.copy()))
    d.sum().backward()
    assert np.isfinite(x.grad.numpy()).all() and out.shape == (30, 30)


def test_cdist_gradcheck():
    for p in (2.0, 1.5, 3.0):
        assert gradcheck(lambda lib, x, y: lib.cdist(x, y, p), _x(3, 2), _x(4, 2, seed=1))
    assert gradcheck(lambda lib, x, y: lib.cdist(x, y, compute_mode="use_mm_for_euclid_dist"), _x(3, 2),
                     _x(4, 2, seed=1))


def test_cdist_errors():
    same_error(lambda lib, x, y: lib.cdist(x, y), rand(3), rand(4, 3), match="at least 2D tensors, X1 got: 1D")
    same_error(lambda lib, x, y: lib.cdist(x, y), rand(3, 2), rand(4, 3), match="same number of columns")
    same_error(lambda lib, x, y: lib.cdist(x, y), ints(1, 2).reshape(1, 2), ints(1, 2).reshape(1, 2),
               match="floating-point dtypes")
    same_error(lambda lib, x, y: lib.cdist(x, y, p=-1), rand(3, 2), rand(4, 2), match="non-negative p")
    same_error(lambda lib, x, y: lib.cdist(x, y, compute_mode="foo"), rand(3, 2), rand(4, 2))
    same_error(lambda lib, x, y: lib.cdist(x, y), rand(3, 2, dtype=np.float64), rand(4, 2))
    same_error(lambda lib, x, y: lib.cdist(x, y), rand(2, 3, 2), rand(3, 4, 2))


@pytest.mark.parametrize("p", P_VALUES)
@pytest.mark.parametrize("shape", [(5, 3), (2, 4), (1, 3), (0, 3), (4, 0)])
def test_pdist(p, shape):
    # PyTorch's pdist backward crashes (segfault) on an input of 0 rows: values only there
    grad = shape[0] > 0
    check(lambda lib, x: lib.pdist(x, p), rand(*shape), grad=grad)
    check(lambda lib, x: lib.pdist(x, p=p), rand(*shape, dtype=np.float64), grad=grad)
    if not grad:
        x = flambeau.from_numpy(rand(*shape)).requires_grad_()
        flambeau.pdist(x, p).sum().backward()
        assert x.grad.shape == shape


@pytest.mark.parametrize("p", P_VALUES)
def test_pdist_zero_distance_has_zero_gradient(p):
    a = rand(4, 3)
    a[3] = a[1]
    a[2, 1] = a[0, 1]
    check(lambda lib, x: lib.pdist(x, p), a)


def test_pdist_errors():
    same_error(lambda lib, x: lib.pdist(x), rand(4), match="only supports 2D tensors")
    same_error(lambda lib, x: lib.pdist(x), ints(1, 2, 3, 4).reshape(2, 2), match="floating-point")
    same_error(lambda lib, x: lib.pdist(x, -1), rand(4, 2), match="non-negative p")


@pytest.mark.parametrize("p", P_VALUES + [-1.0, -INF])
@pytest.mark.parametrize("sa,sb", [((3, 4), (4,)), ((5,), (5,)), ((2, 1), (1, 3)), ((), ()), ((0,), (0,))])
def test_dist(p, sa, sb):
    f = lambda lib, x, y: lib.dist(x, y, p)  # noqa: E731
    if sa == (0,) and (p < 0 or p == INF):
        same_error(f, rand(*sa), rand(*sb), match="on an empty tensor")  # no identity for these norms
        return
    # PyTorch's dist backward fails for p = 0 ("Expected a proper Tensor but got None"): values
    # only there, and flambeau's gradient (zero: the count of nonzeros is piecewise constant) apart
    grad = p != 0
    check(f, rand(*sa), rand(*sb, seed=1), grad=grad)
    check(f, rand(*sa, dtype=np.float64), rand(*sb, seed=1, dtype=np.float64), grad=grad)
    if not grad:
        x = flambeau.from_numpy(rand(*sa)).requires_grad_()
        flambeau.dist(x, flambeau.from_numpy(rand(*sb, seed=1)), p).backward()
        assert not np.any(x.grad.numpy())


def test_dist_promotes_and_zero():
    check(lambda lib, x, y: lib.dist(x, y), rand(3, dtype=np.float64), rand(3, seed=1))
    a = rand(4)
    check(lambda lib, x, y: lib.dist(x, y), a, a.copy())
    check(lambda lib, x, y: lib.dist(x, y, 3), a, a.copy())


def test_dist_errors():
    same_error(lambda lib, x, y: lib.dist(x, y), ints(1, 2), ints(1, 2), match="floating point")
    same_error(lambda lib, x, y: lib.dist(x, y), rand(3, 4), rand(5))


# ---------------------------------------------------------------------------- cosine_similarity
@pytest.mark.parametrize("sa,sb,dim", [((3, 4), (3, 4), 1), ((3, 4), (3, 4), 0), ((3, 4), (3, 4), -1),
                                       ((4,), (4,), 0), ((3, 1, 4), (2, 4), -1), ((2, 3, 4), (2, 3, 4), 1)])
def test_cosine_similarity(sa, sb, dim):
    check(lambda lib, x, y: lib.cosine_similarity(x, y, dim), rand(*sa), rand(*sb, seed=1))
    check(lambda lib, x, y: lib.cosine_similarity(x, y, dim=dim, eps=1e-6), rand(*sa, dtype=np.float64),
          rand(*sb, seed=1, dtype=np.float64))


def test_cosine_similarity_default_dim_zero_vector_and_dtypes():
    check(lambda lib, x, y: lib.cosine_similarity(x, y), rand(3, 4), rand(3, 4, seed=1), noncontiguous=True)
    z = np.zeros((2, 3), np.float32)
    check(lambda lib, x, y: lib.cosine_similarity(x, y), z, rand(2, 3))
    check(lambda lib, x, y: lib.cosine_similarity(x, y), ints(1, 2, 3, dtype=np.int32).reshape(1, 3),
          rand(1, 3, seed=1))
    x, y = flambeau.from_numpy(rand(3, 4)), flambeau.from_numpy(rand(3, 4, seed=1))
    np.testing.assert_array_equal(flambeau.cosine_similarity(x, y).numpy(),
                                  flambeau.nn.functional.cosine_similarity(x, y).numpy())


def test_cosine_similarity_errors():
    same_error(lambda lib, x, y: lib.cosine_similarity(x, y), ints(1, 2).reshape(1, 2), ints(1, 2).reshape(1, 2))
    same_error(lambda lib, x, y: lib.cosine_similarity(x, y), rand(3, 4), rand(5, 4))
    same_error(lambda lib, x, y: lib.cosine_similarity(x, y), rand(4), rand(4))


# ---------------------------------------------------------------------------- cartesian_prod, block_diag
def test_cartesian_prod():
    check(lambda lib, a, b: lib.cartesian_prod(a, b), rand(2), rand(3, seed=1))
    check(lambda lib, a, b, c: lib.cartesian_prod(a, b, c), rand(2), rand(3, seed=1), rand(2, seed=2))
    check(lambda lib, a, b: lib.cartesian_prod(a, b), ints(1, 2), ints(3, 4, 5), grad=False)
    check(lambda lib, a, b: lib.cartesian_prod(a, b), rand(0), rand(3, seed=1))
    check(lambda lib, a: lib.cartesian_prod(a), rand(3))
    t = flambeau.ones(3)
    assert flambeau.cartesian_prod(t) is t  # PyTorch returns the one input itself


def test_cartesian_prod_errors():
    same_error(lambda lib, a, b: lib.cartesian_prod(a, b), rand(2, 2), rand(2), match="Expect a 1D vector")
    same_error(lambda lib, a, b: lib.cartesian_prod(a, b), ints(1, 2), rand(2), match="same dtype")


def test_block_diag():
    check(lambda lib, a, b, c: lib.block_diag(a, b, c), np.array(1.5, np.float32), rand(2), rand(2, 3, seed=1))
    # a 1-D empty input is a (1, 0) block: one row of zeros. PyTorch's backward forgets that row
    # (the gradients of the later blocks come from the wrong rows): values only, and a gradcheck
    parts = (np.array(1.5, np.float32), rand(2), rand(0), rand(2, 3, seed=1))
    check(lambda lib, a, b, c, d: lib.block_diag(a, b, c, d), *parts, grad=False)
    assert gradcheck(lambda lib, a, b, c, d: lib.block_diag(a, b, c, d), *parts)
    check(lambda lib, a, b: lib.block_diag(a, b), rand(2, 2), rand(3, 1, seed=1), noncontiguous=True)
    check(lambda lib, a, b: lib.block_diag(a, b), rand(2, 0), rand(0, 3))
    check(lambda lib, a: lib.block_diag(a), rand(2, 3))
    check(lambda lib: lib.block_diag(), grad=False)


def test_block_diag_dtypes():
    check(lambda lib, a, b: lib.block_diag(a, b), ints(1, 2, dtype=np.int32), ints(3), grad=False)
    check(lambda lib, a, b: lib.block_diag(a, b), ints(1, 2, dtype=np.int32), rand(1, 2), grad=False)
    check(lambda lib, a, b: lib.block_diag(a, b), rand(2, dtype=np.float64), rand(1, 2))


def test_block_diag_errors():
    same_error(lambda lib, a, b: lib.block_diag(a, b), rand(2), rand(2, 2, 2), match="Input 1 has 3 dimensions")


# ---------------------------------------------------------------------------- cummax, cummin
@pytest.mark.parametrize("op", ["cummax", "cummin"])
@pytest.mark.parametrize("shape,dim", [((3, 4), 0), ((3, 4), 1), ((3, 4), -1), ((2, 3, 4), 1), ((5,), 0),
                                       ((0, 3), 0), ((2, 0), 1)])
def test_cummax_cummin(op, shape, dim):
    check(lambda lib, x: getattr(lib, op)(x, dim), rand(*shape), noncontiguous=True)
    check(lambda lib, x: getattr(lib, op)(x, dim=dim), rand(*shape, dtype=np.float64))


@pytest.mark.parametrize("op", ["cummax", "cummin"])
def test_cummax_cummin_ties_nan_and_dtypes(op):
    f = lambda lib, x: getattr(lib, op)(x, -1)  # noqa: E731
    ties = np.array([[1.0, 3.0, 3.0, 0.0, 3.0, 5.0], [2.0, 2.0, 1.0, 1.0, 4.0, 0.0]], np.float32)
    check(f, ties)  # ties: the latest index wins, and gets the gradient
    check(f, np.array([1.0, 3.0, 3.0, NAN, 5.0, NAN, 2.0, -INF, INF], np.float32))
    check(f, np.array([NAN, 1.0, NAN], np.float32))
    check(f, ints(3, 1, 1, 2, 0, 5, 5), grad=False)
    check(f, ints(3, 1, 1, 2, dtype=np.uint8), grad=False)
    check(f, np.array([True, False, True, False]), grad=False)
    check(lambda lib, x: getattr(lib, op)(x, 0), np.array(2.5, np.float32))
    check(lambda lib, x: getattr(lib, op)(x, -1), np.array(2.5, np.float32))


def test_cummax_cummin_grad_fn_namedtuple_and_gradcheck():
    x = flambeau.from_numpy(rand(3, 4)).requires_grad_()
    r = flambeau.cummax(x, 1)
    assert r.values.grad_fn.name() == "CummaxBackward0" and not r.indices.requires_grad
    assert r.indices.dtype == flambeau.int64
    v, i = flambeau.cummin(x, 0)
    assert v.grad_fn.name() == "CumminBackward0"
    assert type(flambeau.cummin(x, 0)).__name__ == "cummin"
    for d in (0, 1):
        assert gradcheck(lambda lib, a: lib.cummax(a, d).values, _x(3, 4))
        assert gradcheck(lambda lib, a: lib.cummin(a, d)[0], _x(3, 4, seed=1))


def test_cummax_errors():
    same_error(lambda lib, x: lib.cummax(x, 2), rand(3, 4))
    same_error(lambda lib, x: lib.cummin(x, 1), np.array(1.0, np.float32))


# ---------------------------------------------------------------------------- logcumsumexp
@pytest.mark.parametrize("shape,dim", [((3, 4), 0), ((3, 4), 1), ((3, 4), -1), ((2, 3, 4), 1), ((6,), 0),
                                       ((0, 3), 0), ((2, 0), 1)])
def test_logcumsumexp(shape, dim):
    check(lambda lib, x: lib.logcumsumexp(x, dim), rand(*shape, low=-3, high=3), noncontiguous=True)
    check(lambda lib, x: lib.logcumsumexp(x, dim=dim), rand(*shape, low=-3, high=3, dtype=np.float64))


def test_logcumsumexp_large_and_infinite():
    # large magnitudes: no overflow (exp(1000) would be inf)
    big = np.array([[1000.0, 999.0, -1000.0, 1001.0], [-500.0, -501.0, -499.0, 0.0]], np.float32)
    # float32 near 1000 has ulp 6e-5: exp(x - out) of two such numbers differs from PyTorch's by that
    check(lambda lib, x: lib.logcumsumexp(x, 1), big, rtol=1e-5, atol=1e-6, grad_rtol=2e-4, grad_atol=1e-6)
    check(lambda lib, x: lib.logcumsumexp(x, 1), big.astype(np.float64))
    check(lambda lib, x: lib.logcumsumexp(x, 0), np.array([-INF, -INF, 1.0, INF, 2.0], np.float32), grad=False)
    check(lambda lib, x: lib.logcumsumexp(x, 0), np.array([-INF, 1.0, 2.0], np.float32))
    check(lambda lib, x: lib.logcumsumexp(x, 0), np.array(1.5, np.float32))


def test_logcumsumexp_grad_fn_and_gradcheck():
    x = flambeau.from_numpy(rand(3)).requires_grad_()
    assert flambeau.logcumsumexp(x, 0).grad_fn.name() == "LogcumsumexpBackward0"
    assert gradcheck(lambda lib, a: lib.logcumsumexp(a * 20 - 10, 1), _x(2, 5))
    assert gradcheck(lambda lib, a: lib.logcumsumexp(a, -1) * lib.from_numpy(_x(3, 4, seed=4) - 0.5), _x(3, 4))


def test_logcumsumexp_errors():
    same_error(lambda lib, x: lib.logcumsumexp(x, 0), ints(1, 2))
    same_error(lambda lib, x: lib.logcumsumexp(x, 2), rand(3, 4))


# ---------------------------------------------------------------------------- histc, bincount
@pytest.mark.parametrize("bins,lo,hi", [(4, 0, 0), (10, -1, 1), (100, 0, 0), (7, -0.5, 0.25), (3, 0.3, 0.3),
                                        (1, 0, 0)])
def test_histc(bins, lo, hi):
    x = rand(200, low=-2, high=2)
    check(lambda lib, t: lib.histc(t, bins, lo, hi), x, grad=False)
    check(lambda lib, t: lib.histc(t, bins=bins, min=lo, max=hi), x.astype(np.float64).reshape(20, 10), grad=False)


def test_histc_edges_and_specials():
    # elements exactly on bin edges, and at max (which belongs to the last bin)
    check(lambda lib, t: lib.histc(t, 10, 0, 1), np.arange(0, 1.05, 0.1).astype(np.float32), grad=False)
    check(lambda lib, t: lib.histc(t, 8, -1, 1), np.linspace(-1, 1, 33).astype(np.float32), grad=False)
    check(lambda lib, t: lib.histc(t, 3, 0, 3), np.array([1.0, NAN, 2.0, 5.0, -1.0], np.float32), grad=False)
    check(lambda lib, t: lib.histc(t, 4), np.array([1.0, 1.0], np.float32), grad=False)   # one value: [v-1, v+1]
    check(lambda lib, t: lib.histc(t, 3, 5, 5), np.array([1.0, 2.0], np.float32), grad=False)  # min == max: data range
    check(lambda lib, t: lib.histc(t, 3), rand(0), grad=False)
    check(lambda lib, t: lib.histc(t), np.array(0.5, np.float32), grad=False)


def test_histc_not_differentiable():
    x = flambeau.from_numpy(rand(5)).requires_grad_()
    h = flambeau.histc(x, 3)
    assert not h.requires_grad and h.dtype == flambeau.float32


def test_histc_errors():
    same_error(lambda lib, t: lib.histc(t, 3), ints(1, 2))
    same_error(lambda lib, t: lib.histc(t, 0), rand(3), match="bins must be > 0")
    same_error(lambda lib, t: lib.histc(t, 3, 2, 1), rand(3), match="max must be larger than min")
    same_error(lambda lib, t: lib.histc(t, 3), np.array([1.0, INF], np.float32), match="is not finite")
    same_error(lambda lib, t: lib.histc(t, 3), np.array([1.0, NAN], np.float32), match="is not finite")


def test_bincount():
    x = ints(1, 3, 1, 0, 7, 3, 3)
    check(lambda lib, t: lib.bincount(t), x, grad=False)
    check(lambda lib, t: lib.bincount(t, minlength=10), x, grad=False)
    check(lambda lib, t: lib.bincount(t, minlength=2), x, grad=False)
    check(lambda lib, t: lib.bincount(t), ints(1, 3, 4, dtype=np.uint8), grad=False)
    check(lambda lib, t: lib.bincount(t, minlength=3), ints(dtype=np.int64), grad=False)
    check(lambda lib, t: lib.bincount(t), ints(dtype=np.int64), grad=False)


@pytest.mark.parametrize("wdtype", [np.float32, np.float64, np.int64, np.float16])
def test_bincount_weights(wdtype):
    x = ints(1, 3, 1, 0, 7, 3, 3)
    w = (rand(7) * 4).astype(wdtype)
    # float32 weights: the sums of at most 3 values; NumPy adds them in float64 then rounds
    check(lambda lib, t, v: lib.bincount(t, v), x, w, grad=False)
    check(lambda lib, t, v: lib.bincount(t, weights=v, minlength=9), x, w, grad=False)


def test_bincount_errors():
    same_error(lambda lib, t: lib.bincount(t), ints(1, -3, 1), match="non-negative integral")
    same_error(lambda lib, t: lib.bincount(t), ints(1, 3).reshape(1, 2), match="non-negative integral")
    same_error(lambda lib, t: lib.bincount(t), rand(3))
    same_error(lambda lib, t: lib.bincount(t), np.array([True, False]))
    same_error(lambda lib, t: lib.bincount(t, minlength=-1), ints(1, 2), match="minlength should be >= 0")
    same_error(lambda lib, t, w: lib.bincount(t, w), ints(1, 2), rand(3), match="same length as input")


# ---------------------------------------------------------------------------- bucketize, searchsorted
def test_bucketize():
    b = np.array([1.0, 3.0, 5.0, 7.0], np.float32)
    v = np.array([[0.0, 1.0, 3.5, 5.0], [6.0, 7.0, 9.0, -INF]], np.float32)
    for right in (False, True):
        check(lambda lib, x, bd: lib.bucketize(x, bd, right=right), v, b, grad=False)
        check(lambda lib, x, bd: lib.bucketize(x, bd, out_int32=True, right=right), v, b, grad=False)
        check(lambda lib, bd: lib.bucketize(3.0, bd, right=right), b, grad=False)
        check(lambda lib, bd: lib.bucketize(7, bd, right=right), b, grad=False)
    check(lambda lib, x, bd: lib.bucketize(x, bd), ints(0, 1, 4, 8), b, grad=False)       # int values
    check(lambda lib, x, bd: lib.bucketize(x, bd), np.array(4.0, np.float32), b, grad=False)
    check(lambda lib, x, bd: lib.bucketize(x, bd), v, np.zeros(0, np.float32), grad=False)
    check(lambda lib, x, bd: lib.bucketize(x, bd), rand(0), b, grad=False)
    check(lambda lib, x, bd: lib.bucketize(x, bd), np.array([1.0, NAN], np.float32),
          np.array([0.0, 2.0], np.float32), grad=False)


def test_bucketize_errors():
    same_error(lambda lib, x, bd: lib.bucketize(x, bd), rand(3), rand(2, 2), match="must be 1 dimension")


def test_searchsorted():
    ss = np.array([[1, 3, 5, 7, 9], [2, 4, 6, 8, 10]], np.int64)
    v = np.array([[3, 6, 9], [3, 6, 9]], np.int64)
    for kw in ({}, dict(right=True), dict(side="right"), dict(side="left"), dict(right=False, side="right"),
               dict(out_int32=True), dict(side="right", out_int32=True)):
        check(lambda lib, s, x: lib.searchsorted(s, x, **kw), ss, v, grad=False)
        check(lambda lib, s, x: lib.searchsorted(s, x, **kw), ss[0], v, grad=False)
        check(lambda lib, s: lib.searchsorted(s, 5, **kw), ss[0], grad=False)
    check(lambda lib, s, x: lib.searchsorted(s, x), rand(3, 2, 6).cumsum(-1), rand(3, 2, 4, seed=1) * 3, grad=False)
    check(lambda lib, s, x: lib.searchsorted(s, x), ss[0], np.array(4, np.int64), grad=False)
    check(lambda lib, s, x: lib.searchsorted(s, x), np.sort(rand(10)), rand(2, 3, seed=1), grad=False)
    check(lambda lib, s, x: lib.searchsorted(s, x), np.array([1.0, 2.0], np.float32), ints(1, 2), grad=False)


def test_searchsorted_sorter_nan_and_empty():
    check(lambda lib, s, x, o: lib.searchsorted(s, x, sorter=o), ints(3, 1, 2), ints(2, 0, 4), ints(1, 2, 0),
          grad=False)
    check(lambda lib, s, x, o: lib.searchsorted(s, x, side="right", sorter=o), ints(3, 1, 2, 2),
          ints(2, 0, 4), ints(1, 2, 3, 0), grad=False)
    check(lambda lib, s, x: lib.searchsorted(s, x), np.array([1.0, 2.0, NAN], np.float32),
          np.array([1.0, NAN, 3.0], np.float32), grad=False)
    check(lambda lib, s, x: lib.searchsorted(s, x, right=True), np.array([1.0, NAN, NAN], np.float32),
          np.array([1.0, NAN, 3.0, -INF], np.float32), grad=False)
    check(lambda lib, s, x: lib.searchsorted(s, x), np.zeros(0, np.float32), rand(3), grad=False)
    check(lambda lib, s, x: lib.searchsorted(s, x), np.zeros((2, 0), np.float32), rand(2, 3), grad=False)


def test_searchsorted_errors():
    ss, v = ints(1, 3, 5, 7, 2, 4, 6, 8).reshape(2, 4), ints(3, 6, 3, 6).reshape(2, 2)
    same_error(lambda lib, s, x: lib.searchsorted(s, x, right=True, side="left"), ss, v, match="opposites")
    same_error(lambda lib, s, x: lib.searchsorted(s, x, side="middle"), ss, v, match="'left' or 'right'")
    same_error(lambda lib, s, x: lib.searchsorted(s, x), ss, ints(1, 2), match="first N-1 dimensions")
    same_error(lambda lib, s, x: lib.searchsorted(s, x), ss, ints(1, 2, 3).reshape(1, 3))
    same_error(lambda lib, s: lib.searchsorted(s, 5), ss, match="can be a scalar only")
    same_error(lambda lib, s, x: lib.searchsorted(s, x), np.array(1.0, np.float32), rand(2),
               match="positive dimension")


# ---------------------------------------------------------------------------- unique, unique_consecutive
UNIQUE_INPUTS = [
    ints(3, 1, 2, 3, 1, 5, 4, 5, 0, 9, 8, 7),
    np.array([[3.0, 1.0], [1.0, 3.0], [2.0, 2.0]], np.float32),
    np.array([1.0, NAN, 2.0, NAN, 1.0], np.float32),
    np.array([True, False, True]),
    np.array(3.0, np.float32),
    ints(dtype=np.int64),
    ints(2, 2, 2, dtype=np.int32).reshape(1, 3, 1),
]


@pytest.mark.parametrize("i", range(len(UNIQUE_INPUTS)))
@pytest.mark.parametrize("inv,cnt", [(False, False), (True, False), (False, True), (True, True)])
def test_unique(i, inv, cnt):
    check(lambda lib, x: lib.unique(x, return_inverse=inv, return_counts=cnt), UNIQUE_INPUTS[i], grad=False)
    check(lambda lib, x: lib.unique(x, sorted=False, return_inverse=inv, return_counts=cnt), UNIQUE_INPUTS[i],
          grad=False)
    check(lambda lib, x: lib.unique_consecutive(x, return_inverse=inv, return_counts=cnt), UNIQUE_INPUTS[i],
          grad=False)


def test_unique_consecutive_runs():
    x = ints(1, 1, 2, 2, 3, 1, 1, 2)
    check(lambda lib, t: lib.unique_consecutive(t, True, True), x, grad=False)
    check(lambda lib, t: lib.unique_consecutive(t, return_counts=True), x.reshape(2, 4), grad=False)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_unique_along_a_dim(dim):
    """Distinct slices (lexicographic order) and runs of equal consecutive slices along dim."""
    x = np.array([[1, 2, 1, 2, 0], [3, 0, 3, 0, 0], [1, 2, 1, 2, 0], [1, 2, 1, 2, 0], [0, 5, 0, 5, 1]])
    check(lambda lib, t: lib.unique(t, dim=dim, return_inverse=True, return_counts=True), x, grad=False)
    check(lambda lib, t: lib.unique_consecutive(t, dim=dim, return_inverse=True, return_counts=True), x,
          grad=False)
    f = np.random.default_rng(0).integers(0, 2, (3, 5, 2)).astype(np.float32)
    check(lambda lib, t: lib.unique(t, dim=dim, return_inverse=True, return_counts=True), f, grad=False)


def test_unique_is_not_differentiable():
    y = flambeau.from_numpy(rand(4)).requires_grad_()
    assert not flambeau.unique(y).requires_grad


# ---------------------------------------------------------------------------- meshgrid
@pytest.mark.parametrize("indexing", ["ij", "xy"])
@pytest.mark.parametrize("shapes", [[(2,), (3,)], [(2,), (3,), (4,)], [(), (3,)], [(3,)], [(2,), (0,)],
                                    [(), ()]])
def test_meshgrid(indexing, shapes):
    arrays = [rand(*s, seed=i) for i, s in enumerate(shapes)]
    check(lambda lib, *ts: lib.meshgrid(*ts, indexing=indexing), *arrays)
    check(lambda lib, *ts: lib.meshgrid(list(ts), indexing=indexing), *arrays)


def test_meshgrid_default_is_ij_without_warning():
    a, b = flambeau.ones(2), flambeau.arange(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = flambeau.meshgrid(a.long(), b)
    for x, y in zip(g, flambeau.meshgrid(a.long(), b, indexing="ij")):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert g[0].shape == (2, 3)
    check(lambda lib, x, y: lib.meshgrid(x, y, indexing="xy"), ints(1, 2), ints(3, 4, 5), grad=False)


def test_meshgrid_errors():
    same_error(lambda lib, a, b: lib.meshgrid(a, b, indexing="ij"), rand(2, 2), rand(2), match="0D or 1D")
    same_error(lambda lib, a, b: lib.meshgrid(a, b, indexing="ij"), ints(1), rand(2), match="same dtype")
    same_error(lambda lib, a: lib.meshgrid(a, indexing="foo"), rand(2), match="indexing must be one of")
    same_error(lambda lib: lib.meshgrid(indexing="ij"), match="non-empty")


# ---------------------------------------------------------------------------- vander, atleast_*d
@pytest.mark.parametrize("N", [None, 0, 1, 2, 5])
@pytest.mark.parametrize("increasing", [False, True])
def test_vander(N, increasing):
    # PyTorch 2.13's vander cannot backpropagate (its in-place cumprod trips the version check):
    # values against PyTorch, gradients by gradcheck, a zero in x included (exact there)
    x = np.array([0.5, -1.5, 0.0, 2.0], np.float32)
    check(lambda lib, t: lib.vander(t, N, increasing), x, grad=False)
    check(lambda lib, t: lib.vander(t, N=N, increasing=increasing), x.astype(np.float64), grad=False)
    assert gradcheck(lambda lib, t: lib.vander(t, N, increasing), x)
    assert gradcheck(lambda lib, t: lib.vander(t, N, increasing), _x(3))
    check(lambda lib, t: lib.vander(t, N, increasing=increasing), ints(1, 2, 3, dtype=np.int32), grad=False)


def test_vander_dtypes_and_empty():
    check(lambda lib, t: lib.vander(t), np.array([True, False]), grad=False)
    check(lambda lib, t: lib.vander(t), ints(1, 2, dtype=np.uint8), grad=False)
    check(lambda lib, t: lib.vander(t), rand(0))
    check(lambda lib, t: lib.vander(t, 3), rand(0), grad=False)


def test_vander_errors():
    same_error(lambda lib, t: lib.vander(t), rand(2, 2), match="one-dimensional")
    same_error(lambda lib, t: lib.vander(t), np.array(1.0, np.float32), match="one-dimensional")
    same_error(lambda lib, t: lib.vander(t, -1), rand(3), match="N must be non-negative")


@pytest.mark.parametrize("op", ["atleast_1d", "atleast_2d", "atleast_3d"])
@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 3, 4), (1, 2, 3, 4), (0,)])
def test_atleast(op, shape):
    check(lambda lib, x: getattr(lib, op)(x), rand(*shape))
    check(lambda lib, x, y: getattr(lib, op)(x, y), rand(*shape), rand(3, seed=1))
    check(lambda lib, x, y: getattr(lib, op)([x, y]), rand(*shape), rand(3, seed=1))
    check(lambda lib, x: getattr(lib, op)((x,)), rand(*shape))


def test_atleast_no_args_identity_and_errors():
    for op in ("atleast_1d", "atleast_2d", "atleast_3d"):
        assert getattr(flambeau, op)() == getattr(torch, op)() == ()
    t = flambeau.ones(2, 3, 4)
    assert flambeau.atleast_3d(t) is t
    same_error(lambda lib, a: lib.atleast_2d([a, 2]), rand(2))


# ---------------------------------------------------------------------------- baddbmm, addbmm, addmv, addr
@pytest.mark.parametrize("ishape", [(2, 3, 4), (3, 4), (1, 4), (4,), ()])
@pytest.mark.parametrize("beta,alpha", [(1, 1), (0.5, 2.0), (0, 1), (0, -1.5), (2, 0)])
def test_baddbmm(ishape, beta, alpha):
    check(lambda lib, i, a, b: lib.baddbmm(i, a, b, beta=beta, alpha=alpha), rand(*ishape), rand(2, 3, 5, seed=1),
          rand(2, 5, 4, seed=2), **TOL32)
    check(lambda lib, i, a, b: lib.baddbmm(i, a, b, beta=beta, alpha=alpha), rand(*ishape, dtype=np.float64),
          rand(2, 3, 5, seed=1, dtype=np.float64), rand(2, 5, 4, seed=2, dtype=np.float64))


def test_baddbmm_beta_zero_ignores_nan_and_int():
    nan_in = np.full((2, 3, 4), NAN, np.float32)
    check(lambda lib, i, a, b: lib.baddbmm(i, a, b, beta=0), nan_in, rand(2, 3, 5, seed=1), rand(2, 5, 4, seed=2),
          **TOL32)
    check(lambda lib, i, a, b: lib.baddbmm(i, a, b), rand(2, 3, 4), rand(2, 3, 5, seed=1), rand(2, 5, 4, seed=2),
          noncontiguous=True, **TOL32)
    ii = lambda *s: np.arange(np.prod(s), dtype=np.int64).reshape(s) % 5  # noqa: E731
    check(lambda lib, i, a, b: lib.baddbmm(i, a, b, beta=2, alpha=3), ii(2, 3, 4), ii(2, 3, 5), ii(2, 5, 4),
          grad=False)


def test_baddbmm_errors():
    i, a, b = rand(2, 3, 4), rand(2, 3, 5), rand(2, 5, 4)
    same_error(lambda lib, i, a, b: lib.baddbmm(i, a, b), i, rand(3, 5), b)
    same_error(lambda lib, i, a, b: lib.baddbmm(i, a, b), i, a, rand(2, 6, 4), match="Expected size for first two")
    same_error(lambda lib, i, a, b: lib.baddbmm(i, a, b), i, a, rand(3, 5, 4), match="Expected size for first two")
    same_error(lambda lib, i, a, b: lib.baddbmm(i, a, b), rand(5, 3, 4), a, b, match="expanded size")
    same_error(lambda lib, i, a, b: lib.baddbmm(i, a, b), i, a.astype(np.float64), b)



def test_add_products_int_scalars_truncate():
    # PyTorch casts beta and alpha to the integer dtype (0.5 -> 0, -1.7 -> -1): the result stays int64
    o = lambda *s: np.arange(1, np.prod(s) + 1, dtype=np.int64).reshape(s)  # noqa: E731
    check(lambda lib, i, a, b: lib.baddbmm(i, a, b, beta=0.5, alpha=1.7), o(2, 3, 4), o(2, 3, 5), o(2, 5, 4),
          grad=False)
    check(lambda lib, i, a, b: lib.addbmm(i, a, b, beta=1.5, alpha=2.7), o(3, 4), o(2, 3, 5), o(2, 5, 4), grad=False)
    check(lambda lib, i, m, v: lib.addmv(i, m, v, beta=1.5, alpha=-1.7), o(3), o(3, 5), o(5), grad=False)


@pytest.mark.parametrize("ishape", [(3, 4), (1, 4), (4,), ()])
@pytest.mark.parametrize("beta,alpha", [(1, 1), (0.5, 2.0), (0, 1)])
def test_addbmm(ishape, beta, alpha):
    check(lambda lib, i, a, b: lib.addbmm(i, a, b, beta=beta, alpha=alpha), rand(*ishape), rand(2, 3, 5, seed=1),
          rand(2, 5, 4, seed=2), **TOL32)
    check(lambda lib, i, a, b: lib.addbmm(i, a, b, beta=beta, alpha=alpha), rand(*ishape, dtype=np.float64),
          rand(2, 3, 5, seed=1, dtype=np.float64), rand(2, 5, 4, seed=2, dtype=np.float64))


def test_addbmm_more():
    check(lambda lib, i, a, b: lib.addbmm(i, a, b), rand(3, 4), rand(2, 3, 5, seed=1), rand(2, 5, 4, seed=2),
          noncontiguous=True, **TOL32)
    check(lambda lib, i, a, b: lib.addbmm(i, a, b, beta=0), np.full((3, 4), NAN, np.float32), rand(2, 3, 5, seed=1),
          rand(2, 5, 4, seed=2), **TOL32)
    check(lambda lib, i, a, b: lib.addbmm(i, a, b), rand(3, 4), rand(0, 3, 5, seed=1), rand(0, 5, 4, seed=2))


def test_addbmm_errors():
    i, a, b = rand(3, 4), rand(2, 3, 5), rand(2, 5, 4)
    same_error(lambda lib, i, a, b: lib.addbmm(i, a, b), rand(2, 3, 4), a, b)
    same_error(lambda lib, i, a, b: lib.addbmm(i, a, b), rand(5, 4), a, b, match="expanded size")
    same_error(lambda lib, i, a, b: lib.addbmm(i, a, b), i, a, rand(2, 6, 4), match="Incompatible matrix sizes")
    same_error(lambda lib, i, a, b: lib.addbmm(i, a, b), i, a, rand(3, 5, 4), match="same number of batches")
    same_error(lambda lib, i, a, b: lib.addbmm(i, a, b), i, rand(3, 5), b)
    same_error(lambda lib, i, a, b: lib.addbmm(i, a, b), i, a.astype(np.float64), b)


@pytest.mark.parametrize("ishape", [(3,), (1,), ()])
@pytest.mark.parametrize("beta,alpha", [(1, 1), (0.5, 2.0), (0, 1)])
def test_addmv(ishape, beta, alpha):
    check(lambda lib, i, m, v: lib.addmv(i, m, v, beta=beta, alpha=alpha), rand(*ishape), rand(3, 5, seed=1),
          rand(5, seed=2), **TOL32)
    check(lambda lib, i, m, v: lib.addmv(i, m, v, beta=beta, alpha=alpha), rand(*ishape, dtype=np.float64),
          rand(3, 5, seed=1, dtype=np.float64), rand(5, seed=2, dtype=np.float64))


def test_addmv_more():
    check(lambda lib, i, m, v: lib.addmv(i, m, v), rand(3), rand(3, 5, seed=1), rand(5, seed=2), noncontiguous=True,
          **TOL32)
    check(lambda lib, i, m, v: lib.addmv(i, m, v, beta=0), np.full(3, NAN, np.float32), rand(3, 5, seed=1),
          rand(5, seed=2), **TOL32)
    check(lambda lib, i, m, v: lib.addmv(i, m, v, alpha=2), ints(1, 2), ints(1, 2, 3, 4).reshape(2, 2), ints(5, 6),
          grad=False)


def test_addmv_errors():
    same_error(lambda lib, i, m, v: lib.addmv(i, m, v), rand(3), rand(3, 5), rand(4), match="size mismatch")
    same_error(lambda lib, i, m, v: lib.addmv(i, m, v), rand(2), rand(3, 5), rand(5), match="size mismatch")
    same_error(lambda lib, i, m, v: lib.addmv(i, m, v), rand(3), rand(5), rand(5),
               match="vector + matrix @ vector expected")
    same_error(lambda lib, i, m, v: lib.addmv(i, m, v), rand(3), rand(3, 5), rand(5, 1))
    same_error(lambda lib, i, m, v: lib.addmv(i, m, v), rand(3), rand(3, 5, dtype=np.float64), rand(5))


@pytest.mark.parametrize("ishape", [(3, 2), (2,), (3, 1), ()])
@pytest.mark.parametrize("beta,alpha", [(1, 1), (0.5, 2.0), (0, 1), (1, 0)])
def test_addr(ishape, beta, alpha):
    check(lambda lib, i, a, b: lib.addr(i, a, b, beta=beta, alpha=alpha), rand(*ishape), rand(3, seed=1),
          rand(2, seed=2))
    check(lambda lib, i, a, b: lib.addr(i, a, b, beta=beta, alpha=alpha), rand(*ishape, dtype=np.float64),
          rand(3, seed=1, dtype=np.float64), rand(2, seed=2, dtype=np.float64))


def test_addr_more():
    check(lambda lib, i, a, b: lib.addr(i, a, b), rand(3, 2), rand(3, seed=1), rand(2, seed=2), noncontiguous=True)
    check(lambda lib, i, a, b: lib.addr(i, a, b, beta=0), np.full((3, 2), NAN, np.float32), rand(3, seed=1),
          rand(2, seed=2))
    # mixed dtypes promote (PyTorch's backward then fails on them: values only)
    check(lambda lib, i, a, b: lib.addr(i, a, b), rand(3, 2), rand(3, seed=1, dtype=np.float64), rand(2, seed=2),
          grad=False)
    check(lambda lib, i, a, b: lib.addr(i, a, b, beta=2, alpha=3), np.ones((3, 2), np.int64), ints(1, 2, 3),
          ints(4, 5), grad=False)


def test_addr_errors():
    same_error(lambda lib, i, a, b: lib.addr(i, a, b), rand(3, 2), rand(3, 1), rand(2), match="Expected 1-D argument vec1")
    same_error(lambda lib, i, a, b: lib.addr(i, a, b), rand(3, 2), rand(3), rand(2, 1), match="Expected 1-D argument vec2")
    same_error(lambda lib, i, a, b: lib.addr(i, a, b), rand(2, 2), rand(3), rand(2), match="expanded size")
    same_error(lambda lib, i, a, b: lib.addr(i, a, b, beta=0.5), np.ones((3, 2), np.int64), ints(1, 2, 3),
               ints(4, 5), match="must not be a floating point")


# ---------------------------------------------------------------------------- chain_matmul
@pytest.mark.parametrize("shapes", [[(2, 3)], [(2, 3), (3, 4)], [(2, 3), (3, 4), (4, 5)],
                                    [(10, 2), (2, 10), (10, 3), (3, 1)], [(1, 5), (5, 6), (6, 2), (2, 7), (7, 3)]])
def test_chain_matmul(shapes):
    arrays = [rand(*s, seed=i) for i, s in enumerate(shapes)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(lambda lib, *ms: lib.chain_matmul(*ms), *arrays, **TOL32)
        check(lambda lib, *ms: lib.chain_matmul(*ms), *[a.astype(np.float64) for a in arrays])


def test_chain_matmul_warns_and_errors():
    a = flambeau.from_numpy(rand(2, 3))
    with pytest.warns(UserWarning, match="chain_matmul is deprecated"):
        r = flambeau.chain_matmul(a)
    assert r is not a and np.array_equal(r.numpy(), a.numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same_error(lambda lib: lib.chain_matmul(), match="Expected one or more matrices")
        same_error(lambda lib, a, b: lib.chain_matmul(a, b), rand(2, 3), rand(3), match="Tensor dimension is 1")
        same_error(lambda lib, a, b: lib.chain_matmul(a, b), rand(2, 3), rand(4, 4), match="cannot be multiplied")


# ---------------------------------------------------------------------------- renorm
@pytest.mark.parametrize("p", [2, 1, 3, 0.5, INF])
@pytest.mark.parametrize("shape,dim", [((3, 4), 0), ((3, 4), 1), ((3, 4), -1), ((2, 3, 4), 1), ((2, 3, 4), -3)])
def test_renorm(p, shape, dim):
    x = rand(*shape, low=-2, high=2)
    x[0] *= 0.05  # some slices under maxnorm (unchanged), the others scaled
    for maxnorm in (1.0, 0.0):
        check(lambda lib, t: lib.renorm(t, p, dim, maxnorm), x, noncontiguous=True)
        check(lambda lib, t: lib.renorm(t, p=p, dim=dim, maxnorm=maxnorm), x.astype(np.float64))


def test_renorm_zero_slice_and_errors():
    x = rand(3, 4)
    x[1] = 0
    check(lambda lib, t: lib.renorm(t, 2, 0, 0.5), x)
    same_error(lambda lib, t: lib.renorm(t, 0, 0, 1.0), rand(3, 4), match="non-positive-norm not supported")
    same_error(lambda lib, t: lib.renorm(t, -1, 0, 1.0), rand(3, 4), match="non-positive-norm not supported")
    same_error(lambda lib, t: lib.renorm(t, 2, 0, -1.0), rand(3, 4), match="expected maxnorm to be >= 0")
    same_error(lambda lib, t: lib.renorm(t, 2, 0, 1.0), rand(4), match="needs at least 2 dimensions")
    same_error(lambda lib, t: lib.renorm(t, 2, 2, 1.0), rand(3, 4))
    same_error(lambda lib, t: lib.renorm(t, 2, 0, 1.0), np.ones((3, 4), np.int64))


def test_renorm_gradcheck():
    x = _x(3, 4) * 2
    assert gradcheck(lambda lib, t: lib.renorm(t, 2, 0, 1.0), x)
    assert gradcheck(lambda lib, t: lib.renorm(t, 3, 1, 0.7), x)


# ---------------------------------------------------------------------------- cross
@pytest.mark.parametrize("sa,sb,dim", [((4, 3), (4, 3), 1), ((3, 3), (3, 3), 0), ((3, 3), (3, 3), -1),
                                       ((4, 3), (1, 3), -1), ((2, 3, 5), (2, 3, 5), 1), ((3,), (3,), 0),
                                       ((2, 1, 3), (1, 4, 3), 2)])
def test_cross(sa, sb, dim):
    check(lambda lib, a, b: lib.cross(a, b, dim=dim), rand(*sa), rand(*sb, seed=1))
    check(lambda lib, a, b: lib.cross(a, b, dim), rand(*sa, dtype=np.float64), rand(*sb, seed=1, dtype=np.float64))


def test_cross_default_dim_warns():
    for sa in [(4, 3), (3, 4), (2, 3, 3), (3,)]:
        with pytest.warns(UserWarning, match="without specifying the dim arg is deprecated"):
            check(lambda lib, a, b: lib.cross(a, b), rand(*sa), rand(*sa, seed=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(lambda lib, a, b: lib.cross(a, b), rand(3, 3), rand(3, 3, seed=1), noncontiguous=True)
        check(lambda lib, a, b: lib.cross(a, b), ints(1, 2, 3), ints(4, 5, 7), grad=False)


def test_cross_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same_error(lambda lib, a, b: lib.cross(a, b), rand(4, 2), rand(4, 2), match="no dimension of size 3")
        same_error(lambda lib, a, b: lib.cross(a, b), rand(3, 4, 3), rand(2, 4, 3),
                   match="dimension 0 must have length 3. Got 3 and 2")
    same_error(lambda lib, a, b: lib.cross(a, b, dim=0), rand(4, 3), rand(4, 3), match="must have length 3")
    same_error(lambda lib, a, b: lib.cross(a, b, dim=1), rand(4, 3), rand(3), match="same number of dimensions")
    same_error(lambda lib, a, b: lib.cross(a, b, dim=1), rand(4, 3), rand(4, 3, dtype=np.float64))
    same_error(lambda lib, a, b: lib.cross(a, b, dim=2), rand(4, 3), rand(4, 3))
    same_error(lambda lib, a, b: lib.cross(a, b, dim=1), rand(4, 3), rand(2, 3))


# ---------------------------------------------------------------------------- out=
@pytest.mark.parametrize("call", [
    lambda lib, x, y, out: lib.diag(x, 1, out=out),
    lambda lib, x, y, out: lib.kron(x, y, out=out),
    lambda lib, x, y, out: lib.cross(x, y, dim=1, out=out),
    lambda lib, x, y, out: lib.renorm(x, 2, 0, 0.5, out=out),
    lambda lib, x, y, out: lib.logcumsumexp(x, 1, out=out),
    lambda lib, x, y, out: lib.histc(x, 5, out=out),
    lambda lib, x, y, out: lib.baddbmm(y[0], x.unsqueeze(-1), y.unsqueeze(1), out=out),
    lambda lib, x, y, out: lib.searchsorted(y.sort().values, x, out=out),
])
def test_out_argument(call):
    a, b = rand(4, 3), rand(4, 3, seed=1)
    res = []
    for lib in (torch, flambeau):
        x, y = _lib_args(lib, (a, b))
        ref = call(lib, x, y, None)
        out = lib.zeros(0, dtype=ref.dtype)
        r = call(lib, x, y, out)
        assert r is out
        res.append(out)
    np.testing.assert_allclose(res[1].numpy(), res[0].numpy(), rtol=1e-5, atol=1e-6)
    assert res[1].numpy().dtype == res[0].numpy().dtype


def test_unique_along_a_dim_of_empty_tensors():
    for lib in (flambeau, torch):
        out, inv, cnt = lib.unique(lib.zeros(0, 3), dim=0, return_inverse=True, return_counts=True)
        assert tuple(out.shape) == (0, 3) and tuple(inv.shape) == (0,) and tuple(cnt.shape) == (0,)
        with pytest.raises(RuntimeError, match="There are 0 sized dimensions"):
            lib.unique(lib.zeros(3, 0), dim=0)
