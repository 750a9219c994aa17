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
    nd = _check_sum_to(gs, shape, node, index)
    axes = tuple(range(nd)) + tuple(i + nd for i, s in enumerate(shape) if s == 1 and gs[i + nd] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _check_sum_to(gs, shape, node, index):
    """How many leading dims a gradient of shape ``gs`` has beyond ``shape``; an error if
    summing cannot bring it to ``shape``."""
    nd = len(gs) - len(shape)
    if nd < 0 or any(s != 1 and s != gs[i + nd] for i, s in enumerate(shape)):
        what = node.name() if node is not None else "backward"
        raise RuntimeError(f"Function {what} returned an invalid gradient at index {index} - got "
                           f"{list(gs)} but expected shape compatible with {list(shape)}")
    return nd


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


def _call_node_graph(node, grads):
    """``_call_node`` under ``create_graph=True``: gradients are Tensors and every step that
    makes them (the op's backward_graph, summing broadcast dims, casts) is recorded."""
    if node._released:
        raise RuntimeError(_FREED_MSG)
    if node._pre_hooks:
        grads = _run_pre_hooks(node, grads, graph=True)
    res = node._fn._backward_graph(node, grads)
    out = []
    for i, m in enumerate(node._input_meta):
        g = res[i] if i < len(res) else None
        if m is None or g is None:
            out.append(None)
            continue
        shape, dtype = m
        if g._data.shape != shape:
            _check_sum_to(g._data.shape, shape, node, i)
            g = g.sum_to_size(shape)
        if g._data.dtype != dtype:
            from ..ops.elementwise import to_dtype
            g = to_dtype(g, dtype)
        out.append(g)
    post = node.__dict__.get("_post_hooks") if node.__dict__ else None
    if post:
        gi = tuple(out)
        for h in post:
            r = h(gi, tuple(grads))
            if r is not None:
                gi = tuple(r)
        out = list(gi)
    return out


def _identity(g):
    return g


def _run_pre_hooks(node, grads, graph=False):
    from .._tensor import _wrap
    wrap = _identity if graph else _wrap   # under create_graph the gradients are Tensors already
    grads = list(grads)
    hooks = node._pre_hooks
    if len(hooks) > 1:  # retain_grad hooks see the gradient after every other hook
        hooks = sorted(hooks, key=lambda h: getattr(h[1], "_retains_grad", False))
    for nr, fn in list(hooks):
        if nr is None:  # node pre-hook: sees all output grads
            r = fn(tuple(None if g is None else wrap(g) for g in grads))
            if r is not None:
                grads = [None if g is None else (g if graph else g._data) for g in r]
        elif grads[nr] is not None:
            r = fn(wrap(grads[nr]))
            if r is not None:
                grads[nr] = r if graph else r._data
    return grads


def run_backward(roots, retain_graph=False, capture=None, create_graph=False):
    """Backpropagate from ``roots`` = [(tensor, grad_array)].

    Without ``capture``, leaf gradients are accumulated into ``.grad``. With ``capture`` (a list
    of tensors, for ``autograd.grad``) their gradients are returned instead and no ``.grad`` is
    touched. With ``create_graph`` the gradients (roots included) are Tensors and the backward
    pass is itself recorded, in grad mode, so that its results can be differentiated again.
    """
    if create_graph:
        from .grad_mode import state
        prev = state.enabled
        state.enabled = True
        try:
            return _run(roots, retain_graph, capture, True)
        finally:
            state.enabled = prev
    return _run(roots, retain_graph, capture, False)


def _run(roots, retain_graph, capture, graph):
    from .._tensor import Tensor, _wrap
    from .grad_mode import state
    call = _call_node_graph if graph else _call_node
    anomaly = state.anomaly and state.anomaly_check_nan
    wrap = _identity if graph else _wrap   # hooks get the gradient Tensors themselves under create_graph

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
    runs = None
    if capture is not None:
        for k, t in enumerate(capture):
            if t.grad_fn is not None:
                cap_nodes.setdefault((t.grad_fn, t._output_nr), []).append(k)
            else:
                cap_leaves.setdefault(id(t), []).append(k)
        # only what leads to the requested tensors runs (autograd.grad of an input image
        # computes no weight gradient)
        runs, deps = _prune(roots, deps, {n for n, _ in cap_nodes}, cap_leaves)
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
    ready = [fn for fn in buffers if deps.get(fn, -1) == 0]

    # 3. run nodes whose inputs are complete
    while ready:
        node = ready.pop()
        grads = buffers.pop(node, None) or [None] * node._n_outputs
        if cap_nodes:
            if node._pre_hooks and runs is not None and not runs[node] and \
                    any((node, nr) in cap_nodes for nr in range(len(grads))):
                # a requested tensor whose node does not run: its hooks still see (and may
                # replace) the gradient handed back, as in PyTorch
                grads = _run_pre_hooks(node, grads, graph)
            for nr, g in enumerate(grads):
                for k in cap_nodes.get((node, nr), ()):
                    captured[k] = g
        if runs is not None and not runs[node]:
            continue   # captured, and nothing requested lies below it
        if any(g is not None for g in grads):
            if runs is None:
                in_grads = call(node, grads)
            else:
                in_grads = _call_pruned(call, node, grads, deps, cap_leaves)
            if anomaly:
                from .anomaly_mode import check_gradients
                check_gradients(node, in_grads)
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
            if runs is not None and nxt not in deps:
                continue   # leads to nothing requested
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
            for k, h in list(hooks.items()):
                if type(k) is PostAccumulateKey:
                    continue
                r = h(wrap(g))
                if r is not None:
                    g = r if graph else r._data
        if capture is not None:
            for k in cap_leaves.get(id(t), ()):
                captured[k] = g
            continue
        if graph:
            _accumulate_grad_graph(t, g, handed)
        else:
            _accumulate_grad(t, g, handed)
    return captured


def _call_pruned(call, node, grads, deps, cap_leaves):
    """Run ``node`` with ``needs_input_grad`` cleared for the inputs that lead to nothing
    requested, so that its backward skips them (a weight gradient when the input is asked for)."""
    need = node.needs_input_grad
    mask = tuple(bool(n) and e is not None and (e[0] in deps if isinstance(e[0], Node_) else id(e[0]) in cap_leaves)
                 for n, e in zip(need, node._next))
    if mask == tuple(bool(n) for n in need):
        return call(node, grads)
    node.needs_input_grad = mask
    try:
        return call(node, grads)
    finally:
        node.needs_input_grad = need


def _prune(roots, all_nodes, cap_fns, cap_leaves):
    """For ``autograd.grad``: ``runs[node]`` says whether a requested tensor lies below
    ``node`` (its backward must run); the returned counts cover only the nodes that are run or
    requested, and only edges from nodes that run."""
    runs = {}
    for t, _ in roots:
        root = t.grad_fn
        if root is None or root in runs:
            continue
        runs[root] = False
        stack = [(root, iter(root._next))]
        while stack:       # iterative post-order: a node is settled after all its inputs
            node, it = stack[-1]
            for e in it:
                if e is not None and isinstance(e[0], Node_) and e[0] not in runs:
                    runs[e[0]] = False
                    stack.append((e[0], iter(e[0]._next)))
                    break
            else:
                stack.pop()
                runs[node] = any(e is not None and (id(e[0]) in cap_leaves if not isinstance(e[0], Node_)
                                                    else runs[e[0]] or e[0] in cap_fns)
                                 for e in node._next)
    deps = {n: 0 for n in all_nodes if runs.get(n) or n in cap_fns}
    for n in deps:
        if runs.get(n):
            for e in n._next:
                if e is not None and isinstance(e[0], Node_) and e[0] in deps:
                    deps[e[0]] += 1
    return runs, deps


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
    _post_accumulate(t)


class PostAccumulateKey:
    """Marks a leaf's post-accumulate-grad hook in ``Tensor._hooks`` (the other entries are
    gradient hooks)."""

    __slots__ = ()


def _post_accumulate(t):
    hooks = t._hooks
    if hooks:
        for k, h in list(hooks.items()):
            if type(k) is PostAccumulateKey and h(t) is not None:
                raise RuntimeError("post accumulate grad hooks cannot return a value: they run after .grad is "
                                   "set (modify t.grad in place instead)")


def _accumulate_grad_graph(t, g, handed):
    """``.grad`` under ``create_graph=True``: the gradient Tensor with its history, summed out of
    place into an existing ``.grad`` (so both stay differentiable), as PyTorch does."""
    if g._data.shape != t._data.shape:
        g = g.sum_to_size(t._data.shape)
    if g._data.dtype != t._data.dtype:
        from ..ops.elementwise import to_dtype
        g = to_dtype(g, t._data.dtype)
    cur = t._grad
    if cur is None:
        t._grad = g.clone()  # .grad owns its memory: never the caller's tensor (PyTorch clones too)
    else:
        t._grad = cur + g
    _post_accumulate(t)


# imported last: Node_ is the class the walk above recognises as a graph node
from .function import Node as Node_  # noqa: E402
