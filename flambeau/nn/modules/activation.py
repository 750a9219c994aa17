"""Activation layers (``torch.nn.ReLU`` …): thin Modules over :mod:`flambeau.nn.functional`.

``inplace=True`` writes the result into the input tensor (through ``ops.inplace``, which keeps
autograd correct), exactly as PyTorch's in-place activations do.
"""
from __future__ import annotations

from ... import _creation
from .. import functional as F
from ..parameter import Parameter
from .module import Module

__all__ = ["Threshold", "ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish",
           "Tanh", "Sigmoid", "Hardtanh", "Hardsigmoid", "Hardswish", "Softplus", "Softsign", "Tanhshrink",
           "LogSigmoid", "Hardshrink", "Softshrink", "GLU", "Softmax", "LogSoftmax", "Softmin", "Softmax2d"]


def _inplace_str(inplace, lead=""):
    return lead + "inplace=True" if inplace else ""


class Threshold(Module):
    """``nn.Threshold(threshold, value, inplace=False)``: x if x > threshold else value."""

    def __init__(self, threshold, value, inplace=False):
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, input):
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self):
        return f"threshold={self.threshold}, value={self.value}{_inplace_str(self.inplace, ', ')}"


class ReLU(Module):
    """``nn.ReLU(inplace=False)``: max(x, 0), any shape."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.relu(input, inplace=self.inplace)

    def extra_repr(self):
        return _inplace_str(self.inplace)


class Hardtanh(Module):
    """``nn.Hardtanh(min_val=-1.0, max_val=1.0, inplace=False)``: clamp to [min_val, max_val]."""

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__()
        if max_val <= min_val:
            raise AssertionError(f"Hardtanh: max_val ({max_val}) must be greater than min_val ({min_val})")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, input):
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}{_inplace_str(self.inplace, ', ')}"


class ReLU6(Hardtanh):
    """``nn.ReLU6(inplace=False)``: min(max(x, 0), 6)."""

    def __init__(self, inplace=False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self):
        return _inplace_str(self.inplace)


class LeakyReLU(Module):
    """``nn.LeakyReLU(negative_slope=0.01, inplace=False)``."""

    def __init__(self, negative_slope=1e-2, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}{_inplace_str(self.inplace, ', ')}"


class PReLU(Module):
    """``nn.PReLU(num_parameters=1, init=0.25)``: learnable negative slope, one per channel (dim 1)."""

    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(_creation.full((num_parameters,), float(init), dtype=dtype))

    def reset_parameters(self):
        from .. import init as _init
        _init.constant_(self.weight, self.init)

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class ELU(Module):
    """``nn.ELU(alpha=1.0, inplace=False)``."""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input):
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self):
        return f"alpha={self.alpha}{_inplace_str(self.inplace, ', ')}"


class CELU(ELU):
    """``nn.CELU(alpha=1.0, inplace=False)``."""

    def forward(self, input):
        return F.celu(input, self.alpha, self.inplace)


class SELU(Module):
    """``nn.SELU(inplace=False)``."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.selu(input, self.inplace)

    def extra_repr(self):
        return _inplace_str(self.inplace)


class SiLU(SELU):
    """``nn.SiLU(inplace=False)``: x * sigmoid(x)."""

    def forward(self, input):
        return F.silu(input, inplace=self.inplace)


class Mish(SELU):
    """``nn.Mish(inplace=False)``: x * tanh(softplus(x))."""

    def forward(self, input):
        return F.mish(input, inplace=self.inplace)


class Hardswish(SELU):
    """``nn.Hardswish(inplace=False)``."""

    def forward(self, input):
        return F.hardswish(input, self.inplace)

    def extra_repr(self):
        return ""


class Hardsigmoid(Hardswish):
    """``nn.Hardsigmoid(inplace=False)``."""

    def forward(self, input):
        return F.hardsigmoid(input, self.inplace)


class GELU(Module):
    """``nn.GELU(approximate='none')``."""

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class _Stateless(Module):
    """An activation without arguments: ``forward`` applies ``_fn``."""

    _fn = None

    def forward(self, input):
        return type(self)._fn(input)


class Tanh(_Stateless):
    """``nn.Tanh()``."""
    _fn = staticmethod(F.tanh)


class Sigmoid(_Stateless):
    """``nn.Sigmoid()``."""
    _fn = staticmethod(F.sigmoid)


class Softsign(_Stateless):
    """``nn.Softsign()``: x / (1 + |x|)."""
    _fn = staticmethod(F.softsign)


class Tanhshrink(_Stateless):
    """``nn.Tanhshrink()``: x - tanh(x)."""
    _fn = staticmethod(F.tanhshrink)


class LogSigmoid(_Stateless):
    """``nn.LogSigmoid()``."""
    _fn = staticmethod(F.logsigmoid)


class Softplus(Module):
    """``nn.Softplus(beta=1.0, threshold=20.0)``."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input):
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardshrink(Module):
    """``nn.Hardshrink(lambd=0.5)``."""

    def __init__(self, lambd=0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input):
        return F.hardshrink(input, self.lambd)

    def extra_repr(self):
        return f"{self.lambd}"


class Softshrink(Hardshrink):
    """``nn.Softshrink(lambd=0.5)``."""

    def forward(self, input):
        return F.softshrink(input, self.lambd)


class GLU(Module):
    """``nn.GLU(dim=-1)``: first half * sigmoid(second half) along dim."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.glu(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmax(GLU):
    """``nn.Softmax(dim=None)``: exp(x) / sum(exp(x)) along dim."""

    def __init__(self, dim=None):
        super().__init__(dim)

    def forward(self, input):
        return F.softmax(input, self.dim)


class LogSoftmax(Softmax):
    """``nn.LogSoftmax(dim=None)``."""

    def forward(self, input):
        return F.log_softmax(input, self.dim)


class Softmin(Softmax):
    """``nn.Softmin(dim=None)``: softmax(-x)."""

    def forward(self, input):
        return F.softmin(input, self.dim)


class Softmax2d(Module):
    """``nn.Softmax2d()``: softmax over the channels of (N, C, H, W) or (C, H, W)."""

    def forward(self, input):
        if input.dim() not in (3, 4):
            raise ValueError(f"Softmax2d: expected input to be 3D or 4D, got {input.dim()}D instead")
        return F.softmax(input, -3)
