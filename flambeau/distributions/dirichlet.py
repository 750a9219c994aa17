"""``torch.distributions.Dirichlet``.

Sampling: independent Gamma(concentration_i, 1) draws (NumPy's ``standard_gamma`` from
flambeau's generator), normalised. ``rsample`` is not provided: ``has_rsample`` is False.
"""
from __future__ import annotations

import numpy as np

from .._tensor import Size, _wrap
from ..ops import where
from ..nn.functional import one_hot
from . import constraints
from ..ops.special import digamma, lgamma, xlogy
from .distribution import Distribution, _expand_params
from .gamma import _standard_gamma

__all__ = ["Dirichlet"]


class Dirichlet(Distribution):
    """Dirichlet distribution on the simplex, with ``concentration`` (..., K)."""

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = False

    def __init__(self, concentration, validate_args=None):
        if concentration.dim() < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        batch_shape, event_shape = concentration.shape[:-1], concentration.shape[-1:]
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return _expand_params(self, Dirichlet, batch_shape, ("concentration",), _instance,
                              event_dims={"concentration": 1})

    def sample(self, sample_shape=Size()):
        shape = tuple(self._extended_shape(sample_shape))
        g = _standard_gamma(self.concentration.detach().expand(shape))
        x = g / g.sum(-1, keepdims=True)
        return _wrap(np.clip(x, np.finfo(x.dtype).tiny, 1.0).astype(self.concentration._data.dtype))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return (xlogy(self.concentration - 1.0, value).sum(-1) + lgamma(self.concentration.sum(-1))
                - lgamma(self.concentration).sum(-1))

    @property
    def mean(self):
        return self.concentration / self.concentration.sum(-1, True)

    @property
    def mode(self):
        concentrationm1 = (self.concentration - 1).clamp(min=0.0)
        mode = concentrationm1 / concentrationm1.sum(-1, True)
        mask = (self.concentration < 1).all(-1, keepdim=True)
        vertex = one_hot(mode.argmax(-1), concentrationm1.shape[-1]).to(mode.dtype)
        return where(mask, vertex, mode)

    @property
    def variance(self):
        con0 = self.concentration.sum(-1, True)
        return self.concentration * (con0 - self.concentration) / (con0.pow(2) * (con0 + 1))

    def entropy(self):
        k = self.concentration.size(-1)
        a0 = self.concentration.sum(-1)
        return (lgamma(self.concentration).sum(-1) - lgamma(a0) - (k - a0) * digamma(a0)
                - ((self.concentration - 1.0) * digamma(self.concentration)).sum(-1))
