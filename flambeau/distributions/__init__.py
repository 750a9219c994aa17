"""``torch.distributions``: probability distributions with PyTorch's API, on flambeau tensors.

Parameters broadcast together (``broadcast_all``); ``rsample`` is the reparameterised,
differentiable sample (Normal, Uniform, Exponential, Laplace, MultivariateNormal, and
transformed/independent wrappers of these); ``log_prob``, ``entropy``, ``cdf``/``icdf`` and
``kl_divergence`` are differentiable in the parameters. All randomness comes from flambeau's
generator, so ``flambeau.manual_seed`` makes samples reproducible. Argument validation is on
by default (``Distribution.set_default_validate_args``).

Not provided: reparameterised ``rsample`` for Gamma, Beta and Dirichlet (their ``sample``
works; ``has_rsample`` is False).
"""
from . import constraints, transforms  # noqa: F401
from .bernoulli import Bernoulli
from .beta import Beta
from .binomial import Binomial
from .categorical import Categorical
from .dirichlet import Dirichlet
from .distribution import Distribution
from .exponential import Exponential
from .gamma import Gamma
from .independent import Independent
from .kl import kl_divergence, register_kl
from .laplace import Laplace
from .multivariate_normal import MultivariateNormal
from .normal import Normal
from .one_hot_categorical import OneHotCategorical
from .poisson import Poisson
from .transformed_distribution import TransformedDistribution
from .transforms import (AffineTransform, ComposeTransform, ExpTransform, SigmoidTransform, TanhTransform,
                         Transform)
from .uniform import Uniform

__all__ = ["AffineTransform", "Bernoulli", "Beta", "Binomial", "Categorical", "ComposeTransform",
           "Dirichlet", "Distribution", "Exponential", "ExpTransform", "Gamma", "Independent", "Laplace",
           "MultivariateNormal", "Normal", "OneHotCategorical", "Poisson", "SigmoidTransform", "TanhTransform",
           "Transform", "TransformedDistribution", "Uniform", "constraints", "kl_divergence", "register_kl",
           "transforms"]
