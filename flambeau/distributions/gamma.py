"""``torch.distributions.Gamma``.

Sampling draws NumPy's ``standard_gamma`` from flambeau's generator. ``rsample`` is PyTorch's
implicit reparameterisation: the same draw, differentiable in ``concentration`` through
dx/dalpha = -(dF/dalpha) / pdf at the drawn x (see ``_implicit_grad``) and in ``rate`` through
the division by it. ``sample`` is ``rsample`` under ``no_grad`` (the base class's), so both draw the same numbers.
"""
from __future__ import annotations

from numbers import Number

import numpy as np

from .._tensor import Size
from ..ops import log
from ..autograd.function import ArrayFunction
from ..random import rng
from . import constraints
from ._implicit_grad import standard_gamma_grad
from ..ops.special import digamma, lgamma, xlogy
from .distribution import Distribution, _expand_params
from .utils import broadcast_all

__all__ = ["Gamma"]


def _standard_gamma_array(a):
    """Gamma(a, 1) draws (an array like ``a``) from flambeau's generator, clamped away from 0
    like PyTorch's."""
    x = np.asarray(rng().standard_gamma(a.astype(np.float64))).astype(a.dtype)   # 0-d: NumPy gives a float
    return np.maximum(x, np.finfo(a.dtype).tiny)


class _StandardGamma(ArrayFunction):
    """``torch._standard_gamma``: a Gamma(alpha, 1) draw x, whose derivative in alpha is the
    implicit one, dx/dalpha = -(dF/dalpha) / pdf at x. That derivative is itself a fitted
    approximation with no derivative of its own, so the op is differentiable once."""

    _node_name = "StandardGammaBackward0"

    @staticmethod
    def forward(ctx, alpha):
        x = _standard_gamma_array(alpha)
        ctx.save_for_backward(alpha, x)
        return x

    @staticmethod
    def backward(ctx, g):
        alpha, x = ctx.saved_tensors
        return g * standard_gamma_grad(alpha, x)


class Gamma(Distribution):
    """Gamma distribution with shape ``concentration`` and inverse scale ``rate``."""

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True
    _mean_carrier_measure = 0

    @property
    def mean(self):
        return self.concentration / self.rate

    @property
    def mode(self):
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self):
        return self.concentration / self.rate.pow(2)

    def __init__(self, concentration, rate, validate_args=None):
        self.concentration, self.rate = broadcast_all(concentration, rate)
        if isinstance(concentration, Number) and isinstance(rate, Number):
            batch_shape = Size()
        else:
            batch_shape = self.concentration.size()
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return _expand_params(self, Gamma, batch_shape, ("concentration", "rate"), _instance)

    def rsample(self, sample_shape=Size()):
        shape = tuple(self._extended_shape(sample_shape))
        value = _StandardGamma.apply(self.concentration.expand(shape)) / self.rate.expand(shape)
        # a draw that underflows stays positive; clamped outside the graph, so the gradient is
        # that of the unclamped value, as in PyTorch
        value.detach().clamp_(min=float(np.finfo(value._data.dtype).tiny))
        return value

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return (xlogy(self.concentration, self.rate) + xlogy(self.concentration - 1, value)
                - self.rate * value - lgamma(self.concentration))

    def entropy(self):
        return (self.concentration - log(self.rate) + lgamma(self.concentration)
                + (1.0 - self.concentration) * digamma(self.concentration))
