"""From recorded ops to ONNX nodes: one small builder function per flambeau op.

Each builder receives the :class:`Graph` being built and the :class:`~._trace.OpRecord`, emits
nodes with ``g.op(...)`` and returns the ONNX name(s) of the op's output(s). Arguments that are
traced values arrive as ``Ref``; shapes and dtypes are those seen during the trace.
"""
from __future__ import annotations

import importlib
import math

import numpy as np

from ..autograd.function import ArrayFunction
from ..nn import functional as _F
from . import _trace as _tr
from ._errors import OnnxExporterError, UnsupportedOperatorError
from ._trace import Ref


def _ops_module(name):
    # by import path: flambeau.ops re-exports functions under some module names (norm, ...)
    return importlib.import_module(f"..ops.{name}", __package__)


_act, _conv, _ew, _idx, _la, _norm, _pool, _red, _shape = (_ops_module(n) for n in (
    "activation", "conv", "elementwise", "indexing", "linalg", "norm", "pool", "reduce", "shape"))

_INT64_MAX = 2 ** 63 - 1
_INT64_MIN = -2 ** 63


class Graph:
    """The nodes and initializers being built, and the ONNX name of every traced value."""

    def __init__(self, onnx, opset, trace):
        self.onnx, self.helper, self.opset, self.trace = onnx, onnx.helper, opset, trace
        self.nodes = []
        self.initializers = {}          # name -> numpy array
        self.names = {}                 # vid -> ONNX name
        self.scope = ""
        self._node_counts = {}
        self._const_count = 0

    # -- names ----------------------------------------------------------------------------
    def value(self, a):
        """The ONNX name of an op input: a traced value, an ONNX name, or a constant."""
        if a is None:
            return ""
        if isinstance(a, str):
            return a
        if isinstance(a, Ref):
            name = self.names.get(a.vid)
            if name is None and self.trace.values[a.vid].kind == "op":
                raise OnnxExporterError("flambeau.onnx.export: an op output with no ONNX conversion is used "
                                        "(the indices of adaptive max pooling)")
            if name is None:            # a constant captured during the trace
                name = self.names[a.vid] = self.const(self.trace.values[a.vid].array)
            return name
        return self.const(np.asarray(a))

    def shape(self, a):
        return self.trace.values[a.vid].shape if isinstance(a, Ref) else np.shape(a)

    def dtype(self, a):
        return self.trace.values[a.vid].dtype if isinstance(a, Ref) else np.asarray(a).dtype

    def const(self, arr, hint="Constant"):
        name = f"onnx::{hint}_{self._const_count}"
        self._const_count += 1
        self.initializers[name] = np.asarray(arr)
        return name

    def ints(self, values):
        return self.const(np.asarray(list(values), np.int64))

    def scalar(self, v, dtype):
        return self.const(np.asarray(v, dtype=dtype))

    # -- nodes ----------------------------------------------------------------------------
    def op(self, op_type, inputs, n_out=1, **attrs):
        base = ("/" + self.scope.replace(".", "/") if self.scope else "") + "/" + op_type
        k = self._node_counts.get(base, 0)
        self._node_counts[base] = k + 1
        name = base if k == 0 else f"{base}_{k}"
        outs = [f"{name}_output_{i}" for i in range(n_out)]
        ins = [self.value(i) for i in inputs]
        while ins and ins[-1] == "":
            ins.pop()
        self.nodes.append(self.helper.make_node(op_type, ins, outs, name=name,
                                                **{k: v for k, v in attrs.items() if v is not None}))
        return outs[0] if n_out == 1 else outs

    def reduce(self, op_type, x, axes, keepdims):
        """A Reduce* node: axes as an input from opset 18 on (ReduceSum: from 13)."""
        axes = [int(a) for a in axes]
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.op(op_type, [x, self.ints(axes)], keepdims=int(keepdims))
        return self.op(op_type, [x], axes=axes, keepdims=int(keepdims))


    def as_dtype(self, a, dt):
        """An op input in dtype ``dt``: a traced value of another dtype is cast, a number or an
        array becomes a constant of that dtype."""
        dt = np.dtype(dt)
        if not isinstance(a, Ref):
            return self.const(np.asarray(a).astype(dt))
        if self.dtype(a) == dt:
            return a
        return self.op("Cast", [a], to=self.helper.np_dtype_to_tensor_dtype(dt))


# ---------------------------------------------------------------------------- elementwise
def _binary(op_type):
    def convert(g, op):
        return g.op(op_type, op.args[:2])
    convert.__name__ = op_type.lower()
    return convert


def _unary(op_type):
    def convert(g, op):
        return g.op(op_type, op.args[:1])
    convert.__name__ = op_type.lower()
    return convert


def rsub(g, op):
    x, s = op.args
    return g.op("Sub", [s, x])


def rsqrt(g, op):
    return g.op("Reciprocal", [g.op("Sqrt", op.args[:1])])


def square(g, op):
    x = op.args[0]
    return g.op("Mul", [x, x])


def pow_scalar(g, op):
    x, p = op.args[:2]
    return g.op("Pow", [x, g.scalar(p, g.dtype(x))])


def clamp(g, op):
    x, lo, hi = op.args[:3]
    dt = g.dtype(x)
    return g.op("Clip", [x, None if lo is None else g.scalar(lo, dt), None if hi is None else g.scalar(hi, dt)])


def where(g, op):
    return g.op("Where", op.args[:3])


def masked_fill(g, op):
    x, mask, value = op.args[:3]
    return g.op("Where", [mask, value, x])


# ---------------------------------------------------------------------------- comparisons, logic
def _compare(op_type, negate=False):
    """eq/ne/lt/le/gt/ge, both sides in the dtype PyTorch compares them in (ne: Not of Equal)."""
    def convert(g, op):
        a, b, dt = op.args[:3]
        y = g.op(op_type, [g.as_dtype(a, dt), g.as_dtype(b, dt)])
        return g.op("Not", [y]) if negate else y
    convert.__name__ = op_type.lower()
    return convert


def _logical(op_type):
    """logical_and/or/xor/not (and the bitwise ones on bools): inputs read as bools, as NumPy
    does (nonzero is True)."""
    def convert(g, op):
        return g.op(op_type, [g.as_dtype(a, np.bool_) for a in op.args])
    convert.__name__ = op_type.lower()
    return convert


def clone(g, op):
    return g.op("Identity", op.args[:1])


def to_dtype(g, op):
    x, dt = op.args[:2]
    return g.op("Cast", [x], to=g.helper.np_dtype_to_tensor_dtype(np.dtype(dt)))


# ---------------------------------------------------------------------------- activations
def leaky_relu(g, op):
    x, slope = op.args[:2]
    return g.op("LeakyRelu", [x], alpha=float(slope))


def gelu(g, op):
    x, approximate = op.args[:2]
    if g.opset >= 20:
        return g.op("Gelu", [x], approximate=str(approximate))
    dt = g.dtype(x)
    half = g.op("Mul", [x, g.scalar(0.5, dt)])
    if approximate == "tanh":   # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = g.op("Mul", [g.op("Mul", [x, x]), x])
        inner = g.op("Add", [x, g.op("Mul", [cube, g.scalar(0.044715, dt)])])
        t = g.op("Tanh", [g.op("Mul", [inner, g.scalar(math.sqrt(2.0 / math.pi), dt)])])
    else:                       # 0.5 x (1 + erf(x / sqrt(2)))
        t = g.op("Erf", [g.op("Div", [x, g.scalar(math.sqrt(2.0), dt)])])
    return g.op("Mul", [half, g.op("Add", [t, g.scalar(1.0, dt)])])


def silu(g, op):
    x = op.args[0]
    return g.op("Mul", [x, g.op("Sigmoid", [x])])


def mish(g, op):
    x = op.args[0]
    return g.op("Mul", [x, g.op("Tanh", [g.op("Softplus", [x])])])


def elu(g, op):
    x, alpha, scale, input_scale = op.args[:4]
    if scale == 1 and input_scale == 1:
        return g.op("Elu", [x], alpha=float(alpha))
    dt = g.dtype(x)             # scale * (x if x > 0 else alpha * (exp(input_scale * x) - 1))
    neg = g.op("Mul", [g.op("Sub", [g.op("Exp", [g.op("Mul", [x, g.scalar(input_scale, dt)])]),
                                    g.scalar(1.0, dt)]), g.scalar(alpha, dt)])
    pos = g.op("Greater", [x, g.scalar(0.0, dt)])
    return g.op("Mul", [g.op("Where", [pos, x, neg]), g.scalar(scale, dt)])


def hardtanh(g, op):
    x, lo, hi = op.args[:3]
    dt = g.dtype(x)
    return g.op("Clip", [x, g.scalar(lo, dt), g.scalar(hi, dt)])


def softplus(g, op):
    x, beta = op.args[:2]
    if beta == 1:
        return g.op("Softplus", [x])
    dt = g.dtype(x)
    return g.op("Div", [g.op("Softplus", [g.op("Mul", [x, g.scalar(beta, dt)])]), g.scalar(beta, dt)])


def hardsigmoid(g, op):
    return g.op("HardSigmoid", op.args[:1], alpha=1.0 / 6.0, beta=0.5)


def log_sigmoid(g, op):
    return g.op("Neg", [g.op("Softplus", [g.op("Neg", op.args[:1])])])


def softmax(g, op):
    x, axis = op.args[:2]
    return g.op("Softmax", [x], axis=int(axis))


def log_softmax(g, op):
    x, axis = op.args[:2]
    return g.op("LogSoftmax", [x], axis=int(axis))


# ---------------------------------------------------------------------------- linear algebra
def linear(g, op):
    x, w = op.args[:2]
    b = op.args[2] if len(op.args) > 2 else None
    if len(g.shape(x)) == 2:
        return g.op("Gemm", [x, w, b], transB=1)
    y = g.op("MatMul", [x, g.op("Transpose", [w], perm=[1, 0])])
    return y if b is None else g.op("Add", [y, b])


def matmul(g, op):
    return g.op("MatMul", op.args[:2])


def einsum(g, op):
    return g.op("Einsum", op.args[1:], equation=str(op.args[0]).replace(" ", ""))


# ---------------------------------------------------------------------------- convolutions
def conv_nd(g, op):
    x, w, b, (stride, pad_lo, dil, groups, out) = op.args[:4]
    ins, k = g.shape(x)[2:], g.shape(w)[2:]
    # the high padding that gives the traced output size (any input beyond it is unused)
    pad_hi = [max((o - 1) * s + d * (kk - 1) + 1 - n - lo, 0)
              for o, s, d, kk, n, lo in zip(out, stride, dil, k, ins, pad_lo)]
    return g.op("Conv", [x, w, b], kernel_shape=list(k), strides=list(stride), dilations=list(dil),
                pads=list(pad_lo) + pad_hi, group=int(groups))


def conv_transpose_nd(g, op):
    x, w, b, (stride, padding, dil, groups, out) = op.args[:4]
    ins, k = g.shape(x)[2:], g.shape(w)[2:]
    out_pad = [o - ((n - 1) * s - 2 * p + d * (kk - 1) + 1)
               for o, n, s, p, d, kk in zip(out, ins, stride, padding, dil, k)]
    return g.op("ConvTranspose", [x, w, b], kernel_shape=list(k), strides=list(stride), dilations=list(dil),
                pads=list(padding) * 2, output_padding=out_pad, group=int(groups))


# ---------------------------------------------------------------------------- normalisation
def batch_norm(g, op):
    x, w, b, stats, eps = op.args[:5]
    if stats is None:
        raise OnnxExporterError("flambeau.onnx.export: batch norm with batch statistics (training mode) cannot "
                                "be exported; export the model in eval mode" + _in(op))
    C, dt = g.shape(x)[1], g.dtype(x)
    w = w if w is not None else np.ones(C, dt)
    b = b if b is not None else np.zeros(C, dt)
    return g.op("BatchNormalization", [x, w, b, stats[0], stats[1]], epsilon=float(eps))


def layer_norm(g, op):
    x, w, b, axes, eps = op.args[:5]
    shape, dt = g.shape(x), g.dtype(x)
    if w is None:
        w = np.ones(shape[axes[0]:], dt)
    return g.op("LayerNormalization", [x, w, b], axis=int(axes[0]), epsilon=float(eps))


def group_norm(g, op):
    """Group norm (and instance norm, G = C). ONNX's GroupNormalization takes a per-group scale
    (opsets 18-20), not PyTorch's per-channel one, so: x reshaped to (N, G, -1), where
    InstanceNormalization with a unit scale and zero bias normalises each group's row; the
    input's shape back (read from the input: other batch sizes follow); then the per-channel
    affine map."""
    x, w, b, G, eps = op.args[:5]
    shape, dt = g.shape(x), g.dtype(x)
    y = g.op("Reshape", [x, g.ints([0, G, -1])])
    y = g.op("InstanceNormalization", [y, np.ones(G, dt), np.zeros(G, dt)], epsilon=float(eps))
    y = g.op("Reshape", [y, g.op("Shape", [x])])
    cshape = (shape[1],) + (1,) * (len(shape) - 2)
    if w is not None:
        y = g.op("Mul", [y, g.op("Reshape", [w, g.ints(cshape)])])
    if b is not None:
        y = g.op("Add", [y, g.op("Reshape", [b, g.ints(cshape)])])
    return y


# ---------------------------------------------------------------------------- pooling
def _batched(g, x, nd, build):
    """``build(x)`` on an (N, C, *spatial) input; an unbatched (C, *spatial) one gets N = 1."""
    if len(g.shape(x)) == nd + 2:
        return build(x)
    if len(g.shape(x)) != nd + 1:
        raise OnnxExporterError(f"flambeau.onnx.export: pooling over {nd} dims of an input of shape "
                                f"{list(g.shape(x))} has no ONNX equivalent")
    return g.op("Squeeze", [build(g.op("Unsqueeze", [x, g.ints([0])])), g.ints([0])])


def _ceil_mode(ins, k, s, p, d, out):
    floor = [(n + 2 * pp - dd * (kk - 1) - 1) // ss + 1 for n, kk, ss, pp, dd in zip(ins, k, s, p, d)]
    return int(any(o != f for o, f in zip(out, floor)))


def max_pool(g, op):
    x, k, s, p, d, out, want_idx = op.args[:7]
    if want_idx:
        raise OnnxExporterError("flambeau.onnx.export: max pooling with return_indices=True has no ONNX "
                                "conversion (ONNX's indices count over the whole tensor)" + _in(op))
    nd = len(k)
    ceil = _ceil_mode(g.shape(x)[-nd:], k, s, p, d, out)
    return _batched(g, x, nd, lambda y: g.op("MaxPool", [y], kernel_shape=list(k), strides=list(s),
                                             pads=list(p) * 2, dilations=list(d), ceil_mode=ceil))


def avg_pool(g, op):
    x, k, s, p, out, div = op.args[:6]
    nd = len(k)
    ins = g.shape(x)[-nd:]
    if tuple(k) == tuple(ins) and all(o == 1 for o in out) and not any(p):
        return _batched(g, x, nd, lambda y: g.op("GlobalAveragePool", [y]))
    ceil = _ceil_mode(ins, k, s, p, (1,) * nd, out)
    div = np.asarray(div)
    # ONNX Runtime's divisors: with count_include_pad=1 the window clipped to the padded input
    # (less than the kernel for ceil-mode edge windows), with 0 the window clipped to the input
    include = np.ones((1,) * nd, np.int64)
    exclude = np.ones((1,) * nd, np.int64)
    for a, (n, kk, ss, pp, o) in enumerate(zip(ins, k, s, p, out)):
        start = np.arange(o) * ss - pp
        end = np.minimum(start + kk, n + pp)
        include = include * (end - start).reshape((-1,) + (1,) * (nd - 1 - a))
        exclude = exclude * (np.minimum(end, n) - np.maximum(start, 0)).reshape((-1,) + (1,) * (nd - 1 - a))
    if np.all(div == include):
        mode, scale = 1, None
    elif np.all(div == exclude):
        mode, scale = 0, None
    else:                       # divisor_override: ONNX Runtime's window means rescaled to the divisor
        mode, scale = 1, (include / div.astype(np.float64)).astype(g.dtype(x))
    y = _batched(g, x, nd, lambda y: g.op("AveragePool", [y], kernel_shape=list(k), strides=list(s),
                                          pads=list(p) * 2, ceil_mode=ceil, count_include_pad=mode))
    return y if scale is None else g.op("Mul", [y, scale])


def adaptive_max(g, op):
    """Adaptive max pooling with equal windows (each input size a multiple of the output's)."""
    x, out = op.args[:2]
    nd = len(out)
    ins = g.shape(x)[-nd:]
    if all(o == 1 for o in out):
        return _batched(g, x, nd, lambda y: g.op("GlobalMaxPool", [y]))
    if any(n % o for n, o in zip(ins, out)):
        raise OnnxExporterError("flambeau.onnx.export: adaptive max pooling to a size that does not divide the "
                                "input size has no ONNX conversion" + _in(op))
    k = [n // o for n, o in zip(ins, out)]
    return _batched(g, x, nd, lambda y: g.op("MaxPool", [y], kernel_shape=k, strides=k))


def separable(g, op):
    """Adaptive average pooling and linear interpolation: one matrix per spatial axis."""
    x, mats = op.args[:2]
    nd = len(mats)
    if nd > 2:
        raise OnnxExporterError("flambeau.onnx.export: separable resampling over more than 2 dims has no "
                                "ONNX conversion" + _in(op))
    y = x
    for a, m in enumerate(mats):
        if m is None:
            continue
        m = np.asarray(m)
        if a == nd - 1:                         # the last axis: y @ m.T
            y = g.op("MatMul", [y, np.ascontiguousarray(m.T)])
        else:                                   # the one before: m @ y
            y = g.op("MatMul", [m, y])
    return y


def upsample_nearest(g, op):
    x, idxs = op.args[:2]
    rank, nd = len(g.shape(x)), len(idxs)
    y = x
    for a, ix in enumerate(idxs):
        y = g.op("Gather", [y, np.asarray(ix, np.int64)], axis=rank - nd + a)
    return y


# ---------------------------------------------------------------------------- reductions
def mean(g, op):
    x, axes, keepdim = op.args[:3]
    return g.reduce("ReduceMean", x, axes, keepdim)


def sum_(g, op):
    """ReduceSum in the accumulation dtype (bools and integers: int64, as the op sums them; ONNX
    has no ReduceSum of bools)."""
    x, axes, keepdim, dtype = op.args[:4]
    if dtype is not None:
        x = g.as_dtype(x, dtype)
    return g.reduce("ReduceSum", x, axes, keepdim)


def amax_amin(g, op):
    x, axes, keepdim, is_max = op.args[:4]
    if axes is None:            # the full max()/min()
        axes = range(len(g.shape(x)))
    return g.reduce("ReduceMax" if is_max else "ReduceMin", x, axes, keepdim)


def max_min_dim(g, op):
    """max/min along one dim: the values (ReduceMax/Min) and the first index of each (ArgMax/Min)."""
    x, axis, keepdim, is_max = op.args[:4]
    vals = g.reduce("ReduceMax" if is_max else "ReduceMin", x, [axis], keepdim)
    idx = g.op("ArgMax" if is_max else "ArgMin", [x], axis=int(axis), keepdims=int(keepdim), select_last_index=0)
    return [vals, idx]


def argmax_argmin(g, op):
    """argmax/argmin: the first index (select_last_index=0, as NumPy); no dim: of the flattened input."""
    x, axis, keepdim = op.args[:3]
    op_type, rank = ("ArgMax" if op.cls is _tr.Argmax else "ArgMin"), len(g.shape(x))
    if rank == 0:
        return g.op("Identity", [np.zeros((), np.int64)])
    if axis is not None:
        return g.op(op_type, [x], axis=int(axis), keepdims=int(keepdim), select_last_index=0)
    y = g.op(op_type, [g.op("Reshape", [x, g.ints([-1])])], axis=0, keepdims=0, select_last_index=0)
    return g.op("Reshape", [y, g.ints([1] * rank)]) if keepdim else y


def _var(g, x, axes, correction, keepdim):
    """The sum of squared deviations over ``axes`` divided by max(count - correction, 0), the
    count read from the input's shape (so it follows dynamic axes)."""
    dt = g.dtype(x)
    d = g.op("Sub", [x, g.reduce("ReduceMean", x, axes, True)])
    sq = g.op("Mul", [d, d])
    if correction == 0:
        return g.reduce("ReduceMean", sq, axes, keepdim)
    sizes = g.op("Cast", [g.op("Gather", [g.op("Shape", [x]), g.ints(axes)], axis=0)],
                 to=g.helper.np_dtype_to_tensor_dtype(dt))
    count = g.reduce("ReduceProd", sizes, [0], False)
    denom = g.op("Relu", [g.op("Sub", [count, g.scalar(correction, dt)])])
    return g.op("Div", [g.reduce("ReduceSum", sq, axes, keepdim), denom])


def var(g, op):
    x, axes, correction, keepdim = op.args[:4]
    return _var(g, x, axes, correction, keepdim)


def std(g, op):
    x, axes, correction, keepdim = op.args[:4]
    return g.op("Sqrt", [_var(g, x, axes, correction, keepdim)])


# ---------------------------------------------------------------------------- shapes
def reshape(g, op):
    x, shape = op.args[:2]
    ins, shape = tuple(g.shape(x)), tuple(int(s) for s in shape)
    if shape == ins:
        return g.op("Identity", [x])
    target = list(shape)
    # the leading dims the reshape keeps are copied (0) and the first one it changes is
    # inferred (-1): the same result here, and still valid for another batch size
    if 0 not in shape:
        lead = 0
        while lead < min(len(ins), len(shape)) and ins[lead] == shape[lead]:
            target[lead] = 0
            lead += 1
        if lead < len(shape):
            target[lead] = -1
    return g.op("Reshape", [x, g.ints(target)])


def permute(g, op):
    x, perm = op.args[:2]
    return g.op("Transpose", [x], perm=[int(p) for p in perm])


def expand(g, op):
    x, shape = op.args[:2]
    ins = (1,) * (len(shape) - len(g.shape(x))) + tuple(g.shape(x))
    # 1 where the input already has that size: Expand broadcasts, so the input's own size is kept
    return g.op("Expand", [x, g.ints(1 if n == s else s for n, s in zip(ins, shape))])


def slice_(g, op):
    """Basic indexing: ints, slices, None and Ellipsis."""
    x, index = op.args[:2]
    shape = g.shape(x)
    idx = index if isinstance(index, tuple) else (index,)
    used = sum(1 for i in idx if i is not None and i is not Ellipsis)
    if any(i is Ellipsis for i in idx):
        at = next(n for n, i in enumerate(idx) if i is Ellipsis)
        idx = idx[:at] + (slice(None),) * (len(shape) - used) + idx[at + 1:]
    starts, ends, axes, steps, squeeze, unsqueeze = [], [], [], [], [], []
    dim = out_pos = 0
    for it in idx:
        if it is None:
            unsqueeze.append(out_pos)
            out_pos += 1
            continue
        if dim >= len(shape):
            break
        n = shape[dim]
        if isinstance(it, slice):
            st, sp, step = it.indices(n)
            # bounds counted from the end stay negative: the same elements for another size of
            # that dim (dynamic_axes)
            from_end = [b is not None and -n <= b < 0 for b in (it.start, it.stop)]
            if not (st == 0 and sp == n and step == 1) or any(from_end):
                if step > 0 and sp >= n:
                    sp = _INT64_MAX
                elif step < 0 and sp < 0:
                    sp = _INT64_MIN
                st, sp = (int(it.start) if from_end[0] else st), (int(it.stop) if from_end[1] else sp)
                starts.append(st), ends.append(sp), axes.append(dim), steps.append(step)
            out_pos += 1
        elif isinstance(it, (int, np.integer)) and not isinstance(it, bool):
            i = int(it) if -n <= it < 0 else int(it) % n        # from the end: kept so, as above
            starts.append(i), ends.append(_INT64_MAX if i == -1 else i + 1), axes.append(dim), steps.append(1)
            squeeze.append(dim)
        else:
            raise OnnxExporterError(f"flambeau.onnx.export: indexing with {type(it).__name__} has no ONNX "
                                    "conversion" + _in(op))
        dim += 1
    y = x
    if starts:
        y = g.op("Slice", [y, g.ints(starts), g.ints(ends), g.ints(axes), g.ints(steps)])
    if squeeze:
        y = g.op("Squeeze", [y, g.ints(squeeze)])
    if unsqueeze:
        y = g.op("Unsqueeze", [y, g.ints(unsqueeze)])
    return y if y is not x else g.op("Identity", [x])


def split(g, op):
    x, axis, bounds = op.args[:3]
    return [g.op("Slice", [x, g.ints([a]), g.ints([b]), g.ints([axis])]) for a, b in bounds]


def cat(g, op):
    axis, xs = op.args[0], [x for x in op.args[1:] if not (len(g.shape(x)) == 1 and g.shape(x)[0] == 0)]
    return g.op("Concat", xs, axis=int(axis))


def pad_constant(g, op):
    x, pads, value = op.args[:3]
    befores, afters = [int(b) for b, _ in pads], [int(a) for _, a in pads]
    return g.op("Pad", [x, g.ints(befores + afters), g.scalar(value, g.dtype(x))], mode="constant")


_ONNX_PAD_MODE = {"replicate": "edge", "reflect": "reflect", "circular": "circular"}


def _axis_mode(spec, axis):
    """One padded axis's (ONNX mode, before, after), from what F.pad recorded (the index map
    alone is ambiguous on axes of size 1 or 2); None when an amount is negative (a crop: Gather)."""
    mode, pairs = spec
    before, after = pairs[axis]
    return (_ONNX_PAD_MODE[mode], before, after) if before >= 0 and after >= 0 else None


def pad_indexed(g, op):
    """reflect / replicate / circular padding, traced as one index map per padded axis. Reflect
    and replicate are ONNX Pad nodes (modes 'reflect' and 'edge'; one node when all axes share the
    mode), circular is a Slice + Concat per axis: all follow other sizes of the padded dims. A
    map of none of these (negative amounts, which crop first) is a Gather of the traced indices."""
    x, maps, spec = op.args[:3]
    shape = g.shape(x)
    plan = [(int(axis), np.asarray(idx, np.int64), _axis_mode(spec, axis)) for axis, idx in maps]
    modes = {m[0] if m else None for _, _, m in plan}
    if len(modes) == 1 and modes <= {"reflect", "edge"}:
        pads = [0] * (2 * len(shape))
        for axis, _, (_, before, after) in plan:
            pads[axis], pads[len(shape) + axis] = before, after
        return g.op("Pad", [x, g.ints(pads)], mode=modes.pop())
    y = x
    for axis, idx, m in plan:
        if m is None:
            y = g.op("Gather", [y, idx], axis=axis)
        elif m[0] == "circular":
            _, before, after = m
            parts = [g.op("Slice", [y, g.ints([-before]), g.ints([_INT64_MAX]), g.ints([axis])])] if before else []
            parts.append(y)
            if after:
                parts.append(g.op("Slice", [y, g.ints([0]), g.ints([after]), g.ints([axis])]))
            y = g.op("Concat", parts, axis=axis)
        else:
            pads = [0] * (2 * len(shape))
            pads[axis], pads[len(shape) + axis] = m[1], m[2]
            y = g.op("Pad", [y, g.ints(pads)], mode=m[0])
    return y


def flip(g, op):
    """Slice backwards (step -1) along each flipped axis."""
    x, axes = op.args[:2]
    if not axes:
        return g.op("Identity", [x])
    k = len(axes)
    return g.op("Slice", [x, g.ints([-1] * k), g.ints([_INT64_MIN] * k), g.ints(axes), g.ints([-1] * k)])


def roll(g, op):
    """Slice + Concat along each axis (no dims: of the flattened input, reshaped back)."""
    x, shifts, axes = op.args[:3]
    if axes is None:
        flat = g.op("Reshape", [x, g.ints([-1])])
        y = _roll_axis(g, flat, int(shifts), 0, int(np.prod(g.shape(x))))
        return g.op("Reshape", [y, g.op("Shape", [x])])
    y = x
    for s, a in zip(shifts, axes):
        y = _roll_axis(g, y, int(s), int(a), g.shape(x)[a])
    return y if y is not x else g.op("Identity", [x])


def _roll_axis(g, y, shift, axis, n):
    shift = shift % n if n else 0
    if not shift:
        return y
    tail = g.op("Slice", [y, g.ints([-shift]), g.ints([_INT64_MAX]), g.ints([axis])])
    head = g.op("Slice", [y, g.ints([0]), g.ints([-shift]), g.ints([axis])])
    return g.op("Concat", [tail, head], axis=axis)


def repeat(g, op):
    """repeat/tile: Tile, after Unsqueeze of the leading dims the repeats add."""
    x, reps = op.args[:2]
    lead = len(reps) - len(g.shape(x))
    if lead:
        x = g.op("Unsqueeze", [x, g.ints(range(lead))])
    return g.op("Tile", [x, g.ints(reps)])


def gather(g, op):
    x, axis, idx = op.args[:3]
    return g.op("GatherElements", [x, idx], axis=int(axis))


def embedding_lookup(g, op):
    w, idx = op.args[:2]                 # indices cast from a graph input arrive as that input
    return g.op("Gather", [w, idx], axis=0)


def _in(op):
    return f" (in module '{op.scope}')" if op.scope else ""


# ---------------------------------------------------------------------------- the table
CONVERTERS = {
    _ew.Add: _binary("Add"), _ew.Sub: _binary("Sub"), _ew.Mul: _binary("Mul"), _ew.Div: _binary("Div"),
    _ew.Pow: _binary("Pow"), _ew.Maximum: _binary("Max"), _ew.Minimum: _binary("Min"),
    _ew.Rsub: rsub, _ew.PowScalar: pow_scalar, _ew.Clamp: clamp, _ew.Where: where,
    _ew.Neg: _unary("Neg"), _ew.Relu: _unary("Relu"), _ew.Sigmoid: _unary("Sigmoid"), _ew.Tanh: _unary("Tanh"),
    _ew.Exp: _unary("Exp"), _ew.Log: _unary("Log"), _ew.Sqrt: _unary("Sqrt"), _ew.Abs: _unary("Abs"),
    _ew.Reciprocal: _unary("Reciprocal"), _ew.Sin: _unary("Sin"), _ew.Cos: _unary("Cos"), _ew.Erf: _unary("Erf"),
    _ew.Rsqrt: rsqrt, _ew.Square: square, _ew.Clone: clone, _ew.ToDtype: to_dtype,
    _act.LeakyRelu: leaky_relu, _act.Gelu: gelu, _act.Silu: silu, _act.Mish: mish, _act.Elu: elu,
    _act.Hardtanh: hardtanh, _act.Softplus: softplus, _act.Hardsigmoid: hardsigmoid,
    _act.Hardswish: _unary("HardSwish"), _act.Softsign: _unary("Softsign"), _act.LogSigmoid: log_sigmoid,
    _red.Softmax: softmax, _red.LogSoftmax: log_softmax,
    _la.Linear: linear, _la.Matmul: matmul, _la.Einsum: einsum,
    _conv.ConvNd: conv_nd, _conv.ConvTransposeNd: conv_transpose_nd,
    _norm.BatchNorm: batch_norm, _act.LayerNorm: layer_norm,
    _pool.MaxPool: max_pool, _pool.AvgPool: avg_pool, _pool.AdaptiveMax: adaptive_max, _pool.Separable: separable,
    _pool.UpsampleNearest: upsample_nearest,
    _red.Mean: mean, _red.Sum: sum_, _red.AmaxAmin: amax_amin,
    _shape.Reshape: reshape, _shape.Permute: permute, _shape.Expand: expand, _shape.Slice: slice_,
    _shape.SplitOp: split, _shape.Cat: cat,
    _F.PadConstant: pad_constant, _F.EmbeddingLookup: embedding_lookup,
    _norm.GroupNorm: group_norm, _red.Var: var, _red.Std: std, _red.MaxDim: max_min_dim,
    _F.PadIndexed: pad_indexed, _shape.Flip: flip, _shape.Roll: roll, _shape.Repeat: repeat,
    _idx.Gather: gather, _idx.MaskedFill: masked_fill,
    # computed outside ArrayFunction.apply, recorded by the trace's wrappers (_trace.OutsideOp)
    _tr.Eq: _compare("Equal"), _tr.Ne: _compare("Equal", negate=True), _tr.Lt: _compare("Less"),
    _tr.Le: _compare("LessOrEqual"), _tr.Gt: _compare("Greater"), _tr.Ge: _compare("GreaterOrEqual"),
    _tr.LogicalAnd: _logical("And"), _tr.LogicalOr: _logical("Or"), _tr.LogicalXor: _logical("Xor"),
    _tr.LogicalNot: _logical("Not"), _tr.Argmax: argmax_argmin, _tr.Argmin: argmax_argmin,
}


def supported_ops():
    """The flambeau op classes with an ONNX conversion, by name."""
    return sorted({cls.__name__ for cls in CONVERTERS})


def converter_for(cls):
    for base in cls.__mro__:            # AdaptiveAvg is a Separable, MeanAll a Mean ...
        if base is ArrayFunction:
            break
        fn = CONVERTERS.get(base)
        if fn is not None:
            return fn
    return None


def convert(g, ops):
    """Emit the nodes of every recorded op into ``g``."""
    for op in ops:
        fn = converter_for(op.cls)
        if fn is None:
            where_ = f" in module '{op.scope}'" if op.scope else ""
            raise UnsupportedOperatorError(
                f"flambeau.onnx.export: no ONNX conversion for op {op.cls.__name__}{where_}; supported: "
                + ", ".join(supported_ops()))
        g.scope = op.scope
        outs = fn(g, op)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for vid, name in zip(op.outputs, outs):
            if vid is not None:
                g.names[vid] = name
