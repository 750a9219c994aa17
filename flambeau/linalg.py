"""``torch.linalg``: norms, inverses, solvers and decompositions, batched over leading dims.

The differentiable core (inv, det, slogdet, solve, solve_triangular, cholesky, eigh, svd,
svdvals, qr) is one Function each in ``ops/decomp.py``; everything else here is composed from
them and the ordinary ops, so it is differentiable too.
"""
from __future__ import annotations

import builtins
import math
from collections import namedtuple

import numpy as np

from . import _creation as C, ops
from ._tensor import Tensor, _wrap
from .ops import decomp as _d
from .ops.decomp import LinAlgError
from .ops.other import chain_product
from .ops.elementwise import _out as _elementwise_out
from .amp._state import fp32_op as _fp32_op   # decompositions: on PyTorch's CPU float32 autocast list
from .amp import _state as _amp

__all__ = ["LinAlgError", "cholesky", "cond", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv", "matmul",
           "matrix_norm", "matrix_power", "matrix_rank", "multi_dot", "norm", "pinv", "qr", "slogdet", "solve",
           "solve_triangular", "svd", "svdvals", "vecdot", "vector_norm"]


def _named(name, fields):
    cls = namedtuple(name, fields)
    cls.__repr__ = lambda self: (f"flambeau.return_types.{name}(\n"
                                 + ",\n".join(f"{f}={getattr(self, f)!r}" for f in fields) + ")")
    return cls


SlogdetResult = _named("linalg_slogdet", ["sign", "logabsdet"])
EighResult = _named("linalg_eigh", ["eigenvalues", "eigenvectors"])
SvdResult = _named("linalg_svd", ["U", "S", "Vh"])
QrResult = _named("linalg_qr", ["Q", "R"])


def _out(result, out):
    """``out=``: the result written into the given tensor (or tuple of tensors), which is
    returned, as PyTorch does; the written tensors are not part of the graph."""
    if out is None:
        return result
    if isinstance(result, tuple):
        if not isinstance(out, (tuple, list)) or len(out) != len(result):
            raise TypeError(f"out must be a tuple of {len(result)} tensors")
        return type(result)(*(_elementwise_out(r, o) for r, o in zip(result, out)))
    return _elementwise_out(result, out)


def _square(A, op):
    _d.check_square(A._data, op)
    _d.check_float(A._data, op)


# ---------------------------------------------------------------------------- inverses and solvers
@_fp32_op
def inv(A, *, out=None):
    """A^-1 of each square matrix; :class:`LinAlgError` if one is singular."""
    _square(A, "linalg.inv")
    return _out(_d.Inv.apply(A), out)


def det(A, *, out=None):
    _square(A, "linalg.det")
    return _out(_d.Det.apply(A), out)


def slogdet(A, *, out=None):
    """(sign, log|det A|): the determinant without overflow; differentiable in log|det A|."""
    _square(A, "linalg.slogdet")
    return _out(SlogdetResult(*_d.Slogdet.apply(A)), out)


def _is_vector_rhs(A, B):
    # PyTorch: B is a batch of vectors when B.ndim == 1 or B.shape == A.shape[:-1]
    return B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))


@_fp32_op
def solve(A, B, *, left=True, out=None):
    """X with A X = B (``left=False``: X A = B); B a matrix or a (batch of) vector(s)."""
    _square(A, "linalg.solve")
    vector = _is_vector_rhs(A, B)
    b = B.unsqueeze(-1) if vector else B
    if not left:
        if vector:
            raise RuntimeError("linalg.solve: Vector broadcasting of the left hand side is not supported for "
                               "left=False. In this case linalg.solve is equivalent to B / A.squeeze(-1)")
        return _out(solve(A.mT, B.mT).mT, out)
    n = A.shape[-1]
    if b.ndim < 2 or b.shape[-2] != n:
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation AX = B "
                           f"({A.shape[-2]}x{A.shape[-1]} and {'x'.join(str(s) for s in B.shape[-2:])})")
    if b._data.dtype != A._data.dtype:
        raise RuntimeError(f"linalg.solve: Expected A and B to have the same dtype, but found A of type "
                           f"{A.dtype} and B of type {B.dtype} instead")
    x = _d.Solve.apply(A, b)
    return _out(x.squeeze(-1) if vector else x, out)


@_fp32_op
def solve_triangular(A, B, *, upper, left=True, unitriangular=False, out=None):
    """X with A X = B (``left=False``: X A = B) for triangular A: only A's ``upper`` (or lower)
    triangle is read, its diagonal taken as ones with ``unitriangular``."""
    _square(A, "linalg.solve_triangular")
    if B.ndim < 2:
        raise RuntimeError("linalg.solve_triangular: The input tensor B must have at least 2 dimensions.")
    if not left:
        return _out(solve_triangular(A.mT, B.mT, upper=not upper, unitriangular=unitriangular).mT, out)
    if B.shape[-2] != A.shape[-1]:
        raise RuntimeError(f"linalg.solve_triangular: Incompatible shapes of A and B for the equation AX = B "
                           f"({A.shape[-2]}x{A.shape[-1]} and {B.shape[-2]}x{B.shape[-1]})")
    return _out(_d.SolveTriangular.apply(A, B, builtins.bool(upper), builtins.bool(unitriangular)), out)


@_fp32_op
def pinv(A, *, atol=None, rtol=None, hermitian=False, out=None):
    """The Moore-Penrose pseudo-inverse from the SVD: singular values at or below
    max(atol, rtol * largest) are treated as zero (default rtol: eps * max(m, n))."""
    _d.check_float(A._data, "linalg.pinv")
    if A.ndim < 2:
        raise RuntimeError("linalg.pinv(A): The input tensor A must have at least 2 dimensions.")
    return _out(_d.Pinv.apply(A, _number_or_array(atol), _number_or_array(rtol)), out)


def _number_or_array(t):
    return t._data if isinstance(t, Tensor) else t


@_fp32_op
def matrix_rank(A, *, atol=None, rtol=None, hermitian=False, out=None):
    """The number of singular values above the tolerance of :func:`pinv` (int64)."""
    _d.check_float(A._data, "linalg.matrix_rank")
    s = np.linalg.svd(A._data, compute_uv=False)
    cut = _d.rank_cutoff(s, _number_or_array(atol), _number_or_array(rtol), A.shape[-2:])
    return _out(_wrap((s > cut).sum(axis=-1).astype(np.int64)), out)


def matrix_power(A, n, *, out=None):
    return _out(_matrix_power(A, n), out)


def _matrix_power(A, n):
    """A^n by repeated squaring (A^-|n| for negative n; the identity for 0)."""
    _d.check_square(A._data, "linalg.matrix_power")
    if not isinstance(n, (int, np.integer)):
        raise TypeError(f"linalg.matrix_power: exponent must be an integer, got {type(n).__name__}")
    if n == 0:      # the identity, still a (zero-gradient) function of A, as in PyTorch
        eye = np.broadcast_to(np.eye(A.shape[-1], dtype=A._data.dtype), A.shape).copy()
        return ops.where(_wrap(np.zeros(A.shape, bool)), A, _wrap(eye))
    if n < 0:
        A, n = inv(A), -n
    result, base = None, A
    while n:
        if n & 1:
            result = base if result is None else result @ base
        n >>= 1
        if n:
            base = base @ base
    return result


def multi_dot(tensors, *, out=None):
    """The product of a chain of matrices (first and last may be vectors), multiplied in the
    order that costs the fewest flops (``ops.other.chain_product``, as PyTorch)."""
    ts = list(tensors)
    if len(ts) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(ts)}")
    first_vec, last_vec = ts[0].ndim == 1, ts[-1].ndim == 1
    if first_vec:
        ts[0] = ts[0].unsqueeze(0)
    if last_vec:
        ts[-1] = ts[-1].unsqueeze(-1)
    for k, t in enumerate(ts):
        if t.ndim != 2:
            raise RuntimeError(f"multi_dot(): tensor {k} must be 2D but got {t.ndim}D")
    for k in range(len(ts) - 1):
        if ts[k].shape[1] != ts[k + 1].shape[0]:
            raise RuntimeError(f"multi_dot(): tensors {k} and {k + 1} with shapes {tuple(ts[k].shape)} and "
                               f"{tuple(ts[k + 1].shape)} cannot be multiplied")
    result = chain_product(ts)
    if first_vec:
        result = result.squeeze(0)
    if last_vec:
        result = result.squeeze(-1)
    return _out(result, out)


# ---------------------------------------------------------------------------- decompositions
@_fp32_op
def cholesky(A, *, upper=False, out=None):
    """L with A = L L^T (``upper``: U with A = U^T U) for symmetric positive-definite A."""
    _square(A, "linalg.cholesky")
    return _out(_d.Cholesky.apply(A, builtins.bool(upper)), out)


@_fp32_op
def eigh(A, UPLO="L", *, out=None):
    """Eigenvalues (ascending) and orthonormal eigenvectors of symmetric matrices (only the
    ``UPLO`` triangle is read)."""
    _square(A, "linalg.eigh")
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    return _out(EighResult(*_d.Eigh.apply(A, UPLO)), out)


@_fp32_op
def eigvalsh(A, UPLO="L", *, out=None):
    return _out(eigh(A, UPLO).eigenvalues, out)


@_fp32_op
def svd(A, full_matrices=True, *, driver=None, out=None):
    """U, S, Vh with A = U diag(S) Vh, S descending."""
    _d.check_float(A._data, "linalg.svd")
    if A.ndim < 2:
        raise RuntimeError("linalg.svd: The input tensor A must have at least 2 dimensions.")
    return _out(SvdResult(*_d.Svd.apply(A, builtins.bool(full_matrices))), out)


@_fp32_op
def svdvals(A, *, driver=None, out=None):
    _d.check_float(A._data, "linalg.svdvals")
    if A.ndim < 2:
        raise RuntimeError("linalg.svdvals: The input tensor A must have at least 2 dimensions.")
    return _out(_d.Svdvals.apply(A), out)


@_fp32_op
def qr(A, mode="reduced", *, out=None):
    """Q, R with A = QR, Q orthonormal, R upper triangular (``mode`` 'reduced', 'complete', or
    'r': R only, Q empty)."""
    _d.check_float(A._data, "linalg.qr")
    if A.ndim < 2:
        raise RuntimeError("linalg.qr: The input tensor A must have at least 2 dimensions.")
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), "
                           "'r', or 'complete'")
    return _out(QrResult(*_d.Qr.apply(A, mode)), out)


# ---------------------------------------------------------------------------- norms
def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None, out=None):
    """(sum |x|^ord)^(1/ord) over ``dim`` (all dims by default); ord inf/-inf: max/min |x|, 0: the
    number of non-zeros."""
    return _out(ops.norm(x, p=ord, dim=dim, keepdim=keepdim, dtype=dtype), out)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None, out=None):
    return _out(_matrix_norm(A, ord, dim, keepdim, dtype), out)


def _matrix_norm(A, ord, dim, keepdim, dtype):
    """'fro', 'nuc' (sum of singular values), 2 / -2 (largest / smallest singular value),
    1 / -1 (max / min column sum of |A|), inf / -inf (max / min row sum)."""
    if dtype is not None:
        A = A.to(dtype)
    if A.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    d0, d1 = (int(d) % A.ndim for d in dim)
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, {dim[1]})")
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim)
    if ord in ("nuc", 2, -2):
        s = svdvals(ops.movedim(A, (d0, d1), (-2, -1)))
        r = s.sum(-1) if ord == "nuc" else (s.amax(-1) if ord == 2 else s.amin(-1))
        if keepdim:
            for d in sorted((d0, d1)):
                r = r.unsqueeze(d)
        return r
    if ord in (1, -1, math.inf, -math.inf):
        summed, over = (d0, d1) if ord in (1, -1) else (d1, d0)    # column sums for 1, row sums for inf
        s = A.abs().sum(dim=summed, keepdim=True)
        r = s.amax(dim=over, keepdim=True) if ord > 0 else s.amin(dim=over, keepdim=True)
        return r if keepdim else r.squeeze((d0, d1))
    raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None, out=None):
    """A vector norm over one dim (or the flattened input) or a matrix norm over two dims."""
    return _out(_norm(A, ord, dim, keepdim, dtype), out)


def _norm(A, ord, dim, keepdim, dtype):
    if isinstance(dim, int):
        dim = (dim,)
    if dim is None:
        if ord is None:
            return vector_norm(A, 2, None, keepdim, dtype=dtype)
        if A.ndim == 1:
            return vector_norm(A, ord, None, keepdim, dtype=dtype)
        if A.ndim == 2:
            return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
        raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got "
                           f"{A.ndim}D.")
    if len(dim) == 1:
        return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)
    if len(dim) == 2:
        return matrix_norm(A, "fro" if ord is None else ord, dim, keepdim, dtype=dtype)
    raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. Got {list(dim)}")


def cond(A, p=None, *, out=None):
    """The condition number: sigma_max / sigma_min for p None/2 (the inverse for -2), else
    ||A||_p ||A^-1||_p."""
    if p in (None, 2, -2):
        s = svdvals(A)
        return _out(s[..., 0] / s[..., -1] if p in (None, 2) else s[..., -1] / s[..., 0], out)
    try:
        return _out(matrix_norm(A, p) * matrix_norm(inv(A), p), out)
    except LinAlgError:     # a singular matrix: infinitely ill-conditioned, as PyTorch says
        with np.errstate(divide="ignore", invalid="ignore"):
            return _out(_wrap(np.asarray(np.linalg.cond(A._data, p), A._data.dtype)), out)


# ---------------------------------------------------------------------------- the rest
def vecdot(x, y, *, dim=-1, out=None):
    """Dot products of vectors along ``dim`` (broadcast)."""
    if _amp.active and out is None:   # autocast: on PyTorch's CPU float16 list
        x, y = _amp.lower(x, y)
    return _out((x * y).sum(dim), out)


def cross(input, other, *, dim=-1, out=None):
    return _out(ops.cross(input, other, dim=dim), out)


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    return ops.diagonal(A, offset, dim1, dim2)


matmul = ops.matmul


# ---------------------------------------------------------------------------- top-level spellings
# torch.det, torch.svd ... predate torch.linalg; some return other things (torch.svd: V, not Vh)
Slogdet = _named("slogdet", ["sign", "logabsdet"])
Svd = _named("svd", ["U", "S", "V"])
Qr = _named("qr", ["Q", "R"])


def _slogdet(input):
    return Slogdet(*slogdet(input))


def _logdet(input):
    """log det A: NaN for a negative determinant, -inf for a singular matrix."""
    sign, logabs = slogdet(input)
    return ops.where(sign < 0, C.full_like(logabs, math.nan), logabs)


def _svd(input, some=True, compute_uv=True):
    """``torch.svd``: U, S, V (not Vh); ``some=False``: square U and V."""
    if not compute_uv:
        s = svdvals(input)
        m, n = input.shape[-2:]
        return Svd(C.zeros(input.shape[:-2] + (m, m), dtype=input.dtype), s,
                   C.zeros(input.shape[:-2] + (n, n), dtype=input.dtype))
    U, S, Vh = svd(input, full_matrices=not some)
    return Svd(U, S, Vh.mT)


def _qr(input, some=True):
    return Qr(*qr(input, "reduced" if some else "complete"))


def _cholesky(input, upper=False):
    return cholesky(input, upper=upper)


def _pinverse(input, rcond=1e-15):
    return pinv(input, rtol=rcond)


TOPLEVEL = {"det": det, "slogdet": _slogdet, "logdet": _logdet, "inverse": inv, "svd": _svd, "qr": _qr,
            "cholesky": _cholesky, "pinverse": _pinverse, "matrix_power": matrix_power}


def install_methods(Tensor):
    """``A.det()``, ``A.inverse()``, ``A.svd()`` ... : the top-level functions as methods."""
    def method(fn, name):
        def m(self, *args, **kwargs):
            return fn(self, *args, **kwargs)
        m.__name__, m.__doc__ = name, fn.__doc__
        return m
    for name, fn in TOPLEVEL.items():
        setattr(Tensor, name, method(fn, name))
