"""``torch.distributions.Geometric`` and ``NegativeBinomial``."""
from __future__ import annotations

import numpy as np

from .._creation import zeros_like
from .._tensor import Size, _wrap
from ..ops import where
from ..ops.special import lgamma
from ..nn.functional import binary_cross_entropy_with_logits, logsigmoid
from ..random import rng
from . import constraints
from .distribution import Distribution, _expand_params
from .gamma import Gamma
from .utils import BinaryParams, broadcast_all, lazy_property

__all__ = ["Geometric", "NegativeBinomial"]


class Geometric(BinaryParams, Distribution):
    """Number of failures before the first success in Bernoulli(``probs``) trials."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(self, probs=None, logits=None, validate_args=None):
        is_scalar = self._set_probs_or_logits(probs, logits)
        batch_shape = Size() if is_scalar else self._param.size()
        super().__init__(batch_shape, validate_args=validate_args)
        if self._validate_args and probs is not None:
            value = self.probs
            valid = value > 0
            if not bool(valid.all()):
                raise ValueError("Expected parameter probs "
                                 f"({type(value).__name__} of shape {tuple(value.shape)}) "
                                 f"of distribution {repr(self)} "
                                 f"to be positive but found invalid values:\n{value}")

    def expand(self, batch_shape, _instance=None):
        return _expand_params(self, Geometric, batch_shape, ("probs", "logits"), _instance)

    @property
    def mean(self):
        return 1.0 / self.probs - 1.0

    @property
    def mode(self):
        return zeros_like(self.probs)

    @property
    def variance(self):
        return (1.0 / self.probs - 1.0) / self.probs


    def sample(self, sample_shape=Size()):
        shape = tuple(self._extended_shape(sample_shape))
        p = self.probs.detach()._data
        tiny = np.finfo(p.dtype).tiny
        u = rng().uniform(tiny, 1.0, shape).astype(p.dtype)
        return _wrap(np.floor(np.log(u) / np.log1p(-np.broadcast_to(p, shape))).astype(p.dtype))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        value, probs = broadcast_all(value, self.probs)
        probs = where((probs == 1) & (value == 0), 0.0, probs)
        return value * (-probs).log1p() + self.probs.log()

    def entropy(self):
        return binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none") / self.probs


class NegativeBinomial(BinaryParams, Distribution):
    """Number of successes before ``total_count`` failures in Bernoulli(``probs``) trials."""

    arg_constraints = {"total_count": constraints.greater_than_eq(0),
                       "probs": constraints.half_open_interval(0.0, 1.0), "logits": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(self, total_count, probs=None, logits=None, validate_args=None):
        self._set_probs_or_logits(probs, logits, total_count)
        super().__init__(self._param.size(), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = _expand_params(self, NegativeBinomial, batch_shape, ("total_count", "probs", "logits"), _instance)
        new._param = new.probs if "probs" in self.__dict__ else new.logits
        return new

    @property
    def mean(self):
        return self.total_count * self.logits.exp()

    @property
    def mode(self):
        return ((self.total_count - 1) * self.logits.exp()).floor().clamp(min=0.0)

    @property
    def variance(self):
        return self.mean / (-self.logits).sigmoid()


    @lazy_property
    def _gamma(self):
        return Gamma(concentration=self.total_count, rate=(-self.logits).exp(), validate_args=False)

    def sample(self, sample_shape=Size()):
        shape = tuple(self._extended_shape(sample_shape))
        # Gamma.sample fails for a 0-d draw (NumPy returns a Python float): draw one, reshape
        rate = self._gamma.sample(sample_shape if shape else (1,))._data
        return _wrap(np.array(rng().poisson(rate.astype(np.float64)), dtype=rate.dtype).reshape(shape))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        log_unnormalized_prob = self.total_count * logsigmoid(-self.logits) + value * logsigmoid(self.logits)
        log_normalization = -lgamma(self.total_count + value) + lgamma(1.0 + value) + lgamma(self.total_count)
        log_normalization = where(self.total_count + value == 0.0, 0.0, log_normalization)
        return log_unnormalized_prob - log_normalization


