"""Matrix inverses and decompositions (``torch.linalg``'s differentiable core) on LAPACK, through
``numpy.linalg``; batched over the leading dims like PyTorch.

Each op is its forward (one LAPACK call) and its backward, the matrix-calculus formula that
PyTorch's ``FunctionsManual.cpp`` uses, side by side. Notation: ``mT`` swaps the last two dims;
``g`` is the gradient of the output, ``gA`` of the input.
"""
from __future__ import annotations

import numpy as np

from ..autograd.engine import sum_to as _sum_to   # an operand broadcast over batch dims: summed back
from ..autograd.function import ArrayFunction


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


class Svdvals(ArrayFunction):
    """The singular values alone: gA = U diag(gS) Vh."""

    _node_name = "LinalgSvdBackward0"

    @staticmethod
    def forward(ctx, a):
        u, s, vh = np.linalg.svd(a, full_matrices=False)
        ctx.u, ctx.vh = u.astype(a.dtype, copy=False), vh.astype(a.dtype, copy=False)
        return s.astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        return (ctx.u * g[..., None, :]) @ ctx.vh


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


def _qr_backward_tall(q, r, gq, gr):
    mm = r @ mT(gr) - mT(gq) @ q
    copyltu = np.tril(mm) + mT(np.tril(mm, -1))
    rhs = gq + q @ copyltu                          # solve X R^T = rhs: X = rhs R^-T
    return mT(_solve(r, mT(rhs)))
