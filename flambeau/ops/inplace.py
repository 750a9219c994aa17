"""In-place ops: write an op's result into an existing tensor, keeping autograd correct.

Rules (PyTorch's):
* a leaf that requires grad cannot be modified in place while grad mode is on (nor a view of one);
* every in-place write bumps the version counter shared by a tensor and its views, so a
  backward that needs the old values fails loudly instead of computing a wrong gradient;
* with grad involved, the op runs out of place on a snapshot of the old value, the result is
  copied into the tensor's memory, and the tensor's ``grad_fn`` is rebased onto the op. For a
  view, the base's history is rebased too (``CopySlices``), so gradients reach both.
"""
from __future__ import annotations

import numpy as np

from ..autograd import grad_mode
from ..autograd.function import ArrayFunction, linear_map
from .._tensor import Tensor

_STATE = grad_mode.state


def check_inplace(t):
    if _STATE.enabled:
        if t._requires_grad and t.grad_fn is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        b = t._base
        if b is not None and b._requires_grad and b.grad_fn is None:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place "
                               "operation.")


def _write(t, arr, op_name="in-place op"):
    dst = t._data
    if arr.dtype != dst.dtype and not np.can_cast(arr.dtype, dst.dtype, "same_kind") and \
            not (dst.dtype.kind in "iu" and arr.dtype.kind in "iub"):
        raise RuntimeError(f"result type {_tname(arr.dtype)} can't be cast to the desired output type "
                           f"{_tname(dst.dtype)}")
    if arr.shape != dst.shape:
        try:
            np.broadcast_to(arr, dst.shape)
        except ValueError:
            raise RuntimeError(f"output with shape {list(dst.shape)} doesn't match the broadcast shape "
                               f"{list(arr.shape)}") from None
    if not dst.flags.writeable:
        raise RuntimeError(f"{op_name}: unsupported operation: the tensor is an expanded (broadcast) view; "
                           "more than one element refers to the same memory location. Please clone() it first.")
    np.copyto(dst, arr, casting="unsafe")
    t._version[0] += 1


def _tname(dt):
    return {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long", "int32": "Int",
            "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}[np.dtype(dt).name]


def inplace(t, fn, *args, **kwargs):
    """``t = fn(t, *args)`` written into ``t``'s memory; returns ``t``."""
    grad = _STATE.enabled and (t._requires_grad or any(isinstance(a, Tensor) and a._requires_grad
                                                        for a in args))
    if not grad:
        r = fn(t, *args, **kwargs)
        _write(t, r._data)
        return t
    check_inplace(t)
    if t._data.dtype.kind != "f":
        raise RuntimeError("an in-place op that needs gradients requires a floating-point tensor, got "
                           f"{t.dtype}")
    # a snapshot of the old value: what the op saves for backward must not see our overwrite
    old = Tensor._make(t._data.copy())
    old._requires_grad = t._requires_grad
    old.grad_fn = t.grad_fn
    old._output_nr = t._output_nr
    r = fn(old, *args, **kwargs)
    if r._data.shape != t._data.shape:
        raise RuntimeError(f"output with shape {list(t._data.shape)} doesn't match the broadcast shape "
                           f"{list(r._data.shape)}")
    _write(t, r._data)
    _rebase_history(t, r)
    return t


class CopySlices(ArrayFunction):
    """The base of a view after an in-place op through the view: old base outside the view's
    region, the op's result inside it."""

    _node_name = "CopySlices"

    @staticmethod
    def forward(ctx, base, result, view_fn):
        ctx.view_fn = view_fn
        return base  # the memory already holds the new values

    @staticmethod
    def backward(ctx, g):
        vf = ctx.view_fn
        nb, nr = ctx.needs_input_grad[:2]
        gr = np.array(vf(g)) if nr else None
        gb = None
        if nb:
            gb = g.copy()
            vf(gb)[...] = 0
        return gb, gr

    @staticmethod
    def backward_graph(ctx, g):
        vf = ctx.view_fn
        nb, nr = ctx.needs_input_grad[:2]
        shape = g._data.shape

        def outside(a):             # the base outside the view's region: its own adjoint
            a = a.copy()
            vf(a)[...] = 0
            return a

        def inside(b):
            out = np.zeros(shape, b.dtype)
            vf(out)[...] = b
            return out
        return (linear_map(g, outside, outside) if nb else None), \
            (linear_map(g, lambda a: np.array(vf(a)), inside) if nr else None)


def _rebase_history(t, r):
    t.grad_fn = r.grad_fn
    t._output_nr = r._output_nr
    t._requires_grad = r._requires_grad
    base = t._base
    if base is None or not r._requires_grad:
        return
    old_base = Tensor._make(base._data)
    old_base._requires_grad = base._requires_grad
    old_base.grad_fn = base.grad_fn
    old_base._output_nr = base._output_nr
    nb = CopySlices.apply(old_base, r, t._view_fn)
    base.grad_fn = nb.grad_fn
    base._output_nr = 0
    base._requires_grad = True


# ---------------------------------------------------------------------------- fast paths
_UFUNC = {}


def ufunc_inplace(t, ufunc, other, op):
    """``t op= other`` with a NumPy ufunc writing straight into ``t`` (no grad involved)."""
    o = other._data if isinstance(other, Tensor) else other
    dst = t._data
    if isinstance(o, np.ndarray) and o.dtype.kind == "f" and dst.dtype.kind in "iub":
        raise RuntimeError(f"result type Float can't be cast to the desired output type {_tname(dst.dtype)}")
    if (isinstance(o, float) or ufunc is np.true_divide) and dst.dtype.kind in "iub":
        raise RuntimeError(f"result type Float can't be cast to the desired output type {_tname(dst.dtype)}")
    if not dst.flags.writeable:
        raise RuntimeError(f"{op}: unsupported operation: more than one element of the written-to tensor "
                           "refers to a single memory location. Please clone() the tensor before "
                           "performing the operation.")
    try:
        ufunc(dst, o, out=dst, casting="unsafe")
    except ValueError:
        raise RuntimeError(f"{op}: output with shape {list(dst.shape)} doesn't match the broadcast shape "
                           f"{list(np.broadcast_shapes(dst.shape, np.shape(o)))}") from None
    t._version[0] += 1
    return t
