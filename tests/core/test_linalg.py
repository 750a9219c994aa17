"""Contractions against PyTorch: matmul in every rank combination, mm/bmm/mv/dot/outer, einsum,
linear — values and gradients; shape-mismatch errors name both shapes."""
import numpy as np
import pytest
import torch

import flambeau
from helpers import check, gradcheck, rand, to_fl

DTYPES = [np.float32, np.float64]
# float32 GEMMs accumulate in a different order than PyTorch's BLAS
TOL32 = dict(rtol=1e-5, atol=1e-5)

MATMUL_SHAPES = [
    ((3,), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3,)),
    ((2, 3), (3, 4)),
    ((5, 2, 3), (3,)),
    ((3,), (5, 3, 4)),
    ((5, 2, 3), (3, 4)),
    ((2, 3), (5, 3, 4)),
    ((5, 2, 3), (5, 3, 4)),
    ((5, 1, 2, 3), (4, 3, 2)),     # batch broadcasting
    ((1, 2, 3), (6, 3, 4)),
    ((6, 2, 3), (1, 3, 4)),
    ((2, 1, 2, 3), (1, 3, 3, 1)),
    ((0, 3), (3, 4)),              # empty
    ((2, 0), (0, 4)),              # zero inner dim
    ((3, 2, 0), (0,)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul(dtype, sa, sb):
    a, b = rand(*sa, dtype=dtype), rand(*sb, dtype=dtype, seed=1)
    check(lambda lib, x, y: lib.matmul(x, y), a, b, **TOL32)
    check(lambda lib, x, y: x @ y, a, b, noncontiguous=True, **TOL32)


@pytest.mark.parametrize("sa,sb", [s for s in MATMUL_SHAPES if 0 not in s[0] + s[1]])
def test_gradcheck_matmul(sa, sb):
    assert gradcheck(lambda lib, x, y: x @ y, rand(*sa, dtype=np.float64), rand(*sb, dtype=np.float64, seed=1))


def test_matmul_one_side_requires_grad():
    a, b = rand(4, 2, 3), rand(3, 5, seed=1)
    check(lambda lib, x, y: x @ y.detach(), a, b, **TOL32)
    check(lambda lib, x, y: x.detach() @ y, a, b, **TOL32)


def test_matmul_dtype_promotion_and_ints():
    check(lambda lib, x, y: x @ y, np.arange(6).reshape(2, 3), np.arange(3), grad=False)
    for lib in (flambeau, torch):
        with pytest.raises(RuntimeError):
            lib.ones(2, 3) @ lib.ones(3, dtype=lib.float64)


def test_matmul_errors_name_both_shapes():
    with pytest.raises(RuntimeError, match=r"2x3.*4x5|\[2, 3\].*\[4, 5\]"):
        flambeau.ones(2, 3) @ flambeau.ones(4, 5)
    with pytest.raises(RuntimeError) as e:
        flambeau.ones(7, 2, 3) @ flambeau.ones(7, 4, 5)
    assert "[7, 2, 3]" in str(e.value) and "[7, 4, 5]" in str(e.value)
    with pytest.raises(RuntimeError) as e:
        flambeau.ones(3, 2, 3) @ flambeau.ones(4, 3, 5)
    assert "[3, 2, 3]" in str(e.value) and "[4, 3, 5]" in str(e.value)
    with pytest.raises(RuntimeError):
        flambeau.ones(3) @ flambeau.ones(4)
    with pytest.raises(RuntimeError, match="1D"):
        flambeau.tensor(2.) @ flambeau.ones(2)
    with pytest.raises(RuntimeError) as e:  # broadcasting errors name both shapes too
        flambeau.ones(2, 3) + flambeau.ones(4)
    assert "3" in str(e.value) and "4" in str(e.value)


@pytest.mark.parametrize("dtype", DTYPES)
def test_mm_bmm_mv_dot_outer(dtype):
    check(lambda lib, x, y: lib.mm(x, y), rand(2, 3, dtype=dtype), rand(3, 4, dtype=dtype, seed=1), **TOL32)
    check(lambda lib, x, y: x.mm(y), rand(2, 3, dtype=dtype), rand(3, 4, dtype=dtype, seed=1),
          noncontiguous=True, **TOL32)
    check(lambda lib, x, y: lib.bmm(x, y), rand(5, 2, 3, dtype=dtype), rand(5, 3, 4, dtype=dtype, seed=1), **TOL32)
    check(lambda lib, x, y: lib.mv(x, y), rand(2, 3, dtype=dtype), rand(3, dtype=dtype, seed=1), **TOL32)
    check(lambda lib, x, y: lib.dot(x, y), rand(7, dtype=dtype), rand(7, dtype=dtype, seed=1), **TOL32)
    check(lambda lib, x, y: x.dot(y), rand(0, dtype=dtype), rand(0, dtype=dtype, seed=1))
    check(lambda lib, x, y: lib.outer(x, y), rand(3, dtype=dtype), rand(4, dtype=dtype, seed=1))
    check(lambda lib, x, y: x.outer(y), rand(3, dtype=dtype), rand(0, dtype=dtype, seed=1))
    for lib in (flambeau, torch):
        with pytest.raises(RuntimeError):
            lib.mm(lib.ones(2, 3), lib.ones(3))
        with pytest.raises(RuntimeError):
            lib.mm(lib.ones(2, 3), lib.ones(2, 3))
        with pytest.raises(RuntimeError):
            lib.bmm(lib.ones(2, 2, 3), lib.ones(3, 3, 4))
        with pytest.raises(RuntimeError):
            lib.bmm(lib.ones(2, 3), lib.ones(3, 4))
        with pytest.raises(RuntimeError):
            lib.dot(lib.ones(2), lib.ones(3))
        with pytest.raises(RuntimeError):
            lib.mv(lib.ones(2, 3), lib.ones(2))


EINSUM = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(5, 2, 3), (5, 3, 4)]),
    ("i,i->", [(6,), (6,)]),
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("ij->j", [(2, 3)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("ij,jk", [(2, 3), (3, 4)]),           # implicit output: ik
    ("ba,ac", [(2, 3), (3, 4)]),           # implicit output is alphabetical: bc
    ("i,j->ij", [(3,), (4,)]),
    ("ij,ij->i", [(3, 4), (3, 4)]),
    ("bn,nm,bm->b", [(2, 3), (3, 4), (2, 4)]),
    ("ijk->kij", [(2, 3, 4)]),
    ("i j , j k -> i k", [(2, 3), (3, 4)]),
    ("...ij,...jk->...ik", [(2, 5, 2, 3), (5, 3, 4)]),      # ellipsis: batch dims, right-aligned
    ("...ij,...jk", [(1, 2, 3), (4, 3, 5)]),                # broadcast a size-1 batch dim, implicit output
    ("b...,b...->b", [(3, 2, 4), (3, 2, 4)]),
    ("...->...", [(2, 3)]),
    ("i...->...", [(3, 2, 2)]),
    ("...i,i", [(2, 3, 4), (4,)]),
    ("i...,i...->", [(2, 1, 3), (2, 4, 3)]),               # a size-1 '...' dim summed out: its grad spreads
    # an index repeated within one operand walks its diagonal
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),                                       # implicit output: the trace
    ("bii->b", [(3, 4, 4)]),
    ("ii,ij->j", [(4, 4), (4, 5)]),
    ("ijji->ij", [(2, 3, 3, 2)]),
    ("iji->ji", [(4, 2, 4)]),
    ("...ii->...i", [(2, 3, 3)]),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eq,shapes", EINSUM)
def test_einsum(dtype, eq, shapes):
    arrays = [rand(*s, dtype=dtype, seed=k) for k, s in enumerate(shapes)]
    check(lambda lib, *xs: lib.einsum(eq, *xs), *arrays, **TOL32)
    check(lambda lib, *xs: lib.einsum(eq, xs), *arrays, noncontiguous=True, **TOL32)


@pytest.mark.parametrize("eq,shapes", EINSUM)
def test_gradcheck_einsum(eq, shapes):
    arrays = [rand(*s, dtype=np.float64, seed=k) for k, s in enumerate(shapes)]
    assert gradcheck(lambda lib, *xs: lib.einsum(eq, *xs), *arrays)


def test_einsum_errors():
    with pytest.raises(RuntimeError):
        flambeau.einsum("ij,jk->ik", flambeau.ones(2, 3), flambeau.ones(4, 5))
    for eq, ops in [("...ijk->", [flambeau.ones(2, 3)]), ("..i->i", [flambeau.ones(2, 3)]),
                    ("...ij,...jk", [flambeau.ones(2, 3)])]:
        for lib, args in ((flambeau, ops), (torch, [torch.ones(*o.shape) for o in ops])):
            with pytest.raises(RuntimeError):
                lib.einsum(eq, *args)
    for lib in (flambeau, torch):
        with pytest.raises(RuntimeError, match="subscript i is repeated for operand 0 but the sizes don't match, 3 != 2"):
            lib.einsum("ii", lib.ones(2, 3))
        for eq, shape in [("iii", (3, 3)), ("ii", (2, 2, 2))]:
            with pytest.raises(RuntimeError, match="the number of subscripts in the equation .* does not match"):
                lib.einsum(eq, lib.ones(*shape))


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear(dtype):
    from flambeau.ops.linalg import linear as fl_linear
    import torch.nn.functional as F
    x, w, b = rand(4, 3, dtype=dtype), rand(5, 3, dtype=dtype, seed=1), rand(5, dtype=dtype, seed=2)

    def lin(lib, *args):
        return fl_linear(*args) if lib is flambeau else F.linear(*args)
    check(lin, x, w, b, **TOL32)
    check(lin, x, w, **TOL32)
    check(lin, rand(2, 6, 3, dtype=dtype), w, b, **TOL32)
    check(lin, rand(2, 2, 6, 3, dtype=dtype), w, b, noncontiguous=True, **TOL32)
    check(lin, rand(3, dtype=dtype), w, b, **TOL32)
    check(lin, x, rand(3, dtype=dtype, seed=1), **TOL32)
    check(lin, rand(0, 3, dtype=dtype), w, b)
    check(lambda lib, x, w, b: lin(lib, x, w.detach(), b), x, w, b, **TOL32)
    check(lambda lib, x, w, b: lin(lib, x.detach(), w, b.detach()), x, w, b, **TOL32)
    assert gradcheck(lambda lib, *a: fl_linear(*a), rand(2, 4, 3, dtype=np.float64), rand(5, 3, dtype=np.float64),
                     rand(5, dtype=np.float64))
    with pytest.raises(RuntimeError) as e:
        fl_linear(to_fl(rand(4, 2)), to_fl(w))
    assert "4x2" in str(e.value) and "3x5" in str(e.value)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_of_a_small_batch_into_a_wide_layer(bias):
    # 32 samples into 512 outputs (8M multiply-adds): Linear computes W @ x.T and transposes
    # back; the output is still an ordinary contiguous (N, out) tensor, bitwise x @ W.T + b
    from flambeau.ops.linalg import linear as fl_linear
    import torch.nn.functional as F
    x, w, b = rand(32, 512, seed=3), rand(512, 512, seed=4), rand(512, seed=5)
    args = (x, w, b) if bias else (x, w)

    def lin(lib, *a):
        return fl_linear(*a) if lib is flambeau else F.linear(*a)
    check(lin, *args, **TOL32)
    check(lin, *args, noncontiguous=True, **TOL32)
    y = fl_linear(*[to_fl(a) for a in args])
    assert y.is_contiguous() and y.view(-1).shape == (32 * 512,)
    expected = x @ w.T
    if bias:
        expected += b
    np.testing.assert_array_equal(y.numpy(), expected)


def test_addmm_tensordot():
    check(lambda lib, c, a, b: lib.addmm(c, a, b), rand(2, 4), rand(2, 3, seed=1), rand(3, 4, seed=2), **TOL32)
    check(lambda lib, c, a, b: lib.addmm(c, a, b, beta=0.5, alpha=2), rand(4), rand(2, 3, seed=1),
          rand(3, 4, seed=2), **TOL32)
    check(lambda lib, a, b: lib.tensordot(a, b, 2), rand(2, 3, 4), rand(3, 4, 5, seed=1), **TOL32)
    check(lambda lib, a, b: lib.tensordot(a, b, ([0], [1])), rand(3, 4), rand(2, 3, seed=1), **TOL32)
