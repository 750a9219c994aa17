"""``Function``: the one mechanism by which every op records itself in the graph.

An op is a subclass with two static methods, ``forward(ctx, ...)`` and
``backward(ctx, *grads)``. ``Function.apply`` runs forward and, when grad mode is on and an
input requires grad, creates a :class:`Node` — the ``grad_fn`` of the outputs, and the very
``ctx`` object forward and backward see (as in PyTorch).

Two flavours share that machinery:

* :class:`Function` (``flambeau.autograd.Function``): PyTorch's user API. forward and backward
  receive and return Tensors.
* :class:`ArrayFunction`: what flambeau's own ops use. forward and backward receive and return
  backend arrays (NumPy today), which keeps the per-op overhead small. Gradients may come back
  in a broadcast shape: the engine sums them to the input's shape in one place.
"""
from __future__ import annotations

import numpy as np

from . import grad_mode

_STATE = grad_mode.state

# Bound by flambeau._tensor once the Tensor class exists (the two modules import each other);
# module globals keep the per-op path free of import statements.
Tensor = None
_wrap = None


class Node:
    """A recorded op: ``grad_fn`` of its outputs and ``ctx`` of its Function."""

    __slots__ = ("_fn", "_next", "needs_input_grad", "_input_meta", "_saved",
                 "_saved_versions", "_n_outputs", "_output_meta", "_pre_hooks", "_released",
                 "_materialize_grads", "_non_differentiable", "_dirty", "__dict__", "__weakref__")

    def __init__(self, fn):
        self._fn = fn
        self._next = ()
        self.needs_input_grad = ()
        self._input_meta = ()
        self._saved = None
        self._saved_versions = None
        self._n_outputs = 1
        self._output_meta = None
        self._pre_hooks = None
        self._released = False
        self._materialize_grads = True
        self._non_differentiable = None
        self._dirty = None

    # -- the ctx API -------------------------------------------------------------------
    def save_for_backward(self, *values):
        self._saved = values

    @property
    def saved_tensors(self):
        if self._released:
            raise RuntimeError(_FREED_MSG)
        sv = self._saved_versions
        if sv:
            for counter, expected, what, *_ in sv:
                if counter[0] != expected:
                    raise RuntimeError(
                        "one of the variables needed for gradient computation has been modified by "
                        f"an inplace operation: [{_fmt_described(what)}], which is saved by {self.name()}, is at "
                        f"version {counter[0]}; expected version {expected} instead. Hint: clone the "
                        "tensor before modifying it in place, or do the in-place op out of place.")
        d = self.__dict__
        if d and "_unpack" in d:
            return _unpack_saved(self)
        return self._saved if self._saved is not None else ()

    saved_variables = saved_tensors

    def mark_non_differentiable(self, *tensors):
        self._non_differentiable = tensors

    def mark_dirty(self, *tensors):
        self._dirty = tensors

    def set_materialize_grads(self, value: bool):
        self._materialize_grads = bool(value)

    # -- the grad_fn API ---------------------------------------------------------------
    @property
    def next_functions(self):
        """``((node, output_nr), ...)`` per input, as in PyTorch: a leaf that requires grad
        shows as its ``AccumulateGrad`` node, an input that needs no gradient as ``(None, 0)``."""
        out = []
        for e in self._next:
            if e is None:
                out.append((None, 0))
            elif isinstance(e[0], Tensor):
                out.append((AccumulateGrad(e[0]), 0))
            else:
                out.append(e)
        return tuple(out)

    def name(self) -> str:
        return getattr(self._fn, "_node_name", None) or self._fn.__name__ + "Backward"

    def register_hook(self, fn):
        """Hook called as ``fn(grad_inputs, grad_outputs)`` after this node's backward."""
        hooks = self.__dict__.setdefault("_post_hooks", [])
        hooks.append(fn)
        return _RemovableHandle(hooks, fn)

    def register_prehook(self, fn):
        """Hook called as ``fn(grad_outputs)`` before this node's backward."""
        return self._add_pre_hook(None, fn)

    def _add_pre_hook(self, output_nr, fn):
        if self._pre_hooks is None:
            self._pre_hooks = []
        entry = (output_nr, fn)
        self._pre_hooks.append(entry)
        return _RemovableHandle(self._pre_hooks, entry)

    def __repr__(self):
        return f"<{self.name()} object at {hex(id(self))}>"

    def _release(self):
        """Free what forward saved (the graph after a backward without retain_graph)."""
        if self._saved is not None or self.__dict__:
            self._released = True
        self._saved = None
        post = self.__dict__.get("_post_hooks")
        self.__dict__.clear()
        if post:
            self.__dict__["_post_hooks"] = post


class AccumulateGrad:
    """What ``next_functions`` shows for a leaf: ``.variable`` is the leaf tensor."""

    __slots__ = ("variable",)
    next_functions = ()

    def __init__(self, variable):
        self.variable = variable

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    def __eq__(self, other):
        return isinstance(other, AccumulateGrad) and other.variable is self.variable

    def __hash__(self):
        return id(self.variable)

    def __repr__(self):
        return f"<AccumulateGrad object at {hex(id(self))}>"


_FREED_MSG = ("Trying to backward through the graph a second time (or directly access saved tensors "
              "after they have already been freed). Saved intermediate values of the graph are freed "
              "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
              "backward through the graph a second time or if you need to access saved tensors after "
              "calling backward.")


class _RemovableHandle:
    __slots__ = ("_list", "_item")

    def __init__(self, lst, item):
        self._list, self._item = lst, item

    def remove(self):
        try:
            self._list.remove(self._item)
        except ValueError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _edge(t):
    """The graph edge a tensor input contributes: its grad_fn, or the leaf itself."""
    fn = t.grad_fn
    if fn is not None:
        return (fn, t._output_nr)
    return (t, 0) if t._requires_grad else None


class _NoGradCtx:
    """The ctx handed to forward when nothing is recorded: saving is a no-op. A fresh one per
    call (cheap: no __init__), so nothing forward stores on it outlives the call."""

    needs_input_grad = ()

    def save_for_backward(self, *values):
        pass

    def mark_non_differentiable(self, *values):
        pass

    def mark_dirty(self, *values):
        pass

    def set_materialize_grads(self, value):
        pass


class Function:
    """``torch.autograd.Function``: subclass it with static ``forward(ctx, *args)`` and
    ``backward(ctx, *grad_outputs)`` working on Tensors, then call ``MyFn.apply(*args)``."""

    _array_io = False

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement the backward function for custom autograd.Function.")

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = Node(cls)
        needs = tuple(isinstance(a, Tensor) and a._requires_grad for a in args)
        ctx.needs_input_grad = needs
        record = _STATE.enabled and any(needs)
        prev = _STATE.enabled
        _STATE.enabled = False
        try:
            outputs = cls.forward(ctx, *args, **kwargs)
        finally:
            _STATE.enabled = prev
        if not record:
            ctx._saved = None
            return outputs
        if _STATE.anomaly:
            from .anomaly_mode import record_trace
            record_trace(ctx)
        is_tuple = isinstance(outputs, tuple)
        outs = list(outputs) if is_tuple else [outputs]
        non_diff = {id(t) for t in (ctx._non_differentiable or ())}
        input_ids = {id(a) for a in args if isinstance(a, Tensor)}
        ctx._next = tuple(_edge(a) if n else None for a, n in zip(args, needs))
        ctx._input_meta = tuple((a.shape, a._data.dtype) if n else None for a, n in zip(args, needs))
        ctx._n_outputs = len(outs)
        ctx._output_meta = []
        for i, o in enumerate(outs):
            if not isinstance(o, Tensor):
                ctx._output_meta.append(None)
                continue
            if id(o) in input_ids:  # forward returned an input: the output is a new alias of it
                o = outs[i] = Tensor._make(o._data, o._version)
            ctx._output_meta.append((o._data.shape, o._data.dtype))
            if id(o) in non_diff or not o.is_floating_point():
                continue
            o._requires_grad = True
            o.grad_fn = ctx
            o._output_nr = i
        # saved tensors: remember their versions; outputs are saved as detached aliases so
        # that the graph holds no reference cycle through them
        if ctx._saved:
            out_ids = {id(o): k for k, o in enumerate(outs) if isinstance(o, Tensor)}
            saved, versions, saved_outs = [], [], []
            for slot, t in enumerate(ctx._saved):
                if isinstance(t, Tensor):
                    versions.append((t._version, t._version[0], _describe(t)))
                    if id(t) in out_ids:
                        saved_outs.append((slot, out_ids[id(t)]))
                        t = Tensor._make(t._data, t._version)
                saved.append(t)
            ctx._saved = tuple(saved)
            ctx._saved_versions = versions
            if saved_outs:  # where double backward reconnects them to this node
                ctx.__dict__["_saved_outputs"] = saved_outs
            if _STATE.saved_hooks:
                _pack_saved(ctx, arrays=False)
        return tuple(outs) if is_tuple else outs[0]

    @classmethod
    def _backward_arrays(cls, ctx, grads):
        """Engine entry: arrays in, arrays out (wraps the Tensor-level user backward)."""
        gts = [None if g is None else Tensor._make(g) for g in _materialized(ctx, grads, np.zeros)]
        res = _checked_count(ctx, cls.backward(ctx, *gts))
        return tuple(None if r is None else (r._data if isinstance(r, Tensor) else np.asarray(r)) for r in res)

    @classmethod
    def _backward_graph(cls, ctx, grads):
        """Engine entry under ``create_graph=True``: Tensors in, Tensors out, recorded. Saved
        outputs are handed to backward connected to this node (their gradient runs through it)."""
        gts = _materialized(ctx, grads, lambda shape, dtype: _wrap(np.zeros(shape, dtype)))
        outs = ctx.__dict__.get("_saved_outputs")
        plain = ctx._saved
        if outs:
            saved = list(plain)
            for slot, nr in outs:
                saved[slot] = Tensor._make(saved[slot]._data, saved[slot]._version)
                saved[slot]._requires_grad = True
                saved[slot].grad_fn = ctx
                saved[slot]._output_nr = nr
            ctx._saved = tuple(saved)
        try:
            res = cls.backward(ctx, *gts)
        finally:
            if outs and ctx._saved is not None:
                ctx._saved = plain
        res = _checked_count(ctx, res)
        return tuple(None if r is None else (r if isinstance(r, Tensor) else _wrap(np.asarray(r))) for r in res)


def _materialized(ctx, grads, zeros):
    """The output gradients a user backward sees: None made ``zeros(shape, dtype)`` unless the
    Function asked for ``set_materialize_grads(False)``."""
    return [zeros(m[0], m[1]) if g is None and ctx._materialize_grads and m is not None else g
            for g, m in zip(grads, ctx._output_meta)]


def _checked_count(ctx, res):
    """A user backward's result as a tuple of one gradient per input (PyTorch's error if not)."""
    if not isinstance(res, tuple):
        res = (res,)
    n_in = len(ctx._next)
    if len(res) < n_in or any(r is not None for r in res[n_in:]):
        raise RuntimeError(f"function {ctx.name()} returned an incorrect number of gradients "
                           f"(expected {n_in}, got {len(res)})")
    return res[:n_in]


class ArrayFunction(Function):
    """A Function whose forward/backward work on backend arrays (flambeau's own ops).

    ``apply`` takes Tensors and plain values; Tensors reach forward as their arrays. forward
    returns an array (or a tuple of arrays); backward returns one array (or None) per input.
    """

    _array_io = True

    @classmethod
    def apply(cls, *args, **kwargs):
        arrays = []
        record = False
        for a in args:
            if isinstance(a, Tensor):
                arrays.append(a._data)
                if a._requires_grad:
                    record = True
            else:
                arrays.append(a)
        if not (record and _STATE.enabled):
            out = cls.forward(_NoGradCtx(), *arrays, **kwargs)
            if type(out) is tuple:
                return tuple(_wrap(o) for o in out)
            return _wrap(out)

        ctx = Node(cls)
        if _STATE.anomaly:
            from .anomaly_mode import record_trace
            record_trace(ctx)
        needs, edges, meta = [], [], []
        for a in args:  # one pass: which inputs need a gradient, their edges and shapes
            if isinstance(a, Tensor) and a._requires_grad:
                needs.append(True)
                edges.append(_edge(a))
                d = a._data
                meta.append((d.shape, d.dtype))
            else:
                needs.append(False)
                edges.append(None)
                meta.append(None)
        ctx.needs_input_grad = tuple(needs)
        out = cls.forward(ctx, *arrays, **kwargs)
        ctx._next = tuple(edges)
        ctx._input_meta = tuple(meta)
        nd = ctx._non_differentiable
        if type(out) is tuple:
            ctx._n_outputs = len(out)
            ctx._output_meta = [(np.shape(o), getattr(o, "dtype", None)) for o in out]
            outs = tuple(_wrap(o) if (nd and any(o is x for x in nd)) else _wrap(o, ctx, i)
                         for i, o in enumerate(out))
            result = outs
        else:
            outs = (_wrap(out, ctx, 0),)
            result = outs[0]
        saved = ctx._saved
        if saved:
            versions = None
            for s in saved:
                for a in args:
                    if isinstance(a, Tensor) and a._data is s:
                        break
                else:
                    for o in outs:
                        if o._data is s:
                            a = o
                            break
                    else:
                        continue
                if versions is None:
                    versions = []
                versions.append((a._version, a._version[0], _describe(a), id(s)))
            ctx._saved_versions = versions
            if _STATE.saved_hooks:
                _pack_saved(ctx, arrays=True)
        return result

    @classmethod
    def _backward_arrays(cls, ctx, grads):
        if ctx._n_outputs == 1:
            res = cls.backward(ctx, grads[0])
        else:
            meta = ctx._output_meta
            grads = [np.zeros(m[0], dtype=m[1]) if g is None else g for g, m in zip(grads, meta)]
            res = cls.backward(ctx, *grads)
        return res if type(res) is tuple else (res,)

    @classmethod
    def _backward_graph(cls, ctx, grads):
        """Engine entry under ``create_graph=True``: the op's ``backward_graph`` on Tensors, or,
        for an op without one, its array backward with a result that refuses a second backward."""
        bg = _backward_graph_of(cls)
        if bg is None:
            arrays = cls._backward_arrays(ctx, [None if g is None else g._data for g in grads])
            return once_differentiable_result(ctx, grads, arrays)
        if ctx._n_outputs > 1:
            meta = ctx._output_meta
            grads = [_wrap(np.zeros(m[0], dtype=m[1])) if g is None else g for g, m in zip(grads, meta)]
        res = bg(ctx, *grads)
        return res if type(res) is tuple else (res,)


def _backward_graph_of(cls):
    """The ``backward_graph`` that goes with the ``backward`` ``cls`` runs: a subclass that
    overrides backward without a backward_graph of its own has none."""
    for base in cls.__mro__:
        d = base.__dict__
        if "backward_graph" in d:
            return getattr(cls, "backward_graph")
        if "backward" in d:
            return None
    return None




def _pack_saved(ctx, arrays):
    """``autograd.graph.saved_tensors_hooks``: each saved tensor goes through the innermost pack
    hook now, and through its unpack hook when backward reads ``saved_tensors``. An op's saved
    arrays are handed to the hooks as Tensors (sharing their memory)."""
    pack, unpack = _STATE.saved_hooks[-1]
    packed = []
    for v in ctx._saved:
        if arrays and isinstance(v, np.ndarray):
            packed.append((True, pack(Tensor._make(v))))
        elif isinstance(v, Tensor):
            packed.append((False, pack(v)))
        else:
            packed.append(None if v is None else (None, v))
    ctx._saved = tuple(packed)
    ctx.__dict__["_unpack"] = unpack


def _unpack_saved(ctx):
    if ctx._saved is None:
        return ()
    unpack = ctx.__dict__["_unpack"]
    out = []
    for entry in ctx._saved:
        if entry is None:
            out.append(None)
            continue
        kind, v = entry
        if kind is None:
            out.append(v)
            continue
        t = unpack(v)
        if not isinstance(t, Tensor):
            raise TypeError(f"Output of saved tensor unpack_hook expected to be a Tensor but got result of type "
                            f"{type(t).__name__}")
        out.append(t._data if kind else t)
    return tuple(out)


def _describe(t):
    """What an error message will say about a saved tensor (formatted only if it is raised)."""
    return type(t).__name__, t._data.dtype, t._data.shape


def _fmt_described(d) -> str:
    name, dtype, shape = d
    return f"flambeau.{name} of dtype {dtype} and shape {list(shape)}"


# ---------------------------------------------------------------------------- double backward
# With ``create_graph=True`` the engine runs each node's ``backward_graph(ctx, *grads)``: the same
# derivative written with differentiable Tensor ops, so that the gradients it returns are
# themselves part of a graph. What forward saved are plain arrays; ``graft`` reconnects them.

class _Graft(ArrayFunction):
    """Identity to one input of a recorded op: what ``graft`` hangs its tensor on."""

    _node_name = "GraftBackward0"

    @staticmethod
    def backward(ctx, g):
        return (g,)

    backward_graph = backward


def graft(ctx, i, data):
    """A Tensor holding ``data`` whose gradient flows to input ``i`` of the node ``ctx``.

    ``data`` is usually the input's own value, saved by forward. It may be any value the
    derivative is to be taken at, as long as it has a shape that broadcasts to the input's (the
    engine sums the gradient back to it) — e.g. log-probabilities standing in for logits, whose
    softmax is the same. An input that needed no gradient comes back as a constant."""
    e = ctx._next[i] if i < len(ctx._next) else None
    if e is None:
        return _wrap(data)
    node = Node(_Graft)
    node.needs_input_grad = (True,)
    node._next = (e,)
    node._input_meta = (ctx._input_meta[i],)
    return _shared_version(ctx, data, _wrap(data, node, 0))


def saved_output(ctx, data, nr=0):
    """A Tensor for output ``nr`` of ``ctx`` (saved by forward as ``data``): its gradient runs
    back through ``ctx`` itself, as a saved output's does in PyTorch."""
    return _shared_version(ctx, data, _wrap(data, ctx, nr))


def _shared_version(ctx, data, t):
    """``t`` (holding the saved array ``data``) with the version counter of the tensor forward
    saved it from: an in-place change of that tensor before the second backward is then caught
    by the nodes of the gradient's graph that saved ``t``, as in PyTorch."""
    for entry in ctx._saved_versions or ():
        if len(entry) > 3 and entry[3] == id(data):
            t._version = entry[0]
            break
    return t


class _LinearMap(ArrayFunction):
    """``apply(g)`` for a linear map given on arrays, with ``adjoint`` its transpose: the
    backward of a gather is a scatter and the other way round, to any order."""

    _node_name = "LinearMapBackward0"

    @staticmethod
    def forward(ctx, g, apply, adjoint):
        ctx.maps = (apply, adjoint)
        return apply(g)

    @staticmethod
    def backward(ctx, gg):
        return ctx.maps[1](gg), None, None

    @staticmethod
    def backward_graph(ctx, gg):
        apply, adjoint = ctx.maps
        return _LinearMap.apply(gg, adjoint, apply), None, None


def linear_map(g, apply, adjoint):
    """The Tensor ``apply(g)`` (``apply`` linear, on arrays), differentiable through ``adjoint``.
    The two functions must not hold the node they come from (it may be freed)."""
    return _LinearMap.apply(g, apply, adjoint)


def recompute_backward(ctx, grads, fn, inputs):
    """A ``backward_graph`` for a fused op with a composite definition: ``fn(*inputs)``
    recomputes its outputs from primitives that have double backward, on ``inputs`` grafted
    to the op's own inputs (None for one not needed), and differentiating that recomputation
    with ``create_graph=True`` gives the gradients as a graph."""
    from . import grad
    outs = fn(*inputs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    pairs = [(o, g) for o, g in zip(outs, grads) if g is not None and o._requires_grad]
    need = ctx.needs_input_grad
    wrt = [i for i, t in enumerate(inputs) if t is not None and t._requires_grad and i < len(need) and need[i]]
    res = [None] * len(ctx._next)
    if pairs and wrt:
        gs = grad([o for o, _ in pairs], [inputs[i] for i in wrt], [g for _, g in pairs], create_graph=True,
                  allow_unused=True)
        for i, g in zip(wrt, gs):
            res[i] = g
    return tuple(res)


class BareCtx:
    """A ctx for calling an op's array forward or backward directly, outside the graph:
    saving is a no-op and attributes (``meta`` ...) are set freely."""

    needs_input_grad = ()

    def __init__(self, **attrs):
        self.__dict__.update(attrs)

    def save_for_backward(self, *values):
        pass

    def mark_non_differentiable(self, *values):
        pass


def linear_op_backward_graph(args_of):
    """``backward_graph`` for an op that is linear in its one tensor input and whose backward
    reads only ``ctx.meta``: that backward (on arrays) is the transposed map, and the op's own
    forward, re-run with the arguments ``args_of(meta)``, is its adjoint."""
    def backward_graph(ctx, g):
        cls, meta = ctx._fn, ctx.meta
        bare, args = BareCtx(meta=meta), args_of(meta)

        def transposed(a):
            r = cls.backward(bare, a)
            return r[0] if type(r) is tuple else r
        return (linear_map(g, transposed, lambda a: cls.forward(BareCtx(), a, *args)),)
    return staticmethod(backward_graph)


class _NotTwiceDifferentiable(ArrayFunction):
    """The grad_fn of gradients computed, under ``create_graph=True``, by an op that has no
    ``backward_graph``: reaching it in a later backward is an error, never a silent zero."""

    _node_name = "NotImplemented"

    @classmethod
    def _backward_arrays(cls, ctx, grads):
        raise RuntimeError(f"the derivative of {ctx.op}'s backward is not implemented in flambeau: "
                           f"create_graph=True gradients that went through {ctx.op} cannot be differentiated "
                           "again (the op has no backward_graph; see docs/ARCHITECTURE.md, 'Double backward')")


def once_differentiable_result(node, grads, arrays):
    """Wrap the array gradients ``arrays`` of ``node`` as Tensors whose grad_fn refuses a further
    backward; they depend on the incoming ``grads`` and on the node's inputs."""
    edges = [_edge(g) for g in grads if g is not None and g._requires_grad]
    edges += [e for e in node._next if e is not None]
    if not edges:
        return tuple(None if a is None else _wrap(a) for a in arrays)
    n2 = Node(_NotTwiceDifferentiable)
    n2.op = node.name()
    n2._next = tuple(edges)
    n2.needs_input_grad = (True,) * len(edges)
    n2._input_meta = (None,) * len(edges)
    n2._n_outputs = len(arrays)
    n2._output_meta = [None if a is None else (np.shape(a), np.asarray(a).dtype) for a in arrays]
    return tuple(None if a is None else _wrap(np.asarray(a), n2, k) for k, a in enumerate(arrays))


def once_differentiable(fn):
    """``torch.autograd.function.once_differentiable``: the decorated ``backward`` runs on
    detached gradients under ``create_graph=True``; a second backward through it raises."""
    import functools

    @functools.wraps(fn)
    def wrapper(ctx, *grads):
        if not _STATE.enabled:
            return fn(ctx, *grads)
        prev = _STATE.enabled
        _STATE.enabled = False
        try:
            res = fn(ctx, *(None if g is None else g.detach() for g in grads))
        finally:
            _STATE.enabled = prev
        single = not isinstance(res, tuple)
        res = (res,) if single else res
        arrays = [None if r is None else (r._data if isinstance(r, Tensor) else np.asarray(r)) for r in res]
        out = once_differentiable_result(ctx, [g for g in grads if isinstance(g, Tensor)], arrays)
        return out[0] if single else out
    return wrapper
