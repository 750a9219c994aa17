"""Recording one forward call as a list of ops.

While a trace records, the entry points every op goes through are wrapped, as the profiler
does: ``ArrayFunction.apply`` (flambeau's own ops: each call becomes one :class:`OpRecord`),
``Function.apply`` (custom autograd Functions: the ops their forward runs are recorded, the
Function itself is inlined), and the two places where an in-place op writes into an existing
tensor without an op of its own (``ops.inplace._write`` and the ``add_``/``mul_`` fast path).
Stopping puts the originals back, so the normal op path never pays for the exporter.

Some ops make bool or index tensors straight from NumPy, without ``ArrayFunction.apply`` (they
have no gradient, and their hot path stays one ufunc call): comparisons, logical ops and
``argmax``/``argmin``. While a trace records, their public functions (wherever ``flambeau``,
``flambeau.ops`` and the op modules bind them) and the Tensor methods calling them are wrapped
too; each call becomes an :class:`OpRecord` whose ``cls`` is a marker class named after the op
(:class:`OutsideOp`). Other bindings (an op module calling one of them internally) are not
wrapped: what they compute stays a constant, which the exporter checks as before.

Values are identified by the Tensor objects flowing between ops (and, as a fallback, by their
arrays: ``detach()`` shares the array). A tensor that no recorded op produced is a parameter or
buffer of the model (named by its state_dict name), a graph input, or a constant captured from
the forward code.

Writes the trace cannot see. A value is tied to the tensor that holds it, so a write into that
tensor's memory by any other route leaves the graph reading the old value: an in-place op on a
view (it rebinds the view, not its base), ``__setitem__``, ``fill_``/``zero_``/``copy_`` without
grad (they write the array directly), a write through ``.numpy()``. Every value therefore keeps a
copy of its array as it was made (inputs and parameters: as first read), and each time a value is
read again, by an op or as a forward output, the tensor's array must still equal that copy
(exactly; NaNs equal) or the export is refused. A write nothing reads afterwards is harmless and
passes. The cost is one copy of every value and one comparison per read.
"""
from __future__ import annotations

import importlib

import numpy as np

from .. import ops as _ops
from .._tensor import Tensor
from ..autograd.function import ArrayFunction, Function
from ._errors import OnnxExporterError

# the module (flambeau.ops re-exports its function ``inplace`` under the same name)
_inplace_mod = importlib.import_module("..ops.inplace", __package__)

active = None   # the Trace now recording, or None

# the entry points as they were when the trace started (a profiler may have wrapped them: its
# wrappers then keep timing the ops, and are what stop() puts back)
_ORIGINALS = {}
_BASE = {"Function.apply": Function.__dict__["apply"], "ArrayFunction.apply": ArrayFunction.__dict__["apply"],
         "inplace._write": _inplace_mod._write, "ops.ufunc_inplace": _ops.ufunc_inplace}


def _orig(key):
    return _ORIGINALS.get(key) or _BASE[key]


class Ref:
    """An op argument that is a traced value (``vid`` indexes ``Trace.values``)."""

    __slots__ = ("vid",)

    def __init__(self, vid):
        self.vid = vid

    def __repr__(self):
        return f"Ref({self.vid})"


class Value:
    """What the trace knows of one value: ``kind`` is 'input', 'param', 'const' or 'op'.
    ``array``: its contents (inputs, parameters, constants: a copy taken when first read);
    ``made_by``: the index in ``Trace.ops`` of the op that made it (None: not an op's)."""

    __slots__ = ("array", "dtype", "kind", "made_by", "name", "shape", "vid")

    def __init__(self, vid, kind, shape, dtype, name=None, array=None, made_by=None):
        self.vid, self.kind, self.name, self.made_by = vid, kind, name, made_by
        self.shape, self.dtype, self.array = tuple(shape), np.dtype(dtype), array


class OpRecord:
    """One op call: its class, resolved arguments, output value ids and module path."""

    __slots__ = ("args", "cls", "kwargs", "outputs", "scope")

    def __init__(self, cls, args, kwargs, outputs, scope):
        self.cls, self.args, self.kwargs, self.outputs, self.scope = cls, args, kwargs, outputs, scope


class OutsideOp:
    """The ``cls`` of a record of an op computed outside ``ArrayFunction.apply`` (see above)."""


def _outside(name, doc):
    return type(name, (OutsideOp,), {"__doc__": doc, "__module__": __name__})


Eq, Ne, Lt, Le, Gt, Ge = (_outside(n, f"``torch.{n.lower()}``: args (input, other, common dtype)")
                          for n in ("Eq", "Ne", "Lt", "Le", "Gt", "Ge"))
LogicalAnd, LogicalOr, LogicalXor = (_outside(n, "args (input, other) as bool") for n in
                                     ("LogicalAnd", "LogicalOr", "LogicalXor"))
LogicalNot = _outside("LogicalNot", "args (input,) as bool")
Argmax, Argmin = (_outside(n, "args (input, axis or None: flattened, keepdim)") for n in ("Argmax", "Argmin"))


class TraceError(OnnxExporterError):
    """Something in forward that the trace cannot follow."""


class Trace:
    def __init__(self, params, check_writes=True):
        """``params``: ``{name: Tensor}`` of the model's parameters and buffers; ``check_writes``:
        whether values read again are checked for writes the trace did not see (see above)."""
        self.values = []
        self.ops = []
        self.scope = []                 # dotted paths of the modules running, innermost last
        self._by_tensor = {}            # id(Tensor) -> vid
        self._by_array = {}             # id(ndarray) -> vid
        self._keep = []                 # what the ids above refer to stays alive while tracing
        self._depth = 0
        self._params = {}
        for name, t in params.items():
            if id(t) in self._params:
                continue                # a shared parameter keeps its first name
            self._params[id(t)] = (name, t)
            self._params.setdefault(id(t._data), (name, t))
        self._param_vid = {}
        self.raw = []                   # (array, op index) of the plain arrays ops were given
        self._snap = {} if check_writes else None   # vid -> an op output's array as made (a copy)
        self.reader = None              # the op class whose arguments are being resolved

    # -- values ---------------------------------------------------------------------------
    def _new(self, kind, arr, name=None, keep=None):
        # inputs and parameters are copied: the graph takes their values as first read, and a
        # later write into them (a buffer updated in forward) is checked against the copy
        if kind in ("param", "input"):
            arr = np.array(arr, copy=True)
        v = Value(len(self.values), kind, np.shape(arr), getattr(arr, "dtype", np.float32), name,
                  arr if kind in ("param", "const", "input") else None,
                  len(self.ops) if kind == "op" else None)
        self.values.append(v)
        if keep is not None:
            self._keep.append(keep)
        return v.vid

    def _check(self, vid, arr):
        """``arr``, read as value ``vid``, must still hold what that value held when made."""
        if self._snap is None:
            return
        v = self.values[vid]
        snap = v.array if v.array is not None else self._snap.get(vid)
        if snap is None or _same(arr, snap):
            return
        made = ""
        if v.made_by is not None and v.made_by < len(self.ops):
            op = self.ops[v.made_by]
            made = f" made by op {op.cls.__name__}" + (f" in module '{op.scope}'" if op.scope else "")
        elif v.kind == "param":
            made = f" (parameter or buffer '{v.name}')"
        elif v.kind == "input":
            made = " (a graph input)"
        reader = f"op {self.reader.__name__}" if self.reader is not None else "the forward's return"
        where = f"read again in module '{self.path()}'" if self.path() else "read again in the root module"
        raise TraceError(
            f"flambeau.onnx.export: the model writes in place into a view or through indexing ({where}), "
            f"which the tracer cannot express: a tensor of shape {list(v.shape)}{made} was changed by a write "
            f"no traced op made (an in-place op on a view of it, __setitem__, fill_/zero_/copy_ without grad, "
            f"a write through .numpy() or .data), then read again by {reader}; the graph would use its old "
            "value. Write it out of place, e.g. with torch.cat or torch.where (or clone() the view and "
            "rebuild the tensor from it)")

    def _bind(self, t, vid):
        self._by_tensor[id(t)] = vid
        self._by_array[id(t._data)] = vid
        self._keep.append(t)

    def add_input(self, t, name):
        vid = self._new("input", t._data, name)
        self._bind(t, vid)
        return vid

    def known(self, t):
        return id(t) in self._by_tensor or id(t._data) in self._by_array

    def _param(self, key):
        name, t = self._params[key]
        vid = self._param_vid.get(name)
        if vid is None:
            vid = self._param_vid[name] = self._new("param", t._data, name)
        return vid

    def resolve(self, a, nested=True):
        """An op argument as the exporter sees it: Tensors (and arrays that are traced values or
        parameters) become :class:`Ref`; other arrays are kept as they are (constants)."""
        if isinstance(a, Tensor):
            vid = self._by_tensor.get(id(a))
            if vid is None:
                vid = self._by_array.get(id(a._data))
            if vid is None and (id(a) in self._params or id(a._data) in self._params):
                vid = self._param(id(a) if id(a) in self._params else id(a._data))
            if vid is None:                 # a tensor made inside forward: a constant
                vid = self._new("const", a._data.copy())
                self._bind(a, vid)
            else:
                self._check(vid, a._data)
            return Ref(vid)
        if isinstance(a, np.ndarray):
            vid = self._by_array.get(id(a))
            if vid is None and id(a) in self._params:
                vid = self._param(id(a))
            if vid is not None:
                self._check(vid, a)
            if vid is None and a.dtype.kind in "iub":
                vid = self._input_copy(a)
            if vid is not None:
                return Ref(vid)
            a = a.copy()                    # a constant argument (the op about to be recorded)
            self.raw.append((a, len(self.ops)))
            return a
        if nested and isinstance(a, (tuple, list)) and any(isinstance(x, (Tensor, np.ndarray)) for x in a):
            return type(a)(self.resolve(x, False) for x in a)
        return a

    def _input_copy(self, a):
        """The graph input an integer array argument is a copy of (embedding indices cast to
        int64), or None."""
        for v in self.values:
            if v.kind == "input" and v.shape == a.shape and v.dtype.kind in "iub" and np.array_equal(v.array, a):
                return v.vid
        return None

    # -- recording ------------------------------------------------------------------------
    def record(self, cls, args, kwargs, out):
        outs = out if type(out) is tuple else (out,)
        vids = []
        for o in outs:
            if isinstance(o, Tensor):
                vid = self._new("op", o._data)
                if self._snap is not None:
                    self._snap[vid] = o._data.copy()
                self._bind(o, vid)
                vids.append(vid)
            else:
                vids.append(None)
        self.ops.append(OpRecord(cls, args, kwargs, vids, self.path()))

    def path(self):
        """The dotted path of the innermost module running ('' for the root)."""
        return self.scope[-1] if self.scope else ""

    def wrote(self, t, arr):
        """``t`` now holds ``arr`` (an in-place op's result): later uses of ``t`` read that value."""
        vid = self._by_array.get(id(arr))
        if vid is None:
            raise TraceError(f"flambeau.onnx.export: an in-place write into a tensor of shape {list(t.shape)} "
                             "came from a computation outside flambeau's ops; it cannot be traced"
                             + _where(self))
        self._by_tensor[id(t)] = vid
        self._by_array[id(t._data)] = vid
        self._keep.append(t)

    def output(self, t):
        """The vid of a forward output."""
        self.reader = None
        return self.resolve(t).vid


def _same(arr, snap):
    """Whether ``arr`` still holds ``snap`` (NaNs equal). An in-place op's result may have been
    cast or broadcast when written into its tensor, so ``snap`` is compared as so written."""
    if arr.shape != snap.shape or arr.dtype != snap.dtype:
        try:
            with np.errstate(invalid="ignore", over="ignore"):
                snap = np.broadcast_to(snap, arr.shape).astype(arr.dtype)
        except (ValueError, TypeError):
            return False
    if np.array_equal(arr, snap):
        return True
    return arr.dtype.kind in "fc" and np.array_equal(arr, snap, equal_nan=True)


def _where(trace):
    path = trace.path()
    return f" (in module '{path}')" if path else ""


# ---------------------------------------------------------------------------- the wrappers
def _traced_array_apply(cls, *args, **kwargs):
    tr = active
    orig = _orig("ArrayFunction.apply").__func__
    if tr is None or tr._depth:     # not tracing, or an op called from inside another op
        return orig(cls, *args, **kwargs)
    tr.reader = cls
    rargs = [tr.resolve(a) for a in args]
    rkw = {k: tr.resolve(v) for k, v in kwargs.items()}
    tr._depth += 1
    try:
        out = orig(cls, *args, **kwargs)
    finally:
        tr._depth -= 1
    tr.record(cls, rargs, rkw, out)
    return out


def _traced_function_apply(cls, *args, **kwargs):
    tr = active
    orig = _orig("Function.apply").__func__
    out = orig(cls, *args, **kwargs)
    if tr is None or tr._depth:
        return out
    # the Function is inlined: its forward's ops were recorded; an output none of them made
    # was computed outside flambeau's ops and cannot be exported
    for o in (out if isinstance(out, tuple) else (out,)):
        if isinstance(o, Tensor) and not tr.known(o):
            raise TraceError(f"flambeau.onnx.export: no ONNX conversion for autograd.Function "
                             f"{cls.__name__}: its forward computes its output outside flambeau's ops"
                             + _where(tr))
    return out


def _traced_write(t, arr, op_name="in-place op"):
    _orig("inplace._write")(t, arr, op_name)
    if active is not None:
        active.wrote(t, arr)


_UFUNC_OPS = {np.add: "add", np.subtract: "sub", np.multiply: "mul", np.true_divide: "div"}


def _traced_ufunc_inplace(t, ufunc, other, op):
    """``t op= other`` as the out-of-place op (recorded) written back into ``t``."""
    if active is None or ufunc not in _UFUNC_OPS:
        return _orig("ops.ufunc_inplace")(t, ufunc, other, op)
    r = getattr(_ops, _UFUNC_OPS[ufunc])(t, other)
    _inplace_mod._write(t, r._data, op)
    return t


# ---------------------------------------------------------------------------- ops outside apply
def _binary_args(input, other, *, out=None):
    from .._dtype import result_type
    return [input, other, result_type(input, other).np]


def _bool_binary_args(input, other, *args, **kwargs):
    # the bitwise ops are logical ones on bools (mask & mask); on integers they stay untraced
    kinds = {np.asarray(a._data if isinstance(a, Tensor) else a).dtype.kind for a in (input, other)}
    return [input, other] if kinds == {"b"} else None


def _unary_args(input, *args, **kwargs):
    if np.asarray(input._data if isinstance(input, Tensor) else input).dtype.kind != "b":
        return None
    return [input]


def _arg_args(input, dim=None, keepdim=False):
    nd = input._data.ndim
    return [input, None if dim is None else (int(dim) % nd if nd else 0), bool(keepdim)]


# function name -> (marker class, what its record's args are: a list, or None to leave a call
# unrecorded)
_OUTSIDE = {
    "eq": (Eq, _binary_args), "ne": (Ne, _binary_args), "lt": (Lt, _binary_args), "le": (Le, _binary_args),
    "gt": (Gt, _binary_args), "ge": (Ge, _binary_args),
    "logical_and": (LogicalAnd, lambda a, b, **k: [a, b]), "logical_or": (LogicalOr, lambda a, b, **k: [a, b]),
    "logical_xor": (LogicalXor, lambda a, b, **k: [a, b]), "logical_not": (LogicalNot, lambda a, **k: [a]),
    "bitwise_and": (LogicalAnd, _bool_binary_args), "bitwise_or": (LogicalOr, _bool_binary_args),
    "bitwise_xor": (LogicalXor, _bool_binary_args), "bitwise_not": (LogicalNot, _unary_args),
    "argmax": (Argmax, _arg_args), "argmin": (Argmin, _arg_args),
}


def _traced_outside(fn, cls, args_of):
    def traced(*args, **kwargs):
        out = fn(*args, **kwargs)
        tr = active
        if tr is None or tr._depth or kwargs.get("out") is not None or not isinstance(out, Tensor):
            return out
        rargs = args_of(*args, **kwargs)
        if rargs is not None:
            tr.reader = cls
            tr.record(cls, [tr.resolve(a) for a in rargs], {}, out)
        return out
    traced.__name__, traced.__doc__, traced.__wrapped__ = fn.__name__, fn.__doc__, fn
    return traced


def _outside_bindings():
    """(owner, attribute name, wrapper) for every binding of the functions in ``_OUTSIDE``: the
    public modules' names and aliases (``greater`` is ``gt``), and the Tensor methods calling them
    (``x.gt(0)``; ``x > 0`` calls ``flambeau.ops.gt``)."""
    import flambeau
    owners = [flambeau, _ops, importlib.import_module("..ops.elementwise", __package__),
              importlib.import_module("..ops.reduce", __package__)]
    out = []
    for name, (cls, args_of) in _OUTSIDE.items():
        fn = getattr(_ops, name)
        traced = _traced_outside(fn, cls, args_of)
        for owner in owners:
            out += [(owner, k, traced) for k, v in list(vars(owner).items()) if v is fn]
        out += [(Tensor, k, _traced_method(traced, v)) for k, v in list(vars(Tensor).items()) if _calls(v, fn)]
    return out


def _calls(method, fn):
    """Whether ``method`` is a wrapper closing over ``fn`` (the Tensor methods _tensor_methods makes)."""
    for cell in getattr(method, "__closure__", None) or ():
        try:
            if cell.cell_contents is fn:
                return True
        except ValueError:              # an empty cell
            pass
    return False


def _traced_method(traced, method):
    def m(self, *args, **kwargs):
        return traced(self, *args, **kwargs)
    m.__name__, m.__doc__ = method.__name__, method.__doc__
    return m


_OUTSIDE_SAVED = []     # (owner, name, original) while a trace records


def start(trace):
    global active
    if active is not None:
        raise RuntimeError("flambeau.onnx.export: an export is already tracing (exports do not nest)")
    _ORIGINALS.update({"Function.apply": Function.__dict__["apply"],
                       "ArrayFunction.apply": ArrayFunction.__dict__["apply"],
                       "inplace._write": _inplace_mod._write,
                       "ops.ufunc_inplace": _ops.ufunc_inplace})
    active = trace
    Function.apply = classmethod(_traced_function_apply)
    ArrayFunction.apply = classmethod(_traced_array_apply)
    _inplace_mod._write = _traced_write
    _ops.ufunc_inplace = _traced_ufunc_inplace
    for owner, name, traced in _outside_bindings():
        _OUTSIDE_SAVED.append((owner, name, vars(owner)[name]))
        setattr(owner, name, traced)


def stop():
    global active
    if not _ORIGINALS:
        return
    Function.apply = _ORIGINALS["Function.apply"]
    ArrayFunction.apply = _ORIGINALS["ArrayFunction.apply"]
    _inplace_mod._write = _ORIGINALS["inplace._write"]
    _ops.ufunc_inplace = _ORIGINALS["ops.ufunc_inplace"]
    while _OUTSIDE_SAVED:
        owner, name, orig = _OUTSIDE_SAVED.pop()
        setattr(owner, name, orig)
    _ORIGINALS.clear()
    active = None
