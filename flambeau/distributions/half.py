"""The folded distributions X = |Y| of a distribution Y symmetric about 0 with a ``scale``
(HalfNormal, HalfCauchy): the density doubles on x >= 0, the cdf is 2 F(x) - 1."""
from __future__ import annotations

import math

from .._creation import zeros_like
from ..ops import where
from . import constraints
from .extra_transforms import AbsTransform
from .transformed_distribution import TransformedDistribution


class Half(TransformedDistribution):
    """|Y| for Y ~ ``_base(0, scale)``; subclasses name the base distribution."""

    arg_constraints = {"scale": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True
    _base = None

    def __init__(self, scale, validate_args=None):
        super().__init__(type(self)._base(0, scale, validate_args=False), AbsTransform(), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(type(self), _instance)
        return super().expand(batch_shape, _instance=new)

    @property
    def scale(self):
        return self.base_dist.scale

    @property
    def mode(self):
        return zeros_like(self.scale)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        log_prob = self.base_dist.log_prob(value) + math.log(2)
        return where(value >= 0, log_prob, -math.inf)

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 2 * self.base_dist.cdf(value) - 1

    def icdf(self, prob):
        return self.base_dist.icdf((prob + 1) / 2)

    def entropy(self):
        return self.base_dist.entropy() - math.log(2)
