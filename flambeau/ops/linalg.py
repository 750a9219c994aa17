"""Contractions: matmul (and mm/bmm/dot/mv/outer), linear, einsum — all through BLAS."""
from __future__ import annotations

import builtins
import math

import numpy as np

from .._threads import in_parallel_section, parallel_for, workers
from ..autograd.function import ArrayFunction, graft
from .._tensor import Tensor
from ._util import fmt_shape
from ..amp import _state as _amp

_SPLIT_FLOPS = 1 << 26   # below ~64 MFLOP (~0.5 ms) waking a thread costs more than it saves (measured)
_MIN_BLOCK = 64          # rows or columns per block when it is


def _gemm(a, b, out=None):
    """``np.matmul(a, b)`` (into ``out`` if given) for operands of 2 or more dims; a large product
    is cut into one block of rows of ``a`` (or columns of ``b``) per intra-op thread (see
    flambeau._threads). A block's elements are bitwise those of the whole product (the BLAS sums
    each element's K terms in the same order whatever the rows around it; tests/core/test_threads.py
    checks it). Inside a parallel section (a convolution chunk) the product runs whole."""
    if a.dtype == np.float16 and b.dtype == np.float16:
        # NumPy has no BLAS kernel for float16 (its own loop is 5-25x slower than float32 BLAS):
        # multiply in float32 and round once, which is also what PyTorch's CPU half GEMM does
        # (float32 accumulation)
        r = _gemm(a.astype(np.float32), b.astype(np.float32))
        if out is None:
            return r.astype(np.float16)
        np.copyto(out, r, casting="unsafe")
        return out
    n = workers()
    if a.ndim < 2 or b.ndim < 2 or n == 1 or in_parallel_section():
        return np.matmul(a, b, out=out)
    M, K, N = a.shape[-2], a.shape[-1], b.shape[-1]
    if 2 * M * K * N < _SPLIT_FLOPS and a.ndim == 2 and b.ndim == 2:
        return np.matmul(a, b, out=out)      # (the common small case, without the shape checks below)
    lead = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    if 2 * M * K * N * math.prod(lead) < _SPLIT_FLOPS or builtins.max(M, N) < 2 * _MIN_BLOCK:
        return np.matmul(a, b, out=out)
    if out is None:
        out = np.empty(lead + (M, N), np.result_type(a, b))
    rows = M >= N
    size = M if rows else N
    nblocks = builtins.min(n, size // _MIN_BLOCK)
    edges = [size * i // nblocks for i in range(nblocks + 1)]

    def block(i):
        sl = slice(edges[i], edges[i + 1])
        if rows:
            np.matmul(a[..., sl, :], b, out=out[..., sl, :])
        else:
            np.matmul(a, b[..., sl], out=out[..., sl])
    parallel_for(block, nblocks)
    return out


class Matmul(ArrayFunction):
    """``a @ b`` with NumPy's (= PyTorch's) rules for 1-D operands and batch broadcasting."""

    _node_name = "MmBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _gemm(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        ga = gb = None
        # promote 1-D operands to matrices, as forward did implicitly
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -1 if b.ndim == 1 else -2)
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
            if a.ndim == 1:
                g2 = g2.reshape(1, 1)
        if na:
            ga = _gemm(g2, np.swapaxes(b2, -1, -2))
            if a.ndim == 1:  # (..., 1, k): every leading dim was broadcast
                ga = ga.sum(axis=tuple(range(ga.ndim - 1))) if ga.ndim > 1 else ga
        if nb:
            if a2.ndim == 2 and g2.ndim > 2:
                # a shared matrix times a batch: fold the batch into one GEMM
                g_flat = np.moveaxis(g2, -2, 0).reshape(g2.shape[-2], -1)
                gb = _gemm(a2.T, g_flat).reshape((a2.shape[1],) + g2.shape[:-2] + (g2.shape[-1],))
                gb = np.moveaxis(gb, 0, -2)
            else:
                gb = _gemm(np.swapaxes(a2, -1, -2), g2)
            if b.ndim == 1:  # (..., k, 1)
                gb = gb[..., 0]
                gb = gb.sum(axis=tuple(range(gb.ndim - 1))) if gb.ndim > 1 else gb
        return ga, gb

    @staticmethod
    def backward_graph(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        at, bt = graft(ctx, 0, a), graft(ctx, 1, b)
        # the same promotions as backward, on Tensors (the engine sums broadcast batch dims)
        a2 = at.unsqueeze(0) if a.ndim == 1 else at
        b2 = bt.unsqueeze(-1) if b.ndim == 1 else bt
        g2 = g
        if a.ndim == 1:
            g2 = g2.unsqueeze(-1 if b.ndim == 1 else -2)
        if b.ndim == 1:
            g2 = g2.unsqueeze(-1)
            if a.ndim == 1:
                g2 = g2.reshape(1, 1)
        ga = gb = None
        if na:
            ga = _matmul(g2, b2.transpose(-1, -2))
            if a.ndim == 1:
                ga = ga.reshape(-1, a.shape[0]).sum(0)
        if nb:
            gb = _matmul(a2.transpose(-1, -2), g2)
            if b.ndim == 1:
                gb = gb.squeeze(-1).reshape(-1, b.shape[0]).sum(0)
        return ga, gb


def matmul(input, other, *, out=None):
    if _amp.active and out is None:   # autocast: runs in float16 (out= variants are not autocast)
        input, other = _amp.lower(input, other)
    return _matmul(input, other, out)


def _matmul(input, other, out=None):
    """matmul without the autocast cast (mv, dot and outer are not on autocast's lists)."""
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise TypeError(f"matmul(): argument 'other' must be Tensor, not "
                        f"{type(other if isinstance(input, Tensor) else input).__name__}")
    a, b = input, other
    sa, sb = a._data.shape, b._data.shape
    if a._data.dtype != b._data.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {_cname(a._data.dtype)} != "
                           f"{_cname(b._data.dtype)}")
    if not sa or not sb:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {len(sa)}D and "
                           f"{len(sb)}D")
    ka = sa[-1]
    kb = sb[-2] if len(sb) > 1 else sb[0]
    if ka != kb:
        if len(sa) <= 2 and len(sb) <= 2:
            raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({_rc(sa)} and {_rc(sb)})")
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{sa[-1]}] but got: [{kb}] (matmul of shapes {fmt_shape(sa)} and {fmt_shape(sb)}).")
    ba, bb = sa[:-2], sb[:-2]
    for k in range(1, builtins.min(len(ba), len(bb)) + 1):
        if ba[-k] != bb[-k] and ba[-k] != 1 and bb[-k] != 1:
            raise RuntimeError(f"The size of tensor a ({ba[-k]}) must match the size of tensor b ({bb[-k]}) at "
                               f"non-singleton dimension {builtins.max(len(ba), len(bb)) - k} (matmul of shapes "
                               f"{fmt_shape(sa)} and {fmt_shape(sb)})")
    r = Matmul.apply(a, b)
    from .elementwise import _out
    return _out(r, out)


def _cname(dt):
    return {"float32": "float", "float64": "double", "float16": "c10::Half", "int64": "long int",
            "int32": "int", "int16": "short int", "int8": "signed char", "uint8": "unsigned char",
            "bool": "bool"}.get(np.dtype(dt).name, np.dtype(dt).name)


def _rc(s):
    return "x".join(str(v) for v in (s if len(s) == 2 else (1,) + tuple(s)))


def mm(input, mat2, *, out=None):
    if input._data.ndim != 2 or mat2._data.ndim != 2:
        raise RuntimeError(f"mm: expected 2D tensors, got {input._data.ndim}D and {mat2._data.ndim}D "
                           f"(shapes {fmt_shape(input.shape)} and {fmt_shape(mat2.shape)})")
    return matmul(input, mat2, out=out)


def bmm(input, mat2, *, out=None):
    if input._data.ndim != 3 or mat2._data.ndim != 3:
        raise RuntimeError(f"batch1 must be a 3D tensor (bmm got shapes {fmt_shape(input.shape)} and "
                           f"{fmt_shape(mat2.shape)})")
    if input._data.shape[0] != mat2._data.shape[0]:
        raise RuntimeError(f"batch1 and batch2 must have same number of batches, got {input._data.shape[0]} and "
                           f"{mat2._data.shape[0]}")
    return matmul(input, mat2, out=out)


def mv(input, vec):
    if input._data.ndim != 2 or vec._data.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {input._data.ndim}, {vec._data.ndim}")
    return _matmul(input, vec)


def dot(input, other):
    if input._data.ndim != 1 or other._data.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input._data.ndim}D and {other._data.ndim}D tensors")
    if input._data.shape != other._data.shape:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{input._data.shape[0]}] and src "
                           f"[{other._data.shape[0]}] to have the same number of elements, but got "
                           f"{input._data.shape[0]} and {other._data.shape[0]} elements respectively")
    return _matmul(input, other)


inner = dot
vdot = dot


def outer(input, vec2):
    return _matmul(input.reshape(-1, 1), vec2.reshape(1, -1))


ger = outer


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    if _amp.active:
        input, mat1, mat2 = _amp.lower(input, mat1, mat2)
    r = matmul(mat1, mat2)
    if alpha != 1:
        r = r * alpha
    return r + (input * beta if beta != 1 else input)


class Linear(ArrayFunction):
    """``x @ W.T + b`` fused: one GEMM forward, two GEMMs and a sum backward."""

    _node_name = "AddmmBackward0"

    @staticmethod
    def forward(ctx, x, w, b=None):
        ctx.save_for_backward(x, w)
        if x.ndim == 2 and x.shape[0] < w.shape[0] and x.shape[0] * x.shape[1] * w.shape[0] >= 1 << 23:
            # fewer samples than outputs (a training batch into a wide layer): OpenBLAS runs
            # W @ x.T 10-30 % faster than x @ W.T (64x784 by 784x256: 183 against 219 us), with
            # the same sums, bit for bit. Transposing back to (N, out) costs ~0.7 ns an element
            # (12 us at 64x256), so only products from ~8M multiply-adds gain (measured).
            yt = _gemm(w, x.T)
            y = np.empty((x.shape[0], w.shape[0]), yt.dtype)
            if b is None:
                np.copyto(y, yt.T)
            else:
                np.add(yt.T, b, out=y)
            return y
        y = _gemm(x, w.T)
        if b is not None:
            y += b
        return y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nx, nw = ctx.needs_input_grad[:2]
        nb = len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]
        gx = _gemm(g, w) if nx else None
        gw = gb = None
        if nw or nb:
            g2 = g.reshape(-1, g.shape[-1])
            if nw:
                gw = _gemm(g2.T, x.reshape(-1, x.shape[-1]))
            if nb:
                gb = g2.sum(0)
        return gx, gw, gb

    @staticmethod
    def backward_graph(ctx, g):
        x, w = ctx.saved_tensors
        nx, nw = ctx.needs_input_grad[:2]
        nb = len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]
        xt, wt = graft(ctx, 0, x), graft(ctx, 1, w)
        g2 = g.reshape(-1, g.shape[-1])
        return (_matmul(g, wt) if nx else None), \
            (_matmul(g2.t(), xt.reshape(-1, x.shape[-1])) if nw else None), (g2.sum(0) if nb else None)


def linear(input, weight, bias=None):
    if _amp.active:             # autocast: runs in float16
        input, weight, bias = _amp.lower(input, weight, bias)
    if input._data.ndim == 0 or input._data.shape[-1] != weight._data.shape[-1]:
        s = input._data.shape
        raise RuntimeError(f"linear: mat1 and mat2 shapes cannot be multiplied "
                           f"({_rc(s if len(s) == 2 else (builtins.int(np.prod(s[:-1])) if s else 1, s[-1] if s else 1))} "
                           f"and {weight._data.shape[1] if weight._data.ndim > 1 else weight._data.shape[0]}x"
                           f"{weight._data.shape[0]}) (input shape {fmt_shape(s)}, weight shape "
                           f"{fmt_shape(weight._data.shape)})")
    if input._data.dtype != weight._data.dtype:
        raise RuntimeError(f"linear: expected input and weight to have the same dtype, but got input "
                           f"{input.dtype} and weight {weight.dtype}")
    if weight._data.ndim == 1:
        r = matmul(input, weight)
        return r + bias if bias is not None else r
    if bias is None:
        return Linear.apply(input, weight)
    return Linear.apply(input, weight, bias)


def _np_einsum(eq, *xs):
    if all(x.dtype == np.float16 for x in xs):
        # no BLAS for float16 (see _gemm): contract in float32, round once
        return np.einsum(eq, *(x.astype(np.float32) for x in xs), optimize=True).astype(np.float16)
    return np.einsum(eq, *xs, optimize=True)


class Einsum(ArrayFunction):
    _node_name = "EinsumBackward0"

    @staticmethod
    def forward(ctx, eq, *ops):
        ctx.save_for_backward(*ops)
        ctx.eq = eq
        return _np_einsum(eq, *ops)

    @staticmethod
    def backward(ctx, g):
        return _einsum_grads(ctx.eq, ctx.saved_tensors, ctx.saved_tensors, g, ctx.needs_input_grad,
                             _np_einsum, np.broadcast_to)

    @staticmethod
    def backward_graph(ctx, g):
        # the same contractions on Tensors, each an Einsum node of its own
        ops = ctx.saved_tensors
        return _einsum_grads(ctx.eq, ops, [graft(ctx, j + 1, o) for j, o in enumerate(ops)], g,
                             ctx.needs_input_grad, einsum, lambda t, shape: t.expand(shape))


def _einsum_grads(eq, arrays, ops, g, needs, contract, broadcast):
    """Each needed operand's gradient: the output gradient contracted with the other operands
    (``ops``: arrays, or Tensors for double backward; ``arrays`` gives the shapes)."""
    ins, out = eq.split("->")
    subs = ins.split(",")
    grads = [None]
    for i, s in enumerate(subs):
        if not needs[i + 1]:
            grads.append(None)
            continue
        others = [o for j, o in enumerate(ops) if j != i]
        osubs = [x for j, x in enumerate(subs) if j != i]
        # indices of operand i missing elsewhere were summed: the gradient is broadcast back
        missing = [c for c in s if c not in out and all(c not in x for x in osubs)]
        shape = arrays[i].shape
        gi = contract(",".join([out] + osubs) + "->" + "".join(c for c in s if c not in missing), g, *others)
        if missing:
            gi = broadcast(gi.reshape([1 if c in missing else n for c, n in zip(s, shape)]), shape)
        if tuple(gi.shape) != shape and gi.ndim == len(shape):
            # a '...' dim of size 1 in a partner: spread back to this operand's size (the engine
            # sums the opposite case, a dim broadcast from this operand)
            gi = broadcast(gi, tuple(o if d == 1 else d for d, o in zip(gi.shape, shape)))
        grads.append(gi)
    return tuple(grads)


def einsum(equation, *operands):
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if _amp.active:             # autocast: runs in float16 (tensordot too, through einsum)
        operands = tuple(_amp.lower(*operands))
    eq = equation.replace(" ", "")
    if "->" not in eq:
        # implicit output: the indices that appear once, in alphabetical order
        ins = eq.replace(",", "").replace("...", "")
        out = "".join(sorted(c for c in set(ins) if ins.count(c) == 1))
        eq = eq + "->" + ("..." if "..." in equation else "") + out
    if "." in eq:
        eq = _expand_ellipsis(eq, operands, equation)
    ins, out = eq.split("->")
    subs = ins.split(",")
    if len(subs) != len(operands):
        raise RuntimeError(f"einsum(): {len(subs)} operand(s) in the equation {equation!r} but {len(operands)} given")
    for k, (s, o) in enumerate(zip(subs, operands)):
        if len(s) != o._data.ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(s)}) does not match the "
                               f"number of dimensions ({o._data.ndim}) for operand {k} and no ellipsis was given")
    if any(len(set(s)) != len(s) for s in subs):
        subs, operands = zip(*[_diagonals(s, o, k) for k, (s, o) in enumerate(zip(subs, operands))])
        eq = ",".join(subs) + "->" + out
    from .. import _dtype as D
    from .elementwise import to_dtype
    dt = D.result_type(*operands).np
    operands = [o if o._data.dtype == dt else to_dtype(o, dt) for o in operands]
    try:
        return Einsum.apply(eq, *operands)
    except ValueError as e:
        raise RuntimeError(f"einsum(): {e} (equation {equation!r}, operand shapes "
                           f"{[list(o.shape) for o in operands]})") from None


def _diagonals(s, op, k):
    """An index repeated within one operand ('ii->i', 'bii->b') walks that operand's diagonal:
    take it as a view (``diagonal``, differentiable, appended as the last dim, as PyTorch does)
    until every index of the operand is distinct."""
    while len(set(s)) != len(s):
        c = next(c for c in s if s.count(c) > 1)
        i = s.index(c)
        j = s.index(c, i + 1)
        if op.shape[i] != op.shape[j]:
            raise RuntimeError(f"einsum(): subscript {c} is repeated for operand {k} but the sizes don't match, "
                               f"{op.shape[j]} != {op.shape[i]}")
        op = op.diagonal(0, i, j)
        s = s[:i] + s[i + 1:j] + s[j + 1:] + c
    return s, op


def _expand_ellipsis(eq, operands, equation):
    """``eq`` with every ``...`` spelled out in letters the equation does not use: operand i's
    ``...`` covers its dims not named by letters, right-aligned (broadcast) against the others'."""
    ins, out = eq.split("->")
    subs = ins.split(",")
    if len(subs) != len(operands):
        raise RuntimeError(f"einsum(): {len(subs)} operand(s) in the equation {equation!r} but {len(operands)} "
                           f"given")
    n_ell = []
    for s, o in zip(subs + [out], list(operands) + [None]):
        if s.count("...") > 1 or s.replace("...", "").count("."):
            raise RuntimeError(f"einsum(): found '.' for operand that is not part of any ellipsis in {equation!r}")
        if o is not None:
            named = len(s.replace("...", ""))
            if "..." in s:
                if o._data.ndim < named:
                    raise RuntimeError(f"einsum(): the number of subscripts in the equation ({named}) is more than "
                                       f"the number of dimensions ({o._data.ndim}) for operand with ellipsis")
                n_ell.append(o._data.ndim - named)
    E = builtins.max(n_ell, default=0)
    free = [c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in eq]
    if len(free) < E:
        raise RuntimeError(f"einsum(): too many dimensions under '...' in {equation!r}")
    ell = "".join(free[:E])
    subs = [s.replace("...", ell[E - (o._data.ndim - len(s.replace("...", ""))):]) if "..." in s else s
            for s, o in zip(subs, operands)]
    return ",".join(subs) + "->" + out.replace("...", ell)


def tensordot(a, b, dims=2):
    if isinstance(dims, builtins.int):
        axes = (list(range(a._data.ndim - dims, a._data.ndim)), list(range(dims)))
    else:
        axes = ([dims[0]] if isinstance(dims[0], builtins.int) else list(dims[0]),
                [dims[1]] if isinstance(dims[1], builtins.int) else list(dims[1]))
    letters = "abcdefghijklmnopqrstuvwxyz"
    sa = list(letters[:a._data.ndim])
    sb = list(letters[a._data.ndim:a._data.ndim + b._data.ndim])
    for i, j in zip(*axes):
        sb[j % b._data.ndim] = sa[i % a._data.ndim]
    out = [c for c in sa if c not in sb] + [c for c in sb if c not in sa]
    return einsum("".join(sa) + "," + "".join(sb) + "->" + "".join(out), a, b)
