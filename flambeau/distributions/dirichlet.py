"""``torch.distributions.Dirichlet``.

Sampling: independent Gamma(concentration_i, 1) draws (NumPy's ``standard_gamma`` from
flambeau's generator), normalised. ``rsample`` returns the same draw, differentiable in
``concentration`` by PyTorch's implicit reparameterisation: each component is a
Beta(alpha_i, total - alpha_i) draw whose derivative comes from ``_implicit_grad``, and the
backward combines these so that the gradient stays on the simplex.
"""
from __future__ import annotations

import numpy as np

from .._tensor import Size
from ..autograd.function import ArrayFunction
from ..ops import where
from ..nn.functional import one_hot
from . import constraints
from ..ops.special import digamma, lgamma, xlogy
from .distribution import Distribution, _expand_params
from ._implicit_grad import dirichlet_grad
from .gamma import _standard_gamma_array

__all__ = ["Dirichlet"]


def _sample_dirichlet(concentration):
    """Dirichlet draws (an array like ``concentration``): normalised Gamma draws, kept inside
    the open simplex as PyTorch's are (the gradient takes logs of x and 1 - x)."""
    # drawn and normalised in float64, as PyTorch's: in float32, draws for small concentrations
    # underflow to the same clamp value and would tie the components at 1 / K
    g = _standard_gamma_array(concentration.astype(np.float64))
    x = g / g.sum(-1, keepdims=True)
    dtype = concentration.dtype
    return np.clip(x, np.finfo(dtype).tiny, np.nextafter(dtype.type(1), dtype.type(0))).astype(dtype)


def _dirichlet_backward(x, concentration, grad_output):
    """The vector-Jacobian product of a Dirichlet draw x in its concentration. Each x_i is a
    Beta(alpha_i, total - alpha_i) draw, whose implicit derivative with the rest of the
    concentration fixed (``dirichlet_grad``, scaled by 1 / (1 - x_i)) moves x_i while the other
    components shrink in proportion to stay on the simplex: dx_j/dalpha_i =
    grad_i (delta_ij - x_j)."""
    total = np.broadcast_to(concentration.sum(-1, keepdims=True), concentration.shape)
    grad = dirichlet_grad(x, concentration, total)
    return grad * (grad_output - (x * grad_output).sum(-1, keepdims=True))


class _Dirichlet(ArrayFunction):
    """A Dirichlet draw, differentiable once in its concentration (the implicit derivative is a
    fitted approximation with no derivative of its own)."""

    _node_name = "_DirichletBackward"

    @staticmethod
    def forward(ctx, concentration):
        x = _sample_dirichlet(concentration)
        ctx.save_for_backward(x, concentration)
        return x

    @staticmethod
    def backward(ctx, grad_output):
        x, concentration = ctx.saved_tensors
        return _dirichlet_backward(x, concentration, grad_output)


class Dirichlet(Distribution):
    """Dirichlet distribution on the simplex, with ``concentration`` (..., K)."""

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration, validate_args=None):
        if concentration.dim() < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        batch_shape, event_shape = concentration.shape[:-1], concentration.shape[-1:]
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return _expand_params(self, Dirichlet, batch_shape, ("concentration",), _instance,
                              event_dims={"concentration": 1})

    def rsample(self, sample_shape=Size()):
        shape = tuple(self._extended_shape(sample_shape))
        return _Dirichlet.apply(self.concentration.expand(shape))

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
