"""Double backward of the decompositions (``ops/decomp.py``) and special functions
(``ops/special.py``): each op's ``backward_graph`` is checked two ways, on every case below.

* ``gradgradcheck`` in float64 (finite differences of the first derivatives; gradcheck's atol
  1e-5 / rtol 1e-3) on well-conditioned inputs: symmetric positive-definite matrices for
  cholesky / eigh, distinct eigenvalues and singular values, invertible or exactly rank-deficient
  matrices for det.
* Against PyTorch, float64: g = d loss(op(x)) / dx with ``create_graph=True``, then a second
  backward of (g^2 + r g).sum(); g and x.grad must match torch's to rtol 1e-9, atol 1e-11.
  The one exception: lgamma, digamma and polygamma(1, .), whose derivatives up to the third
  involve trigamma, which PyTorch evaluates to ~5e-10 relative only (ours and PyTorch's
  polygamma(n >= 2) are within 3e-16 of mpmath's): rtol 3e-8 there (the largest deviation seen,
  after sin and squares, is 8e-9).
* float32 stays float32 (rtol 1e-4, atol 1e-5 against torch), the first derivatives under
  ``create_graph=True`` equal the plain ones (rtol 1e-12, atol 1e-14), third derivatives of det /
  inv / cholesky / slogdet match torch (det's also the exact constant of a 3x3 det, which is
  where PyTorch's goes wrong at an exactly singular matrix), large near-singular det matches
  60-digit arithmetic, and the edge cases of the first-order backward (singular matrices, an
  unused eigenvector output, QR's non-differentiable modes) behave the same under
  ``create_graph=True``.

Eigenvectors and singular vectors are unique up to sign (NumPy's and PyTorch's LAPACK pick
different ones): eigh and svd go through sign-free functions of their outputs, as in
test_linalg_module.py.
"""
import numpy as np
import pytest
import torch

import flambeau

TOL = {"rtol": 1e-9, "atol": 1e-11}
GAMMA_TOL = {"rtol": 3e-8, "atol": 1e-11}
F32 = {"rtol": 1e-4, "atol": 1e-5}


def _well(*shape, seed=0):
    a = np.random.default_rng(seed).uniform(-1, 1, shape)
    return a + shape[-1] * np.eye(shape[-1])


def _spd(*shape, seed=0):
    a = np.random.default_rng(seed).uniform(-1, 1, shape)
    return a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])


def _m(*shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape)


def _pos(*shape, seed=0, low=0.3, high=2.5):
    return np.random.default_rng(seed).uniform(low, high, shape)


def _rank(n, r, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, r)) @ rng.standard_normal((r, n))


def _sym(a):
    return (a + a.mT) / 2


def _sign_free_eigh(lib, x, uplo="L"):
    w, v = lib.linalg.eigh(x, UPLO=uplo)
    return w, v * v, (v * w.unsqueeze(-2)) @ v.mT


def _sign_free_svd(lib, x, full):
    u, s, vh = lib.linalg.svd(x, full_matrices=full)
    k = s.shape[-1]
    return s, (u[..., :k] * s.unsqueeze(-2)) @ vh[..., :k, :], u[..., :k] * u[..., :k], vh[..., :k, :] * vh[..., :k, :]


def _const(lib, a):
    return lib.from_numpy(np.array(a, dtype=np.float64))


B_CONST = _m(3, 2, seed=7)
EXACTLY_SINGULAR = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])     # rank 2
RANK_ONE = np.outer([1.0, 2.0, -1.0], [0.5, 1.0, 3.0])                             # rank 1: det'' != 0 only

# name: (fn(lib, *tensors), arrays[, tolerance against torch])
SECOND_ORDER = {
    # ---------------------------------------------------------------- inverses and solvers
    "inv": (lambda lib, a: lib.linalg.inv(a), (_well(2, 3, 3),)),
    "inv_4x4": (lambda lib, a: lib.linalg.inv(a), (_well(4, 4, seed=1),)),
    "det": (lambda lib, a: lib.linalg.det(a), (_well(2, 3, 3),)),
    "det_negative": (lambda lib, a: lib.linalg.det(a), (_well(4, 4, seed=2) - 8 * np.eye(4),)),
    "det_1x1": (lambda lib, a: lib.linalg.det(a), (_m(3, 1, 1, seed=3),)),
    "det_rank_3_of_4": (lambda lib, a: lib.linalg.det(a), (_rank(4, 3, seed=4),)),
    "det_rank_2_of_4": (lambda lib, a: lib.linalg.det(a), (_rank(4, 2, seed=5),)),
    "det_exactly_singular": (lambda lib, a: lib.linalg.det(a), (EXACTLY_SINGULAR,)),
    "det_rank_one": (lambda lib, a: lib.linalg.det(a), (RANK_ONE,)),
    "slogdet": (lambda lib, a: lib.linalg.slogdet(a).logabsdet, (_well(2, 3, 3, seed=6) - 4 * np.eye(3),)),
    "logdet": (lambda lib, a: lib.logdet(a), (_spd(3, 3, seed=7),)),
    "solve": (lambda lib, a, b: lib.linalg.solve(a, b), (_well(2, 3, 3), _m(1, 3, 2))),
    "solve_vector": (lambda lib, a, b: lib.linalg.solve(a, b), (_well(3, 3, seed=8), _m(3, seed=9))),
    "solve_left_false": (lambda lib, a, b: lib.linalg.solve(a, b, left=False), (_well(3, 3, seed=10), _m(2, 3))),
    "solve_a_only": (lambda lib, a: lib.linalg.solve(a, _const(lib, B_CONST)), (_well(3, 3, seed=11),)),
    "solve_b_only": (lambda lib, b: lib.linalg.solve(_const(lib, _well(3, 3, seed=12)), b) ** 2, (_m(2, 3, 2),)),
    "solve_triangular_upper": (lambda lib, a, b: lib.linalg.solve_triangular(a, b, upper=True),
                               (_well(3, 3), _m(3, 2))),
    "solve_triangular_lower_batched": (lambda lib, a, b: lib.linalg.solve_triangular(a, b, upper=False),
                                       (_well(2, 3, 3, seed=13), _m(1, 3, 4))),
    "solve_triangular_unit": (lambda lib, a, b: lib.linalg.solve_triangular(a, b, upper=True, unitriangular=True),
                              (_m(3, 3, seed=14), _m(3, 2))),
    "solve_triangular_right": (lambda lib, a, b: lib.linalg.solve_triangular(a, b, upper=False, left=False),
                               (_well(3, 3, seed=15), _m(2, 3))),
    # ---------------------------------------------------------------- decompositions
    # symmetric inputs: a finite difference perturbs one entry, the factorisation reads a triangle
    "cholesky": (lambda lib, a: lib.linalg.cholesky(_sym(a)), (_spd(3, 3),)),
    "cholesky_upper_batched": (lambda lib, a: lib.linalg.cholesky(_sym(a), upper=True), (_spd(2, 4, 4, seed=1),)),
    "eigh": (lambda lib, a: _sign_free_eigh(lib, _sym(a)), (_spd(3, 3),)),
    "eigh_upper_batched": (lambda lib, a: _sign_free_eigh(lib, _sym(a), "U"), (_spd(2, 4, 4, seed=2),)),
    "eigvalsh": (lambda lib, a: lib.linalg.eigvalsh(_sym(a)), (_spd(4, 4, seed=3),)),
    "svd_tall": (lambda lib, a: _sign_free_svd(lib, a, False), (_m(4, 3),)),
    "svd_wide": (lambda lib, a: _sign_free_svd(lib, a, False), (_m(3, 5, seed=1),)),
    "svd_square_batched": (lambda lib, a: _sign_free_svd(lib, a, False), (_m(2, 3, 3, seed=2),)),
    "svd_full_tall": (lambda lib, a: _sign_free_svd(lib, a, True), (_m(5, 3, seed=3),)),
    "svd_full_wide": (lambda lib, a: _sign_free_svd(lib, a, True), (_m(3, 4, seed=4),)),
    "svd_values_only": (lambda lib, a: lib.linalg.svd(a).S, (_m(4, 3, seed=5),)),
    "svdvals": (lambda lib, a: lib.linalg.svdvals(a), (_m(3, 4),)),
    "svdvals_batched": (lambda lib, a: lib.linalg.svdvals(a), (_m(2, 4, 3, seed=6),)),
    "matrix_norm_nuc": (lambda lib, a: lib.linalg.matrix_norm(a, "nuc"), (_m(3, 3, seed=7),)),
    "qr_tall": (lambda lib, a: lib.linalg.qr(a), (_m(4, 3),)),
    "qr_square": (lambda lib, a: lib.linalg.qr(a), (_m(3, 3, seed=1),)),
    "qr_wide": (lambda lib, a: lib.linalg.qr(a), (_m(3, 5, seed=2),)),
    "qr_wide_complete_batched": (lambda lib, a: lib.linalg.qr(a, mode="complete"), (_m(2, 2, 4, seed=3),)),
    "qr_r_only_used": (lambda lib, a: lib.linalg.qr(a).R, (_m(4, 3, seed=4),)),
    "pinv_wide": (lambda lib, a: lib.linalg.pinv(a), (_m(3, 5),)),
    "pinv_tall": (lambda lib, a: lib.linalg.pinv(a), (_m(5, 3, seed=1),)),
    "pinv_square_batched": (lambda lib, a: lib.linalg.pinv(a), (_m(2, 3, 3, seed=2),)),
    # ---------------------------------------------------------------- special functions
    "lgamma": (lambda lib, a: lib.lgamma(a), (_pos(3, 2),), GAMMA_TOL),
    "digamma": (lambda lib, a: lib.digamma(a), (_pos(3, 2, seed=1),), GAMMA_TOL),
    "polygamma_1": (lambda lib, a: lib.polygamma(1, a), (_pos(3, 2, seed=2),), GAMMA_TOL),
    "polygamma_2": (lambda lib, a: lib.polygamma(2, a), (_pos(3, 2, seed=3),)),
    "polygamma_3": (lambda lib, a: lib.polygamma(3, a), (_pos(3, 2, seed=4),)),
    "lgamma_negative": (lambda lib, a: lib.lgamma(a), (np.array([-0.5, -1.7, -2.3, 0.4]),), GAMMA_TOL),
    "erfinv": (lambda lib, a: lib.erfinv(a), (_m(3, 2, seed=5) * 0.9,)),
    "erfc": (lambda lib, a: lib.erfc(a), (_m(3, 2, seed=6) * 2,)),
    "logit": (lambda lib, a: lib.logit(a), (_pos(3, 2, seed=7, low=0.05, high=0.95),)),
    # entries on both sides of the clamp [0.1, 0.9] (not at its edges)
    "logit_eps": (lambda lib, a: lib.logit(a, eps=0.1), (np.array([[0.02, 0.3], [0.5, 0.95], [0.7, 0.85]]),)),
    "xlogy": (lambda lib, a, b: lib.xlogy(a, b), (_m(3, 2, seed=8), _pos(3, 2, seed=9))),
    "xlogy_zero_x": (lambda lib, a, b: lib.xlogy(a, b), (np.array([0.0, 0.0, 1.5]), np.array([2.0, 0.4, 0.7]))),
    "xlogy_broadcast": (lambda lib, a, b: lib.xlogy(a, b), (_m(2, 3, seed=10), _pos(3, seed=11))),
    # x == 0 where y <= 0: x's gradient masked to 0 there, and so are its derivatives
    "xlogy_masked_broadcast": (lambda lib, a, b: lib.xlogy(a, b),
                               (np.array([[0.0, 0.5, 1.2], [0.0, -0.7, 0.3]]), np.array([-0.5, 0.8, 1.5]))),
    "xlog1py": (lambda lib, a, b: lib.special.xlog1py(a, b), (_m(3, 2, seed=12), _pos(3, 2, seed=13, low=-0.5))),
    "xlog1py_zero_x": (lambda lib, a, b: lib.special.xlog1py(a, b), (np.array([0.0, 2.0]), np.array([0.5, 1.5]))),
    "xlog1py_masked": (lambda lib, a, b: lib.special.xlog1py(a, b),
                       (np.array([0.0, 0.0, 1.3, -0.4]), np.array([-2.0, 0.5, 0.2, 1.5]))),
}


# cases for the comparison with PyTorch only: a finite difference leaves the function's domain
NOT_FINITE_DIFFERENCED = {
    "xlogy_masked_broadcast": "x log y is NaN for x != 0 and y < 0: a finite difference in x there",
    "xlog1py_masked": "x log1p(y) is NaN for x != 0 and y < -1: a finite difference in x there",
}


def _outputs(out):
    return tuple(o for o in (out if isinstance(out, tuple) else (out,)))


def _weights(outs, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(tuple(o.shape)) for o in outs]


def _second_order(lib, fn, arrays):
    """g = d loss / dx (create_graph=True), then x.grad = d (g^2 + r g).sum() / dx."""
    xs = [lib.from_numpy(np.array(a, dtype=np.float64)).requires_grad_(True) for a in arrays]
    outs = _outputs(fn(lib, *xs))
    ws = _weights(outs, 100)
    loss = sum((lib.sin(o) + o * lib.from_numpy(w)).sum() for o, w in zip(outs, ws))
    gs = lib.autograd.grad(loss, xs, create_graph=True)
    rs = _weights(gs, 101)
    second = sum((g * g + g * lib.from_numpy(r)).sum() for g, r in zip(gs, rs))
    second.backward()
    return [g.detach().numpy() for g in gs], [x.grad.numpy() for x in xs]


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_gradgradcheck(name):
    if name in NOT_FINITE_DIFFERENCED:
        pytest.skip(NOT_FINITE_DIFFERENCED[name])
    fn, arrays, *_ = SECOND_ORDER[name]
    ins = [flambeau.from_numpy(np.array(a, dtype=np.float64)).requires_grad_(True) for a in arrays]
    assert flambeau.autograd.gradgradcheck(lambda *xs: fn(flambeau, *xs), ins)


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_second_derivative_matches_torch(name):
    fn, arrays, *tol = SECOND_ORDER[name]
    tol = tol[0] if tol else TOL
    gf, hf = _second_order(flambeau, fn, arrays)
    gt, ht = _second_order(torch, fn, arrays)
    for f, t in zip(gf + hf, gt + ht):
        np.testing.assert_allclose(f, t, **tol)


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_create_graph_gradient_equals_the_plain_one(name):
    """backward_graph computes what backward computes; the result can be differentiated again."""
    fn, arrays, *_ = SECOND_ORDER[name]
    res = []
    for create_graph in (False, True):
        xs = [flambeau.from_numpy(np.array(a, dtype=np.float64)).requires_grad_(True) for a in arrays]
        outs = _outputs(fn(flambeau, *xs))
        ws = _weights(outs, 200)
        loss = sum((flambeau.cos(o) * flambeau.from_numpy(w)).sum() for o, w in zip(outs, ws))
        gs = flambeau.autograd.grad(loss, xs, create_graph=create_graph)
        if create_graph:
            assert all(g.grad_fn is not None and g.grad_fn.name() != "NotImplemented" for g in gs)
        res.append([g.detach().numpy() for g in gs])
    for a, b in zip(*res):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------------- float32, higher orders
@pytest.mark.parametrize("name", ["inv", "det", "slogdet", "solve", "solve_triangular_upper", "cholesky", "eigh",
                                  "svd_tall", "svdvals", "qr_wide", "pinv_wide", "lgamma", "erfinv", "erfc",
                                  "logit", "xlogy", "xlog1py"])
def test_float32_stays_float32(name):
    fn, arrays, *_ = SECOND_ORDER[name]
    arrays = [np.asarray(a, dtype=np.float32) for a in arrays]
    res = {}
    for lib in (flambeau, torch):
        xs = [lib.from_numpy(a.copy()).requires_grad_(True) for a in arrays]
        outs = _outputs(fn(lib, *xs))
        loss = sum((o * o).sum() * 0.5 + o.sum() for o in outs)
        gs = lib.autograd.grad(loss, xs, create_graph=True)
        sum((g * g).sum() for g in gs).backward()
        res[lib.__name__] = list(gs) + [x.grad for x in xs]
    for f, t in zip(res["flambeau"], res["torch"]):
        assert f.dtype == flambeau.float32
        np.testing.assert_allclose(f.detach().numpy(), t.detach().numpy(), **F32)


@pytest.mark.parametrize("name,a", [("det", _well(3, 3)), ("det_singular", EXACTLY_SINGULAR),
                                    ("inv", _well(3, 3, seed=1)), ("cholesky", _spd(3, 3, seed=2)),
                                    ("slogdet", _well(3, 3, seed=3))])
def test_third_derivative_matches_torch(name, a):
    """d^3 / dA^3, contracted with fixed weights: double backward's gradients differentiated again."""
    ops = {"det": lambda lib, x: lib.linalg.det(x), "det_singular": lambda lib, x: lib.linalg.det(x),
           "inv": lambda lib, x: lib.linalg.inv(x).sum(), "cholesky": lambda lib, x: lib.linalg.cholesky(_sym(x)).sum(),
           "slogdet": lambda lib, x: lib.linalg.slogdet(x).logabsdet}
    r1, r2 = _m(3, 3, seed=20), _m(3, 3, seed=21)
    res = {}
    for lib in (flambeau, torch):
        x = lib.from_numpy(a.copy()).requires_grad_(True)
        g, = lib.autograd.grad(ops[name](lib, x), x, create_graph=True)
        h, = lib.autograd.grad((g * lib.from_numpy(r1)).sum(), x, create_graph=True)
        t, = lib.autograd.grad((h * lib.from_numpy(r2)).sum(), x)
        res[lib.__name__] = [g.detach().numpy(), h.detach().numpy(), t.detach().numpy()]
    if name.startswith("det"):
        # det of a 3x3 matrix is cubic: its third derivative is the same constant everywhere,
        # sum eps_ikm eps_jln r1_ij r2_kl. PyTorch's is wrong at an exactly singular matrix
        # (its singular-case formula), so that one is compared with the exact value instead.
        eps = np.zeros((3, 3, 3))
        for i, j, k, sign in ((0, 1, 2, 1), (1, 2, 0, 1), (2, 0, 1, 1), (0, 2, 1, -1), (2, 1, 0, -1), (1, 0, 2, -1)):
            eps[i, j, k] = sign
        exact = np.einsum("ikm,jln,ij,kl->mn", eps, eps, r1, r2)
        np.testing.assert_allclose(res["flambeau"][2], exact, **TOL)
        if name == "det_singular":
            res["torch"][2] = exact
    for f, t in zip(res["flambeau"], res["torch"]):
        np.testing.assert_allclose(f, t, **TOL)


def test_hessian_of_logdet_and_det_matches_torch():
    fl, th = flambeau.autograd.functional, torch.autograd.functional
    for a, f in ((_spd(3, 3), lambda lib, x: lib.logdet(x)), (_well(3, 3), lambda lib, x: lib.linalg.det(x)),
                 (_rank(3, 2), lambda lib, x: lib.linalg.det(x))):
        hf = fl.hessian(lambda x, f=f: f(flambeau, x), flambeau.from_numpy(a.copy()))
        ht = th.hessian(lambda x, f=f: f(torch, x), torch.from_numpy(a.copy()))
        np.testing.assert_allclose(hf.numpy(), ht.numpy(), **TOL)


def _repeated_spectrum(n, seed=0):
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    return (q * np.array([2.0] * (n // 2) + [1e-3] * (n - n // 2))) @ q.T


@pytest.mark.parametrize("a", [_rank(18, 17, seed=30), _repeated_spectrum(20)], ids=["rank_17_of_18", "det_1e-27"])
def test_large_det_second_derivative_against_the_exact_one(a):
    """Beyond 16 x 16: a numerically singular matrix (rank n-1, distinct singular values, cond
    4e16) takes its cofactors from the differentiable SVD; an invertible one with det ~ 1e-27
    and repeated singular values from det A^-T. The references are exact, from 60-digit
    arithmetic (cof = det A^-T; d<R, cof>/dA = det (<R, A^-T> A^-T - A^-T R^T A^-T)): PyTorch
    loses 3 digits on the first matrix's second derivative and returns NaN on the second's."""
    mpmath = pytest.importorskip("mpmath")
    n = a.shape[-1]
    r = _m(n, n, seed=31)
    x = flambeau.from_numpy(a.copy()).requires_grad_(True)
    g, = flambeau.autograd.grad(flambeau.linalg.det(x), x, create_graph=True)
    (g * flambeau.from_numpy(r)).sum().backward()
    with mpmath.workdps(60):
        am, rm = mpmath.matrix(a.tolist()), mpmath.matrix(r.tolist())
        d, ait = mpmath.det(am), mpmath.inverse(am).T
        inner = mpmath.fsum(rm[i, j] * ait[i, j] for i in range(n) for j in range(n))
        cof = np.array((d * ait).tolist(), dtype=np.float64)
        hess = np.array((d * (inner * ait - ait * rm.T * ait)).tolist(), dtype=np.float64)
    for f, t in ((g.detach().numpy(), cof), (x.grad.numpy(), hess)):
        scale = np.abs(t).max()
        np.testing.assert_allclose(f / scale, t / scale, rtol=0, atol=1e-11)


# ---------------------------------------------------------------------------- edge cases
def test_slogdet_of_a_singular_matrix_keeps_its_infinite_slope_under_create_graph():
    a = flambeau.from_numpy(EXACTLY_SINGULAR.copy()).requires_grad_(True)
    plain, = flambeau.autograd.grad(flambeau.linalg.slogdet(a).logabsdet, a)
    graph, = flambeau.autograd.grad(flambeau.linalg.slogdet(a).logabsdet, a, create_graph=True)
    np.testing.assert_array_equal(graph.detach().numpy(), plain.numpy())


def test_eigvalsh_of_repeated_eigenvalues_has_a_finite_first_derivative_under_create_graph():
    """The unused eigenvectors' zero gradient is skipped, as in backward (no 0 / 0)."""
    a = flambeau.eye(3, dtype=flambeau.float64).requires_grad_(True)
    g, = flambeau.autograd.grad(flambeau.linalg.eigvalsh(a).sum(), a, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), np.eye(3))
    assert g.grad_fn is not None


def test_qr_modes_that_cannot_be_differentiated_raise_under_create_graph_too():
    a = flambeau.from_numpy(_m(4, 3)).requires_grad_(True)
    with pytest.raises(RuntimeError, match="not computed when mode='r'"):
        flambeau.autograd.grad(flambeau.linalg.qr(a, mode="r").R.sum(), a, create_graph=True)
    with pytest.raises(RuntimeError, match="mode='complete' and nrows > ncols"):
        flambeau.autograd.grad(flambeau.linalg.qr(a, mode="complete").Q.sum(), a, create_graph=True)


def test_input_gradients_not_needed_are_not_computed():
    """solve / solve_triangular / xlogy with one input constant: the other's double backward."""
    for f in (lambda lib, a, b: lib.linalg.solve(a, b), lambda lib, a, b: lib.linalg.solve_triangular(a, b, upper=True),
              lambda lib, a, b: lib.xlogy(b, a[..., :2])):
        for which in (0, 1):
            res = {}
            for lib in (flambeau, torch):
                a = lib.from_numpy(_well(3, 3)).requires_grad_(which == 0)
                b = lib.from_numpy(_pos(3, 2)).requires_grad_(which == 1)
                x = (a, b)[which]
                g, = lib.autograd.grad((f(lib, a, b) ** 2).sum(), x, create_graph=True)
                (g ** 2).sum().backward()
                res[lib.__name__] = (g, x.grad)
            for fv, tv in zip(res["flambeau"], res["torch"]):
                np.testing.assert_allclose(fv.detach().numpy(), tv.detach().numpy(), **TOL)
