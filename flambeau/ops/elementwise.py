"""Elementwise ops: arithmetic, unary math, comparisons, ``where``, ``clamp``, casts.

Each op is an ArrayFunction with forward and backward side by side. Binary ops broadcast;
their backward returns gradients in the broadcast shape and the engine sums them back to
each input's shape.
"""
from __future__ import annotations

import builtins

import numpy as np

from .. import _dtype as D
from .._threads import blocks, parallel_for, worth_splitting
from ..autograd.function import ArrayFunction, graft, saved_output
from .._tensor import Tensor, _wrap
from ._util import promote, fmt_shape


def _check_broadcast(a, b, op):
    sa, sb = np.shape(a), np.shape(b)
    if sa == sb:
        return
    try:
        np.broadcast_shapes(sa, sb)
    except ValueError:
        raise RuntimeError(f"{op}: the size of tensor a {fmt_shape(sa)} must match the size of tensor b "
                           f"{fmt_shape(sb)} at a non-singleton dimension (shapes are not "
                           f"broadcastable)") from None


def _rowwise_binary(ufunc, a, b):
    """``ufunc(a, b)``; for two large arrays of one shape (a residual connection's sum), blocks of
    rows shared among the intra-op threads (elementwise: the same bits either way)."""
    if type(a) is not np.ndarray or type(b) is not np.ndarray or a.shape != b.shape or not worth_splitting(a):
        return ufunc(a, b)
    out = np.empty(a.shape, np.result_type(a, b))
    parts = blocks(a.shape[0], a.size // a.shape[0])
    parallel_for(lambda i: ufunc(a[parts[i]], b[parts[i]], out=out[parts[i]]), len(parts))
    return out


# ---------------------------------------------------------------------------- arithmetic
class Add(ArrayFunction):
    _node_name = "AddBackward0"

    @staticmethod
    def forward(ctx, a, b):
        return _rowwise_binary(np.add, a, b)

    @staticmethod
    def backward(ctx, g):
        return g, g

    @staticmethod
    def backward_graph(ctx, g):
        return g, g


class Sub(ArrayFunction):
    _node_name = "SubBackward0"

    @staticmethod
    def forward(ctx, a, b):
        return _rowwise_binary(np.subtract, a, b)

    @staticmethod
    def backward(ctx, g):
        return g, (-g if ctx.needs_input_grad[1] else None)

    backward_graph = backward


class Mul(ArrayFunction):
    _node_name = "MulBackward0"

    @staticmethod
    def forward(ctx, a, b):
        n = ctx.needs_input_grad
        if n:  # save only what a needed gradient uses: in-place writes to the other stay legal
            ctx.save_for_backward(a if n[1] else None, b if n[0] else None)
        return _rowwise_binary(np.multiply, a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        return (g * b if na else None), (g * a if nb else None)

    @staticmethod
    def backward_graph(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        return (g * graft(ctx, 1, b) if na else None), (g * graft(ctx, 0, a) if nb else None)


class Div(ArrayFunction):
    _node_name = "DivBackward0"

    @staticmethod
    def forward(ctx, a, b):
        n = ctx.needs_input_grad
        if n:  # a is only needed for b's gradient
            ctx.save_for_backward(a if n[1] else None, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ga = g / b if na else None
            gb = -g * a / (b * b) if nb else None
        return ga, gb

    @staticmethod
    def backward_graph(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        bt = graft(ctx, 1, b)
        return (g / bt if na else None), (-g * graft(ctx, 0, a) / (bt * bt) if nb else None)


class Neg(ArrayFunction):
    _node_name = "NegBackward0"

    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g

    backward_graph = backward


class Pow(ArrayFunction):
    """``a ** b`` with both operands tensors (or arrays)."""

    _node_name = "PowBackward1"

    @staticmethod
    def forward(ctx, a, b):
        with np.errstate(all="ignore"):
            out = np.power(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        ga = gb = None
        if na:
            # b * a^(b-1), taken as 0 where b == 0 (PyTorch's convention)
            with np.errstate(all="ignore"):
                ga = g * np.where(b == 0, 0, b * np.power(a, b - 1))
        if nb:
            with np.errstate(all="ignore"):
                # d/db a^b = a^b log a, defined as 0 where a == 0 and b >= 0
                gb = g * np.where((a == 0) & (b >= 0), 0, out * np.log(a))
        return ga, gb

    @staticmethod
    def backward_graph(ctx, g):
        a, b, out = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        at, bt = graft(ctx, 0, a), graft(ctx, 1, b)
        ga = gb = None
        if na:   # where b == 0 the derivative is 0; there b - 1 = -1 keeps a^(b-1) finite off a == 0
            ga = g * where(_wrap(b == 0), g * 0, bt * at ** (bt - 1))
        if nb:
            with np.errstate(all="ignore"):
                safe_a = np.where((a == 0) & (b >= 0), 1, a).astype(a.dtype, copy=False)
            at_safe = graft(ctx, 0, safe_a)
            gb = g * where(_wrap((a == 0) & (b >= 0)), g * 0, saved_output(ctx, out) * log(at_safe))
        return ga, gb


class PowScalar(ArrayFunction):
    """``a ** p`` for a Python-number exponent ``p``."""

    _node_name = "PowBackward0"

    @staticmethod
    def forward(ctx, a, p):
        ctx.save_for_backward(a)
        ctx.p = p
        if p == 2:
            return a * a
        if a.dtype.kind == "b":
            return np.power(a.astype(np.int64), p).astype(np.bool_) if p else np.ones_like(a)
        with np.errstate(all="ignore"):
            return np.power(a, a.dtype.type(p))

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        p = ctx.p
        if p == 0:
            return np.zeros_like(g)
        if p == 2:
            return g * (a + a)
        with np.errstate(all="ignore"):
            return g * (p * np.power(a, a.dtype.type(p - 1)))

    @staticmethod
    def backward_graph(ctx, g):
        (a,) = ctx.saved_tensors
        p = ctx.p
        if p == 0:
            return g * 0
        at = graft(ctx, 0, a)
        return g * (at + at) if p == 2 else g * (p * at ** (p - 1))


class RPowScalar(ArrayFunction):
    """``s ** a`` for a Python-number base ``s``."""

    _node_name = "PowBackward2"

    @staticmethod
    def forward(ctx, a, s):
        with np.errstate(all="ignore"):
            out = np.power(a.dtype.type(s), a)
        ctx.save_for_backward(a, out)
        ctx.s = s
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        s = ctx.s
        with np.errstate(divide="ignore", invalid="ignore"):
            log_s = out.dtype.type(np.log(np.float64(s)) if s > 0 else (-np.inf if s == 0 else np.nan))
            r = g * out * log_s
        if s == 0:
            r = np.where(a >= 0, out.dtype.type(0), r)
        return r

    @staticmethod
    def backward_graph(ctx, g):
        a, out = ctx.saved_tensors
        s = ctx.s
        log_s = float(np.log(np.float64(s))) if s > 0 else (-np.inf if s == 0 else np.nan)
        r = g * saved_output(ctx, out) * log_s
        return where(_wrap(a >= 0), g * 0, r) if s == 0 else r


class Rsub(ArrayFunction):
    """``s - a`` for a Python-number ``s`` (PyTorch's ``rsub``)."""

    _node_name = "RsubBackward1"

    @staticmethod
    def forward(ctx, a, s):
        return s - a

    @staticmethod
    def backward(ctx, g):
        return -g

    backward_graph = backward


def _scalar_as(v, dt):
    """A Python number as a 0-d array of ``dt``; integers wrap around like PyTorch's casts."""
    try:
        return np.asarray(v, dtype=dt)
    except OverflowError:
        return np.asarray(v).astype(dt)


def _binary(fn, a, b, name):
    a, b = promote(a, b, name)
    if type(a) is np.ndarray and type(b) is np.ndarray:
        return _wrap(fn.forward(None, a, b))
    try:
        return fn.apply(a, b)
    except ValueError:
        _check_broadcast(a._data if isinstance(a, Tensor) else a,
                         b._data if isinstance(b, Tensor) else b, name)
        raise


def _scaled(other, alpha):
    """``alpha * other`` for add/sub: a Python product when ``other`` is a scalar (it then stays a
    scalar for type promotion, as in PyTorch), else a mul op."""
    return mul(other, alpha) if isinstance(other, Tensor) else other * alpha


def add(input, other, *, alpha=1, out=None):
    if alpha != 1:
        other = _scaled(other, alpha)
    return _out(_binary(Add, input, other, "add"), out)


def _is_bool(x):
    return (x._data.dtype == np.bool_) if isinstance(x, Tensor) else isinstance(x, (builtins.bool, np.bool_))


def sub(input, other, *, alpha=1, out=None):
    ba, bb = _is_bool(input), _is_bool(other)
    if ba and bb:
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. "
                           "Use the `^` or `logical_xor()` operator instead.")
    if ba or bb:
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.")
    if alpha != 1:
        other = _scaled(other, alpha)
    if not isinstance(input, Tensor) and isinstance(other, Tensor) and \
            isinstance(input, (builtins.int, builtins.float, np.number)):
        dt = D.result_type(other, input).np
        o = other if other._data.dtype == dt else to_dtype(other, dt)
        return _out(Rsub.apply(o, _scalar_as(input, dt)), out)
    return _out(_binary(Sub, input, other, "sub"), out)


subtract = sub


def mul(input, other, *, out=None):
    return _out(_binary(Mul, input, other, "mul"), out)


multiply = mul


class RoundingDiv(ArrayFunction):
    """``div(a, b, rounding_mode=...)`` on float tensors: piecewise constant, zero gradient."""

    _node_name = "DivBackward2"

    @staticmethod
    def forward(ctx, a, b, mode):
        if mode == "floor":
            return np.floor_divide(a, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.trunc(a / b)

    @staticmethod
    def backward(ctx, g):
        na, nb = ctx.needs_input_grad[:2]
        z = np.zeros_like(g)
        return (z if na else None), (z if nb else None)

    @staticmethod
    def backward_graph(ctx, g):
        na, nb = ctx.needs_input_grad[:2]
        z = _wrap(np.zeros_like(g._data))
        return (z if na else None), (z if nb else None)


class FloorDivide(ArrayFunction):
    """``a // b``: PyTorch records the op but has no derivative for it."""

    _node_name = "NotImplemented"

    @staticmethod
    def forward(ctx, a, b):
        return np.floor_divide(a, b)

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError("the derivative for 'floor_divide' is not implemented.")


def div(input, other, *, rounding_mode=None, out=None):
    if rounding_mode in ("floor", "trunc"):
        if not _is_float_op(input, other):
            return _out(floor_divide(input, other) if rounding_mode == "floor" else
                        _int_div_trunc(input, other), out)
        a, b = promote(input, other, "div")
        with np.errstate(divide="ignore", invalid="ignore"):
            return _out(RoundingDiv.apply(a, b, rounding_mode), out)
    if rounding_mode is not None:
        raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                         f"'{rounding_mode}'")
    return _out(_true_div(input, other), out)


divide = div
true_divide = div


def _is_float_op(a, b):
    return D.result_type(*(x for x in (a, b))).is_floating_point


def _true_div(a, b):
    if not isinstance(a, Tensor) and isinstance(b, Tensor) and \
            isinstance(a, (builtins.int, builtins.float, builtins.bool, np.number, np.ndarray)):
        return mul(reciprocal(b), a)  # PyTorch's reflected division
    # int / int is a float division in PyTorch: promote to the default float dtype first
    if not _is_float_op(a, b):
        f = D.get_default_dtype()
        a = to_dtype(a, f) if isinstance(a, Tensor) else builtins.float(a)
        b = to_dtype(b, f) if isinstance(b, Tensor) else builtins.float(b)
    return _binary(Div, a, b, "div")


def _int_div_trunc(a, b):
    a, b = promote(a, b, "div")
    ad = a._data if isinstance(a, Tensor) else a
    bd = b._data if isinstance(b, Tensor) else b
    if np.any(bd == 0):
        raise RuntimeError("ZeroDivisionError")
    q = np.floor_divide(ad, bd)
    # floor -> trunc: add one where the exact quotient was negative and inexact
    q = q + ((np.remainder(ad, bd) != 0) & ((ad < 0) != (bd < 0))).astype(q.dtype)
    return _wrap(q)


def _arrays(a, b):
    return (a._data if isinstance(a, Tensor) else a), (b._data if isinstance(b, Tensor) else b)


def floor_divide(input, other, *, out=None):
    a, b = promote(input, other, "floor_divide")
    ad, bd = _arrays(a, b)
    if np.result_type(ad, bd).kind in "iub":
        if np.any(bd == 0):
            raise RuntimeError("ZeroDivisionError")
        return _out(_wrap(np.floor_divide(ad, bd)), out)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _out(FloorDivide.apply(a, b), out)


class Remainder(ArrayFunction):
    """Python's modulo (the sign of the divisor); fmod is C's (the sign of the dividend)."""

    _node_name = "RemainderBackward1"

    @staticmethod
    def forward(ctx, a, b, c_style):
        ctx.save_for_backward(a, b)
        ctx.c_style = c_style
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.fmod(a, b) if c_style else np.remainder(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad[:2]
        gb = None
        if nb:
            with np.errstate(divide="ignore", invalid="ignore"):
                q = np.trunc(a / b) if ctx.c_style else np.floor(a / b)
            gb = -g * q
        return (g if na else None), gb

    @staticmethod
    def backward_graph(ctx, g):
        a, b = ctx.saved_tensors   # the quotient is piecewise constant
        na, nb = ctx.needs_input_grad[:2]
        gb = None
        if nb:
            with np.errstate(divide="ignore", invalid="ignore"):
                q = np.trunc(a / b) if ctx.c_style else np.floor(a / b)
            gb = g * _wrap(-q.astype(g._data.dtype, copy=False))
        return (g if na else None), gb


class RemainderScalar(Remainder):
    _node_name = "RemainderBackward0"


class Fmod(Remainder):
    _node_name = "FmodBackward1"


class FmodScalar(Remainder):
    _node_name = "FmodBackward0"


def _mod(input, other, out, c_style, name):
    a, b = promote(input, other, name)
    ad, bd = _arrays(a, b)
    if np.result_type(ad, bd).kind in "iub":
        if np.any(bd == 0):
            raise RuntimeError("ZeroDivisionError")
        return _out(_wrap(np.fmod(ad, bd) if c_style else np.remainder(ad, bd)), out)
    if isinstance(b, Tensor):
        cls = Fmod if c_style else Remainder
    else:
        cls = FmodScalar if c_style else RemainderScalar
    return _out(cls.apply(a, b, c_style), out)


def remainder(input, other, *, out=None):
    return _mod(input, other, out, False, "remainder")


def fmod(input, other, *, out=None):
    return _mod(input, other, out, True, "fmod")


def pow(input, exponent, *, out=None):
    if isinstance(exponent, Tensor) and D.result_type(input, exponent) is D.bool_:
        raise NotImplementedError("\"pow\" not implemented for 'Bool'")
    if isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        if isinstance(exponent, (builtins.int, builtins.float, builtins.bool, np.number)):
            dt = D.result_type(input, exponent).np
            if input._data.dtype != dt:
                input = to_dtype(input, dt)
            if dt.kind in "iu" and exponent < 0:
                raise RuntimeError("Integers to negative integer powers are not allowed.")
            if isinstance(exponent, (builtins.bool, np.bool_)):
                exponent = builtins.int(exponent)
            return _out(PowScalar.apply(input, exponent), out)
    if not isinstance(input, Tensor) and isinstance(exponent, Tensor) and \
            isinstance(input, (builtins.int, builtins.float, np.number)) and \
            not isinstance(input, (builtins.bool, np.bool_)) and exponent._data.dtype.kind == "f":
        return _out(RPowScalar.apply(exponent, input), out)
    return _out(_binary(Pow, input, exponent, "pow"), out)


def neg(input, *, out=None):
    if input._data.dtype == np.bool_:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.")
    return _out(Neg.apply(input), out)


negative = neg


def _out(result, out):
    """Support the ``out=`` argument: write into ``out`` (resizing it like PyTorch)."""
    if out is None:
        return result
    if out._data.shape != result._data.shape:
        out._data = np.empty(result._data.shape, out._data.dtype)
    np.copyto(out._data, result._data, casting="unsafe")
    out._version[0] += 1
    return out


# ---------------------------------------------------------------------------- unary math
def _unary(name, fwd, bwd, saves="x", node=None, graph=None):
    """Build a unary ArrayFunction: ``bwd(g, x, y)`` gets the input ``x`` and/or output ``y``.

    ``graph``: the same derivative on Tensors, for double backward (``True``: ``bwd`` itself,
    when it is plain arithmetic that Tensors do as well as arrays)."""

    def forward(ctx, x):
        with np.errstate(all="ignore"):  # inf/nan results are values, as in PyTorch: no warnings
            y = fwd(x)
        if saves == "x":
            ctx.save_for_backward(x)
        elif saves == "y":
            ctx.save_for_backward(y)
        elif saves == "xy":
            ctx.save_for_backward(x, y)
        return y

    def backward(ctx, g):
        s = ctx.saved_tensors
        with np.errstate(all="ignore"):
            if saves == "x":
                return bwd(g, s[0], None)
            if saves == "y":
                return bwd(g, None, s[0])
            if saves == "xy":
                return bwd(g, s[0], s[1])
            return bwd(g, None, None)

    attrs = {"forward": staticmethod(forward), "backward": staticmethod(backward),
             "_node_name": node or name + "Backward0"}
    if graph is not None:
        tbwd = bwd if graph is True else graph

        def backward_graph(ctx, g):
            s = ctx.saved_tensors
            x = graft(ctx, 0, s[0]) if saves in ("x", "xy") else None
            y = saved_output(ctx, s[-1]) if saves in ("y", "xy") else None
            return tbwd(g, x, y)
        attrs["backward_graph"] = staticmethod(backward_graph)
    return type(name, (ArrayFunction,), attrs)


def _sigmoid(x):
    # 1 / (1 + exp(-x)): accurate, and a third of the passes of a two-branch formula. Far in the
    # negative tail exp(-x) overflows (the result would be 0); there sigmoid(x) = exp(x) / (1 +
    # exp(x)) keeps the tiny (subnormal) values PyTorch gives. float16 is computed in float32.
    if x.dtype == np.float16:
        return _sigmoid(x.astype(np.float32)).astype(np.float16)
    with np.errstate(over="ignore"):
        e = np.exp(-x)
    if type(e) is not np.ndarray:   # a 0-d input: NumPy gives a scalar
        e = np.asarray(e)
    e += 1
    tail = np.isinf(e) if e.size and e.max() == np.inf else None   # one reduction when nothing overflowed
    r = np.reciprocal(e, out=e).astype(x.dtype, copy=False)
    if tail is not None:
        t = np.exp(x[tail])
        r[tail] = t / (1 + t)
    return r


Exp = _unary("Exp", np.exp, lambda g, x, y: g * y, "y", graph=True)
Exp2 = _unary("Exp2", np.exp2, lambda g, x, y: g * y * y.dtype.type(np.log(2.0)), "y",
              graph=lambda g, x, y: g * y * float(np.log(2.0)))
Log = _unary("Log", np.log, lambda g, x, y: g / x, "x", graph=True)
Log2 = _unary("Log2", np.log2, lambda g, x, y: g / (x * x.dtype.type(np.log(2.0))), "x",
              graph=lambda g, x, y: g / (x * float(np.log(2.0))))
Log10 = _unary("Log10", np.log10, lambda g, x, y: g / (x * x.dtype.type(np.log(10.0))), "x",
               graph=lambda g, x, y: g / (x * float(np.log(10.0))))
Log1p = _unary("Log1p", np.log1p, lambda g, x, y: g / (1 + x), "x", "Log1PBackward0", graph=True)
Expm1 = _unary("Expm1", np.expm1, lambda g, x, y: g * (y + 1), "y", graph=True)
Sqrt = _unary("Sqrt", np.sqrt, lambda g, x, y: g / (2 * y), "y", graph=True)
Rsqrt = _unary("Rsqrt", lambda x: 1 / np.sqrt(x), lambda g, x, y: -0.5 * g * y * y * y, "y", graph=True)
Sin = _unary("Sin", np.sin, lambda g, x, y: g * np.cos(x), "x", graph=lambda g, x, y: g * cos(x))
Cos = _unary("Cos", np.cos, lambda g, x, y: -g * np.sin(x), "x", graph=lambda g, x, y: -g * sin(x))
Tan = _unary("Tan", np.tan, lambda g, x, y: g * (1 + y * y), "y", graph=True)
Tanh = _unary("Tanh", np.tanh, lambda g, x, y: g * (1 - y * y), "y", graph=True)
Sigmoid = _unary("Sigmoid", _sigmoid, lambda g, x, y: g * y * (1 - y), "y", graph=True)
Asin = _unary("Asin", np.arcsin, lambda g, x, y: g / np.sqrt(1 - x * x), "x",
              graph=lambda g, x, y: g / sqrt(1 - x * x))
Acos = _unary("Acos", np.arccos, lambda g, x, y: -g / np.sqrt(1 - x * x), "x",
              graph=lambda g, x, y: -g / sqrt(1 - x * x))
Atan = _unary("Atan", np.arctan, lambda g, x, y: g / (1 + x * x), "x", graph=True)
Sinh = _unary("Sinh", np.sinh, lambda g, x, y: g * np.cosh(x), "x", graph=lambda g, x, y: g * cosh(x))
Cosh = _unary("Cosh", np.cosh, lambda g, x, y: g * np.sinh(x), "x", graph=lambda g, x, y: g * sinh(x))
Abs = _unary("Abs", np.abs, lambda g, x, y: g * np.sign(x), "x", graph=lambda g, x, y: g * sign(x))
Reciprocal = _unary("Reciprocal", lambda x: 1 / x, lambda g, x, y: -g * (y * y), "y", graph=True)
Square = _unary("Square", np.square, lambda g, x, y: 2 * g * x, "x", "PowBackward0", graph=True)
class Relu(ArrayFunction):
    """The hottest activation gets its own class: no error-state context (it cannot overflow)."""

    _node_name = "ReluBackward0"

    @staticmethod
    def forward(ctx, x):
        zero = x.dtype.type(0)
        if not worth_splitting(x):
            y = np.maximum(x, zero)
        else:   # large batches: rows shared among the intra-op threads
            y = np.empty(x.shape, x.dtype)
            parts = blocks(x.shape[0], x.size // x.shape[0])
            parallel_for(lambda i: np.maximum(x[parts[i]], zero, out=y[parts[i]]), len(parts))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        bits = _SAME_WIDTH_INT.get(g.dtype)
        if bits is None or g.ndim == 0:
            return np.where(y > 0, g, g.dtype.type(0))
        # g where y > 0, else +0: AND the float bits with an all-ones / all-zeros mask. Same result
        # as np.where (an inf/NaN gradient is zeroed where y <= 0, unlike g * mask), and about 5x
        # faster on large tensors. A broadcast g (from a sum) is made contiguous first.
        g = np.ascontiguousarray(g)
        out = np.empty(g.shape, bits)
        gi = g.view(bits)
        if not worth_splitting(g):
            _relu_grad_bits(gi, y, out)
        else:
            parts = blocks(g.shape[0], g.size // g.shape[0])
            parallel_for(lambda i: _relu_grad_bits(gi[parts[i]], y[parts[i]], out[parts[i]]), len(parts))
        return out.view(g.dtype)

    @staticmethod
    def backward_graph(ctx, g):
        (y,) = ctx.saved_tensors   # the mask is piecewise constant: no second-order term
        return g * _wrap((y > 0).astype(g._data.dtype))


def _relu_grad_bits(g_bits, y, out):
    """``out = g_bits & mask``: the gradient's bits where ``y > 0``, zero bits elsewhere."""
    masked_bits(g_bits, np.greater(y, 0), out)


def masked_bits(g_bits, keep, out=None):
    """A float array's bits (viewed as same-width ints, ``_SAME_WIDTH_INT``) where the bool array
    ``keep`` is true, zero bits (+0) elsewhere: unlike ``g * keep``, no -0 for a negative value and
    no NaN for an infinite one. ``keep`` is overwritten."""
    mask = keep.view(np.int8)                    # 1 where kept ...
    np.negative(mask, out=mask)                  # ... -1 (all bits set) there, else 0
    return np.bitwise_and(g_bits, mask, out=out)  # the int8 mask widens to all-ones/zeros


_SAME_WIDTH_INT = {np.dtype(np.float32): np.int32, np.dtype(np.float64): np.int64, np.dtype(np.float16): np.int16}


def _erf(x):
    if x.dtype == np.float64 or x.size < 4096:
        from math import erf as _math_erf
        return np.vectorize(_math_erf, otypes=[x.dtype])(x) if x.size else x.copy()
    # float32 at scale: Numerical Recipes' erfc rational approximation (relative error < 1.2e-7,
    # below float32 resolution), evaluated in float64
    z = np.abs(x.astype(np.float64))
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    y = 1 - t * np.exp(poly)
    return np.where(x >= 0, y, -y).astype(x.dtype)


Erf = _unary("Erf", _erf, lambda g, x, y: g * (2 / np.sqrt(np.pi)) * np.exp(-x * x), "x",
             graph=lambda g, x, y: g * float(2 / np.sqrt(np.pi)) * exp(-x * x))

def _float_unary(cls, name):
    def fn(input, *, out=None):
        if input._data.dtype.kind != "f":
            input = to_dtype(input, D.get_default_dtype())
        return _out(cls.apply(input), out)
    fn.__name__ = name
    fn.__doc__ = f"``torch.{name}``: elementwise, differentiable."
    return fn


exp = _float_unary(Exp, "exp")
exp2 = _float_unary(Exp2, "exp2")
log = _float_unary(Log, "log")
log2 = _float_unary(Log2, "log2")
log10 = _float_unary(Log10, "log10")
log1p = _float_unary(Log1p, "log1p")
expm1 = _float_unary(Expm1, "expm1")
sqrt = _float_unary(Sqrt, "sqrt")
rsqrt = _float_unary(Rsqrt, "rsqrt")
sin = _float_unary(Sin, "sin")
cos = _float_unary(Cos, "cos")
tan = _float_unary(Tan, "tan")
tanh = _float_unary(Tanh, "tanh")
sigmoid = _float_unary(Sigmoid, "sigmoid")
asin = _float_unary(Asin, "asin")
acos = _float_unary(Acos, "acos")
atan = _float_unary(Atan, "atan")
sinh = _float_unary(Sinh, "sinh")
cosh = _float_unary(Cosh, "cosh")
erf = _float_unary(Erf, "erf")
reciprocal = _float_unary(Reciprocal, "reciprocal")
arcsin, arccos, arctan = asin, acos, atan


def _no_bool(input, kernel):
    if input._data.dtype == np.bool_:
        raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")


def abs(input, *, out=None):
    _no_bool(input, "abs_cpu")
    if input._data.dtype.kind != "f":
        return _out(_wrap(np.abs(input._data)), out)
    return _out(Abs.apply(input), out)


absolute = abs


def square(input, *, out=None):
    if input._data.dtype == np.bool_:
        return _out(_wrap(input._data.astype(np.int64)), out)  # pow(bool, 2) promotes to int64
    if input._data.dtype.kind != "f":
        return _out(_wrap(np.square(input._data)), out)
    return _out(Square.apply(input), out)


def relu(input):
    if input._data.dtype == np.bool_:
        raise RuntimeError("Boolean inputs not supported for relu")
    if input._data.dtype.kind != "f":
        return _wrap(np.maximum(input._data, 0))
    return Relu.apply(input)


def _zero_grad_unary(np_fn, name, kernel=None):
    """Piecewise-constant ops: their gradient is zero wherever it exists."""

    class Op(ArrayFunction):
        _node_name = name.capitalize() + "Backward0"

        @staticmethod
        def forward(ctx, x):
            return np_fn(x)

        @staticmethod
        def backward(ctx, g):
            return np.zeros_like(g)

        @staticmethod
        def backward_graph(ctx, g):
            return _wrap(np.zeros_like(g._data))

    def fn(input, *, out=None):
        if input._data.dtype.kind != "f":
            if input._data.dtype == np.bool_:
                if kernel is not None:
                    raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")
                return _out(_wrap(input._data.copy()), out)
            return _out(_wrap(np_fn(input._data)), out)
        return _out(Op.apply(input), out)
    fn.__name__ = name
    return fn


def _sign(x):
    r = np.sign(x)
    return np.where(np.isnan(x), x.dtype.type(0), r) if x.dtype.kind == "f" else r


sign = _zero_grad_unary(_sign, "sign")
floor = _zero_grad_unary(np.floor, "floor", "floor_vml_cpu")
ceil = _zero_grad_unary(np.ceil, "ceil", "ceil_vml_cpu")
trunc = _zero_grad_unary(np.trunc, "trunc", "trunc_vml_cpu")
fix = trunc


class Round(ArrayFunction):
    _node_name = "RoundBackward0"

    @staticmethod
    def forward(ctx, x, decimals=0):
        return np.round(x, decimals)  # round half to even, like PyTorch

    @staticmethod
    def backward(ctx, g):
        return np.zeros_like(g)

    @staticmethod
    def backward_graph(ctx, g):
        return _wrap(np.zeros_like(g._data))


class RoundDecimals(Round):
    _node_name = "RoundBackward1"


def round(input, *, decimals=0, out=None):
    _no_bool(input, "round_vml_cpu")
    if input._data.dtype.kind != "f":
        return _out(_wrap(input._data.copy()), out)
    return _out((RoundDecimals if decimals else Round).apply(input, decimals=decimals), out)


class Frac(ArrayFunction):
    _node_name = "FracBackward0"

    @staticmethod
    def forward(ctx, x):
        return x - np.trunc(x)

    @staticmethod
    def backward(ctx, g):
        return g

    backward_graph = backward


def frac(input, *, out=None):
    if input._data.dtype.kind != "f":
        raise NotImplementedError(f"\"frac_cpu\" not implemented for '{_TYPE_WORD[input._data.dtype.name]}'")
    return _out(Frac.apply(input), out)


_TYPE_WORD = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


# ---------------------------------------------------------------------------- clamp, min/max
class Clamp(ArrayFunction):
    _node_name = "ClampBackward1"

    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        return np.clip(x, lo, hi)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        lo, hi = ctx.lo, ctx.hi
        m = np.ones(x.shape, bool) if lo is None else x >= lo
        if hi is not None:
            m &= x <= hi
        return np.where(m, g, g.dtype.type(0))   # 0 where clamped, even for an infinite g (not 0 * inf)

    @staticmethod
    def backward_graph(ctx, g):
        (x,) = ctx.saved_tensors
        m = np.ones(x.shape, bool) if ctx.lo is None else x >= ctx.lo
        if ctx.hi is not None:
            m &= x <= ctx.hi
        return g * _wrap(m.astype(g._data.dtype))


def clamp(input, min=None, max=None, *, out=None):
    if min is None and max is None:
        raise RuntimeError("clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        from .._dtype import result_type
        ops_ = [o for o in (input, min, max) if o is not None]
        dt = result_type(*ops_).np
        args = []
        for o in (input, min, max):
            if o is None:
                args.append(None)
            elif isinstance(o, Tensor):
                args.append(o if o._data.dtype == dt else to_dtype(o, dt))
            else:
                args.append(_scalar_as(o, dt))
        try:
            return _out(ClampTensor.apply(*args), out)
        except ValueError:
            raise RuntimeError("clamp: the sizes of input, min and max are not broadcastable") from None
    x = input
    if x._data.dtype.kind != "f":
        if isinstance(min, builtins.float) or isinstance(max, builtins.float):
            x = to_dtype(x, D.get_default_dtype())
        else:
            return _out(_wrap(np.clip(x._data, min, max)), out)
    dt = x._data.dtype.type
    lo = None if min is None else dt(min)
    hi = None if max is None else dt(max)
    return _out(Clamp.apply(x, lo, hi), out)


clip = clamp


class ClampTensor(ArrayFunction):
    """clamp with tensor bounds: the input's gradient flows where min <= x <= max; a bound's
    gradient flows where it is the result (x < min, or x > max)."""

    _node_name = "ClampBackward0"

    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x, lo, hi)
        r = x
        if lo is not None:
            r = np.maximum(r, lo)
        if hi is not None:
            r = np.minimum(r, hi)
        return r

    @staticmethod
    def backward(ctx, g):
        x, lo, hi = ctx.saved_tensors
        nx, nl, nh = ctx.needs_input_grad
        z = g.dtype.type(0)
        shape = np.broadcast_shapes(np.shape(g), np.shape(x))
        keep = np.ones(shape, bool)
        if lo is not None:
            keep = keep & (x >= lo)
        if hi is not None:
            keep = keep & (x <= hi)
        gx = np.where(keep, g, z) if nx else None
        gl = gh = None
        if nl:
            m = x < lo
            if hi is not None:
                m = m & (lo <= hi)  # min > max: the result is max
            gl = np.where(m, g, z)
        if nh:
            m = x > hi if lo is None else (x > hi) | (lo > hi)
            gh = np.where(m, g, z)
        return gx, gl, gh

    @staticmethod
    def backward_graph(ctx, g):
        # the same masks as backward, as constants: piecewise linear
        x, lo, hi = ctx.saved_tensors
        nx, nl, nh = ctx.needs_input_grad
        z = g * 0
        keep = np.ones(np.broadcast_shapes(g.shape, np.shape(x)), bool)
        if lo is not None:
            keep = keep & (x >= lo)
        if hi is not None:
            keep = keep & (x <= hi)
        gx = where(_wrap(keep), g, z) if nx else None
        gl = gh = None
        if nl:
            m = x < lo
            if hi is not None:
                m = m & (lo <= hi)
            gl = where(_wrap(m), g, z)
        if nh:
            gh = where(_wrap(x > hi if lo is None else (x > hi) | (lo > hi)), g, z)
        return gx, gl, gh


def clamp_min(input, min):
    return clamp(input, min=min)


def clamp_max(input, max):
    return clamp(input, max=max)


def _full_like_scalar(t, v):
    return _wrap(np.asarray(v, dtype=t._data.dtype))


class Maximum(ArrayFunction):
    _node_name = "MaximumBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.maximum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        # ties share the gradient equally, as in PyTorch
        w = np.where(a == b, 0.5, (a > b)).astype(g.dtype)
        na, nb = ctx.needs_input_grad
        return (g * w if na else None), (g * (1 - w) if nb else None)

    @staticmethod
    def backward_graph(ctx, g):
        a, b = ctx.saved_tensors
        w = _wrap(np.where(a == b, 0.5, (a > b)).astype(g._data.dtype))
        na, nb = ctx.needs_input_grad
        return (g * w if na else None), (g * (1 - w) if nb else None)


class Minimum(ArrayFunction):
    _node_name = "MinimumBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.minimum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        w = np.where(a == b, 0.5, (a < b)).astype(g.dtype)
        na, nb = ctx.needs_input_grad
        return (g * w if na else None), (g * (1 - w) if nb else None)

    @staticmethod
    def backward_graph(ctx, g):
        a, b = ctx.saved_tensors
        w = _wrap(np.where(a == b, 0.5, (a < b)).astype(g._data.dtype))
        na, nb = ctx.needs_input_grad
        return (g * w if na else None), (g * (1 - w) if nb else None)


def maximum(input, other, *, out=None):
    return _out(_binary(Maximum, input, other, "maximum"), out)


def minimum(input, other, *, out=None):
    return _out(_binary(Minimum, input, other, "minimum"), out)


fmax = maximum
fmin = minimum


# ---------------------------------------------------------------------------- where, lerp
class Where(ArrayFunction):
    _node_name = "WhereBackward0"

    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.cond = cond
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        c = ctx.cond
        _, na, nb = ctx.needs_input_grad
        z = g.dtype.type(0)
        return None, (np.where(c, g, z) if na else None), (np.where(c, z, g) if nb else None)

    @staticmethod
    def backward_graph(ctx, g):
        c = ctx.cond
        _, na, nb = ctx.needs_input_grad
        z = g * 0
        return None, (where(c, g, z) if na else None), (where(c, z, g) if nb else None)


def where(condition, input=None, other=None, *, out=None):
    if input is None and other is None:
        from .indexing import nonzero
        return nonzero(condition, as_tuple=True)
    cond = condition._data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with "
                           f"dtype {D.from_numpy_dtype(cond.dtype).name}")
    a, b = promote(input, other, "where")
    try:
        return _out(Where.apply(cond, a, b), out)
    except ValueError:
        raise RuntimeError(f"where: shapes condition {fmt_shape(cond.shape)}, input {fmt_shape(np.shape(a))} "
                           f"and other {fmt_shape(np.shape(b))} are not broadcastable") from None


class Lerp(ArrayFunction):
    _node_name = "LerpBackward1"  # tensor weight

    @staticmethod
    def forward(ctx, start, end, weight):
        ctx.save_for_backward(start, end, weight)
        return start + weight * (end - start)

    @staticmethod
    def backward(ctx, g):
        s, e, w = ctx.saved_tensors
        ns, ne, nw = ctx.needs_input_grad
        return (g * (1 - w) if ns else None), (g * w if ne else None), (g * (e - s) if nw else None)

    @staticmethod
    def backward_graph(ctx, g):
        s, e, w = ctx.saved_tensors
        s, e, w = graft(ctx, 0, s), graft(ctx, 1, e), graft(ctx, 2, w)
        ns, ne, nw = ctx.needs_input_grad
        return (g * (1 - w) if ns else None), (g * w if ne else None), (g * (e - s) if nw else None)


def lerp(input, end, weight, *, out=None):
    s, e = promote(input, end, "lerp")
    if not isinstance(weight, Tensor):
        weight = np.asarray(weight, dtype=(s if isinstance(s, Tensor) else e)._data.dtype)
        return _out(LerpScalar.apply(s, e, weight), out)
    return _out(Lerp.apply(s, e, weight), out)


class LerpScalar(Lerp):
    _node_name = "LerpBackward0"


# ---------------------------------------------------------------------------- comparisons, logic
def _compare(np_fn, name):
    def fn(input, other, *, out=None):
        a, b = promote(input, other, name)
        ad = a._data if isinstance(a, Tensor) else a
        bd = b._data if isinstance(b, Tensor) else b
        try:
            return _out(_wrap(np_fn(ad, bd)), out)
        except ValueError:
            _check_broadcast(ad, bd, name)
            raise
    fn.__name__ = name
    fn.__doc__ = f"``torch.{name}``: elementwise comparison; returns a bool tensor."
    return fn


eq = _compare(np.equal, "eq")
ne = _compare(np.not_equal, "ne")
lt = _compare(np.less, "lt")
le = _compare(np.less_equal, "le")
gt = _compare(np.greater, "gt")
ge = _compare(np.greater_equal, "ge")
greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne


def equal(input, other) -> bool:
    return input._data.shape == other._data.shape and builtins.bool(np.array_equal(input._data, other._data))


def _logical(np_fn, name):
    def fn(input, other, *, out=None):
        ad = input._data if isinstance(input, Tensor) else np.asarray(input)
        bd = other._data if isinstance(other, Tensor) else np.asarray(other)
        return _out(_wrap(np_fn(ad, bd)), out)
    fn.__name__ = name
    return fn


logical_and = _logical(np.logical_and, "logical_and")
logical_or = _logical(np.logical_or, "logical_or")
logical_xor = _logical(np.logical_xor, "logical_xor")


def logical_not(input, *, out=None):
    return _out(_wrap(np.logical_not(input._data)), out)


def _bitwise(np_fn, name):
    def fn(input, other):
        a, b = promote(input, other, name)
        ad = a._data if isinstance(a, Tensor) else a
        bd = b._data if isinstance(b, Tensor) else b
        if np.result_type(ad, bd).kind == "f":
            raise NotImplementedError(f"\"{name}_cpu\" not implemented for '{_float_word(np.result_type(ad, bd))}'")
        return _wrap(np_fn(ad, bd))
    fn.__name__ = name
    return fn


bitwise_and = _bitwise(np.bitwise_and, "bitwise_and")
bitwise_or = _bitwise(np.bitwise_or, "bitwise_or")
bitwise_xor = _bitwise(np.bitwise_xor, "bitwise_xor")


def _float_word(x):
    dt = x._data.dtype if isinstance(x, Tensor) else np.dtype(x)
    return {"float32": "Float", "float64": "Double", "float16": "Half"}.get(dt.name, dt.name)


def bitwise_not(input):
    if input._data.dtype.kind == "f":
        raise NotImplementedError(f"\"bitwise_not_cpu\" not implemented for '{_float_word(input)}'")
    return _wrap(np.invert(input._data))


def isnan(input):
    return _wrap(np.isnan(input._data))


def isinf(input):
    return _wrap(np.isinf(input._data))


def isfinite(input):
    return _wrap(np.isfinite(input._data))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return _wrap(np.isclose(input._data, other._data if isinstance(other, Tensor) else other,
                            rtol=rtol, atol=atol, equal_nan=equal_nan))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    return builtins.bool(np.allclose(input._data, other._data if isinstance(other, Tensor) else other,
                                     rtol=rtol, atol=atol, equal_nan=equal_nan))


class NanToNum(ArrayFunction):
    _node_name = "NanToNumBackward0"

    @staticmethod
    def forward(ctx, x, nan, posinf, neginf):
        ctx.save_for_backward(x)
        return np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return np.where(np.isfinite(x), g, g.dtype.type(0))

    @staticmethod
    def backward_graph(ctx, g):
        (x,) = ctx.saved_tensors
        return where(_wrap(np.isfinite(x)), g, g * 0)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None, *, out=None):
    if input._data.dtype.kind != "f":
        return _out(_wrap(input._data.copy()), out)
    return _out(NanToNum.apply(input, nan, posinf, neginf), out)


# ---------------------------------------------------------------------------- casts, copies
class ToDtype(ArrayFunction):
    _node_name = "ToCopyBackward0"

    @staticmethod
    def forward(ctx, x, dt):
        return x.astype(dt)

    @staticmethod
    def backward(ctx, g):
        return g  # the engine casts it back to the input's dtype

    backward_graph = backward


def to_dtype(t, dt):
    dt = dt.np if isinstance(dt, D.dtype) else np.dtype(dt)
    if t._requires_grad and dt.kind != "f":
        return _wrap(t._data.astype(dt))  # a cast to an integer type leaves the graph
    return ToDtype.apply(t, dt)


class Clone(ArrayFunction):
    _node_name = "CloneBackward0"

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, g):
        return g

    backward_graph = backward


def clone(input, *, memory_format=None):
    return Clone.apply(input)
