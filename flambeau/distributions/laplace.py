"""``torch.distributions.Laplace``."""
from __future__ import annotations


import numpy as np

from .._tensor import Size, _wrap
from ..autograd import no_grad
from ..ops import expm1, log, log1p
from ..random import uniform
from . import constraints
from .distribution import Distribution, _expand_params
from .utils import set_loc_scale

__all__ = ["Laplace"]


class Laplace(Distribution):
    """Laplace distribution with location ``loc`` and scale ``scale``."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return 2 * self.scale.pow(2)

    @property
    def stddev(self):
        return (2 ** 0.5) * self.scale

    def __init__(self, loc, scale, validate_args=None):
        super().__init__(set_loc_scale(self, loc, scale), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return _expand_params(self, Laplace, batch_shape, ("loc", "scale"), _instance)

    def _noise(self, shape):
        dt = self.loc._data.dtype
        eps = float(np.finfo(dt).eps)
        return _wrap(uniform(None, eps - 1, 1, tuple(shape), dt))

    def rsample(self, sample_shape=Size()):
        shape = self._extended_shape(sample_shape)
        u = self._noise(shape)
        return self.loc - self.scale * u.sign() * log1p(-u.abs())

    def sample(self, sample_shape=Size()):
        with no_grad():
            return self.rsample(sample_shape)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return -log(2 * self.scale) - (value - self.loc).abs() / self.scale

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 0.5 - 0.5 * (value - self.loc).sign() * expm1(-(value - self.loc).abs() / self.scale)

    def icdf(self, value):
        term = value - 0.5
        return self.loc - self.scale * term.sign() * log1p(-2 * term.abs())

    def entropy(self):
        return 1 + log(2 * self.scale)

