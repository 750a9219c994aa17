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
            for counter, expected, what in sv:
                if counter[0] != expected:
                    raise RuntimeError(
                        "one of the variables needed for gradient computation has been modified by "
                        f"an inplace operation: [{_fmt_described(what)}], which is saved by {self.name()}, is at "
                        f"version {counter[0]}; expected version {expected} instead. Hint: clone the "
                        "tensor before modifying it in place, or do the in-place op out of place.")
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
            out_ids = {id(o): o for o in outs if isinstance(o, Tensor)}
            saved, versions = [], []
            for t in ctx._saved:
                if isinstance(t, Tensor):
                    versions.append((t._version, t._version[0], _describe(t)))
                    if id(t) in out_ids:
                        t = Tensor._make(t._data, t._version)
                saved.append(t)
            ctx._saved = tuple(saved)
            ctx._saved_versions = versions
        return tuple(outs) if is_tuple else outs[0]

    @classmethod
    def _backward_arrays(cls, ctx, grads):
        """Engine entry: arrays in, arrays out (wraps the Tensor-level user backward)."""
        meta = ctx._output_meta
        gts = []
        for g, m in zip(grads, meta):
            if g is None and ctx._materialize_grads and m is not None:
                g = np.zeros(m[0], dtype=m[1])
            gts.append(None if g is None else Tensor._make(g))
        res = cls.backward(ctx, *gts)
        if not isinstance(res, tuple):
            res = (res,)
        n_in = len(ctx._next)
        if len(res) < n_in or any(r is not None for r in res[n_in:]):
            raise RuntimeError(f"function {ctx.name()} returned an incorrect number of gradients "
                               f"(expected {n_in}, got {len(res)})")
        return tuple(None if r is None else (r._data if isinstance(r, Tensor) else np.asarray(r))
                     for r in res[:n_in])


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
                versions.append((a._version, a._version[0], _describe(a)))
            ctx._saved_versions = versions
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




def _describe(t):
    """What an error message will say about a saved tensor (formatted only if it is raised)."""
    return type(t).__name__, t._data.dtype, t._data.shape


def _fmt_described(d) -> str:
    name, dtype, shape = d
    return f"flambeau.{name} of dtype {dtype} and shape {list(shape)}"


def once_differentiable(fn):
    """Decorator accepted for PyTorch compatibility (double backward is not built here)."""
    return fn
