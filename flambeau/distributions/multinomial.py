"""``torch.distributions.Multinomial``."""
from __future__ import annotations

import math

import numpy as np

from .._tensor import Size, _wrap
from ..ops import exp, where
from ..ops.special import lgamma
from ..random import rng
from . import constraints
from .binomial import Binomial
from .categorical import Categorical
from .distribution import Distribution
from .utils import CategoricalParams, broadcast_all

__all__ = ["Multinomial"]


class _Multinomial(constraints.Constraint):
    """Nonnegative values summing to at most ``upper_bound`` (``constraints.multinomial``; like
    PyTorch it checks ``value.sum(-1) <= upper_bound``, not equality)."""

    is_discrete = True
    event_dim = 1

    def __init__(self, upper_bound):
        self.upper_bound = upper_bound

    def check(self, x):
        return (x >= 0).all(-1) & (x.sum(-1) <= self.upper_bound)


multinomial = _Multinomial


class Multinomial(CategoricalParams, Distribution):
    """Counts of ``total_count`` draws from a categorical with ``probs`` (or ``logits``) over
    the last dimension. ``total_count`` is one Python int (``sample`` needs it; ``log_prob``
    takes the count of each value from ``value.sum(-1)``)."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}

    def __init__(self, total_count=1, probs=None, logits=None, validate_args=None):
        if not isinstance(total_count, int):
            raise NotImplementedError("inhomogeneous total_count is not supported")
        self.total_count = total_count
        self._categorical = Categorical(probs=probs, logits=logits)
        self._binomial = Binomial(total_count=total_count, probs=self.probs)
        batch_shape = self._categorical.batch_shape
        event_shape = self._categorical.param_shape[-1:]
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Multinomial, _instance)
        batch_shape = Size(tuple(batch_shape))
        new.total_count = self.total_count
        new._categorical = self._categorical.expand(batch_shape)
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @constraints.dependent_property(is_discrete=True, event_dim=1)
    def support(self):
        return _Multinomial(self.total_count)

    @property
    def mean(self):
        return self.probs * self.total_count

    @property
    def variance(self):
        return self.total_count * self.probs * (1 - self.probs)


    def sample(self, sample_shape=Size()):
        shape = tuple(self._extended_shape(sample_shape))
        p = self.probs.detach()._data.astype(np.float64)
        p = p / p.sum(-1, keepdims=True)
        p = np.ascontiguousarray(np.broadcast_to(p, shape))
        counts = rng().multinomial(self.total_count, p)
        return _wrap(counts.astype(self.probs._data.dtype))

    def entropy(self):
        n = self.total_count
        term1 = n * self._categorical.entropy() - math.lgamma(n + 1)
        support = self._binomial.enumerate_support(expand=False)[1:]
        binomial_probs = exp(self._binomial.log_prob(support))
        weights = lgamma(support + 1)
        term2 = (binomial_probs * weights).sum(-1).sum(0)
        return term1 + term2

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        log_factorial_n = lgamma(value.sum(-1) + 1)
        log_factorial_xs = lgamma(value + 1).sum(-1)
        # 0 * log(0) = 0: an impossible category that was never drawn contributes nothing
        logits = where((value == 0) & (logits == -math.inf), 0.0, logits)
        log_powers = (logits * value).sum(-1)
        return log_factorial_n - log_factorial_xs + log_powers
