"""``flambeau.special`` (``torch.special``): the special functions, implemented in
``flambeau/ops/special.py`` (NumPy only), plus the special-namespace spellings of a few ops."""
from __future__ import annotations

from .ops import sigmoid as _sigmoid, erf as _erf_op, logsumexp as _logsumexp
from .ops import softmax as _softmax, log_softmax as _log_softmax
from .ops.special import digamma, erfc, erfinv, lgamma, logit, polygamma, xlog1py, xlogy

__all__ = ["expit", "logit", "erf", "erfc", "erfinv", "log_softmax", "softmax", "logsumexp", "xlogy", "xlog1py",
           "gammaln", "digamma", "psi", "polygamma"]

gammaln = lgamma
psi = digamma


def expit(input):
    """``torch.special.expit``: the logistic sigmoid."""
    return _sigmoid(input)


def erf(input):
    """``torch.special.erf``."""
    return _erf_op(input)


def softmax(input, dim, *, dtype=None):
    """``torch.special.softmax``."""
    return _softmax(input, dim, dtype=dtype)


def log_softmax(input, dim, *, dtype=None):
    """``torch.special.log_softmax``."""
    return _log_softmax(input, dim, dtype=dtype)


def logsumexp(input, dim, keepdim=False):
    """``torch.special.logsumexp``."""
    return _logsumexp(input, dim, keepdim)
