"""``flambeau.onnx.export``: trace, convert, check, write."""
from __future__ import annotations

import enum
import inspect
import os
import warnings

import numpy as np

from .. import _atomic
from .._tensor import Tensor
from ..autograd import grad_mode
from . import _convert, _trace
from ._errors import OnnxExporterError

_STATE = {"exporting": False}

# the opsets this exporter writes (LayerNormalization needs 17; Reduce* take axes as an input
# from 18 on; Gelu is a node of its own from 20 on)
MIN_OPSET, MAX_OPSET, DEFAULT_OPSET = 17, 20, 17
_IR_VERSION = {17: 8, 18: 8, 19: 9, 20: 9}     # the IR version each opset came with


class TrainingMode(enum.IntEnum):
    """``torch.onnx.TrainingMode``: which mode the model is traced in."""

    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


def is_in_onnx_export() -> bool:
    """True while :func:`export` runs the model's forward."""
    return _STATE["exporting"]


def _require_onnx():
    try:
        import onnx
    except ImportError as e:
        raise ImportError("flambeau.onnx.export needs the 'onnx' package, an optional dependency of flambeau: "
                          "install it with `pip install flambeau[onnx]` (or `pip install onnx`)") from e
    return onnx


def export(model, args=(), f=None, export_params=True, verbose=False, training=TrainingMode.EVAL,
           input_names=None, output_names=None, operator_export_type=None, opset_version=None,
           do_constant_folding=True, dynamic_axes=None, keep_initializers_as_inputs=None,
           custom_opsets=None, export_modules_as_functions=False, autograd_inlining=True, *,
           kwargs=None, dynamo=False, **unused):
    """Export ``model`` (an ``nn.Module`` or a function of Tensors) to the ONNX file ``f``.

    ``model(*args)`` is run once, traced, in eval mode and without gradients; see the package
    docstring for what tracing captures. Arguments follow ``torch.onnx.export``:

    * ``args``: a Tensor or a tuple of positional arguments (a trailing dict: keyword
      arguments, as does ``kwargs``). Tensor arguments become the graph inputs, positional
      ones first, in order; other values are frozen into the graph.
    * ``f``: a path (written atomically) or a binary file object.
    * ``export_params``: parameters and buffers as initializers named by their state_dict
      names (False: as graph inputs of those names).
    * ``input_names`` / ``output_names``: names of the graph inputs and outputs, in order.
      Default input names: the forward's parameter names; outputs: ``output`` (``output_0`` ...).
    * ``dynamic_axes``: ``{name: {dim: label}}`` or ``{name: [dims]}`` for inputs and outputs
      whose sizes vary (a batch dimension).
    * ``opset_version``: 17 (default) to 20.
    * ``training``: ``TrainingMode.EVAL`` (default) or ``PRESERVE`` for a model in eval mode;
      the model's modes are restored afterwards.

    Returns None. ``do_constant_folding``, ``operator_export_type`` and the other flags of
    ``torch.onnx.export`` are accepted; ONNX Runtime folds constants itself.
    """
    onnx = _require_onnx()
    if f is None:
        raise ValueError("flambeau.onnx.export: f (a path or a binary file object) is required")
    opset = DEFAULT_OPSET if opset_version is None else int(opset_version)
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"flambeau.onnx.export: opset_version {opset} is not supported; supported: "
                         f"{MIN_OPSET} to {MAX_OPSET}")
    pos, kw = _split_args(args, kwargs)
    mode = _training_mode(training)

    from ..nn import Module
    is_module = isinstance(model, Module)
    modes = {m: m.training for m in model.modules()} if is_module else {}
    if is_module and mode == TrainingMode.EVAL:
        model.train(False)
    try:
        if is_module and any(m.training for m in model.modules()):
            raise OnnxExporterError("flambeau.onnx.export: exporting a model in training mode is not supported "
                                    "(dropout and batch statistics would be frozen into the graph); use "
                                    "training=TrainingMode.EVAL")
        tr, in_vids, out_vids = _run_trace(model, pos, kw, is_module)
    finally:
        for m, was in modes.items():
            m.training = was

    names_in = _input_names(model, pos, kw, input_names)
    n_out = len(out_vids)
    names_out = list(output_names or [])
    if len(names_out) > n_out:
        raise ValueError(f"flambeau.onnx.export: {len(names_out)} output_names given for {n_out} outputs")
    names_out += ["output" if n_out == 1 else f"output_{i}" for i in range(len(names_out), n_out)]
    dyn = _dynamic_axes(dynamic_axes, names_in + names_out)

    model_proto = _build(onnx, tr, opset, in_vids, names_in, out_vids, names_out, dyn, export_params,
                         bool(keep_initializers_as_inputs))
    try:
        onnx.checker.check_model(model_proto)
    except Exception as e:
        raise OnnxExporterError(f"flambeau.onnx.export: the exported graph is not valid ONNX: {e}") from e
    if verbose:
        print(onnx.helper.printable_graph(model_proto.graph))
    data = model_proto.SerializeToString()
    if isinstance(f, (str, os.PathLike)):
        _atomic.write_bytes(os.fspath(f), data)
    else:
        f.write(data)


# ---------------------------------------------------------------------------- arguments
def _split_args(args, kwargs):
    if isinstance(args, Tensor):
        args = (args,)
    elif isinstance(args, list):
        args = tuple(args)
    elif not isinstance(args, tuple):
        args = (args,)
    kw = dict(kwargs or {})
    if args and isinstance(args[-1], dict):
        kw.update(args[-1])
        args = args[:-1]
    return args, kw


def _training_mode(training):
    if isinstance(training, bool):
        training = TrainingMode.TRAINING if training else TrainingMode.EVAL
    training = TrainingMode(int(training))
    if training == TrainingMode.TRAINING:
        raise OnnxExporterError("flambeau.onnx.export: training=TrainingMode.TRAINING is not supported (dropout "
                                "and batch statistics would be frozen into the graph); export in EVAL mode")
    return training


def _input_names(model, pos, kw, given):
    n = sum(isinstance(a, Tensor) for a in pos) + sum(isinstance(v, Tensor) for v in kw.values())
    names = list(given or [])
    if len(names) > n:
        raise ValueError(f"flambeau.onnx.export: {len(names)} input_names given for {n} tensor inputs")
    try:
        fwd = model.forward if hasattr(model, "forward") else model
        params = [p.name for p in inspect.signature(fwd).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    defaults = []
    for i, a in enumerate(pos):
        if isinstance(a, Tensor):
            defaults.append(params[i] if i < len(params) else ("input" if n == 1 else f"input_{len(defaults)}"))
    defaults += [k for k, v in kw.items() if isinstance(v, Tensor)]
    if len(set(defaults)) != len(defaults):
        defaults = ["input" if n == 1 else f"input_{i}" for i in range(n)]
    return names + defaults[len(names):]


def _dynamic_axes(dynamic_axes, known):
    out = {}
    for name, axes in (dynamic_axes or {}).items():
        if name not in known:
            warnings.warn(f"flambeau.onnx.export: dynamic_axes key {name!r} is not an input or output name "
                          f"({', '.join(known)}); ignored", UserWarning, stacklevel=3)
            continue
        if isinstance(axes, dict):
            out[name] = {int(d): str(label) for d, label in axes.items()}
        else:
            out[name] = {int(d): f"{name}_dynamic_axes_{i + 1}" for i, d in enumerate(axes)}
    return out


# ---------------------------------------------------------------------------- tracing
def _run_trace(model, pos, kw, is_module):
    """Trace ``model(*pos, **kw)``; then trace it again on the inputs' values shuffled: a
    constant that changes was computed from the inputs outside the recorded ops (``sort``
    indices, values taken through NumPy...) or drawn at random, and would be frozen into the graph."""
    from .. import random as _random
    rng_state = _random.get_rng_state()
    try:
        tr, in_vids, out_vids = _trace_once(model, pos, kw, is_module)
        consts = [v for v in tr.values if v.kind == "const"]
        if any(v.kind == "input" and v.array.size > 1 for v in tr.values) and (consts or tr.raw):
            rng = np.random.default_rng(0)
            shuffled = [a if not isinstance(a, Tensor) else _shuffled(a, rng) for a in pos]
            kw2 = {k: v if not isinstance(v, Tensor) else _shuffled(v, rng) for k, v in kw.items()}
            # the first trace has checked for writes it cannot see; this one only compares constants
            tr2 = _trace_once(model, shuffled, kw2, is_module, check_writes=False)[0]
            _check_constants(tr, tr2)
    finally:                            # exporting draws no random numbers of the caller's
        _random.set_rng_state(rng_state)
    return tr, in_vids, out_vids


def _shuffled(t, rng):
    a = t._data
    return Tensor._make(rng.permutation(a.reshape(-1)).reshape(a.shape))


def _check_constants(tr, tr2):
    c1 = [v for v in tr.values if v.kind == "const"]
    c2 = [v for v in tr2.values if v.kind == "const"]
    if [op.cls for op in tr.ops] != [op.cls for op in tr2.ops] or len(c1) != len(c2) or len(tr.raw) != len(tr2.raw):
        warnings.warn("flambeau.onnx.export: the ops forward runs change with the input values (Python control "
                      "flow on tensor values); the graph follows the path taken on the example inputs",
                      UserWarning, stacklevel=4)
        return
    pairs = [(a.array, b.array, next((op for op in tr.ops if any(isinstance(r, _trace.Ref) and r.vid == a.vid
                                                                 for r in op.args)), None)) for a, b in zip(c1, c2)]
    pairs += [(a, b, tr.ops[k] if k < len(tr.ops) else None) for (a, k), (b, _) in zip(tr.raw, tr2.raw)]
    for a, b, op in pairs:
        if a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"):
            continue
        where = f" (used by op {op.cls.__name__} in module '{op.scope}')" if op is not None and op.scope else \
            (f" (used by op {op.cls.__name__})" if op is not None else "")
        raise OnnxExporterError(
            f"flambeau.onnx.export: a tensor of shape {list(a.shape)} computed in forward{where} depends on the "
            "input values (or on random numbers) but no traceable op made it: sorting indices, integer bitwise "
            "ops, values taken through NumPy or .item() and comparisons or argmax called inside flambeau's own "
            "op modules are computed outside the recorded ops and would be frozen into the graph as a constant")


def _trace_once(model, pos, kw, is_module, check_writes=True):
    params = {}
    if is_module:
        params.update(dict(model.named_parameters()))
        params.update(dict(model.named_buffers()))
    tr = _trace.Trace(params, check_writes)
    # graph inputs: the Tensor arguments, positional ones first, then keyword ones
    tensors = [a for a in pos if isinstance(a, Tensor)] + [v for v in kw.values() if isinstance(v, Tensor)]
    in_vids = [tr.add_input(a, None) for a in tensors]
    hooks = _scope_hooks(model, tr) if is_module else []
    _trace.start(tr)
    _STATE["exporting"] = True
    prev = grad_mode.state.enabled
    grad_mode.state.enabled = False
    try:
        out = model(*pos, **kw)
    finally:
        grad_mode.state.enabled = prev
        _STATE["exporting"] = False
        _trace.stop()
        for h in hooks:
            h.remove()
    outs = _flatten_outputs(out)
    return tr, in_vids, [tr.output(o) for o in outs]


def _scope_hooks(model, tr):
    """Forward hooks keeping ``tr.scope`` the path of the module running (node names, errors)."""
    hooks = []
    for name, m in model.named_modules():
        def pre(mod, args, _name=name):
            tr.scope.append(_name)

        def post(mod, args, output):
            if tr.scope:
                tr.scope.pop()
        hooks.append(m.register_forward_pre_hook(pre))
        hooks.append(m.register_forward_hook(post))
    return hooks


def _flatten_outputs(out):
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flatten_outputs(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _flatten_outputs(o)]
    raise OnnxExporterError(f"flambeau.onnx.export: the model returned {type(out).__name__}; expected Tensors "
                            "(alone, or in tuples, lists or dicts)")


# ---------------------------------------------------------------------------- the model
def _build(onnx, tr, opset, in_vids, names_in, out_vids, names_out, dyn, export_params, keep_inits_as_inputs):
    helper, nph = onnx.helper, onnx.numpy_helper
    g = _convert.Graph(onnx, opset, tr)
    for vid, name in zip(in_vids, names_in):
        g.names[vid] = name
    params = [v for v in tr.values if v.kind == "param"]
    for v in params:
        g.names[v.vid] = v.name
    _convert.convert(g, tr.ops)

    # name the outputs: the producing node's output is renamed; an output that is an input,
    # a parameter, a constant or already an output goes through an Identity
    rename, taken = {}, set(names_in)
    produced = {o for n in g.nodes for o in n.output}
    for vid, name in zip(out_vids, names_out):
        src = g.value(_trace.Ref(vid))
        if src in produced and src not in rename:
            rename[src] = name
        else:
            g.nodes.append(helper.make_node("Identity", [rename.get(src, src)], [name], name=f"/Identity_{name}"))
        taken.add(name)
    if rename:
        for n in g.nodes:
            n.input[:] = [rename.get(i, i) for i in n.input]
            n.output[:] = [rename.get(o, o) for o in n.output]

    def info(name, v):
        dims = dyn.get(name, {})
        shape = [dims.get(i, s) for i, s in enumerate(v.shape)]
        return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(v.dtype), shape)

    inputs = [info(name, tr.values[vid]) for vid, name in zip(in_vids, names_in)]
    outputs = [info(name, tr.values[vid]) for vid, name in zip(out_vids, names_out)]
    used = {i for n in g.nodes for i in n.input}
    initializers = []
    for v in params:
        if v.name not in used:
            continue
        if export_params:
            initializers.append(nph.from_array(np.asarray(v.array, order="C"), v.name))
            if keep_inits_as_inputs:
                inputs.append(info(v.name, v))
        else:
            inputs.append(info(v.name, v))
    # (np.asarray, not np.ascontiguousarray: that makes a 0-d constant 1-d)
    initializers += [nph.from_array(np.asarray(a, order="C"), name) for name, a in g.initializers.items()]
    graph = helper.make_graph(g.nodes, "main_graph", inputs, outputs, initializers)
    from .. import __version__
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="flambeau",
                              producer_version=__version__)
    model.ir_version = min(_IR_VERSION[opset], onnx.IR_VERSION)
    return model
