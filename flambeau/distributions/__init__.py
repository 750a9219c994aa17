"""``torch.distributions``: probability distributions with PyTorch's API, on flambeau tensors.

Parameters broadcast together (``broadcast_all``); ``rsample`` is the reparameterised,
differentiable sample (Normal, Uniform, Exponential, Laplace, MultivariateNormal, and
transformed/independent wrappers of these; Gamma, Chi2, Beta, Dirichlet and StudentT by
implicit reparameterisation, see ``_implicit_grad``); ``log_prob``, ``entropy``,
``cdf``/``icdf`` and ``kl_divergence`` are differentiable in the parameters. All randomness comes from flambeau's
generator, so ``flambeau.manual_seed`` makes samples reproducible. Argument validation is on
by default (``Distribution.set_default_validate_args``).
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
from .cauchy import Cauchy, HalfCauchy  # noqa: E402
from .extra_transforms import AbsTransform, PowerTransform  # noqa: E402
from .geometric import Geometric, NegativeBinomial  # noqa: E402
from .gumbel import Gumbel, Pareto, Weibull  # noqa: E402
from .log_normal import HalfNormal, LogNormal  # noqa: E402
from .studentT import Chi2, StudentT  # noqa: E402
from . import kl_more  # noqa: E402,F401  (registers the KL pairs of the distributions above)
__all__ += ["AbsTransform", "Cauchy", "Chi2", "Geometric", "Gumbel", "HalfCauchy", "HalfNormal", "LogNormal",
            "NegativeBinomial", "Pareto", "PowerTransform", "StudentT", "Weibull"]
from .lowrank_multivariate_normal import LowRankMultivariateNormal  # noqa: E402
from .mixture_same_family import MixtureSameFamily  # noqa: E402
from .multinomial import Multinomial  # noqa: E402
from .relaxed_bernoulli import LogitRelaxedBernoulli, RelaxedBernoulli  # noqa: E402,F401
from .relaxed_categorical import ExpRelaxedCategorical, RelaxedOneHotCategorical  # noqa: E402,F401
__all__ += ["LowRankMultivariateNormal", "MixtureSameFamily", "Multinomial", "RelaxedBernoulli",
            "RelaxedOneHotCategorical"]
