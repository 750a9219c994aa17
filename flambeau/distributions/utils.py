"""``torch.distributions.utils``: parameter broadcasting, probs <-> logits, lazy properties."""
from __future__ import annotations

from functools import update_wrapper
from numbers import Number

import numpy as np

from .. import _dtype as D
from .._creation import tensor, randn
from .._tensor import Tensor, Size
from ..autograd import enable_grad
from ..ops import broadcast_tensors, clamp, log, log1p, sigmoid, softmax

__all__ = ["broadcast_all", "clamp_probs", "lazy_property", "logits_to_probs", "probs_to_logits"]


def broadcast_all(*values):
    """Broadcast Tensors and numbers together; numbers become tensors of the first tensor's dtype
    (the default dtype when there is none)."""
    if not all(isinstance(v, (Tensor, Number)) for v in values):
        raise ValueError("Input arguments must all be instances of numbers.Number, "
                         "torch.Tensor or objects implementing __torch_function__.")
    if all(isinstance(v, Tensor) for v in values):
        return broadcast_tensors(*values)
    dtype = D.get_default_dtype()
    for v in values:
        if isinstance(v, Tensor):
            dtype = v.dtype
            break
    return broadcast_tensors(*[v if isinstance(v, Tensor) else tensor(v, dtype=dtype) for v in values])


def _standard_normal(shape, dtype, device=None):
    return randn(tuple(shape), dtype=dtype)


def _sum_rightmost(value, dim):
    """Sum out the ``dim`` rightmost dimensions."""
    if dim == 0:
        return value
    return value.reshape(tuple(value.shape[:value.dim() - dim]) + (-1,)).sum(-1)


def logits_to_probs(logits, is_binary=False):
    if is_binary:
        return sigmoid(logits)
    return softmax(logits, dim=-1)


def clamp_probs(probs):
    eps = float(np.finfo(probs._data.dtype).eps)
    return clamp(probs, min=eps, max=1 - eps)


def probs_to_logits(probs, is_binary=False):
    ps_clamped = clamp_probs(probs)
    if is_binary:
        return log(ps_clamped) - log1p(-ps_clamped)
    return log(ps_clamped)


def _finfo(t):
    return np.finfo(t._data.dtype)


def _size(shape):
    return Size(tuple(shape))


class lazy_property:
    """A property computed once per instance, on first access, then stored in the instance's
    ``__dict__`` (so it is not recomputed, and ``param in self.__dict__`` tells whether it was
    given or derived)."""

    def __init__(self, wrapped):
        self.wrapped = wrapped
        update_wrapper(self, wrapped)

    def __get__(self, instance, obj_type=None):
        if instance is None:
            return self
        with enable_grad():
            value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value


class BinaryParams:
    """For a distribution given by the ``probs`` or the ``logits`` of a binary event: the one not
    given is derived on first use; ``_param`` is the given one."""

    def _set_probs_or_logits(self, probs, logits, total_count=None):
        """Store the given parameter (broadcast to a Tensor, together with ``total_count`` when
        the distribution has one, which takes its dtype); True if it was a Python number."""
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        given = probs if probs is not None else logits
        if total_count is None:
            (param,) = broadcast_all(given)
        else:
            total_count, param = broadcast_all(total_count, given)
            self.total_count = total_count.type_as(param)
        if probs is not None:
            self.probs = param
        else:
            self.logits = param
        self._param = param
        return isinstance(given, Number)

    @lazy_property
    def logits(self):
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self):
        return logits_to_probs(self.logits, is_binary=True)

    @property
    def param_shape(self):
        return self._param.size()


def set_loc_scale(dist, loc, scale):
    """``dist.loc`` and ``dist.scale`` broadcast together; returns the batch shape (empty when
    both were Python numbers)."""
    dist.loc, dist.scale = broadcast_all(loc, scale)
    return Size() if isinstance(loc, Number) and isinstance(scale, Number) else dist.loc.size()


class CategoricalParams:
    """``logits``, ``probs`` and ``param_shape`` of the inner ``self._categorical``
    (OneHotCategorical, Multinomial, ExpRelaxedCategorical)."""

    @property
    def logits(self):
        return self._categorical.logits

    @property
    def probs(self):
        return self._categorical.probs

    @property
    def param_shape(self):
        return self._categorical.param_shape


class RelaxedParams:
    """``temperature``, ``logits`` and ``probs`` of ``self.base_dist`` (the relaxed distributions
    defined as transforms of a logit-space one)."""

    @property
    def temperature(self):
        return self.base_dist.temperature

    @property
    def logits(self):
        return self.base_dist.logits

    @property
    def probs(self):
        return self.base_dist.probs
