"""``flambeau.linalg`` (and torch.det/inverse/svd/...) against ``torch.linalg``: values and
gradients, batched, float32 and float64; float64 gradchecks for every Function of ops/decomp.py.

Tolerances: float64 the helper's (rtol 1e-10, atol 1e-12) except where stated; float32
decompositions rtol 1e-4 / atol 1e-5, because NumPy's LAPACK (OpenBLAS) and PyTorch's
factorise with different blockings and pivot orders, whose float32 roundings differ by a few
ulps times the condition number (the matrices are kept well conditioned).

Eigenvectors and singular vectors are unique only up to sign (and the two LAPACKs pick
different signs), so those are compared through sign-free functions of them: V * V (each
column's square), reconstructions and projections.
"""
import math

import numpy as np
import pytest
import torch
from helpers import check, gradcheck

import flambeau

F32 = dict(rtol=1e-4, atol=1e-5, grad_rtol=1e-4, grad_atol=1e-5)


def _tol(dtype):
    return F32 if dtype == np.float32 else {}


def _well(*shape, dtype=np.float64, seed=0):
    """Random square matrices with the diagonal pushed up: well conditioned, invertible."""
    a = np.random.default_rng(seed).uniform(-1, 1, shape)
    return (a + shape[-1] * np.eye(shape[-1])).astype(dtype)


def _spd(*shape, dtype=np.float64, seed=0):
    a = np.random.default_rng(seed).uniform(-1, 1, shape)
    return (a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])).astype(dtype)


def _m(*shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(dtype)


DTYPES = [np.float32, np.float64]


# ---------------------------------------------------------------------------- inverses and solvers
@pytest.mark.parametrize("dtype", DTYPES)
def test_inv_det_slogdet(dtype):
    a = _well(2, 3, 4, 4, dtype=dtype)
    check(lambda lib, x: lib.linalg.inv(x), a, **_tol(dtype))
    check(lambda lib, x: lib.linalg.inv(x), a[0, 0], noncontiguous=True, **_tol(dtype))
    check(lambda lib, x: lib.linalg.det(x), a, **_tol(dtype))
    check(lambda lib, x: lib.linalg.slogdet(x)[1], a - 8 * np.eye(4, dtype=dtype), **_tol(dtype))  # some negative
    check(lambda lib, x: lib.linalg.slogdet(x).sign, a - 8 * np.eye(4, dtype=dtype), grad=False)
    check(lambda lib, x: lib.det(x) + lib.inverse(x).sum() + x.det() + x.logdet(), _spd(3, 3, dtype=dtype),
          **_tol(dtype))


def test_det_of_singular_matrices_has_the_cofactor_gradient():
    """det'(A) = adj(A)^T, finite for singular A: the limit of the gradients of nearby invertible
    matrices (PyTorch 2.13 returns zeros at exactly singular inputs, which is not that limit)."""
    for m, cof in [([[1.0, 2.0], [2.0, 4.0]], [[4.0, -2.0], [-2.0, 1.0]]),
                   (np.outer([1.0, 2.0, 3.0], [1.0, -1.0, 0.5]), np.zeros((3, 3)))]:      # rank 1 of 3: adj = 0
        a = flambeau.tensor(np.asarray(m), requires_grad=True)
        flambeau.linalg.det(a).backward()
        np.testing.assert_allclose(a.grad.numpy(), cof, atol=1e-12)
    near = torch.tensor([[1.0, 2.0], [2.0, 4.0 + 1e-9]], dtype=torch.float64, requires_grad=True)
    torch.linalg.det(near).backward()
    np.testing.assert_allclose(near.grad.numpy(), [[4.0, -2.0], [-2.0, 1.0]], atol=1e-8)
    assert gradcheck(lambda lib, x: lib.linalg.det(x), np.array([[1.0, 2.0], [2.0, 4.0]]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_solve(dtype):
    a, b = _well(2, 4, 4, dtype=dtype), _m(2, 4, 3, dtype=dtype, seed=1)
    check(lambda lib, x, y: lib.linalg.solve(x, y), a, b, **_tol(dtype))
    check(lambda lib, x, y: lib.linalg.solve(x, y), a, b[:, :, 0], **_tol(dtype))          # a batch of vectors
    check(lambda lib, x, y: lib.linalg.solve(x, y), a[0], b[0, :, 0], **_tol(dtype))       # one vector
    check(lambda lib, x, y: lib.linalg.solve(x, y), a[:1], b, **_tol(dtype))               # A broadcast
    check(lambda lib, x, y: lib.linalg.solve(x, y, left=False), a, np.swapaxes(b, 1, 2).copy(), **_tol(dtype))
    check(lambda lib, x, y: lib.linalg.solve(x, y), a, b, noncontiguous=True, **_tol(dtype))


@pytest.mark.parametrize("upper, unit, left", [(True, False, True), (False, False, True), (False, True, True),
                                                (True, True, False), (False, False, False)])
def test_solve_triangular(upper, unit, left):
    a, b = _well(2, 4, 4), _m(2, 4, 3, seed=1)
    b = b if left else np.swapaxes(b, 1, 2).copy()
    check(lambda lib, x, y: lib.linalg.solve_triangular(x, y, upper=upper, left=left, unitriangular=unit), a, b)


def test_inverse_errors():
    for lib in (flambeau, torch):
        with pytest.raises(RuntimeError, match="A must be batches of square matrices, but they are 2 by 3"):
            lib.linalg.inv(lib.zeros(2, 3))
        with pytest.raises(lib.linalg.LinAlgError, match="singular"):
            lib.linalg.inv(lib.zeros(2, 2))
        with pytest.raises(RuntimeError, match="Incompatible shapes of A and B for the equation AX = B"):
            lib.linalg.solve(lib.eye(3), lib.ones(2, 2))
        with pytest.raises(lib.linalg.LinAlgError, match="not positive-definite"):
            lib.linalg.cholesky(-lib.eye(2))
    assert issubclass(flambeau.linalg.LinAlgError, RuntimeError)


# ---------------------------------------------------------------------------- decompositions
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky(dtype, upper):
    a = _spd(2, 4, 4, dtype=dtype)
    check(lambda lib, x: lib.linalg.cholesky(x, upper=upper), a, **_tol(dtype))
    check(lambda lib, x: lib.cholesky(x, upper=upper), a[0], **_tol(dtype))


def _sign_free_eigh(lib, x, uplo="L"):
    w, v = lib.linalg.eigh(x, UPLO=uplo)
    return w, v * v, (v * w.unsqueeze(-2)) @ v.mT


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh(dtype, uplo):
    a = _spd(2, 5, 5, dtype=dtype)
    a[..., 0, 1] += 0.5                     # not symmetric: only the UPLO triangle may be read
    check(lambda lib, x: _sign_free_eigh(lib, x, uplo), a, **_tol(dtype))
    check(lambda lib, x: lib.linalg.eigvalsh(x, UPLO=uplo), a, **_tol(dtype))


def test_eigvalsh_of_repeated_eigenvalues_has_a_finite_gradient():
    check(lambda lib, x: lib.linalg.eigvalsh(x), np.eye(3))


def _sign_free_svd(lib, x, full):
    u, s, vh = lib.linalg.svd(x, full_matrices=full)
    k = s.shape[-1]
    return s, (u[..., :k] * s.unsqueeze(-2)) @ vh[..., :k, :], u[..., :k] * u[..., :k], vh[..., :k, :] * vh[..., :k, :]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4), (2, 6, 4)])
@pytest.mark.parametrize("full", [False, True])
def test_svd(dtype, shape, full):
    # the vectors' gradients divide by gaps between squared singular values: in float32 their
    # absolute error grows with the gradients' size (~10 here), hence grad_atol 2e-4
    tol = dict(F32, grad_atol=2e-4) if dtype == np.float32 else {}
    check(lambda lib, x: _sign_free_svd(lib, x, full), _m(*shape, dtype=dtype), **tol)
    check(lambda lib, x: lib.linalg.svdvals(x), _m(*shape, dtype=dtype), **_tol(dtype))


def test_torch_svd_returns_v():
    x = _m(5, 3)

    def f(lib, a):
        u, s, v = lib.svd(a)
        return s, (u * s.unsqueeze(-2)) @ v.mT
    check(f, x)
    assert tuple(flambeau.svd(flambeau.tensor(x), some=False).U.shape) == (5, 5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 3), (4, 4), (2, 6, 4)])
def test_qr(dtype, shape):
    check(lambda lib, x: lib.linalg.qr(x), _m(*shape, dtype=dtype), **_tol(dtype))
    q, r = flambeau.linalg.qr(flambeau.tensor(_m(5, 3)), mode="complete")
    assert tuple(q.shape) == (5, 5) and tuple(r.shape) == (5, 3)
    np.testing.assert_allclose((q @ r).numpy(), _m(5, 3), atol=1e-12)
    r_only = flambeau.linalg.qr(flambeau.tensor(_m(5, 3)), mode="r")
    np.testing.assert_allclose(np.abs(r_only.R.numpy()), np.abs(r.numpy()[:3]), atol=1e-12)


def test_pinv_matrix_rank_matrix_power_multi_dot():
    tall, wide = _m(5, 3), _m(3, 5, seed=1)
    check(lambda lib, x: lib.linalg.pinv(x), tall)
    check(lambda lib, x: lib.pinverse(x), wide)
    low_rank = tall @ _m(3, 4, seed=2) @ np.diag([1.0, 1.0, 0.0, 0.0])       # rank 2
    for lib in (flambeau, torch):
        assert int(lib.linalg.matrix_rank(lib.tensor(low_rank))) == 2
        assert int(lib.linalg.matrix_rank(lib.tensor(tall), atol=10.0)) == 0
    check(lambda lib, x: lib.linalg.matrix_rank(x), np.stack([low_rank, _m(5, 4)]), grad=False)
    for n in (0, 1, 3, 6, -1, -3):
        check(lambda lib, x: lib.linalg.matrix_power(x, n), _well(2, 3, 3))
    check(lambda lib, a, b, c, d: lib.linalg.multi_dot([a, b, c, d]), _m(4), _m(4, 6), _m(6, 2), _m(2))
    check(lambda lib, a, b, c: lib.linalg.multi_dot([a, b, c]), _m(10, 2), _m(2, 10, seed=1), _m(10, 3, seed=2))


# ---------------------------------------------------------------------------- norms
@pytest.mark.parametrize("ord", ["fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf])
@pytest.mark.parametrize("dtype", DTYPES)
def test_matrix_norm(ord, dtype):
    a = _m(2, 4, 3, dtype=dtype)
    check(lambda lib, x: lib.linalg.matrix_norm(x, ord), a, **_tol(dtype))
    check(lambda lib, x: lib.linalg.matrix_norm(x, ord, dim=(0, 2), keepdim=True), a, **_tol(dtype))
    check(lambda lib, x: lib.linalg.norm(x, ord, dim=(-1, 0)), a, **_tol(dtype))


def test_vector_norm_norm_cond_vecdot():
    a = _m(3, 4, 5)
    for ord in (2, 1, 3.5, math.inf, -math.inf, 0):
        check(lambda lib, x: lib.linalg.vector_norm(x, ord, dim=(0, 2)), a)
    check(lambda lib, x: lib.linalg.vector_norm(x), a)
    check(lambda lib, x: lib.linalg.norm(x), a)
    check(lambda lib, x: lib.linalg.norm(x, 3, dim=1, keepdim=True), a)
    check(lambda lib, x: lib.linalg.norm(x, "nuc"), a[0])
    check(lambda lib, x: lib.linalg.norm(x, -1), a[0, 0])
    check(lambda lib, x: lib.linalg.cond(x), _well(2, 3, 3))
    check(lambda lib, x: lib.linalg.cond(x, -2), _well(3, 3))
    # PyTorch's own backward of cond(p='fro') fails (it modifies a saved inverse in place): values only
    check(lambda lib, x: lib.linalg.cond(x, "fro"), _well(3, 3), grad=False)
    check(lambda lib, x, y: lib.linalg.vecdot(x, y, dim=1), a, _m(3, 4, 5, seed=1))
    for lib in (flambeau, torch):
        with pytest.raises(RuntimeError, match="input must be 1D or 2D"):
            lib.linalg.norm(lib.ones(2, 2, 2), 2)


# ---------------------------------------------------------------------------- gradcheck (float64)
GRADCHECK_CASES = {
    "decomp.Inv": (lambda lib, a: lib.linalg.inv(a), (_well(2, 3, 3),)),
    "decomp.Det": (lambda lib, a: lib.linalg.det(a), (_well(2, 3, 3),)),
    "decomp.Slogdet": (lambda lib, a: lib.linalg.slogdet(a).logabsdet, (_well(3, 3) - 4 * np.eye(3),)),
    "decomp.Solve": (lambda lib, a, b: lib.linalg.solve(a, b), (_well(2, 3, 3), _m(1, 3, 2))),
    "decomp.SolveTriangular": (lambda lib, a, b: lib.linalg.solve_triangular(a, b, upper=True),
                               (_well(3, 3), _m(3, 2))),
    # symmetric inputs and sign-free outputs: a finite difference perturbs one entry only,
    # which the factorisation reads from its triangle
    "decomp.Cholesky": (lambda lib, a: lib.linalg.cholesky((a + a.mT) / 2), (_spd(3, 3),)),
    "decomp.Eigh": (lambda lib, a: _sign_free_eigh(lib, (a + a.mT) / 2), (_spd(3, 3),)),
    "decomp.Svd": (lambda lib, a: _sign_free_svd(lib, a, False), (_m(4, 3),)),
    "decomp.Svdvals": (lambda lib, a: lib.linalg.svdvals(a), (_m(3, 4),)),
    "decomp.Qr": (lambda lib, a: lib.linalg.qr(a), (_m(4, 3),)),
    "decomp.Pinv": (lambda lib, a: lib.linalg.pinv(a), (_m(3, 5),)),
}


@pytest.mark.parametrize("name", sorted(GRADCHECK_CASES))
def test_gradcheck_decompositions(name):
    fn, arrays = GRADCHECK_CASES[name]
    assert gradcheck(fn, *arrays)


def test_wide_svd_gradcheck_and_pinv():
    assert gradcheck(lambda lib, a: _sign_free_svd(lib, a, False), _m(3, 5))
    assert gradcheck(lambda lib, a: lib.linalg.pinv(a), _m(3, 5))


# ---------------------------------------------------------------------------- edge cases
@pytest.mark.parametrize("m", [np.eye(2), np.diag([3.0, 0.0, 0.0]), np.array([[0.0, 1.0], [1.0, 0.0]])])
def test_pinv_of_repeated_singular_values_has_a_finite_gradient(m):
    """pinv's closed-form backward (not the SVD's, which divides by singular-value gaps)."""
    check(lambda lib, x: lib.linalg.pinv(x), m)


@pytest.mark.parametrize("shape", [(3, 5), (2, 2, 4)])
def test_qr_of_wide_matrices(shape):
    check(lambda lib, x: lib.linalg.qr(x), _m(*shape))


def test_qr_modes_that_cannot_be_differentiated():
    a = flambeau.tensor(_m(4, 3), requires_grad=True)
    with pytest.raises(RuntimeError, match="not computed when mode='r'"):
        flambeau.linalg.qr(a, mode="r").R.sum().backward()
    with pytest.raises(RuntimeError, match="not differentiable when mode='complete' and nrows > ncols"):
        flambeau.linalg.qr(a, mode="complete").Q.sum().backward()


def test_singular_inputs_follow_pytorch():
    # a zero on a triangle's diagonal: inf/nan from the substitution, no error
    u = np.triu(np.ones((3, 3))) - np.eye(3)
    check(lambda lib, a, b: lib.linalg.solve_triangular(a, b, upper=True), u, np.ones((3, 2)), grad=False)
    # condition numbers of singular matrices are infinite, for every norm
    for p in (None, "fro", 1, math.inf):
        check(lambda lib, a: lib.linalg.cond(a, p), np.ones((2, 2)), grad=False)


def test_cholesky_reads_only_its_triangle():
    a = _spd(4, 4)
    a[0, 3] += 0.7                         # the upper triangle differs from the lower one
    for upper in (False, True):
        check(lambda lib, x: lib.linalg.cholesky(x, upper=upper), a, grad=False)


def test_out_arguments():
    a, b = _well(3, 3), _m(3, 2)
    for name, args in [("inv", (a,)), ("det", (a,)), ("solve", (a, b)), ("pinv", (b,)), ("matrix_norm", (a,)),
                       ("vector_norm", (b,)), ("svdvals", (b,)), ("matrix_power", (a, 2))]:
        args = tuple(flambeau.tensor(x) if isinstance(x, np.ndarray) else x for x in args)
        out = flambeau.empty(0, dtype=flambeau.float64)
        r = getattr(flambeau.linalg, name)(*args, out=out)
        assert r is out
        np.testing.assert_allclose(out.numpy(), getattr(flambeau.linalg, name)(*args).numpy())
    outs = (flambeau.empty(0, dtype=flambeau.float64), flambeau.empty(0, dtype=flambeau.float64))
    w, v = flambeau.linalg.eigh(flambeau.tensor(_spd(3, 3)), out=outs)
    assert w is outs[0] and v is outs[1] and tuple(v.shape) == (3, 3)
