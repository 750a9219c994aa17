"""Automatic differentiation: ``backward``, ``grad``, ``Function``, grad modes, ``gradcheck``."""
from __future__ import annotations

import numpy as np

from .function import Function, ArrayFunction, Node, once_differentiable  # noqa: F401
from .grad_mode import (no_grad, enable_grad, set_grad_enabled, inference_mode,  # noqa: F401
                        is_grad_enabled)
from .engine import run_backward
from .anomaly_mode import detect_anomaly, set_detect_anomaly  # noqa: F401


def _roots(tensors, grad_tensors, what, graph=False):
    from .._tensor import Tensor
    if isinstance(tensors, Tensor):
        tensors = (tensors,)
    tensors = tuple(tensors)
    if grad_tensors is None:
        grad_tensors = (None,) * len(tensors)
    elif isinstance(grad_tensors, Tensor):
        grad_tensors = (grad_tensors,)
    grad_tensors = tuple(grad_tensors)
    if len(grad_tensors) != len(tensors):
        raise RuntimeError(f"{what}: got {len(grad_tensors)} gradients for {len(tensors)} tensors")
    roots = []
    for i, (t, g) in enumerate(zip(tensors, grad_tensors)):
        if not t._requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if t._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            arr = np.ones(t._data.shape, t._data.dtype)
        elif graph and isinstance(g, Tensor):
            # the seed stays the caller's Tensor (it may require grad itself); a cast is recorded
            if g._data.shape != t._data.shape:
                raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of {list(g._data.shape)} and "
                                   f"output[{i}] has a shape of {list(t._data.shape)}.")
            if g._data.dtype != t._data.dtype:
                from ..ops.elementwise import to_dtype
                g = to_dtype(g, t._data.dtype)
            roots.append((t, g))
            continue
        else:
            arr = g._data if isinstance(g, Tensor) else np.asarray(g, dtype=t._data.dtype)
            if arr.shape != t._data.shape:
                raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of {list(arr.shape)} and "
                                   f"output[{i}] has a shape of {list(t._data.shape)}.")
            if arr.dtype != t._data.dtype:
                arr = arr.astype(t._data.dtype)
            elif t.grad_fn is None:
                arr = arr.copy()  # a leaf's .grad must not alias the caller's tensor
        if graph:
            from .._tensor import _wrap
            arr = _wrap(arr)
        roots.append((t, arr))
    return roots


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, grad_variables=None,
             inputs=None):
    """``torch.autograd.backward``: accumulate gradients of ``tensors`` into the leaves' ``.grad``.
    With ``create_graph=True`` the backward pass is recorded: ``.grad`` gets a history and can
    be differentiated again (the graph is then kept unless ``retain_graph=False``)."""
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is not None:
        from .._tensor import Tensor
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        grads = grad(tensors, inputs, grad_tensors, retain_graph=retain_graph, create_graph=create_graph,
                     allow_unused=True)
        from .engine import _accumulate_grad, _accumulate_grad_graph
        handed = set()
        for t, g in zip(inputs, grads):
            if g is not None:
                if create_graph:
                    _accumulate_grad_graph(t, g, handed)
                else:
                    _accumulate_grad(t, g._data, handed)
        return
    roots = _roots(tensors, grad_tensors if grad_variables is None else grad_variables, "backward", create_graph)
    run_backward(roots, retain_graph=bool(retain_graph), create_graph=create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """``torch.autograd.grad``: the gradients of ``outputs`` w.r.t. ``inputs``, returned, not
    accumulated."""
    from .._tensor import Tensor, _wrap
    if retain_graph is None:
        retain_graph = create_graph
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    for i, t in enumerate(inputs):
        if not t._requires_grad:
            raise RuntimeError(f"One of the differentiated Tensors does not require grad")
    roots = _roots(outputs, grad_outputs, "grad", create_graph)
    captured = run_backward(roots, retain_graph=bool(retain_graph), capture=inputs, create_graph=create_graph)
    result = []
    for i, (t, g) in enumerate(zip(inputs, captured)):
        if create_graph and g is not None:
            if g._data.shape != t._data.shape:
                g = g.sum_to_size(t._data.shape)
            result.append(g)
            continue
        if g is None:
            if materialize_grads and create_graph:
                result.append(_wrap(np.zeros(t._data.shape, t._data.dtype)).requires_grad_(True))
                continue
            if materialize_grads:
                g = np.zeros(t._data.shape, t._data.dtype)
            elif not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in the graph. "
                                   "Set allow_unused=True if this is the desired behavior.")
        result.append(None if g is None else _wrap(np.array(g, copy=True) if g.base is not None or
                                                   not g.flags.writeable else g))
    return tuple(result)


from .gradcheck import gradcheck, gradgradcheck  # noqa: E402,F401
from . import functional, graph, forward_ad  # noqa: E402,F401
