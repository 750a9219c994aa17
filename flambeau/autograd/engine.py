"""The backward engine: reverse-mode differentiation over the recorded graph.

Iterative, never recursive (a 100 000-op chain is fine):

1. a depth-first walk from the roots counts, for every node, how many edges lead into it;
2. nodes run once all their incoming gradients have arrived (their count reaches zero),
   each gradient summed in a buffer first;
3. a node's backward returns one gradient per input; the engine checks it against the input's
   shape, summing broadcast dimensions away (the single place where broadcasting is undone);
4. leaves get their gradient accumulated into ``.grad`` at the end, after their hooks ran.

Without ``retain_graph`` each node frees what it saved right after its backward ran.
"""
from __future__ import annotations

import numpy as np

from .function import _FREED_MSG


def sum_to(g, shape, node=None, index=0):
    """Sum ``g`` over the dimensions that broadcasting added to an input of ``shape``."""
    gs = g.shape
    if gs == shape:
        return g
    nd = len(gs) - len(shape)
    if nd < 0 or any(s != 1 and s != gs[i + nd] for i, s in enumerate(shape)):
        what = node.name() if node is not None else "backward"
        raise RuntimeError(f"Function {what} returned an invalid gradient at index {index} - got "
                           f"{list(gs)} but expected shape compatible with {list(shape)}")
    axes = tuple(range(nd)) + tuple(i + nd for i, s in enumerate(shape) if s == 1 and gs[i + nd] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _call_node(node, grads):
    """Run one node's backward; return per-input gradients reduced to the input shapes."""
    if node._released:
        raise RuntimeError(_FREED_MSG)
    pre = node._pre_hooks
    if pre:
        grads = _run_pre_hooks(node, grads)
    res = node._fn._backward_arrays(node, grads)
    meta = node._input_meta
    out = []
    for i, m in enumerate(meta):
        g = res[i] if i < len(res) else None
        if m is None or g is None:
            out.append(None)
            continue
        if type(g) is not np.ndarray:
            g = np.asarray(g)
        shape, dtype = m
        if g.shape != shape:
            g = sum_to(g, shape, node, i)
        if g.dtype != dtype:
            g = g.astype(dtype)
        out.append(g)
    post = node.__dict__.get("_post_hooks") if node.__dict__ else None
    if post:
        from .._tensor import _wrap
        gi = tuple(None if g is None else _wrap(g) for g in out)
        go = tuple(None if g is None else _wrap(g) for g in grads)
        for h in post:
            r = h(gi, go)
            if r is not None:
                gi = tuple(r)
        out = [None if g is None else g._data for g in gi]
    return out


def _run_pre_hooks(node, grads):
    from .._tensor import _wrap
    grads = list(grads)
    hooks = node._pre_hooks
    if len(hooks) > 1:  # retain_grad hooks see the gradient after every other hook
        hooks = sorted(hooks, key=lambda h: getattr(h[1], "_retains_grad", False))
    for nr, fn in list(hooks):
        if nr is None:  # node pre-hook: sees all output grads
            r = fn(tuple(None if g is None else _wrap(g) for g in grads))
            if r is not None:
                grads = [None if g is None else g._data for g in r]
        elif grads[nr] is not None:
            r = fn(_wrap(grads[nr]))
            if r is not None:
                grads[nr] = r._data
    return grads


def run_backward(roots, retain_graph=False, capture=None):
    """Backpropagate from ``roots`` = [(tensor, grad_array)].

    Without ``capture``, leaf gradients are accumulated into ``.grad``. With ``capture`` (a list
    of tensors, for ``autograd.grad``) their gradients are returned instead and no ``.grad`` is
    touched.
    """
    from .._tensor import Tensor, _wrap

    # 1. count incoming edges of every node reachable from the roots
    deps = {}
    stack = []
    for t, _ in roots:
        fn = t.grad_fn
        if fn is not None and fn not in deps:
            deps[fn] = 0
            stack.append(fn)
    while stack:
        node = stack.pop()
        for e in node._next:
            if e is None:
                continue
            nxt = e[0]
            if isinstance(nxt, Node_):
                if nxt in deps:
                    deps[nxt] += 1
                else:
                    deps[nxt] = 1
                    stack.append(nxt)

    cap_nodes = {}
    cap_leaves = {}
    if capture is not None:
        for k, t in enumerate(capture):
            if t.grad_fn is not None:
                cap_nodes.setdefault((t.grad_fn, t._output_nr), []).append(k)
            else:
                cap_leaves.setdefault(id(t), []).append(k)
    captured = [None] * (len(capture) if capture is not None else 0)

    # 2. seed the buffers with the root gradients
    buffers = {}
    leaf_grads = {}
    for t, g in roots:
        fn = t.grad_fn
        if fn is None:
            _add_leaf(leaf_grads, t, g)
            continue
        buf = buffers.get(fn)
        if buf is None:
            buf = buffers[fn] = [None] * fn._n_outputs
        nr = t._output_nr
        buf[nr] = g if buf[nr] is None else buf[nr] + g
    ready = [fn for fn in buffers if deps[fn] == 0]

    # 3. run nodes whose inputs are complete
    while ready:
        node = ready.pop()
        grads = buffers.pop(node, None) or [None] * node._n_outputs
        if cap_nodes:
            for nr, g in enumerate(grads):
                for k in cap_nodes.get((node, nr), ()):
                    captured[k] = g
        if any(g is not None for g in grads):
            in_grads = _call_node(node, grads)
            if not retain_graph:
                node._release()
        else:
            in_grads = (None,) * len(node._next)
        for e, g in zip(node._next, in_grads):
            if e is None:
                continue
            nxt, nr = e
            if isinstance(nxt, Tensor):
                if g is not None:
                    _add_leaf(leaf_grads, nxt, g)
                continue
            if g is not None:
                buf = buffers.get(nxt)
                if buf is None:
                    buf = buffers[nxt] = [None] * nxt._n_outputs
                buf[nr] = g if buf[nr] is None else buf[nr] + g
            d = deps[nxt] - 1
            deps[nxt] = d
            if d == 0:
                ready.append(nxt)

    # 4. leaves: hooks, then capture or accumulate into .grad
    handed = set()
    for t, g in leaf_grads.values():
        hooks = t._hooks
        if hooks:
            for h in list(hooks.values()):
                r = h(_wrap(g))
                if r is not None:
                    g = r._data
        if capture is not None:
            for k in cap_leaves.get(id(t), ()):
                captured[k] = g
            continue
        _accumulate_grad(t, g, handed)
    return captured


def _add_leaf(leaf_grads, t, g):
    key = id(t)
    cur = leaf_grads.get(key)
    if cur is None:
        leaf_grads[key] = [t, g]
    else:
        cur[1] = cur[1] + g


def _accumulate_grad(t, g, handed):
    from .._tensor import Tensor
    if g.shape != t._data.shape:
        g = sum_to(g, t._data.shape)
    if g.dtype != t._data.dtype:
        g = g.astype(t._data.dtype)
    cur = t._grad
    if cur is None:
        # .grad must own its memory: the same array may have reached other leaves or be a view
        if g.base is not None or not g.flags.writeable or id(g) in handed:
            g = g.copy()
        handed.add(id(g))
        t._grad = Tensor._make(g)
    else:
        cur._data += g
        cur._version[0] += 1


# imported last: Node_ is the class the walk above recognises as a graph node
from .function import Node as Node_  # noqa: E402
