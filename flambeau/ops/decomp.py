"""Matrix inverses and decompositions (``torch.linalg``'s differentiable core) on LAPACK, through
``numpy.linalg``; batched over the leading dims like PyTorch.

Each op is its forward (one LAPACK call) and its backward, the matrix-calculus formula that
PyTorch's ``FunctionsManual.cpp`` uses, side by side. Notation: ``mT`` swaps the last two dims;
``g`` is the gradient of the output, ``gA`` of the input.
"""
from __future__ import annotations

import numpy as np

from ..autograd.engine import sum_to as _sum_to   # an operand broadcast over batch dims: summed back
from ..autograd.function import ArrayFunction, graft, saved_output
from .._tensor import _wrap


class LinAlgError(RuntimeError):
    """``torch.linalg.LinAlgError``: a singular or not positive-definite matrix."""


def mT(a):
    return np.swapaxes(a, -1, -2)


def check_square(a, op):
    if a.ndim < 2:
        raise RuntimeError(f"{op}: The input tensor A must have at least 2 dimensions.")
    if a.shape[-1] != a.shape[-2]:
        raise RuntimeError(f"{op}: A must be batches of square matrices, but they are {a.shape[-2]} by "
                           f"{a.shape[-1]} matrices")


def check_float(a, op):
    if a.dtype.kind != "f":
        raise RuntimeError(f"{op}: Expected a floating point or complex tensor as input. Got {a.dtype}")


def _solve(a, b):
    """``a^-1 b`` for stacks of matrices (``b`` a stack of matrices, not vectors)."""
    return np.linalg.solve(a, b)


# ---------------------------------------------------------------------------- double backward
# Each op's ``backward_graph`` is its ``backward`` on Tensors (see autograd/function.py): the
# saved outputs come back through ``saved_output`` (their gradient runs through the op itself),
# the inputs through ``graft``, and the triangles, diagonals and identities the formulas use are
# products with constant masks (Mul is differentiable to any order).

def _const(a):
    return _wrap(np.asarray(a))


def _eye(n, dtype):
    return _const(np.eye(n, dtype=dtype))


def _tri(n, k, lower, dtype):
    """The constant 0/1 mask of ``tril(., k)`` (``lower``) or ``triu(., k)``."""
    ones = np.ones((n, n), dtype)
    return _const(np.tril(ones, k) if lower else np.triu(ones, k))


def _diag_t(v):
    """diag_embed of the last dim of the Tensor ``v``."""
    return v.unsqueeze(-1) * _eye(v.shape[-1], v._data.dtype)


def _unused_graph(g):
    """``_unused_as_none`` for Tensors: only a constant zero (the filler of an unused output)
    is skipped; a zero that is part of a graph still has a derivative."""
    return None if g is None or (not g._requires_grad and not g._data.any()) else g


class Inv(ArrayFunction):
    """A^-1; d(A^-1) = -A^-1 dA A^-1, so gA = -A^-T g A^-T."""

    _node_name = "LinalgInvExBackward0"

    @staticmethod
    def forward(ctx, a):
        try:
            inv = np.linalg.inv(a)
        except np.linalg.LinAlgError:
            raise LinAlgError("linalg.inv: the inversion could not be completed because the input matrix is "
                              "singular.") from None
        ctx.inv = inv
        return inv

    @staticmethod
    def backward(ctx, g):
        it = mT(ctx.inv)
        return -(it @ g @ it)

    @staticmethod
    def backward_graph(ctx, g):
        it = saved_output(ctx, ctx.inv).mT
        return -(it @ g @ it)


def _exclusive_prod(s):
    """p_i = prod_{j != i} s_j along the last axis, without dividing (exact for zeros)."""
    ones = np.ones(s.shape[:-1] + (1,), s.dtype)
    left = np.cumprod(np.concatenate([ones, s[..., :-1]], axis=-1), axis=-1)
    right = np.cumprod(np.concatenate([ones, s[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return left * right


def cofactor(a):
    """The cofactor matrix adj(A)^T = det(A) A^-T, from the SVD A = U S V^T so that singular
    matrices get their (finite) cofactors too: adj(A)^T = det(U) det(V) U diag(p) V^T with
    p_i the product of the other singular values."""
    u, s, vh = np.linalg.svd(a)
    sign = np.linalg.det(u) * np.linalg.det(vh)
    return (u * _exclusive_prod(s)[..., None, :]) @ vh * sign[..., None, None]


_MINORS_MAX = 16        # the largest n whose cofactors (double backward) may be taken as n^2 minors


def _rcond(a):
    """min over the stack of 1 / cond(A) = sigma_min / sigma_max (1 for NaN or inf entries,
    which the inverse formula propagates as they come)."""
    if not np.isfinite(a).all() or a.size == 0:
        return 1.0
    s = np.linalg.svd(a, compute_uv=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(s[..., 0] > 0, s[..., -1] / s[..., 0], 0.0)
    return float(r.min())


def _cofactor_minors(at):
    """cof(A)_ij = (-1)^(i+j) det(A without row i and column j), on Tensors: exact (and
    differentiable to any order) for singular A too. The minors are P_i A Q_j^T with P_i, Q_j
    the constant (n-1, n) selections that drop row i / column j."""
    n, dt = at.shape[-1], at._data.dtype
    drop = np.stack([np.delete(np.eye(n, dtype=dt), i, axis=0) for i in range(n)])   # (n, n-1, n)
    p, q = _const(drop[:, None]), _const(drop[None, :])
    minors = p @ at.unsqueeze(-3).unsqueeze(-3) @ q.mT                            # (..., n, n, n-1, n-1)
    sign = _const(np.where(np.add.outer(np.arange(n), np.arange(n)) % 2 == 1, -1, 1).astype(dt))
    return sign * Det.apply(minors)


def _cofactor_svd(at):
    """``cofactor`` on Tensors through the differentiable SVD (large singular matrices; the
    second derivative needs distinct singular values, as PyTorch's singular formula)."""
    u, s, vh = Svd.apply(at, False)
    sign = np.linalg.det(u._data) * np.linalg.det(vh._data)      # +-1: constant
    k = s.shape[-1]
    p = None
    for j in range(k):                  # p_i = prod_{j != i} s_j: s_j where j != i, 1 on i
        onehot = np.zeros(k, s._data.dtype)
        onehot[j] = 1
        f = s[..., j:j + 1] * _const(1 - onehot) + _const(onehot)
        p = f if p is None else p * f
    return (u * p.unsqueeze(-2)) @ vh * _const(sign.astype(s._data.dtype)[..., None, None])


class Det(ArrayFunction):
    """det(A); d det = tr(adj(A) dA), so gA = g cof(A) (= g det A^-T when A is invertible)."""

    _node_name = "LinalgDetBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.a = a
        return np.asarray(np.linalg.det(a), a.dtype)

    @staticmethod
    def backward(ctx, g):
        return np.asarray(g)[..., None, None] * cofactor(ctx.a)

    @staticmethod
    def backward_graph(ctx, g):
        a = ctx.a
        gg = g.unsqueeze(-1).unsqueeze(-1)
        n = a.shape[-1]
        if n <= 1:                      # cof of a 1x1 matrix is [[1]] (and of 0x0 empty): constant
            return gg * _const(np.ones(a.shape, a.dtype))
        at = graft(ctx, 0, a)
        rcond = _rcond(a)
        eps = np.finfo(a.dtype).eps
        if rcond > np.sqrt(eps) or (n > _MINORS_MAX and rcond > n * eps):
            # cof(A) = det(A) A^-T (det: this node's own output): accurate when A is well
            # conditioned; the only affordable formula for a large invertible A that is not
            d = saved_output(ctx, np.asarray(np.linalg.det(a), a.dtype))
            return (gg * d.unsqueeze(-1).unsqueeze(-1)) * Inv.apply(at).mT
        if n <= _MINORS_MAX:            # ill conditioned or singular: exact minors
            return gg * _cofactor_minors(at)
        return gg * _cofactor_svd(at)   # large and numerically singular


class Slogdet(ArrayFunction):
    """(sign, log|det A|); the sign is piecewise constant, d log|det A| = tr(A^-1 dA)."""

    _node_name = "LinalgSlogdetBackward0"

    @staticmethod
    def forward(ctx, a):
        sign, logabs = np.linalg.slogdet(a)
        sign, logabs = np.asarray(sign, a.dtype), np.asarray(logabs, a.dtype)
        ctx.a = a
        ctx.mark_non_differentiable(sign)
        return sign, logabs

    @staticmethod
    def backward(ctx, gsign, glog):
        if glog is None:
            return None
        with np.errstate(divide="ignore", invalid="ignore"):
            try:
                it = mT(np.linalg.inv(ctx.a))
            except np.linalg.LinAlgError:       # singular: log|det| = -inf, an infinite slope
                it = np.full(ctx.a.shape, np.inf, ctx.a.dtype)
        return np.asarray(glog)[..., None, None] * it

    @staticmethod
    def backward_graph(ctx, gsign, glog):
        if glog is None:
            return None
        gl = glog.unsqueeze(-1).unsqueeze(-1)
        try:
            it = Inv.apply(graft(ctx, 0, ctx.a)).mT
        except LinAlgError:                     # singular: the infinite slope of backward
            it = _const(np.full(ctx.a.shape, np.inf, ctx.a.dtype))
        return gl * it


class Solve(ArrayFunction):
    """X = A^-1 B for stacks of matrices (batch dims broadcast); gB = A^-T g, gA = -gB X^T."""

    _node_name = "LinalgSolveExBackward0"

    @staticmethod
    def forward(ctx, a, b):
        try:
            x = _solve(a, b)
        except np.linalg.LinAlgError:
            raise LinAlgError("linalg.solve: The solver failed because the input matrix is singular.") from None
        ctx.a, ctx.x, ctx.shapes = a, x, (a.shape, b.shape)
        return x

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        gb = _solve(mT(ctx.a), g)
        ga = -(gb @ mT(ctx.x))
        return _sum_to(ga, sa), _sum_to(gb, sb)

    @staticmethod
    def backward_graph(ctx, g):
        na, nb = ctx.needs_input_grad[:2]
        gb = Solve.apply(graft(ctx, 0, ctx.a).mT, g)      # the engine sums broadcast batch dims
        ga = -(gb @ saved_output(ctx, ctx.x).mT) if na else None
        return ga, (gb if nb else None)


def _substitute(t, b, upper):
    """Back (``upper``) or forward substitution, row by row, vectorised over batch and columns:
    a zero pivot divides by zero into inf/nan like a BLAS triangular solve, instead of failing."""
    n = t.shape[-1]
    x = np.zeros(np.broadcast_shapes(t.shape[:-2], b.shape[:-2]) + b.shape[-2:], np.result_type(t, b))
    rows = range(n - 1, -1, -1) if upper else range(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in rows:
            acc = b[..., i, :] - np.einsum("...j,...jk->...k", t[..., i, :], x)
            x[..., i, :] = acc / t[..., i, i][..., None]
    return x


class SolveTriangular(ArrayFunction):
    """X = A^-1 B with A triangular (only its ``upper`` or lower triangle is read); the gradient
    of A lives on that triangle only."""

    _node_name = "LinalgSolveTriangularBackward0"

    @staticmethod
    def forward(ctx, a, b, upper, unitriangular):
        t = np.triu(a) if upper else np.tril(a)
        if unitriangular:
            idx = np.arange(a.shape[-1])
            t[..., idx, idx] = 1
        try:
            x = _solve(t, b)
        except np.linalg.LinAlgError:           # a zero on the diagonal: substitute, as LAPACK's trsm
            x = _substitute(t, b, upper)
        ctx.t, ctx.x, ctx.meta = t, x, (a.shape, b.shape, upper, unitriangular)
        return x

    @staticmethod
    def backward(ctx, g):
        sa, sb, upper, unit = ctx.meta
        gb = _solve(mT(ctx.t), g)
        ga = -(gb @ mT(ctx.x))
        ga = np.triu(ga, 1 if unit else 0) if upper else np.tril(ga, -1 if unit else 0)
        return _sum_to(ga, sa), _sum_to(gb, sb), None, None

    @staticmethod
    def backward_graph(ctx, g):
        sa, _, upper, unit = ctx.meta
        na, nb = ctx.needs_input_grad[:2]
        # T^-T g: a triangular solve with A^T, which reads the other triangle of A^T, i.e. A's
        # own (the grafted T equals A there; its gradient lands on that triangle only)
        gb = SolveTriangular.apply(graft(ctx, 0, ctx.t).mT, g, not upper, unit)
        ga = None
        if na:
            ga = -(gb @ saved_output(ctx, ctx.x).mT) * _tri(sa[-1], (1 if unit else 0) if upper else
                                                             (-1 if unit else 0), not upper, ctx.t.dtype)
        return ga, (gb if nb else None), None, None


class Cholesky(ArrayFunction):
    """A = L L^T (L lower; ``upper``: U = L^T). Backward (PyTorch's ``cholesky_backward``):
    gA = L^-T Phi L^-1 with Phi the symmetric matrix built from tril(L^T gL) with its diagonal
    halved; it is symmetric, as A's perturbations are."""

    _node_name = "LinalgCholeskyExBackward0"

    @staticmethod
    def forward(ctx, a, upper):
        try:
            low = np.linalg.cholesky(mT(a) if upper else a)      # upper: U^T is the lower factor of A^T
        except np.linalg.LinAlgError:
            raise LinAlgError("linalg.cholesky: The factorization could not be completed because the input is not "
                              "positive-definite.") from None
        ctx.low, ctx.upper = low, upper
        return mT(low).copy() if upper else low

    @staticmethod
    def backward(ctx, g):
        low = ctx.low
        gl = mT(g) if ctx.upper else g
        phi = np.tril(mT(low) @ gl)
        phi = 0.5 * (phi + mT(np.tril(phi, -1)))
        ga = _solve(mT(low), phi)                        # L^-T Phi
        ga = mT(_solve(mT(low), mT(ga)))                 # (L^-T Phi) L^-1 = (L^-T (L^-T Phi)^T)^T
        return ga, None

    @staticmethod
    def backward_graph(ctx, g):
        low = ctx.low
        n, dt = low.shape[-1], low.dtype
        if ctx.upper:
            lt = saved_output(ctx, mT(low))             # the output U = L^T
            gl, lt = g.mT, lt.mT
        else:
            lt, gl = saved_output(ctx, low), g
        m = lt.mT @ gl
        phi = (m * _tri(n, 0, True, dt) + (m * _tri(n, -1, True, dt)).mT) * 0.5
        ut = lt.mT                                      # L^T, upper triangular
        ga = SolveTriangular.apply(ut, phi, True, False)               # L^-T Phi
        ga = SolveTriangular.apply(ut, ga.mT, True, False).mT          # (L^-T Phi) L^-1
        return ga, None


def _unused_as_none(g):
    """The engine hands an unused output a zero gradient; the vectors' terms divide by
    eigenvalue (singular value) gaps, which are 0 for repeated values: skip them when they
    contribute nothing, so that e.g. eigvalsh of the identity has a finite gradient."""
    return None if g is None or not g.any() else g


class Eigh(ArrayFunction):
    """A = V diag(L) V^T for symmetric A (only the ``UPLO`` triangle is read). Backward
    (PyTorch's ``linalg_eig_backward``, Hermitian case): gA = V (skew(V^T gV) / E + diag(gL)) V^T
    with E_ij = L_j - L_i; the eigenvectors' gradient is undefined for repeated eigenvalues."""

    _node_name = "LinalgEighBackward0"

    @staticmethod
    def forward(ctx, a, uplo):
        w, v = np.linalg.eigh(a, UPLO=uplo)
        w, v = w.astype(a.dtype, copy=False), v.astype(a.dtype, copy=False)
        ctx.w, ctx.v = w, v
        return w, v

    @staticmethod
    def backward(ctx, gw, gv):
        gw, gv = _unused_as_none(gw), _unused_as_none(gv)
        w, v = ctx.w, ctx.v
        inner = np.zeros(v.shape, v.dtype)
        if gv is not None:
            vg = mT(v) @ gv
            e = w[..., None, :] - w[..., :, None]
            idx = np.arange(w.shape[-1])
            e[..., idx, idx] = 1
            inner = 0.5 * (vg - mT(vg)) / e
        if gw is not None:
            idx = np.arange(w.shape[-1])
            inner[..., idx, idx] += gw
        return v @ inner @ mT(v), None

    @staticmethod
    def backward_graph(ctx, gw, gv):
        gw, gv = _unused_graph(gw), _unused_graph(gv)
        w, v = saved_output(ctx, ctx.w, 0), saved_output(ctx, ctx.v, 1)
        n, dt = ctx.w.shape[-1], ctx.w.dtype
        inner = None
        if gv is not None:
            vg = v.mT @ gv
            e = w.unsqueeze(-2) - w.unsqueeze(-1) + _eye(n, dt)          # 1 on the diagonal, where skew is 0
            inner = (vg - vg.mT) * 0.5 / e
        if gw is not None:
            d = _diag_t(gw)
            inner = d if inner is None else inner + d
        if inner is None:
            return _const(np.zeros(ctx.v.shape, dt)), None
        return v @ inner @ v.mT, None


class Svd(ArrayFunction):
    """A = U diag(S) Vh (``full_matrices``: U and Vh square; the extra columns/rows are any
    orthonormal completion, so their gradient is dropped, as PyTorch does). Backward: PyTorch's
    ``svd_backward`` (real case); undefined for repeated singular values."""

    _node_name = "LinalgSvdBackward0"

    @staticmethod
    def forward(ctx, a, full_matrices):
        u, s, vh = np.linalg.svd(a, full_matrices=full_matrices)
        u, s, vh = (t.astype(a.dtype, copy=False) for t in (u, s, vh))
        ctx.usv, ctx.mn = (u, s, vh), a.shape[-2:]
        return u, s, vh

    @staticmethod
    def backward(ctx, gu, gs, gvh):
        gu, gvh = _unused_as_none(gu), _unused_as_none(gvh)
        u, s, vh = ctx.usv
        m, n = ctx.mn
        k = s.shape[-1]
        u, vh = u[..., :, :k], vh[..., :k, :]
        gu = None if gu is None else gu[..., :, :k]
        gvh = None if gvh is None else gvh[..., :k, :]
        idx = np.arange(k)
        if gu is None and gvh is None:
            return (u * gs[..., None, :]) @ vh, None
        uhgu = 0 if gu is None else mT(u) @ gu
        vhgv = 0 if gvh is None else vh @ mT(gvh)
        uhgu = uhgu - mT(uhgu) if gu is not None else np.zeros(s.shape + (k,), s.dtype)
        vhgv = vhgv - mT(vhgv) if gvh is not None else np.zeros(s.shape + (k,), s.dtype)
        s2 = s * s
        e = s2[..., None, :] - s2[..., :, None]
        e[..., idx, idx] = 1
        ga = (uhgu * s[..., None, :] + s[..., :, None] * vhgv) / e
        if gs is not None:
            ga[..., idx, idx] += gs
        if m > n and gu is not None:
            ga = u @ ga
            gu_sinv = gu / s[..., None, :]
            ga = ga + gu_sinv - u @ (mT(u) @ gu_sinv)
            return ga @ vh, None
        if m < n and gvh is not None:
            ga = ga @ vh
            gvh_sinv = gvh / s[..., :, None]
            ga = ga + gvh_sinv - (gvh_sinv @ mT(vh)) @ vh
            return u @ ga, None
        return u @ ga @ vh, None

    @staticmethod
    def backward_graph(ctx, gu, gs, gvh):
        gu, gvh = _unused_graph(gu), _unused_graph(gvh)
        m, n = ctx.mn
        uu, ss, vvh = ctx.usv
        k, dt = ss.shape[-1], ss.dtype
        u = saved_output(ctx, uu, 0)[..., :, :k]
        s = saved_output(ctx, ss, 1)
        vh = saved_output(ctx, vvh, 2)[..., :k, :]
        gu = None if gu is None else gu[..., :, :k]
        gvh = None if gvh is None else gvh[..., :k, :]
        if gu is None and gvh is None:
            return (u * gs.unsqueeze(-2)) @ vh, None
        num = None
        if gu is not None:
            uhgu = u.mT @ gu
            num = (uhgu - uhgu.mT) * s.unsqueeze(-2)
        if gvh is not None:
            vhgv = vh @ gvh.mT
            t = s.unsqueeze(-1) * (vhgv - vhgv.mT)
            num = t if num is None else num + t
        s2 = s * s
        e = s2.unsqueeze(-2) - s2.unsqueeze(-1) + _eye(k, dt)            # the numerator's diagonal is 0
        ga = num / e + _diag_t(gs)
        if m > n and gu is not None:
            ga = u @ ga
            gu_sinv = gu / s.unsqueeze(-2)
            ga = ga + gu_sinv - u @ (u.mT @ gu_sinv)
            return ga @ vh, None
        if m < n and gvh is not None:
            ga = ga @ vh
            gvh_sinv = gvh / s.unsqueeze(-1)
            ga = ga + gvh_sinv - (gvh_sinv @ vh.mT) @ vh
            return u @ ga, None
        return u @ ga @ vh, None


class Svdvals(ArrayFunction):
    """The singular values alone: gA = U diag(gS) Vh."""

    _node_name = "LinalgSvdBackward0"

    @staticmethod
    def forward(ctx, a):
        u, s, vh = np.linalg.svd(a, full_matrices=False)
        ctx.u, ctx.vh = u.astype(a.dtype, copy=False), vh.astype(a.dtype, copy=False)
        ctx.a = a                       # (a reference) for the double backward's recomputed SVD
        return s.astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        return (ctx.u * g[..., None, :]) @ ctx.vh

    @staticmethod
    def backward_graph(ctx, g):
        # U and Vh as functions of A: the SVD again, on the grafted input (Svd's own double
        # backward then differentiates them; distinct singular values needed, as in PyTorch)
        u, _, vh = Svd.apply(graft(ctx, 0, ctx.a), False)
        return (u * g.unsqueeze(-2)) @ vh


def rank_cutoff(s, atol, rtol, mn):
    """PyTorch's rank cut-off for the singular values ``s`` (..., k) of (m, n) matrices:
    max(atol, rtol * sigma_max) per matrix, as a (..., 1) array; rtol defaults to eps * max(m, n)
    (to 0 when a positive atol is given). atol / rtol: numbers or per-matrix arrays."""
    smax = s.max(axis=-1, keepdims=True) if s.shape[-1] else np.zeros(s.shape[:-1] + (1,), s.dtype)
    positive_atol = atol is not None and (np.ndim(atol) or atol > 0)
    if rtol is None:
        rtol = 0.0 if positive_atol else np.finfo(s.dtype).eps * max(mn)
    cut = np.asarray(rtol, s.dtype)[..., None] * smax if np.ndim(rtol) else s.dtype.type(rtol) * smax
    if atol is not None:
        cut = np.maximum(np.asarray(atol, s.dtype)[..., None] if np.ndim(atol) else s.dtype.type(atol), cut)
    return cut


class Pinv(ArrayFunction):
    """The pseudo-inverse from the SVD, singular values at or below ``cutoff`` (per matrix)
    dropped. Backward: the closed form of PyTorch's ``pinv_backward`` (Golub and Pereyra), which,
    unlike differentiating the SVD, stays finite for repeated singular values."""

    _node_name = "LinalgPinvBackward0"

    @staticmethod
    def forward(ctx, a, atol, rtol):
        u, s, vh = np.linalg.svd(a, full_matrices=False)
        keep = s > rank_cutoff(s, atol, rtol, a.shape[-2:])
        s_inv = np.where(keep, 1 / np.where(keep, s, 1), 0).astype(a.dtype, copy=False)
        p = ((mT(vh) * s_inv[..., None, :]) @ mT(u)).astype(a.dtype, copy=False)
        ctx.a, ctx.p = a, p
        return p

    @staticmethod
    def backward(ctx, g):
        a, p = ctx.a, ctx.p
        ph, gh = mT(p), mT(g)
        if a.shape[-2] <= a.shape[-1]:
            k = gh @ p
            kph = k @ ph
            return -mT(p @ k) + kph - (a @ p) @ kph + (ph @ p) @ (gh - k @ a), None, None
        k = p @ gh
        phk = ph @ k
        return -mT(k @ p) + (gh - a @ k) @ p @ ph + phk - phk @ p @ a, None, None

    @staticmethod
    def backward_graph(ctx, g):
        a, p = graft(ctx, 0, ctx.a), saved_output(ctx, ctx.p)
        ph, gh = p.mT, g.mT
        if ctx.a.shape[-2] <= ctx.a.shape[-1]:
            k = gh @ p
            kph = k @ ph
            return -(p @ k).mT + kph - (a @ p) @ kph + (ph @ p) @ (gh - k @ a), None, None
        k = p @ gh
        phk = ph @ k
        return -(k @ p).mT + (gh - a @ k) @ p @ ph + phk - phk @ p @ a, None, None


class Qr(ArrayFunction):
    """A = QR (``mode`` 'reduced', 'complete', or 'r': R alone). Backward for a tall or square A
    (the formula of PyTorch's ``linalg_qr_backward``): with M = R gR^T - gQ^T Q,
    gA = (gQ + Q copyltu(M)) R^-T, copyltu mirroring the lower triangle onto the upper. A wide
    A = [X | Y] factors as X = QU (square) and R = [U | Q^T Y]: X takes the square formula with
    gQ + Y gV^T, Y gets Q gV (gV: the gradient of R's right block)."""

    _node_name = "LinalgQrBackward0"

    @staticmethod
    def forward(ctx, a, mode):
        if mode == "r":
            r = np.linalg.qr(a, mode="r").astype(a.dtype, copy=False)
            q = np.empty((0,), a.dtype)
            ctx.mark_non_differentiable(q)
        else:
            q, r = np.linalg.qr(a, mode=mode)
            q, r = q.astype(a.dtype, copy=False), r.astype(a.dtype, copy=False)
        ctx.a, ctx.qr, ctx.mode = a, (q, r), mode
        return q, r

    @staticmethod
    def backward(ctx, gq, gr):
        q, r = ctx.qr
        m, n = ctx.a.shape[-2:]
        if ctx.mode == "r":
            raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed when mode='r'. "
                               "Please use linalg.qr(A, mode='reduced') if you are going to differentiate "
                               "through linalg.qr.")
        if ctx.mode == "complete" and m > n:
            raise RuntimeError("The QR decomposition is not differentiable when mode='complete' and nrows > ncols.")
        if m >= n:
            return _qr_backward_tall(q, r, gq, gr), None
        y = ctx.a[..., :, m:]
        u, gu, gv = r[..., :, :m], gr[..., :, :m], gr[..., :, m:]
        gx = _qr_backward_tall(q, u, gq + y @ mT(gv), gu)
        return np.concatenate([gx, q @ gv], axis=-1), None

    @staticmethod
    def backward_graph(ctx, gq, gr):
        from .shape import cat
        m, n = ctx.a.shape[-2:]
        if ctx.mode == "r" or (ctx.mode == "complete" and m > n):
            Qr.backward(ctx, None, None)        # the same errors
        q, r = saved_output(ctx, ctx.qr[0], 0), saved_output(ctx, ctx.qr[1], 1)
        if m >= n:
            return _qr_backward_tall_graph(q, r, gq, gr), None
        y = graft(ctx, 0, ctx.a)[..., :, m:]
        u, gu, gv = r[..., :, :m], gr[..., :, :m], gr[..., :, m:]
        gx = _qr_backward_tall_graph(q, u, gq + y @ gv.mT, gu)
        return cat([gx, q @ gv], -1), None


def _qr_backward_tall(q, r, gq, gr):
    mm = r @ mT(gr) - mT(gq) @ q
    copyltu = np.tril(mm) + mT(np.tril(mm, -1))
    rhs = gq + q @ copyltu                          # solve X R^T = rhs: X = rhs R^-T
    return mT(_solve(r, mT(rhs)))


def _qr_backward_tall_graph(q, r, gq, gr):
    """``_qr_backward_tall`` on Tensors (R upper triangular: a triangular solve)."""
    n, dt = r.shape[-1], r._data.dtype
    mm = r @ gr.mT - gq.mT @ q
    copyltu = mm * _tri(n, 0, True, dt) + (mm * _tri(n, -1, True, dt)).mT
    rhs = gq + q @ copyltu
    return SolveTriangular.apply(r, rhs.mT, True, False).mT
