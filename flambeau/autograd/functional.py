"""``torch.autograd.functional``: Jacobians, Hessians and their products with vectors.

The products are built from reverse-mode passes only: ``vjp`` is one backward, ``hvp``/``vhp``
a backward of a backward (``create_graph=True``), and ``jvp`` the double-vjp trick
(J v = d/du [u^T J] v for a dummy u). ``jacobian`` backpropagates one basis vector per output
element; ``hessian`` is the Jacobian of the gradient.
"""
from __future__ import annotations

import numpy as np


def _tensors(x, fname, what="inputs given to"):
    """(whether ``x`` is one Tensor, ``x`` as a tuple of Tensors), with PyTorch's TypeError."""
    from .._tensor import Tensor
    single = isinstance(x, Tensor)
    xs = (x,) if single else tuple(x)
    for i, t in enumerate(xs):
        if not isinstance(t, Tensor):
            raise TypeError(f"The {what} {fname} must be either a Tensor or a tuple of Tensors but the "
                            f"value at index {i} has type {type(t).__name__}.")
    return single, xs


def _tuple_in(inputs, fname):
    return _tensors(inputs, fname)


def _prepare(ins, create_graph):
    """The points to differentiate at: detached copies that require grad, or, with
    ``create_graph``, views of inputs that already require grad (so the results stay connected
    to them, as in PyTorch)."""
    if create_graph:
        return tuple(t.view_as(t) if t.requires_grad else t.detach().requires_grad_(True) for t in ins)
    return tuple(t.detach().requires_grad_(True) for t in ins)


def _outputs(out, fname):
    return _tensors(out, fname, "outputs of the user-provided function given to")


def _v_tuple(v, refs, fname, what):
    from .._tensor import Tensor
    if v is None:
        if len(refs) == 1 and refs[0].numel() == 1:
            from .._creation import ones_like
            return (ones_like(refs[0]),)
        raise RuntimeError(f"The vector v can only be None if the {what} of the user-provided function is a "
                           "single Tensor with a single element.")
    vs = (v,) if isinstance(v, Tensor) else tuple(v)
    if len(vs) != len(refs):
        raise RuntimeError(f"{fname}: v has {len(vs)} tensors but the {what} has {len(refs)}")
    for i, (a, b) in enumerate(zip(vs, refs)):
        if a.shape != b.shape:
            raise RuntimeError(f"Mismatch in sizes between {what} and v at index {i}: expected {list(b.shape)}, "
                               f"got {list(a.shape)}")
    return vs


def _grad(outs, ins, vs, create_graph, retain=True):
    from . import grad
    from .._creation import zeros_like
    diff = [o for o in outs if o.requires_grad]
    dv = [v for o, v in zip(outs, vs) if o.requires_grad]
    if not diff:
        return tuple(zeros_like(t) for t in ins)
    gs = grad(diff, ins, dv, retain_graph=retain, create_graph=create_graph, allow_unused=True)
    return tuple(zeros_like(t) if g is None else g for g, t in zip(gs, ins))


def _out(x, create_graph):
    if create_graph:
        return x
    return tuple(t.detach() for t in x) if isinstance(x, tuple) else x.detach()


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), v^T J)``."""
    from .grad_mode import enable_grad
    single_in, ins = _tuple_in(inputs, "vjp")
    with enable_grad():
        ins = _prepare(ins, create_graph)
        single_out, outs = _outputs(func(*ins), "vjp")
        vs = _v_tuple(v, outs, "vjp", "output")
        gs = _grad(outs, ins, vs, create_graph)
    res = outs[0] if single_out else outs
    return _out(res, create_graph), _out(gs[0] if single_in else gs, create_graph)


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), J v)``, by the double-vjp trick: J v = d/du (u^T J v)."""
    from .grad_mode import enable_grad
    from .._creation import zeros_like
    single_in, ins = _tuple_in(inputs, "jvp")
    with enable_grad():
        ins = _prepare(ins, create_graph)
        single_out, outs = _outputs(func(*ins), "jvp")
        vs = _v_tuple(v, ins, "jvp", "input")
        us = tuple(zeros_like(o).requires_grad_(True) for o in outs)
        gs = _grad(outs, ins, us, create_graph=True)
        gdiff = [g for g in gs if g.requires_grad]
        vdiff = [vv for g, vv in zip(gs, vs) if g.requires_grad]
        if gdiff:
            from . import grad
            jv = grad(gdiff, us, vdiff, create_graph=create_graph, allow_unused=True)
            jv = tuple(zeros_like(o) if j is None else j for j, o in zip(jv, outs))
        else:
            jv = tuple(zeros_like(o) for o in outs)
    res = outs[0] if single_out else outs
    return _out(res, create_graph), _out(jv[0] if single_out else jv, create_graph)


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``: one backward per output element. Indexed
    ``[output][input]`` when either is a tuple, shaped ``output.shape + input.shape``."""
    from .grad_mode import enable_grad
    from .._tensor import _wrap
    from .._creation import zeros_like
    from .. import stack
    if strategy != "reverse-mode":
        raise NotImplementedError("jacobian: only strategy='reverse-mode' is implemented in flambeau")
    single_in, ins = _tuple_in(inputs, "jacobian")
    with enable_grad():
        ins = _prepare(ins, create_graph)
        single_out, outs = _outputs(func(*ins), "jacobian")
        table = []
        for o in outs:
            rows = [[] for _ in ins]
            n = o.numel()
            for m in range(n):
                e = np.zeros(n, o._data.dtype)
                e[m] = 1
                if o.requires_grad:
                    gs = _grad((o,), ins, (_wrap(e.reshape(o._data.shape)),), create_graph)
                else:
                    gs = tuple(zeros_like(t) for t in ins)
                for i, g in enumerate(gs):
                    rows[i].append(g)
            jac = []
            for r, t in zip(rows, ins):
                if not r:
                    jac.append(_wrap(np.zeros(tuple(o.shape) + tuple(t.shape), t._data.dtype)))
                else:
                    jac.append(stack(r).reshape(tuple(o.shape) + tuple(t.shape)))
            table.append(tuple(_out(j, create_graph) for j in jac))
    if single_out and single_in:
        return table[0][0]
    if single_out:
        return table[0]
    if single_in:
        return tuple(row[0] for row in table)
    return tuple(table)


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False, outer_jacobian_strategy="reverse-mode"):
    """The Hessian of a scalar ``func``: the Jacobian of its gradient (``[i][j]`` for tuples)."""
    single_in, ins = _tuple_in(inputs, "hessian")

    def gradient(*xs):
        single_out, outs = _outputs(func(*xs), "hessian")
        if len(outs) != 1 or outs[0].numel() != 1:
            raise RuntimeError("The function given to hessian should return a single Tensor with a single "
                               "element")
        return _grad(outs, xs, (None,), create_graph=True) if outs[0].requires_grad else \
            tuple(x * 0 for x in xs)

    jac = jacobian(gradient, ins, create_graph=create_graph, strategy=outer_jacobian_strategy)
    return jac[0][0] if single_in else jac


def _hv(func, inputs, v, create_graph, fname):
    from .grad_mode import enable_grad
    single_in, ins = _tuple_in(inputs, fname)
    with enable_grad():
        ins = _prepare(ins, create_graph)
        single_out, outs = _outputs(func(*ins), fname)
        if len(outs) != 1 or outs[0].numel() != 1:
            raise RuntimeError(f"The function given to {fname} should return a single Tensor with a single element")
        vs = _v_tuple(v, ins, fname, "input")
        gs = _grad(outs, ins, (None,), create_graph=True)
        hv = _grad(gs, ins, vs, create_graph) if any(g.requires_grad for g in gs) else tuple(x * 0 for x in ins)
    return _out(outs[0], create_graph), _out(hv[0] if single_in else hv, create_graph)


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), v^T H)``: a backward of the gradient."""
    return _hv(func, inputs, v, create_graph, "vhp")


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), H v)``; the Hessian of a twice-differentiable function is symmetric, so
    this is the same backward of the gradient as ``vhp``."""
    return _hv(func, inputs, v, create_graph, "hvp")
