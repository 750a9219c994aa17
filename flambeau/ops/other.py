"""PyTorch's "Other operations": diagonals and traces, Kronecker and block-diagonal products,
distances (cdist, pdist, dist, cosine_similarity), scans with indices (cummax, cummin,
logcumsumexp), counting and searching (histc, bincount, bucketize, searchsorted, unique),
grids (meshgrid, cartesian_prod, vander, tril/triu_indices), the fused ``add*`` products
(baddbmm, addbmm, addmv, addr, chain_matmul), renorm and cross.

Most are composites of differentiable flambeau ops, so their gradients come from those ops.
Only three need a backward of their own: diag_embed (a composite through ``eye`` would turn an
inf on the diagonal into NaNs off it), cummax/cummin (a scatter of the gradient to the arg-extremum
indices) and logcumsumexp (a stable log-space backward). Counting, searching and ``unique`` have no
derivative in PyTorch either; their outputs never require grad.
"""
from __future__ import annotations

import builtins
import warnings

import numpy as np

from .. import _dtype as D
from ..autograd.function import ArrayFunction, graft, linear_op_backward_graph, recompute_backward
from .._tensor import Tensor, _wrap
from ._util import norm_dim, fmt_shape
from .elementwise import to_dtype, where, clamp_min, sqrt, _out
from .indexing import Gather, index_select, masked_fill
from .linalg import matmul, _matmul
from ..amp import _state as _amp
from .reduce import norm as _norm, ReturnCummax, _return_type, _type_word
from .shape import cat, diagonal as _diagonal, expand, flip, _diagonal_array

__all__ = [
    "diag", "diag_embed", "diagflat", "trace", "tril_indices", "triu_indices", "kron", "cdist",
    "cartesian_prod", "block_diag", "cummax", "cummin", "logcumsumexp", "histc", "histogram", "bincount", "bucketize",
    "searchsorted", "unique", "unique_consecutive", "meshgrid", "vander", "atleast_1d", "atleast_2d",
    "atleast_3d", "baddbmm", "addbmm", "addmv", "addr", "chain_matmul", "cosine_similarity", "pdist", "dist",
    "renorm", "cross",
]

ReturnCummin = _return_type("cummin")


def _tensor_arg(x, op, name="input"):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(x).__name__}")
    return x


# ---------------------------------------------------------------------------- diagonals, trace
class DiagEmbed(ArrayFunction):
    """The last dim of ``x`` written on the ``offset`` diagonal of dims (d1, d2) of a zero tensor."""

    _node_name = "DiagEmbedBackward0"

    @staticmethod
    def forward(ctx, x, offset, d1, d2):
        m = x.shape[-1] + builtins.abs(offset)
        shape = list(x.shape[:-1])
        for pos in sorted((d1, d2)):
            shape.insert(pos, m)
        out = np.zeros(shape, x.dtype)
        if out.size:
            _diagonal_array(out, offset, d1, d2)[...] = x
        ctx.meta = (offset, d1, d2)
        return out

    @staticmethod
    def backward(ctx, g):
        offset, d1, d2 = ctx.meta
        return np.array(_diagonal_array(g, offset, d1, d2)), None, None, None

    backward_graph = linear_op_backward_graph(lambda meta: meta)


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """A tensor whose (dim1, dim2) diagonals (shifted by ``offset``) are the last dim of input."""
    _tensor_arg(input, "diag_embed")
    nd = input._data.ndim + 1
    d1 = norm_dim(dim1, nd, "diag_embed")
    d2 = norm_dim(dim2, nd, "diag_embed")
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return DiagEmbed.apply(input, builtins.int(offset), d1, d2)


def diag(input, diagonal=0, *, out=None):
    """1-D input: the square matrix with input on its ``diagonal``; 2-D: that diagonal (a copy)."""
    _tensor_arg(input, "diag")
    nd = input._data.ndim
    if nd == 1:
        return _out(diag_embed(input, diagonal, 0, 1), out)
    if nd == 2:
        return _out(_diagonal(input, diagonal, 0, 1).clone(), out)  # PyTorch's diag copies (diagonal is a view)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {nd}D")


def diagflat(input, offset=0):
    """The flattened input on the ``offset`` diagonal of a square matrix."""
    _tensor_arg(input, "diagflat")
    return diag_embed(input.reshape(-1), offset, 0, 1)


@_amp.fp32_op
def trace(input):
    """Sum of the main diagonal of a matrix (int64 for integer input, as PyTorch)."""
    _tensor_arg(input, "trace")
    if input._data.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input._data.ndim}")
    if input._data.dtype == np.bool_:
        raise NotImplementedError("\"trace\" not implemented for 'Bool'")
    return _diagonal(input, 0, 0, 1).sum()


def _tri_indices(row, col, offset, dtype, device, op, lower):
    from ..backend import check_device
    check_device(device)
    dt = np.dtype(np.int64) if dtype is None else D.as_dtype(dtype).np
    if dt.kind not in "iu":
        raise NotImplementedError(f"\"{op}\" not implemented for '{D.from_numpy_dtype(dt).name}'")
    if row < 0:
        raise RuntimeError(f"row must be non-negative, got{row}")
    if col < 0:
        raise RuntimeError(f"col must be non-negative, got{col}")
    r, c = (np.tril_indices if lower else np.triu_indices)(row, offset, col)  # row-major order, as PyTorch
    return _wrap(np.stack([r, c]).astype(dt).reshape(2, -1))


def tril_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """The (2, N) coordinates of the lower triangle of a row x col matrix, row by row."""
    return _tri_indices(row, col, offset, dtype, device, "tril_indices", True)


def triu_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """The (2, N) coordinates of the upper triangle of a row x col matrix, row by row."""
    return _tri_indices(row, col, offset, dtype, device, "triu_indices", False)


# ---------------------------------------------------------------------------- products
def kron(input, other, *, out=None):
    """Kronecker product: block (i, j, ...) is ``input[i, j, ...] * other``."""
    _tensor_arg(input, "kron")
    _tensor_arg(other, "kron", "other")
    nd = builtins.max(input._data.ndim, other._data.ndim)
    sa = (1,) * (nd - input._data.ndim) + input._data.shape
    sb = (1,) * (nd - other._data.ndim) + other._data.shape
    # interleave the dims (a0, 1, a1, 1, ...) * (1, b0, 1, b1, ...): one broadcast product
    ia, ib = [], []
    for x, y in zip(sa, sb):
        ia += [x, 1]
        ib += [1, y]
    r = input.reshape(tuple(ia)) * other.reshape(tuple(ib))
    return _out(r.reshape(tuple(x * y for x, y in zip(sa, sb))), out)


def block_diag(*tensors):
    """The tensors (0-, 1- or 2-D, as 1x1, 1xn, mxn blocks) along the diagonal of a zero matrix."""
    if not tensors:
        return _wrap(np.zeros((1, 0), D.get_default_dtype().np))  # PyTorch's result for no input
    for i, t in enumerate(tensors):
        _tensor_arg(t, "block_diag", f"tensors[{i}]")
        if t._data.ndim > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input {i} has "
                               f"{t._data.ndim} dimensions")
    dt = D.result_type(*tensors).np
    blocks = [t.reshape(1, -1) if t._data.ndim < 2 else t for t in tensors]
    blocks = [b if b._data.dtype == dt else to_dtype(b, dt) for b in blocks]
    width = builtins.sum(b._data.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        r, c = b._data.shape
        # each block row: zeros | block | zeros, then the rows stacked (cat carries the gradient)
        rows.append(cat([_wrap(np.zeros((r, left), dt)), b, _wrap(np.zeros((r, width - left - c), dt))], 1))
        left += c
    return cat(rows, 0)


def _int_scalars(tensors, beta, alpha):
    """PyTorch casts beta and alpha to an integer input's dtype (0.5 -> 0): the result stays integer."""
    if builtins.all(t._data.dtype.kind in "iu" for t in tensors):
        return builtins.int(beta), builtins.int(alpha)
    return beta, alpha


def _plus_input(r, input, beta):
    """``r + beta * input`` with input broadcast to r's shape. beta = 0 ignores input's values (NaN
    and inf included) but still gives it a (zero) gradient, as PyTorch does."""
    inp = expand(input, r.shape) if input._data.shape != r._data.shape else input
    if beta == 0:
        return r + masked_fill(inp, np.True_, 0)
    return r + (inp if beta == 1 else inp * beta)


def _same_dtypes(op, **tensors):
    dts = {t._data.dtype for t in tensors.values()}
    if len(dts) > 1:
        got = ", ".join(f"{k}: {_cname(t)}" for k, t in tensors.items())
        raise RuntimeError(f"{op}: input dtypes must be the same, got: {got}")


def _cname(t):
    from .linalg import _cname as c
    return c(t._data.dtype)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None):
    """``beta * input + alpha * (batch1 @ batch2)`` for (b, n, m) @ (b, m, p) batches."""
    if _amp.active and out is None:   # autocast: runs in float16 (out= variants are not autocast)
        input, batch1, batch2 = _amp.lower(input, batch1, batch2)
    for name, t in (("input", input), ("batch1", batch1), ("batch2", batch2)):
        _tensor_arg(t, "baddbmm", name)
    s1, s2 = batch1._data.shape, batch2._data.shape
    if len(s1) != 3:
        raise RuntimeError(f"batch1 must be a 3D tensor (baddbmm got shape {fmt_shape(s1)})")
    if len(s2) != 3:
        raise RuntimeError(f"batch2 must be a 3D tensor (baddbmm got shape {fmt_shape(s2)})")
    if s2[0] != s1[0] or s2[1] != s1[2]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: [{s1[0]}, {s1[2]}] "
                           f"but got: [{s2[0]}, {s2[1]}].")
    _same_dtypes("baddbmm", input=input, batch1=batch1, batch2=batch2)
    beta, alpha = _int_scalars((input, batch1, batch2), beta, alpha)
    r = _matmul(batch1, batch2)
    if alpha != 1:
        r = r * alpha
    return _out(_plus_input(r, input, beta), out)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None):
    """``beta * input + alpha * sum_b(batch1[b] @ batch2[b])``: an (n, p) matrix."""
    if _amp.active and out is None:   # autocast: runs in float16 (out= variants are not autocast)
        input, batch1, batch2 = _amp.lower(input, batch1, batch2)
    for name, t in (("input", input), ("batch1", batch1), ("batch2", batch2)):
        _tensor_arg(t, "addbmm", name)
    s1, s2 = batch1._data.shape, batch2._data.shape
    if len(s1) != 3:
        raise RuntimeError(f"batch1 must be a 3D tensor (addbmm got shape {fmt_shape(s1)})")
    if len(s2) != 3:
        raise RuntimeError(f"batch2 must be a 3D tensor (addbmm got shape {fmt_shape(s2)})")
    if s1[0] != s2[0]:
        raise RuntimeError(f"batch1 and batch2 must have same number of batches, got {s1[0]} and {s2[0]}")
    if s1[2] != s2[1]:
        raise RuntimeError(f"Incompatible matrix sizes for bmm ({s1[1]}x{s1[2]} and {s2[1]}x{s2[2]})")
    _same_dtypes("addbmm", input=input, batch1=batch1, batch2=batch2)
    beta, alpha = _int_scalars((input, batch1, batch2), beta, alpha)
    b, n, k = s1
    # the sum of b products is one (n, b*k) @ (b*k, p) GEMM
    r = _matmul(batch1.permute(1, 0, 2).reshape(n, b * k), batch2.reshape(b * k, s2[2]))
    if alpha != 1:
        r = r * alpha
    return _out(_plus_input(r, input, beta), out)


def addmv(input, mat, vec, *, beta=1, alpha=1, out=None):
    """``beta * input + alpha * (mat @ vec)``."""
    for name, t in (("input", input), ("mat", mat), ("vec", vec)):
        _tensor_arg(t, "addmv", name)
    if mat._data.ndim != 2 or vec._data.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {input._data.ndim}, {mat._data.ndim}, "
                           f"{vec._data.ndim}")
    n, m = mat._data.shape
    si = input._data.shape
    if m != vec._data.shape[0] or len(si) > 1 or (len(si) == 1 and si[0] not in (1, n)):
        raise RuntimeError(f"size mismatch, got input ({', '.join(map(str, si))}), mat ({n}x{m}), vec "
                           f"({vec._data.shape[0]})")
    _same_dtypes("addmv", input=input, mat=mat, vec=vec)
    beta, alpha = _int_scalars((input, mat, vec), beta, alpha)
    r = _matmul(mat, vec)     # addmv is on no autocast list
    if alpha != 1:
        r = r * alpha
    return _out(_plus_input(r, input, beta), out)


def addr(input, vec1, vec2, *, beta=1, alpha=1, out=None):
    """``beta * input + alpha * outer(vec1, vec2)``."""
    for name, t in (("input", input), ("vec1", vec1), ("vec2", vec2)):
        _tensor_arg(t, "addr", name)
    for name, v in (("vec1", vec1), ("vec2", vec2)):
        if v._data.ndim != 1:
            raise RuntimeError(f"addr: Expected 1-D argument {name}, but got {v._data.ndim}-D")
    if builtins.all(t._data.dtype.kind in "biu" for t in (input, vec1, vec2)):
        for name, v in (("beta", beta), ("alpha", alpha)):
            if isinstance(v, (builtins.float, np.floating)):
                raise RuntimeError(f"For integral input tensors, argument {name} must not be a floating point "
                                   "number.")
    # the outer product as a broadcast multiply: exactly PyTorch's per-element products
    r = vec1.reshape(-1, 1) * vec2.reshape(1, -1)
    if alpha != 1:
        r = r * alpha
    return _out(_plus_input(r, input, beta), out)


def chain_matmul(*matrices, out=None):
    """The product of 2-D matrices, multiplied in the cheapest order (deprecated in PyTorch)."""
    warnings.warn("torch.chain_matmul is deprecated and will be removed in a future PyTorch release. Use "
                  "torch.linalg.multi_dot instead, which accepts a list of two or more tensors rather than "
                  "multiple parameters.", UserWarning, stacklevel=2)
    if len(matrices) == 1 and isinstance(matrices[0], (list, tuple)):
        matrices = tuple(matrices[0])
    if not matrices:
        raise RuntimeError("chain_matmul(): Expected one or more matrices")
    for i, m in enumerate(matrices):
        _tensor_arg(m, "chain_matmul", f"matrices[{i}]")
        if m._data.ndim != 2:
            raise RuntimeError(f"Tensor dimension is {m._data.ndim}, expected 2 instead.")
    if len(matrices) == 1:
        return _out(matrices[0].clone(), out)
    for i in range(len(matrices) - 1):
        a, b = matrices[i]._data.shape, matrices[i + 1]._data.shape
        if a[1] != b[0]:
            raise RuntimeError(f"multi_dot(): tensors {i} and {i + 1} with shapes {fmt_shape(a)} and "
                               f"{fmt_shape(b)} cannot be multiplied")
    return _out(chain_product(list(matrices)), out)


def chain_product(matrices):
    """The product of a chain of 2-D tensors, multiplied in the order that costs the fewest
    flops: the classic matrix-chain dynamic programme over the dims p0 x p1 x ... x pn (PyTorch's
    multi_dot and chain_matmul)."""
    p = [matrices[0].shape[0]] + [m.shape[1] for m in matrices]
    n = len(matrices)
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = None
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + p[i] * p[k + 1] * p[j + 1]
                if cost[i][j] is None or c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k

    def prod(i, j):
        if i == j:
            return matrices[i]
        k = split[i][j]
        return matmul(prod(i, k), prod(k + 1, j))
    return prod(0, n - 1)


# ---------------------------------------------------------------------------- distances
def _pnorm(diff, p, dim, empty_is_zero=False):
    """The p-norm of ``diff`` along ``dim`` whose gradient is zero where an element or the whole
    norm is zero, as in PyTorch's cdist/pdist backward (the plain formula gives 0 * inf = NaN
    there for p < 2). ``empty_is_zero``: vectors of no element have norm 0 for every p (cdist,
    pdist) rather than an error for p = inf (dist, norm)."""
    p = builtins.float(p)
    if empty_is_zero and diff._data.shape[dim] == 0:
        return _norm(diff, 1, dim)  # zeros, still connected to the inputs
    if p in (0.0, 1.0, 2.0) or p == np.inf or p < 0:  # the norm op's own backward is already safe
        return _norm(diff, p, dim)
    a = diff.abs()
    nz = a != 0
    s = where(nz, where(nz, a, 1.0) ** p, 0.0).sum(dim)
    zs = s == 0
    return where(zs, 0.0, where(zs, 1.0, s) ** (1.0 / p))


def _safe_sqrt(r2):
    """sqrt with a zero (not infinite) gradient at 0."""
    z = r2 == 0
    return where(z, 0.0, sqrt(where(z, 1.0, r2)))


@_amp.fp32_op
def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """The p-norm distances between the rows of x1 (..., P, M) and of x2 (..., R, M): (..., P, R)."""
    for name, t in (("x1", x1), ("x2", x2)):
        _tensor_arg(t, "cdist", name)
    for name, t in (("X1", x1), ("X2", x2)):
        if t._data.ndim < 2:
            raise RuntimeError(f"cdist only supports at least 2D tensors, {name} got: {t._data.ndim}D")
    for name, t in (("X1", x1), ("X2", x2)):
        if t._data.dtype.kind != "f":
            raise RuntimeError(f"cdist only supports floating-point dtypes, {name} got: {_type_word(t._data)}")
    c1, c2 = x1._data.shape[-1], x2._data.shape[-1]
    if c1 != c2:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {c1} X2: {c2}")
    if x1._data.dtype != x2._data.dtype:
        raise RuntimeError(f"cdist: X1 and X2 must have the same dtype, got {x1.dtype} and {x2.dtype}")
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    modes = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist")
    if compute_mode not in modes:
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    try:
        np.broadcast_shapes(x1._data.shape[:-2], x2._data.shape[:-2])
    except ValueError:
        raise RuntimeError(f"cdist: the batch dims of X1 {fmt_shape(x1._data.shape)} and X2 "
                           f"{fmt_shape(x2._data.shape)} are not broadcastable") from None
    P, R = x1._data.shape[-2], x2._data.shape[-2]
    if p == 2 and (compute_mode == modes[1] or (compute_mode == modes[0] and (P > 25 or R > 25))):
        # PyTorch's matrix-multiply form: |a|^2 + |b|^2 - 2 a.b as one GEMM of padded operands
        # (no (P, R, M) difference tensor); clamped at 0, then a square root
        n1 = (x1 * x1).sum(-1, keepdim=True)
        n2 = (x2 * x2).sum(-1, keepdim=True)
        a = cat([x1 * -2, n1, _wrap(np.ones(n1.shape, n1._data.dtype))], -1)
        b = cat([x2, _wrap(np.ones(n2.shape, n2._data.dtype)), n2], -1)
        return _safe_sqrt(clamp_min(matmul(a, b.transpose(-1, -2)), 0))
    diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)
    return _pnorm(diff, p, -1, empty_is_zero=True)


def pdist(input, p=2):
    """The p-norm distances between all pairs of rows i < j of an (N, M) input: N(N-1)/2 values."""
    _tensor_arg(input, "pdist")
    if input._data.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input._data.ndim}D")
    if input._data.dtype.kind != "f":
        raise RuntimeError("pdist only supports floating-point dtypes")
    if p < 0:
        raise RuntimeError("pdist only supports non-negative p values")
    i, j = np.triu_indices(input._data.shape[0], 1)
    diff = index_select(input, 0, _wrap(i.astype(np.int64))) - index_select(input, 0, _wrap(j.astype(np.int64)))
    return _pnorm(diff, p, -1, empty_is_zero=True)


def dist(input, other, p=2):
    """The p-norm of ``input - other`` (broadcast) over all elements: a 0-d tensor."""
    _tensor_arg(input, "dist")
    _tensor_arg(other, "dist", "other")
    d = input - other
    if d._data.dtype.kind != "f":
        raise RuntimeError(f"norm(): input dtype should be either floating point or complex. Got "
                           f"{_type_word(d._data)} instead.")
    if d._data.size == 0 and (p < 0 or p == np.inf):
        raise RuntimeError(f"linalg.vector_norm cannot compute the {builtins.float(p):g} norm on an empty tensor "
                           "because the operation does not have an identity")
    return _pnorm(d.reshape(-1), p, 0)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """``sum(x1 * x2) / (max(|x1|, eps) * max(|x2|, eps))`` along dim (same as F.cosine_similarity)."""
    _tensor_arg(x1, "cosine_similarity", "x1")
    _tensor_arg(x2, "cosine_similarity", "x2")
    dt = D.result_type(x1, x2)
    if dt.np.kind != "f":
        raise RuntimeError(f"expected common dtype to be floating point, yet common dtype is "
                           f"{_type_word(np.empty(0, dt.np))}")
    try:
        np.broadcast_shapes(x1._data.shape, x2._data.shape)
    except ValueError:
        raise RuntimeError(f"cosine_similarity: the shapes of x1 {fmt_shape(x1._data.shape)} and x2 "
                           f"{fmt_shape(x2._data.shape)} are not broadcastable") from None
    from ..nn.functional import cosine_similarity as f  # one implementation, shared with nn.functional
    return f(x1 if x1._data.dtype == dt.np else to_dtype(x1, dt.np),
             x2 if x2._data.dtype == dt.np else to_dtype(x2, dt.np), dim, eps)


def renorm(input, p, dim, maxnorm, *, out=None):
    """Each slice along ``dim`` whose p-norm exceeds maxnorm scaled down to norm maxnorm."""
    _tensor_arg(input, "renorm")
    if p <= 0:
        raise RuntimeError("renorm: non-positive-norm not supported")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    nd = input._data.ndim
    d = norm_dim(dim, nd, "renorm")
    if nd < 2:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {nd} dimensions")
    n = _norm(input, p, tuple(k for k in range(nd) if k != d), keepdim=True)
    # PyTorch's factor, 1e-7 included; differentiating it (norm too) gives PyTorch's renorm_backward
    factor = where(n > maxnorm, maxnorm / (n + 1e-7), 1.0)
    return _out(input * factor, out)


def cross(input, other, dim=None, *, out=None):
    """The cross product of 3-vectors along ``dim`` (None: the first dim of size 3, deprecated)."""
    _tensor_arg(input, "cross")
    _tensor_arg(other, "cross", "other")
    sa, sb = input._data.shape, other._data.shape
    if len(sa) != len(sb):
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    if input._data.dtype != other._data.dtype:
        raise RuntimeError(f"linalg.cross: expected input and other to have the same dtype, got {input.dtype} and "
                           f"{other.dtype}")
    if dim is None:
        warnings.warn("Using torch.cross without specifying the dim arg is deprecated.\nPlease either pass the dim "
                      "explicitly or simply use torch.linalg.cross.\nThe default value of dim will change to agree "
                      "with that of linalg.cross in a future release.", UserWarning, stacklevel=2)
        d = next((k for k, s in enumerate(sa) if s == 3), None)
        if d is None:
            raise RuntimeError("no dimension of size 3 in input")
    else:
        d = norm_dim(dim, len(sa), "cross")
    if sa[d] != 3 or sb[d] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {d} must have length 3. Got {sa[d]} and {sb[d]}")
    try:
        np.broadcast_shapes(sa, sb)
    except ValueError:
        raise RuntimeError(f"linalg.cross: the shapes {fmt_shape(sa)} and {fmt_shape(sb)} are not "
                           "broadcastable") from None
    # (a_y b_z - a_z b_y, a_z b_x - a_x b_z, a_x b_y - a_y b_x) with the components rotated by index_select
    i120, i201 = _wrap(np.array([1, 2, 0])), _wrap(np.array([2, 0, 1]))
    return _out(index_select(input, d, i120) * index_select(other, d, i201)
                - index_select(input, d, i201) * index_select(other, d, i120), out)


# ---------------------------------------------------------------------------- scans
def _cum_extreme_indices(x, axis, is_max):
    """PyTorch's cummax/cummin indices: the latest position of the running extremum (ties move it
    forward), and a NaN, once seen, is the extremum (each new NaN moves it)."""
    vals = (np.maximum if is_max else np.minimum).accumulate(x, axis=axis)  # NaN propagates
    take = x == vals
    if x.dtype.kind == "f":
        take |= np.isnan(x)
    ar = np.arange(x.shape[axis], dtype=np.int64).reshape([-1 if k == axis else 1 for k in range(x.ndim)])
    return np.maximum.accumulate(np.where(take, ar, 0), axis=axis) if x.size else np.zeros(x.shape, np.int64)


class Cummax(Gather):
    """Values picked by the running arg-max indices: a gather, whose backward scatters
    (accumulating) to them."""

    _node_name = "CummaxBackward0"


class Cummin(Cummax):
    _node_name = "CumminBackward0"


def _cum_extreme(input, dim, is_max):
    name = "cummax" if is_max else "cummin"
    _tensor_arg(input, name)
    ret = ReturnCummax if is_max else ReturnCummin
    x = input
    zero_d = x._data.ndim == 0
    axis = norm_dim(dim, x._data.ndim, name)
    if zero_d:
        x = x.reshape(1)
    idx = _cum_extreme_indices(x._data, axis, is_max)
    if x._data.dtype.kind == "f":
        vals = (Cummax if is_max else Cummin).apply(x, axis, idx)
    else:
        vals = _wrap(np.take_along_axis(x._data, idx, axis=axis))
    if zero_d:
        return ret(vals.reshape(()), _wrap(idx.reshape(())))
    return ret(vals, _wrap(idx))


def cummax(input, dim):
    """Running maximum along dim and the index where each was found: (values, indices)."""
    return _cum_extreme(input, dim, True)


def cummin(input, dim):
    """Running minimum along dim and the index where each was found: (values, indices)."""
    return _cum_extreme(input, dim, False)


def _rev_logcumsumexp(x, axis):
    return np.flip(np.logaddexp.accumulate(np.flip(x, axis), axis=axis), axis)


class Logcumsumexp(ArrayFunction):
    _node_name = "LogcumsumexpBackward0"

    @staticmethod
    def forward(ctx, x, axis):
        out = np.logaddexp.accumulate(x, axis=axis)  # log(exp(a) + exp(b)) without overflow
        ctx.save_for_backward(x, out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, g):
        # d out_i / d x_j = exp(x_j - out_i) for j <= i. Summed in log space, with g split by sign
        # (PyTorch's formula): exp(x_j + logsumexp_{i>=j}(log|g_i| - out_i)) for each sign
        x, out = ctx.saved_tensors
        a = ctx.axis
        lowest = np.finfo(g.dtype).min
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_abs = np.log(np.abs(g))
            pos = np.where(g > 0, log_abs, lowest)
            neg = np.where(g < 0, log_abs, lowest)
            return (np.exp(_rev_logcumsumexp(pos - out, a) + x)
                    - np.exp(_rev_logcumsumexp(neg - out, a) + x)), None

    @staticmethod
    def backward_graph(ctx, g):
        from .elementwise import exp, log
        x, out = ctx.saved_tensors
        a = ctx.axis
        # recomputed as log(cumsum(exp(x - m))) + m, m the (constant) largest element per line
        m = np.amax(x, axis=a, keepdims=True) if x.size else np.zeros((1,) * x.ndim, x.dtype)
        m = _wrap(np.where(np.isfinite(m), m, 0).astype(x.dtype, copy=False))
        return recompute_backward(ctx, (g,), lambda xt: log(exp(xt - m).cumsum(a)) + m, [graft(ctx, 0, x)])


def logcumsumexp(input, dim, *, out=None):
    """``log(cumsum(exp(input)))`` along dim, computed stably."""
    _tensor_arg(input, "logcumsumexp")
    if input._data.dtype.kind != "f":
        raise NotImplementedError(f"\"logcumsumexp_out_cpu\" not implemented for '{_type_word(input._data)}'")
    axis = norm_dim(dim, input._data.ndim, "logcumsumexp")
    if input._data.ndim == 0:
        return _out(Logcumsumexp.apply(input.reshape(1), 0).reshape(()), out)
    return _out(Logcumsumexp.apply(input, axis), out)


# ---------------------------------------------------------------------------- counting, searching
def histc(input, bins=100, min=0, max=0, *, out=None):
    """Histogram of ``bins`` equal bins over [min, max] (the data's range if min == max); values
    outside are ignored, the last bin includes max. Same float dtype as input."""
    _tensor_arg(input, "histc")
    x = input._data
    if x.dtype.kind != "f":
        raise NotImplementedError(f"\"histogram_cpu\" not implemented for '{_type_word(x)}'")
    if bins <= 0:
        raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {bins} for dimension 0")
    lo, hi = builtins.float(min), builtins.float(max)
    if lo == hi and x.size:
        lo, hi = builtins.float(np.min(x)), builtins.float(np.max(x))
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise RuntimeError(f"torch.histc: range of [{lo:g}, {hi:g}] is not finite")
    if not lo < hi:
        raise RuntimeError("torch.histc: max must be larger than min")
    t = x.dtype.type
    left, right = t(lo), t(hi)
    v = x.reshape(-1)
    v = v[(v >= left) & (v <= right)]  # NaN fails both tests: ignored
    # PyTorch's bin of an element, in the input's precision: trunc((v - left) * bins / (right - left)),
    # the right edge belonging to the last bin
    with np.errstate(over="ignore", invalid="ignore"):
        pos = ((v - left) * t(bins) / (right - left)).astype(np.int64)
    pos = np.clip(pos, 0, bins - 1)
    return _out(_wrap(np.bincount(pos, minlength=bins).astype(x.dtype)), out)


class ReturnHistogram(__import__("collections").namedtuple("histogram", ["hist", "bin_edges"])):
    """``torch.return_types.histogram``."""

    __slots__ = ()

    def __repr__(self):
        return f"flambeau.return_types.histogram(\nhist={self.hist!r},\nbin_edges={self.bin_edges!r})"


def _fma(a, b, c):
    """``a * b + c`` rounded once (float64; via exact rationals), as the compiled kernels do."""
    from fractions import Fraction
    return builtins.float(Fraction(builtins.float(a)) * Fraction(builtins.float(b)) + Fraction(builtins.float(c)))


def _torch_linspace(lo, hi, steps, dt):
    """PyTorch's CPU ``linspace`` bit for bit: ``start + step*i`` for the first half and
    ``end - step*(steps-1-i)`` for the rest, each a fused multiply-add in the dtype."""
    t = dt.type
    s, e = t(lo), t(hi)
    step = (e - s) / t(steps - 1) if steps > 1 else t(0)
    half = steps // 2
    i = np.arange(steps)
    if dt == np.float32:    # float32 products are exact in float64: one float64 rounding, then float32
        s64, e64, st64 = np.float64(s), np.float64(e), np.float64(step)
        vals = np.where(i < half, st64 * i.astype(np.float32) + s64,
                        e64 - st64 * (steps - 1 - i).astype(np.float32))
        return vals.astype(np.float32)
    if steps > 20000:       # exact FMA emulation would be slow: plain float64 arithmetic
        return np.where(i < half, s + step * i, e - step * (steps - 1 - i)).astype(dt)
    return np.array([_fma(step, k, s) if k < half else _fma(-step, steps - 1 - k, e) for k in range(steps)], dt)


def histogram(input, bins=100, *, range=None, weight=None, density=False, out=None):
    """``torch.histogram``: ``(hist, bin_edges)`` of a float tensor (flattened). ``bins`` is a
    count of equal bins over ``range`` (the data's min/max by default) or a 1-D tensor of
    increasing edges; the last bin includes its right edge, values outside are ignored.
    ``weight`` sums weights instead of counting; ``density`` normalises to a density."""
    _tensor_arg(input, "histogram")
    x = input._data
    dt = x.dtype
    if dt not in (np.float32, np.float64):
        raise NotImplementedError(f"\"histogramdd\" not implemented for '{_type_word(x)}'")
    v = x.reshape(-1)
    if isinstance(bins, Tensor):
        if range is not None:
            raise TypeError("histogram() received an invalid combination of arguments - got (Tensor, Tensor, "
                            "range=tuple)")
        e = bins._data
        if e.dtype != dt:
            raise RuntimeError("torch.histogramdd: input tensor and bins tensors should have the same dtype, but "
                               f"got input with dtype {_type_word(x).lower()} and bins for dimension 0 with dtype "
                               f"{D.as_dtype(e.dtype)}")
        if e.ndim != 1:
            raise RuntimeError("torch.histogramdd: bins tensor should have one dimension, but got "
                               f"{e.ndim} dimensions in the bins tensor for dimension 0")
        if e.shape[0] - 1 <= 0:
            raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {e.shape[0] - 1} for dimension 0")
        edges = e.copy()
        linear = False
    else:
        nb = builtins.int(bins)
        if nb <= 0:
            raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {nb} for dimension 0")
        if range is not None:
            rng = [builtins.float(r) for r in range]
            if len(rng) != 2:
                raise RuntimeError("torch.histogramdd: for a 1-dimensional histogram range should have 2 "
                                   f"elements, but got {len(rng)}")
            lo, hi = rng
        elif v.size:
            lo, hi = builtins.float(np.min(v)), builtins.float(np.max(v))
        else:               # PyTorch's default range for an empty input
            lo, hi = 0.0, 1.0
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise RuntimeError(f"torch.histogramdd: dimension 0's range [{lo:g}, {hi:g}] is not finite")
        if lo > hi:
            raise RuntimeError(f"torch.histogramdd: min should not exceed max, but got min {lo:g} max {hi:g} "
                               "for dimension 0")
        if lo == hi:        # numpy's widening of an empty range
            lo, hi = lo - 0.5, hi + 0.5
        edges = _torch_linspace(lo, hi, nb + 1, dt)
        linear = True
    w = None
    if weight is not None:
        w = weight._data if isinstance(weight, Tensor) else np.asarray(weight)
        if w.shape != x.shape:
            raise RuntimeError("torch.histogramdd: if weight tensor is provided it should have the same shape as "
                               f"the input tensor excluding its innermost dimension, but got input with shape "
                               f"{list(v.shape) + [1]} and weight with shape {list(w.shape)}")
        if w.dtype != dt:
            raise RuntimeError("torch.histogramdd: if weight tensor is provided, input tensor and weight tensor "
                               f"should have the same dtype, but got input({_type_word(x).lower()}), and "
                               f"weight({_type_word(w).lower()})")
        w = w.reshape(-1)
    n_edges = edges.shape[0]
    left, right = edges[0], edges[-1]
    keep = (v >= left) & (v <= right)          # NaN fails both: ignored
    vk = v[keep]
    if linear:
        # PyTorch's kernel: the bin by division in the input's precision, corrected by a search of
        # the neighbouring edges (so that hist agrees with the returned bin_edges)
        t = dt.type
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            pos = ((vk - left) * t(n_edges - 1) / (right - left)).astype(np.int64)
        pos_min = np.maximum(pos - 1, 0)
        pos_max = np.minimum(pos + 2, n_edges)
        cnt = np.zeros_like(pos)
        for k in builtins.range(3):
            j = pos_min + k
            ok = j < pos_max
            cnt += ok & (edges[np.minimum(j, n_edges - 1)] <= vk)
        pos = pos_min + cnt - 1
    else:
        pos = np.searchsorted(edges, vk, side="right") - 1
    pos = np.where(pos == n_edges - 1, n_edges - 2, pos)
    hist = np.zeros(n_edges - 1, dt)
    if w is None:
        hist += np.bincount(pos, minlength=n_edges - 1).astype(dt)
    else:
        np.add.at(hist, pos, w[keep])           # accumulated in order, in the input's dtype
    if density:
        with np.errstate(divide="ignore", invalid="ignore"):
            hist = hist / hist.sum(dtype=dt)
            hist = hist / np.diff(edges)
        hist = hist.astype(dt)
    res = ReturnHistogram(_wrap(hist), _wrap(edges))
    if out is not None:
        out[0].resize_(hist.shape).copy_(res[0])
        out[1].resize_(edges.shape).copy_(res[1])
        return out
    return res


def bincount(input, weights=None, minlength=0):
    """Occurrences of each value 0..max(input) of a 1-D non-negative integer tensor (summed
    weights if given: float32 weights give float32, any other weights float64, as PyTorch)."""
    _tensor_arg(input, "bincount")
    x = input._data
    if x.dtype.kind not in "iu":
        raise NotImplementedError(f"\"bincount_cpu\" not implemented for '{_type_word(x)}'")
    if x.ndim != 1 or (x.size and x.min() < 0):
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if minlength < 0:
        raise RuntimeError("minlength should be >= 0")
    if weights is None:
        return _wrap(np.bincount(x, minlength=minlength).astype(np.int64))
    w = weights._data if isinstance(weights, Tensor) else np.asarray(weights)
    if w.ndim != 1 or w.shape[0] != x.shape[0]:
        raise RuntimeError("weights should be 1-d and have the same length as input")
    dt = np.float32 if w.dtype == np.float32 else np.float64
    return _wrap(np.bincount(x, weights=w.astype(np.float64), minlength=minlength).astype(dt))


def _search(bd, v, right):
    """PyTorch's binary search, vectorised: for each value of ``v`` (rows (B, K)) the insertion
    point in the matching row of ``bd`` ((B, N) or a shared (N,)). Lower bound: the first i with
    ``bd[i] >= v``; upper bound (right): the first i with ``bd[i] > v``. Written with PyTorch's
    comparisons (not np.searchsorted) so that NaNs land where PyTorch puts them."""
    n = bd.shape[-1]
    lo = np.zeros(v.shape, np.int64)
    hi = np.full(v.shape, n, np.int64)
    if n == 0 or v.size == 0:
        return lo
    active = lo < hi
    while active.any():
        mid = (lo + hi) >> 1
        midc = np.minimum(mid, n - 1)
        mv = bd[midc] if bd.ndim == 1 else np.take_along_axis(bd, midc, axis=-1)
        go_right = ~(mv > v) if right else ~(mv >= v)
        lo = np.where(active & go_right, mid + 1, lo)
        hi = np.where(active & ~go_right, mid, hi)
        active = lo < hi
    return lo


def _search_values(values):
    if isinstance(values, Tensor):
        return values._data, False
    if isinstance(values, (builtins.bool, builtins.int, builtins.float, np.generic)):
        return np.asarray(values), True
    raise TypeError(f"expected a Tensor or a number as input, got {type(values).__name__}")


def _index_dtype(out_int32):
    return np.int32 if out_int32 else np.int64


def bucketize(input, boundaries, *, out_int32=False, right=False, out=None):
    """The bucket of each value: i with boundaries[i-1] < v <= boundaries[i] (right: <= v <)."""
    _tensor_arg(boundaries, "bucketize", "boundaries")
    v, _ = _search_values(input)
    b = boundaries._data
    if b.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({b.ndim})")
    return _out(_wrap(_search(b, v, right).astype(_index_dtype(out_int32))), out)


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None, out=None):
    """Insertion points of input's values in the innermost dim of sorted_sequence (1-D, or with the
    same leading dims as input)."""
    _tensor_arg(sorted_sequence, "searchsorted", "sorted_sequence")
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but got {side}")
        if side == "left" and right:
            raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites, got side of left "
                               "while right was True")
        right = side == "right"
    ss = sorted_sequence._data
    v, scalar = _search_values(input)
    if ss.ndim == 0:
        raise RuntimeError("torch.searchsorted(): boundaries tensor should have positive dimension, but got 0 "
                           "dimension")
    if sorter is not None:
        s = sorter._data if isinstance(sorter, Tensor) else np.asarray(sorter)
        if s.dtype.kind not in "iu":
            raise RuntimeError("torch.searchsorted(): sorter must be a tensor of long dtype")
        if s.shape != ss.shape:
            raise RuntimeError(f"torch.searchsorted(): boundary and sorter must have the same size, but got "
                               f"boundary tensor {fmt_shape(ss.shape)} and got sorter tensor {fmt_shape(s.shape)}")
        if s.size and (s.min() < 0 or s.max() >= ss.shape[-1]):
            raise RuntimeError("torch.searchsorted(): sorter index out of range")
        ss = np.take_along_axis(ss, s.astype(np.int64), axis=-1)
    if ss.ndim > 1:
        if scalar:
            raise RuntimeError(f"torch.searchsorted(): input value can be a scalar only when boundaries tensor "
                               f"dimension is 1, but we got boundaries tensor dim({ss.ndim}) and input value's "
                               f"dim(0) numel(1)")
        if v.ndim != ss.ndim or v.shape[:-1] != ss.shape[:-1]:
            raise RuntimeError(f"torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
                               f"dimensions of boundaries tensor and input value tensor must match, but we got "
                               f"boundaries tensor {fmt_shape(ss.shape)} and input value tensor "
                               f"{fmt_shape(v.shape)}")
        rows = builtins.int(np.prod(ss.shape[:-1]))
        r = _search(ss.reshape(rows, ss.shape[-1]), v.reshape(rows, v.shape[-1]), right).reshape(v.shape)
    else:
        r = _search(ss, v, right)
    return _out(_wrap(r.astype(_index_dtype(out_int32))), out)


def _unique_result(out, inverse, counts, return_inverse, return_counts):
    res = [_wrap(out)]
    if return_inverse:
        res.append(_wrap(inverse.astype(np.int64)))
    if return_counts:
        res.append(_wrap(counts.astype(np.int64)))
    return res[0] if len(res) == 1 else tuple(res)


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct values of input, sorted (as PyTorch does on CPU whatever ``sorted``); optionally
    the index of each input element in them (input's shape) and each value's count. NaNs are
    all distinct, as in PyTorch. With ``dim``: the distinct slices along dim."""
    _tensor_arg(input, "unique")
    x = input._data
    if dim is not None:         # distinct slices along dim, in lexicographic order
        d, rows = _slices(x, dim, "unique")
        if rows.shape[0] == 0:
            return _unique_result(x.copy(), np.zeros(0, np.int64), np.zeros(0, np.int64), return_inverse,
                                  return_counts)
        _, first, inv, cnt = np.unique(rows, axis=0, return_index=True, return_inverse=True, return_counts=True)
        out = np.moveaxis(np.moveaxis(x, d, 0)[first], 0, d)
        return _unique_result(out, inv.reshape(-1), cnt, return_inverse, return_counts)
    out, inv, cnt = np.unique(x.reshape(-1), return_inverse=True, return_counts=True, equal_nan=False)
    return _unique_result(out, inv.reshape(x.shape), cnt, return_inverse, return_counts)


def _slices(x, dim, op):
    """(dim, the slices of x along dim as the rows of a 2-D array)."""
    if x.ndim == 0:
        raise IndexError(f"{op}(): dim {dim} is out of range for a 0-d tensor")
    d = norm_dim(dim, x.ndim, op)
    if x.size == 0 and x.shape[d] != 0:
        raise RuntimeError("There are 0 sized dimensions, and they aren't selected, so unique cannot be applied")
    moved = np.moveaxis(x, d, 0)
    return d, moved.reshape(moved.shape[0], int(np.prod(moved.shape[1:])))


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    """Each run of equal consecutive values (of the flattened input) reduced to one value;
    optionally each element's run index (input's shape) and each run's length."""
    _tensor_arg(input, "unique_consecutive")
    x = input._data
    if dim is not None:         # runs of equal consecutive slices along dim
        d, rows = _slices(x, dim, "unique_consecutive")
        n = rows.shape[0]
        starts = np.ones(n, np.bool_)
        starts[1:] = (rows[1:] != rows[:-1]).any(axis=1) if rows.shape[1] else False
        cnt = np.diff(np.append(np.flatnonzero(starts), n))
        out = np.moveaxis(np.moveaxis(x, d, 0)[starts], 0, d)
        return _unique_result(out, np.cumsum(starts) - 1, cnt, return_inverse, return_counts)
    flat = x.reshape(-1)
    n = flat.shape[0]
    starts = np.ones(n, np.bool_)
    starts[1:] = flat[1:] != flat[:-1]  # NaN != NaN: every NaN starts a run, as in PyTorch
    inv = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    cnt = np.diff(np.append(first, n))
    return _unique_result(flat[starts], inv.reshape(x.shape), cnt, return_inverse, return_counts)


# ---------------------------------------------------------------------------- grids
def meshgrid(*tensors, indexing=None):
    """Coordinate grids (expanded views) of 0-D or 1-D tensors. ``indexing='ij'`` (the default,
    without PyTorch's warning) gives shape (n0, n1, ...); 'xy' swaps the first two dims."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if not tensors:
        raise RuntimeError("meshgrid expects a non-empty TensorList")
    if indexing is None:
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f'torch.meshgrid: indexing must be one of "xy" or "ij", but received: {indexing}')
    for i, t in enumerate(tensors):
        _tensor_arg(t, "meshgrid", f"tensors[{i}]")
        if t._data.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got a tensor of "
                               f"shape {fmt_shape(t._data.shape)}")
    if builtins.len({t._data.dtype for t in tensors}) > 1:
        raise RuntimeError("meshgrid expects all tensors to have the same dtype")
    k = len(tensors)
    order = list(range(k))
    if indexing == "xy" and k >= 2:
        order[0], order[1] = 1, 0  # dim 0 runs along tensors[1], dim 1 along tensors[0]
    shape = tuple(tensors[o]._data.size for o in order)
    grids = []
    for i, t in enumerate(tensors):
        view = [1] * k
        view[order.index(i)] = t._data.size
        grids.append(expand(t.reshape(tuple(view)), shape))
    return tuple(grids)


def cartesian_prod(*tensors):
    """All tuples (a, b, ...) of elements of the 1-D tensors, as the rows of an (N, k) tensor."""
    for i, t in enumerate(tensors):
        _tensor_arg(t, "cartesian_prod", f"tensors[{i}]")
        if t._data.ndim != 1:
            raise RuntimeError(f"Expect a 1D vector, but got shape {fmt_shape(t._data.shape)}")
    if len(tensors) == 1:
        return tensors[0]  # PyTorch returns the input itself
    grids = meshgrid(*tensors, indexing="ij")
    from .shape import stack
    return stack([g.reshape(-1) for g in grids], 1)


def vander(x, N=None, increasing=False):
    """Vandermonde matrix: columns x^(N-1), ..., x^1, x^0 (reversed if increasing)."""
    _tensor_arg(x, "vander", "x")
    if x._data.ndim != 1:
        raise RuntimeError("x must be a one-dimensional tensor.")
    n = x._data.shape[0] if N is None else N
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    # PyTorch's dtype: integer (and bool) inputs give int64, as cumprod does
    dt = D.promote_types(D.from_numpy_dtype(x._data.dtype), D.int64).np
    if x._data.dtype != dt:
        x = to_dtype(x, dt)
    m = x._data.shape[0]
    ones = _wrap(np.ones((m, builtins.min(n, 1)), dt))
    if n > 1:
        # the powers as a running product (PyTorch's way: exact at x = 0, where x ** 0's
        # gradient would be 0 * inf)
        from .reduce import cumprod
        r = cat([ones, cumprod(expand(x.reshape(m, 1), (m, n - 1)), 1)], 1)
    else:
        r = ones
    return r if increasing else flip(r, (1,))


def _atleast(tensors, nd, op):
    single = len(tensors) == 1 and isinstance(tensors[0], Tensor)
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    res = []
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}() expected Tensor or a sequence of Tensors, got {type(t).__name__}")
        s = t._data.shape
        if len(s) >= nd:
            res.append(t)
        elif nd == 3 and len(s) == 2:
            res.append(t.unsqueeze(-1))
        elif nd == 3 and len(s) == 1:
            res.append(t.reshape(1, s[0], 1))
        else:  # 0-d to (1,)*nd, 1-d (n,) to (1, n)
            res.append(t.reshape((1,) * (nd - len(s)) + s))
    return res[0] if single else tuple(res)


def atleast_1d(*tensors):
    """Each tensor with at least 1 dim (0-d becomes (1,)); one tensor in, one out."""
    return _atleast(tensors, 1, "atleast_1d")


def atleast_2d(*tensors):
    """Each tensor with at least 2 dims (0-d: (1, 1), (n,): (1, n))."""
    return _atleast(tensors, 2, "atleast_2d")


def atleast_3d(*tensors):
    """Each tensor with at least 3 dims (0-d: (1, 1, 1), (n,): (1, n, 1), (m, n): (m, n, 1))."""
    return _atleast(tensors, 3, "atleast_3d")
