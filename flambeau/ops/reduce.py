"""Reductions and scans: sum, mean, prod, max/min, var/std, norm, logsumexp, softmax, cumsum …

``dim`` is an int, a tuple of ints or None (all dims); ``keepdim`` keeps reduced dims as size 1.
Backward re-inserts the reduced dims and broadcasts the gradient back (a view, no copy).
"""
from __future__ import annotations

import builtins
from collections import namedtuple

import numpy as np

from .. import _dtype as D
from ..autograd.function import ArrayFunction, graft, saved_output, linear_map
from .._tensor import Tensor, _wrap
from ._util import norm_dim, norm_dims
from ..amp._state import fp32_op as _fp32_op
from .elementwise import to_dtype, _out, where, exp

values_indices = namedtuple("values_indices", ["values", "indices"])


def _return_type(name):
    cls = namedtuple(name, ["values", "indices"])
    cls.__repr__ = lambda self: (f"flambeau.return_types.{name}(\nvalues={self.values!r},\n"
                                 f"indices={self.indices!r})")
    return cls


ReturnMax = _return_type("max")
ReturnMin = _return_type("min")
ReturnSort = _return_type("sort")
ReturnTopk = _return_type("topk")
ReturnMode = _return_type("median")
ReturnKth = _return_type("kthvalue")
ReturnCummax = _return_type("cummax")


def _expand_back(g, in_shape, axes, keepdim):
    """Broadcast a reduced gradient back over ``in_shape`` (re-inserting dims if needed)."""
    if not keepdim and axes:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, in_shape)


def _kept(t, axes, keepdim):
    """A reduced Tensor (a gradient, or a saved output) with its reduced dims back as size 1."""
    if keepdim or not axes:
        return t
    shape = list(t.shape)
    for a in sorted(axes):
        shape.insert(a, 1)
    return t.reshape(shape)


def _output_kept(ctx, out, axes, keepdim):
    """The node's output as a Tensor connected to it, from ``out`` saved with keepdims=True."""
    return _kept(saved_output(ctx, out if keepdim else np.squeeze(out, axes)), axes, keepdim)


# ---------------------------------------------------------------------------- sum / mean
class Sum(ArrayFunction):
    _node_name = "SumBackward1"

    @staticmethod
    def forward(ctx, x, axes, keepdim, dtype):
        ctx.meta = (x.shape, axes, keepdim)
        return np.sum(x, axis=axes, keepdims=keepdim, dtype=dtype)

    @staticmethod
    def backward(ctx, g):
        shape, axes, keepdim = ctx.meta
        return _expand_back(g, shape, axes, keepdim)

    @staticmethod
    def backward_graph(ctx, g):
        shape, axes, keepdim = ctx.meta
        return _kept(g, axes, keepdim).expand(shape)


class Mean(ArrayFunction):
    _node_name = "MeanBackward1"

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.meta = (x.shape, axes, keepdim)
        n = 1
        for a in axes:
            n *= x.shape[a]
        ctx.n = n
        return np.mean(x, axis=axes, keepdims=keepdim, dtype=x.dtype) if n else \
            np.full(_reduced_shape(x.shape, axes, keepdim), np.nan, x.dtype)

    @staticmethod
    def backward(ctx, g):
        shape, axes, keepdim = ctx.meta
        return _expand_back(g / g.dtype.type(ctx.n), shape, axes, keepdim)

    @staticmethod
    def backward_graph(ctx, g):
        shape, axes, keepdim = ctx.meta
        return _kept(g / ctx.n, axes, keepdim).expand(shape)


class SumAll(Sum):
    _node_name = "SumBackward0"


class MeanAll(Mean):
    _node_name = "MeanBackward0"


class NanSum(ArrayFunction):
    _node_name = "NansumBackward0"

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.save_for_backward(x)
        ctx.meta = (axes, keepdim)
        return np.nansum(x, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        axes, keepdim = ctx.meta
        g = _expand_back(g, x.shape, axes, keepdim)
        return np.where(np.isnan(x), g.dtype.type(0), g)

    @staticmethod
    def backward_graph(ctx, g):
        (x,) = ctx.saved_tensors
        axes, keepdim = ctx.meta
        return _kept(g, axes, keepdim).expand(x.shape) * _wrap((~np.isnan(x)).astype(g._data.dtype))


def _all_if_empty(dim):
    """PyTorch reads an empty dim list as "every dim" in sum/mean/amax/…"""
    if dim is not None and not isinstance(dim, (builtins.int, np.integer)) and len(dim) == 0:
        return None
    return dim


def _reduced_shape(shape, axes, keepdim):
    if keepdim:
        return tuple(1 if i in axes else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def sum(input, dim=None, keepdim=False, *, dtype=None, out=None):
    dim = _all_if_empty(dim)
    axes = norm_dims(dim, input._data.ndim, "sum")
    acc = None
    if dtype is not None:
        acc = D.as_dtype(dtype).np
        if acc.kind == "f" and acc != input._data.dtype:
            input, acc = to_dtype(input, acc), None  # a float dtype: cast first, stay differentiable
    elif input._data.dtype.kind in "biu":
        acc = np.dtype(np.int64)  # integer sums accumulate in int64, like PyTorch
    return _out((SumAll if dim is None else Sum).apply(input, axes, keepdim, acc), out)


def mean(input, dim=None, keepdim=False, *, dtype=None, out=None):
    if dtype is not None:
        input = to_dtype(input, D.as_dtype(dtype))
    if input._data.dtype.kind != "f":
        raise RuntimeError("mean(): could not infer output dtype. Input dtype must be either a floating "
                           f"point or complex dtype. Got: {_type_word(input)}")
    dim = _all_if_empty(dim)
    axes = norm_dims(dim, input._data.ndim, "mean")
    return _out((MeanAll if dim is None else Mean).apply(input, axes, keepdim), out)


def _type_word(t):
    return {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
            "bool": "Bool"}.get(t.dtype.name, t.dtype.name)


def nansum(input, dim=None, keepdim=False, *, dtype=None):
    if dtype is not None:
        input = to_dtype(input, D.as_dtype(dtype))
    if input._data.dtype.kind != "f":
        return sum(input, dim, keepdim)
    axes = norm_dims(_all_if_empty(dim), input._data.ndim, "nansum")
    return NanSum.apply(input, axes, keepdim)


# ---------------------------------------------------------------------------- prod
class Prod(ArrayFunction):
    _node_name = "ProdBackward1"  # along a dim; ProdAll below is the full product

    @staticmethod
    def forward(ctx, x, axis, keepdim):
        ctx.save_for_backward(x)
        ctx.meta = (axis, keepdim)
        if axis is None:
            return np.prod(x, keepdims=False)
        return np.prod(x, axis=axis, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        axis, keepdim = ctx.meta
        if axis is None:
            flat = x.reshape(-1)
            return (g * _prod_others(flat, 0)).reshape(x.shape)
        if not keepdim:
            g = np.expand_dims(g, axis)
        return g * _prod_others(x, axis)

    @staticmethod
    def backward_graph(ctx, g):
        (x,) = ctx.saved_tensors
        axis, keepdim = ctx.meta
        xt = graft(ctx, 0, x)
        if axis is None:
            return (g * _prod_others_t(xt.reshape(-1), 0)).reshape(x.shape)
        return _kept(g, (axis,), keepdim) * _prod_others_t(xt, axis)


def _prod_others_t(x, axis):
    """``_prod_others`` on Tensors: exclusive products from both sides (differentiable)."""
    from .shape import cat
    n = x.shape[axis]
    if n == 0:
        return x
    ones = _wrap(np.ones_like(np.take(x._data, [0], axis=axis)))
    left = cat([ones, x.narrow(axis, 0, n - 1)], axis).cumprod(axis)
    right = cat([ones, x.flip((axis,)).narrow(axis, 0, n - 1)], axis).cumprod(axis).flip((axis,))
    return left * right


def _prod_others(x, axis):
    """Product of all other elements along ``axis``, exact with zeros (no division)."""
    n = x.shape[axis]
    if n == 0:
        return x
    ones = np.ones_like(np.take(x, [0], axis=axis))
    left = np.cumprod(np.concatenate([ones, np.take(x, range(n - 1), axis=axis)], axis=axis), axis=axis)
    rx = np.flip(x, axis)
    right = np.cumprod(np.concatenate([ones, np.take(rx, range(n - 1), axis=axis)], axis=axis), axis=axis)
    return left * np.flip(right, axis)


class ProdAll(Prod):
    _node_name = "ProdBackward0"


@_fp32_op
def prod(input, dim=None, keepdim=False, *, dtype=None):
    if dtype is not None:
        input = to_dtype(input, D.as_dtype(dtype))
    axis = None if dim is None else norm_dim(dim, input._data.ndim, "prod")
    if input._data.dtype.kind in "biu":
        return _wrap(np.asarray(np.prod(input._data, axis=axis, keepdims=keepdim if axis is not None else False,
                                        dtype=np.int64)))
    if input._data.ndim == 0:
        axis = None
    return (ProdAll if axis is None else Prod).apply(input, axis, keepdim)


# ---------------------------------------------------------------------------- max / min
class AmaxAmin(ArrayFunction):
    """amax/amin and full max()/min(): the gradient is shared evenly among ties."""

    _node_name = "AmaxBackward0"

    @staticmethod
    def forward(ctx, x, axes, keepdim, is_max):
        out = (np.amax if is_max else np.amin)(x, axis=axes, keepdims=keepdim)
        ctx.save_for_backward(x, out)
        ctx.meta = (axes, keepdim)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        axes, keepdim = ctx.meta
        if axes is None:
            axes = tuple(range(x.ndim))
        if not keepdim:
            out = np.expand_dims(out, axes)
            g = np.expand_dims(g, axes)
        mask = x == out
        count = mask.sum(axis=axes, keepdims=True)
        return mask * (g / count.astype(g.dtype))

    @staticmethod
    def backward_graph(ctx, g):
        x, out = ctx.saved_tensors      # ties' shares are constants: the map is linear in g
        axes, keepdim = ctx.meta
        if axes is None:
            axes = tuple(range(x.ndim))
        mask = x == (out if keepdim else np.expand_dims(out, axes))
        share = mask / mask.sum(axis=axes, keepdims=True).astype(g._data.dtype)
        return _kept(g, axes, keepdim) * _wrap(share.astype(g._data.dtype, copy=False))


class Amin(AmaxAmin):
    _node_name = "AminBackward0"


class MaxAll(AmaxAmin):
    _node_name = "MaxBackward1"


class MinAll(AmaxAmin):
    _node_name = "MinBackward1"


class MaxDim(ArrayFunction):
    """max/min along one dim: values and indices; the gradient goes to the chosen index."""

    _node_name = "MaxBackward0"

    @staticmethod
    def forward(ctx, x, axis, keepdim, is_max):
        if x.shape[axis] == 0:
            raise IndexError(f"{'max' if is_max else 'min'}(): Expected reduction dim {axis} to have "
                             "non-zero size.")
        idx = (np.argmax if is_max else np.argmin)(x, axis=axis, keepdims=True)
        vals = np.take_along_axis(x, idx, axis=axis)
        if not keepdim:
            vals = np.squeeze(vals, axis)
            idx = np.squeeze(idx, axis)
        ctx.meta = (x.shape, axis, keepdim, idx)
        idx = idx.astype(np.int64, copy=False)
        ctx.mark_non_differentiable(idx)
        return vals, idx

    @staticmethod
    def backward(ctx, g, g_idx):
        shape, axis, keepdim, idx = ctx.meta
        if not keepdim:
            g = np.expand_dims(g, axis)
            idx = np.expand_dims(idx, axis)
        out = np.zeros(shape, g.dtype)
        np.put_along_axis(out, idx, g, axis=axis)
        return out

    @staticmethod
    def backward_graph(ctx, g, g_idx):
        shape, axis, keepdim, idx = ctx.meta
        if not keepdim:
            idx = np.expand_dims(idx, axis)

        def scatter(a):
            out = np.zeros(shape, a.dtype)
            np.put_along_axis(out, idx, a if keepdim else np.expand_dims(a, axis), axis=axis)
            return out

        def gather(a):
            v = np.take_along_axis(a, idx, axis=axis)
            return v if keepdim else np.squeeze(v, axis)
        return linear_map(g, scatter, gather)


class MinDim(MaxDim):
    _node_name = "MinBackward0"


def _max_min(input, dim, keepdim, is_max, name, other=None):
    from .elementwise import maximum, minimum
    if isinstance(dim, Tensor):
        return (maximum if is_max else minimum)(input, dim)
    if dim is None:
        if input._data.size == 0:
            raise RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
                               "Specify the reduction dim with the 'dim' argument.")
        if input._data.dtype.kind != "f":
            return _wrap((np.amax if is_max else np.amin)(input._data))
        return (MaxAll if is_max else MinAll).apply(input, None, False, is_max)
    axis = norm_dim(dim, input._data.ndim, name)
    if input._data.ndim == 0:
        return (ReturnMax if is_max else ReturnMin)(input.clone(), _wrap(np.zeros((), np.int64)))
    if input._data.dtype.kind != "f":
        vals, idx = MaxDim.forward(_NullCtx(), input._data, axis, keepdim, is_max)
        return (ReturnMax if is_max else ReturnMin)(_wrap(vals), _wrap(idx))
    vals, idx = (MaxDim if is_max else MinDim).apply(input, axis, keepdim, is_max)
    return (ReturnMax if is_max else ReturnMin)(vals, idx)


class _NullCtx:
    def mark_non_differentiable(self, *a):
        pass

    def save_for_backward(self, *a):
        pass


def max(input, dim=None, keepdim=False, *, out=None):
    return _max_min(input, dim, keepdim, True, "max")


def min(input, dim=None, keepdim=False, *, out=None):
    return _max_min(input, dim, keepdim, False, "min")


def amax(input, dim=(), keepdim=False):
    axes = norm_dims(_all_if_empty(dim), input._data.ndim, "amax")
    if input._data.dtype.kind != "f":
        return _wrap(np.amax(input._data, axis=axes, keepdims=keepdim))
    return AmaxAmin.apply(input, axes, keepdim, True)


def amin(input, dim=(), keepdim=False):
    axes = norm_dims(_all_if_empty(dim), input._data.ndim, "amin")
    if input._data.dtype.kind != "f":
        return _wrap(np.amin(input._data, axis=axes, keepdims=keepdim))
    return Amin.apply(input, axes, keepdim, False)


def argmax(input, dim=None, keepdim=False):
    if dim is None:
        r = np.argmax(input._data.reshape(-1))
        return _wrap(np.asarray(r, np.int64).reshape((1,) * input._data.ndim if keepdim else ()))
    axis = norm_dim(dim, input._data.ndim, "argmax")
    if input._data.ndim == 0:
        return _wrap(np.zeros((), np.int64))
    return _wrap(np.argmax(input._data, axis=axis, keepdims=keepdim).astype(np.int64, copy=False))


def argmin(input, dim=None, keepdim=False):
    if dim is None:
        r = np.argmin(input._data.reshape(-1))
        return _wrap(np.asarray(r, np.int64).reshape((1,) * input._data.ndim if keepdim else ()))
    axis = norm_dim(dim, input._data.ndim, "argmin")
    if input._data.ndim == 0:
        return _wrap(np.zeros((), np.int64))
    return _wrap(np.argmin(input._data, axis=axis, keepdims=keepdim).astype(np.int64, copy=False))


# ---------------------------------------------------------------------------- var / std
class Var(ArrayFunction):
    _node_name = "VarBackward0"

    @staticmethod
    def forward(ctx, x, axes, correction, keepdim):
        n = 1
        for a in axes:
            n *= x.shape[a]
        mu = np.mean(x, axis=axes, keepdims=True)
        d = x - mu
        ctx.save_for_backward(d)
        ctx.meta = (axes, keepdim, n - correction)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sum(d * d, axis=axes, keepdims=keepdim) / x.dtype.type(builtins.max(n - correction, 0))

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        axes, keepdim, denom = ctx.meta
        if not keepdim:
            g = np.expand_dims(g, axes)
        return g * d * d.dtype.type(2.0 / denom)

    @staticmethod
    def backward_graph(ctx, g):
        (d,) = ctx.saved_tensors
        axes, keepdim, denom = ctx.meta
        # x - mean(x), as a function of x: d itself stands in for x (centring it again gives d)
        xt = graft(ctx, 0, d)
        dt = xt - xt.mean(axes, keepdim=True)
        return _kept(g, axes, keepdim) * dt * (2.0 / denom)


class Std(ArrayFunction):
    _node_name = "StdBackward0"

    @staticmethod
    def forward(ctx, x, axes, correction, keepdim):
        n = 1
        for a in axes:
            n *= x.shape[a]
        d = x - np.mean(x, axis=axes, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.sqrt(np.sum(d * d, axis=axes, keepdims=True) / x.dtype.type(builtins.max(n - correction, 0)))
        ctx.save_for_backward(d, out)
        ctx.meta = (axes, keepdim, n - correction)
        return out if keepdim else np.squeeze(out, axes)

    @staticmethod
    def backward(ctx, g):
        d, out = ctx.saved_tensors
        axes, keepdim, denom = ctx.meta
        if not keepdim:
            g = np.expand_dims(g, axes)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(out == 0, out.dtype.type(0), g / (out * d.dtype.type(denom)))
        return scale * d

    @staticmethod
    def backward_graph(ctx, g):
        d, out = ctx.saved_tensors
        axes, keepdim, denom = ctx.meta
        xt = graft(ctx, 0, d)                     # as in Var: d stands in for x
        dt = xt - xt.mean(axes, keepdim=True)
        ot = _output_kept(ctx, out, axes, keepdim)
        zero = out == 0
        safe = where(_wrap(zero), _wrap(np.ones_like(out)), ot)
        scale = where(_wrap(zero), _wrap(np.zeros_like(out)), _kept(g, axes, keepdim) / (safe * denom))
        return scale * dt


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    return 1 if unbiased is None or unbiased else 0


def _var_args(dim, unbiased, correction):
    # torch.var(x, True) means unbiased=True when the second positional is a bool
    if isinstance(dim, builtins.bool):
        return None, dim, correction
    return dim, unbiased, correction


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    dim, unbiased, correction = _var_args(dim, unbiased, correction)
    dim = _all_if_empty(dim)
    axes = norm_dims(dim, input._data.ndim, "var")
    return Var.apply(input, axes, _correction(unbiased, correction), keepdim)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    dim, unbiased, correction = _var_args(dim, unbiased, correction)
    dim = _all_if_empty(dim)
    axes = norm_dims(dim, input._data.ndim, "std")
    return Std.apply(input, axes, _correction(unbiased, correction), keepdim)


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return var(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return std(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


# ---------------------------------------------------------------------------- norm
class VectorNorm(ArrayFunction):
    """``linalg.vector_norm``: sum(|x|^p)^(1/p), with p = 0, 1, 2, inf, -inf special-cased."""

    _node_name = "LinalgVectorNormBackward0"

    @staticmethod
    def forward(ctx, x, p, axes, keepdim):
        ax = np.abs(x)
        if p == 2:
            out = np.sqrt(np.sum(x * x, axis=axes, keepdims=True))
        elif p == 1:
            out = np.sum(ax, axis=axes, keepdims=True)
        elif p == np.inf:
            out = np.amax(ax, axis=axes, keepdims=True)
        elif p == -np.inf:
            out = np.amin(ax, axis=axes, keepdims=True)
        elif p == 0:
            out = np.sum(x != 0, axis=axes, keepdims=True).astype(x.dtype)
        else:
            pt = x.dtype.type(p)
            out = np.power(np.sum(np.power(ax, pt), axis=axes, keepdims=True), x.dtype.type(1.0 / p))
        ctx.save_for_backward(x, out)
        ctx.meta = (p, axes, keepdim)
        return out if keepdim else np.squeeze(out, axes)

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        p, axes, keepdim = ctx.meta
        if not keepdim:
            g = np.expand_dims(g, axes)
        z = x.dtype.type(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            if p == 0:
                return np.zeros(x.shape, g.dtype)
            if p == 1:
                return np.sign(x) * g
            if p == 2:
                return x * np.where(out == 0, z, g / out)
            if p in (np.inf, -np.inf):
                mask = (np.abs(x) == out)
                count = mask.sum(axis=axes, keepdims=True).astype(x.dtype)
                return np.sign(x) * mask * (g / count)
            pt = x.dtype.type(p)
            scaled = x * np.power(np.abs(x), pt - 2)
            return scaled * np.where(out == 0, z, g / np.power(out, pt - 1))

    @staticmethod
    def backward_graph(ctx, g):
        x, out = ctx.saved_tensors
        p, axes, keepdim = ctx.meta
        if p not in (1, 2):
            return VectorNorm._not_twice(ctx, g)
        xt = graft(ctx, 0, x)
        gk = _kept(g, axes, keepdim)
        if p == 1:
            from .elementwise import sign
            return sign(xt) * gk
        ot = _output_kept(ctx, out, axes, keepdim)
        zero = _wrap(out == 0)
        safe = where(zero, _wrap(np.ones_like(out)), ot)   # no 0/0 on either path at a zero norm
        return xt * where(zero, _wrap(np.zeros_like(out)), gk / safe)

    @staticmethod
    def _not_twice(ctx, g):
        from ..autograd.function import once_differentiable_result
        return once_differentiable_result(ctx, [g], VectorNorm._backward_arrays(ctx, [g._data]))


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    if dtype is not None:
        input = to_dtype(input, D.as_dtype(dtype))
    if input._data.dtype.kind != "f":
        raise RuntimeError("linalg.vector_norm: Expected a floating point or complex tensor as input. "
                           f"Got {_type_word(input)}")
    if p == "nuc":
        raise NotImplementedError("norm(p='nuc') is not implemented in flambeau")
    if p in ("fro", None):
        p = 2
    elif p in ("inf", "-inf"):
        p = float(p)
    axes = norm_dims(_all_if_empty(dim), input._data.ndim, "norm")
    if input._data.size == 0 and p in (np.inf, -np.inf) and (not axes or builtins.any(
            input._data.shape[a] == 0 for a in axes)):
        raise RuntimeError("linalg.vector_norm cannot compute the inf norm on an empty tensor because the "
                           "operation does not have an identity")
    return VectorNorm.apply(input, builtins.float(p), axes, keepdim)


# ---------------------------------------------------------------------------- logsumexp, softmax
class LogSumExp(ArrayFunction):
    _node_name = "LogsumexpBackward0"

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        # subtract the max so that exp never overflows
        m = np.amax(x, axis=axes, keepdims=True) if x.size else np.zeros((1,) * x.ndim, x.dtype)
        m = np.where(np.isfinite(m), m, 0)
        with np.errstate(divide="ignore"):
            out = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
        ctx.save_for_backward(x, out)
        ctx.meta = (axes, keepdim)
        return out if keepdim else np.squeeze(out, axes)

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        axes, keepdim = ctx.meta
        if not keepdim:
            g = np.expand_dims(g, axes)
        return g * np.exp(x - out)

    @staticmethod
    def backward_graph(ctx, g):
        x, out = ctx.saved_tensors
        axes, keepdim = ctx.meta
        return _kept(g, axes, keepdim) * exp(graft(ctx, 0, x) - _output_kept(ctx, out, axes, keepdim))


def logsumexp(input, dim=None, keepdim=False):
    if input._data.dtype.kind != "f":
        input = to_dtype(input, D.get_default_dtype())
    axes = norm_dims(dim, input._data.ndim, "logsumexp")
    return LogSumExp.apply(input, axes, keepdim)


class Softmax(ArrayFunction):
    _node_name = "SoftmaxBackward0"

    @staticmethod
    def forward(ctx, x, axis):
        e = np.exp(x - np.amax(x, axis=axis, keepdims=True))  # max-shifted: no overflow
        y = e / np.sum(e, axis=axis, keepdims=True)
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        gy = g * y
        return gy - y * np.sum(gy, axis=ctx.axis, keepdims=True)

    @staticmethod
    def backward_graph(ctx, g):
        y = saved_output(ctx, ctx.saved_tensors[0])
        gy = g * y
        return gy - y * gy.sum(ctx.axis, keepdim=True)


class LogSoftmax(ArrayFunction):
    _node_name = "LogSoftmaxBackward0"

    @staticmethod
    def forward(ctx, x, axis):
        s = x - np.amax(x, axis=axis, keepdims=True)  # log-sum-exp with the max subtracted
        y = s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g - np.exp(y) * np.sum(g, axis=ctx.axis, keepdims=True)

    @staticmethod
    def backward_graph(ctx, g):
        y = saved_output(ctx, ctx.saved_tensors[0])
        return g - exp(y) * g.sum(ctx.axis, keepdim=True)


def _softmax_dim(dim, ndim, name):
    if dim is None:
        # PyTorch's legacy implicit choice
        dim = 0 if ndim in (0, 1, 3) else 1
    return norm_dim(dim, ndim, name)


def softmax(input, dim=None, dtype=None, _stacklevel=3):
    if dtype is not None:
        input = to_dtype(input, D.as_dtype(dtype))
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"softmax: expected a floating-point input, got {input.dtype}")
    if input._data.ndim == 0:
        return Softmax.apply(input.reshape(1), 0).reshape(())
    return Softmax.apply(input, _softmax_dim(dim, input._data.ndim, "softmax"))


def log_softmax(input, dim=None, dtype=None, _stacklevel=3):
    if dtype is not None:
        input = to_dtype(input, D.as_dtype(dtype))
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"log_softmax: expected a floating-point input, got {input.dtype}")
    if input._data.ndim == 0:
        return LogSoftmax.apply(input.reshape(1), 0).reshape(())
    return LogSoftmax.apply(input, _softmax_dim(dim, input._data.ndim, "log_softmax"))


# ---------------------------------------------------------------------------- scans
class Cumsum(ArrayFunction):
    _node_name = "CumsumBackward0"

    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        return np.cumsum(x, axis=axis, dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        a = ctx.axis
        return np.flip(np.cumsum(np.flip(g, a), axis=a), a)

    @staticmethod
    def backward_graph(ctx, g):
        a = ctx.axis
        return g.flip((a,)).cumsum(a).flip((a,))


class Cumprod(ArrayFunction):
    _node_name = "CumprodBackward0"

    @staticmethod
    def forward(ctx, x, axis):
        out = np.cumprod(x, axis=axis, dtype=x.dtype)
        ctx.save_for_backward(x, out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        a = ctx.axis
        if not np.any(x == 0):
            # sum_{k>=i} g_k out_k / x_i
            return np.flip(np.cumsum(np.flip(g * out, a), axis=a), a) / x
        # exact with zeros: for each i, d out_k / d x_i = prod_{j<=k, j!=i} x_j
        xm = np.moveaxis(x, a, -1)
        gm = np.moveaxis(g, a, -1)
        n = xm.shape[-1]
        res = np.zeros_like(xm)
        for i in range(n):
            others = xm.copy()
            others[..., i] = 1
            cp = np.cumprod(others, axis=-1)
            res[..., i] = np.sum(gm[..., i:] * cp[..., i:], axis=-1)
        return np.moveaxis(res, -1, a)

    @staticmethod
    def backward_graph(ctx, g):
        x, out = ctx.saved_tensors
        a = ctx.axis
        if np.any(x == 0):   # the exact formula with zeros is a loop on arrays: first order only
            from ..autograd.function import once_differentiable_result
            return once_differentiable_result(ctx, [g], Cumprod._backward_arrays(ctx, [g._data]))
        go = g * saved_output(ctx, out)
        return go.flip((a,)).cumsum(a).flip((a,)) / graft(ctx, 0, x)


def cumsum(input, dim, *, dtype=None):
    if dtype is not None:
        input = to_dtype(input, D.as_dtype(dtype))
    if input._data.dtype.kind in "biu":
        return _wrap(np.cumsum(input._data, axis=norm_dim(dim, input._data.ndim, "cumsum") if input._data.ndim else None,
                               dtype=np.int64).reshape(input._data.shape))
    if input._data.ndim == 0:
        return input.clone()
    return Cumsum.apply(input, norm_dim(dim, input._data.ndim, "cumsum"))


def cumprod(input, dim, *, dtype=None):
    if dtype is not None:
        input = to_dtype(input, D.as_dtype(dtype))
    if input._data.dtype.kind in "biu":
        return _wrap(np.cumprod(input._data, axis=norm_dim(dim, input._data.ndim, "cumprod"), dtype=np.int64))
    if input._data.ndim == 0:
        return input.clone()
    return Cumprod.apply(input, norm_dim(dim, input._data.ndim, "cumprod"))


# ---------------------------------------------------------------------------- boolean
def _bool_out(r, input):
    r = np.asarray(r)
    return _wrap(r.astype(np.uint8) if input._data.dtype == np.uint8 else r)


def all(input, dim=None, keepdim=False):
    axes = norm_dims(_all_if_empty(dim), input._data.ndim, "all")
    return _bool_out(np.all(input._data, axis=axes, keepdims=keepdim), input)


def any(input, dim=None, keepdim=False):
    axes = norm_dims(_all_if_empty(dim), input._data.ndim, "any")
    return _bool_out(np.any(input._data, axis=axes, keepdims=keepdim), input)


def count_nonzero(input, dim=None):
    axes = norm_dims(dim, input._data.ndim, "count_nonzero")
    return _wrap(np.asarray(np.count_nonzero(input._data, axis=axes), dtype=np.int64))


def median(input, dim=None, keepdim=False):
    """Lower median, like PyTorch (no averaging of the two middle values)."""
    from .shape import sort as _sort
    if dim is None:
        flat = input.reshape(-1)
        v, i = _sort(flat, 0)
        return v[(flat._data.size - 1) // 2]
    axis = norm_dim(dim, input._data.ndim, "median")
    v, i = _sort(input, axis)
    k = (input._data.shape[axis] - 1) // 2
    from .shape import narrow
    vals = narrow(v, axis, k, 1)
    idx = narrow(i, axis, k, 1)
    if not keepdim:
        vals, idx = vals.squeeze(axis), idx.squeeze(axis)
    return ReturnMode(vals, idx)
