"""Lazy layers (``torch.nn.LazyLinear``, ``LazyConv*d``, ``LazyConvTranspose*d``,
``LazyBatchNorm*d``): the input size is read from the first input.

Until its first call a lazy layer holds ``UninitializedParameter`` placeholders; the first
forward infers ``in_features`` / ``in_channels`` / ``num_features``, gives the placeholders
their shapes in place (so an optimizer built before that call holds the real parameters),
initialises them as the ordinary layer would, and turns the module into that layer
(``LazyLinear`` becomes ``Linear``), as PyTorch does.
"""
from __future__ import annotations

import numpy as np

from ... import _dtype as D
from ..._tensor import Tensor, _init
from ...autograd.grad_mode import no_grad
from ..parameter import Parameter
from .batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .linear import Linear

__all__ = ["UninitializedParameter", "UninitializedBuffer", "LazyModuleMixin", "LazyLinear", "LazyConv1d",
           "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyConvTranspose3d",
           "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d"]


def _np_dtype(dtype):
    if dtype is None:
        return D.get_default_dtype().np
    return dtype if isinstance(dtype, np.dtype) else D.as_dtype(dtype).np


class UninitializedParameter(Parameter):
    """A parameter without a shape yet; ``materialize(shape)`` makes it an ordinary Parameter."""

    cls_to_become = Parameter

    def __init__(self, requires_grad=True, device=None, dtype=None):
        super().__init__(None, requires_grad)
        self._data = np.empty((0,), _np_dtype(dtype))

    def materialize(self, shape, device=None, dtype=None):
        self._data = np.empty(tuple(shape), self._data.dtype if dtype is None else _np_dtype(dtype))
        self.__class__ = self.cls_to_become

    def __repr__(self):
        return "<UninitializedParameter>"

    __str__ = __repr__


class UninitializedBuffer(Tensor):
    """A buffer without a shape yet (a lazy batch norm's running statistics)."""

    __slots__ = ()          # Tensor's layout, so that materialize can make it a plain Tensor
    cls_to_become = Tensor

    def __init__(self, requires_grad=False, device=None, dtype=None):
        _init(self, np.empty((0,), _np_dtype(dtype)))

    def materialize(self, shape, device=None, dtype=None):
        self._data = np.empty(tuple(shape), self._data.dtype if dtype is None else _np_dtype(dtype))
        self.__class__ = self.cls_to_become

    def __repr__(self):
        return "<UninitializedBuffer>"


class LazyModuleMixin:
    """First forward: ``initialize_parameters(*inputs)``, then become ``cls_to_become``."""

    cls_to_become = None

    def _lazy_init(self):
        self._lazy_hook = self.register_forward_pre_hook(LazyModuleMixin._infer_parameters)

    def has_uninitialized_params(self):
        return any(isinstance(t, (UninitializedParameter, UninitializedBuffer))
                   for t in list(self._parameters.values()) + list(self._buffers.values()))

    @staticmethod
    def _infer_parameters(module, args):
        module.initialize_parameters(*args)
        if module.has_uninitialized_params():
            raise RuntimeError(f"module {type(module).__name__} has not been fully initialized")
        module._lazy_hook.remove()
        del module.__dict__["_lazy_hook"]
        if module.cls_to_become is not None:
            module.__class__ = module.cls_to_become


class LazyLinear(LazyModuleMixin, Linear):
    """``nn.LazyLinear(out_features, bias=True)``: ``in_features`` from the input's last dim."""

    cls_to_become = Linear

    def __init__(self, out_features, bias=True, device=None, dtype=None):
        Linear.__init__(self, 0, 0, False, dtype=dtype)
        self.out_features = out_features
        self.weight = UninitializedParameter(dtype=self.weight._data.dtype)
        if bias:
            self.bias = UninitializedParameter(dtype=self.weight._data.dtype)
        self._lazy_init()

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input):
        if self.has_uninitialized_params():
            with no_grad():
                self.in_features = input.shape[-1]
                self.weight.materialize((self.out_features, self.in_features))
                if self.bias is not None:
                    self.bias.materialize((self.out_features,))
                self.reset_parameters()


class _LazyConvMixin(LazyModuleMixin):
    def _lazy_conv_init(self, out_channels, bias):
        self.out_channels = out_channels
        dt = self.weight._data.dtype
        self.weight = UninitializedParameter(dtype=dt)
        self.register_parameter("bias", UninitializedParameter(dtype=dt) if bias else None)
        self._lazy_init()

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.in_channels != 0:
            super().reset_parameters()

    def initialize_parameters(self, input):
        if self.has_uninitialized_params():
            nd = self._nd
            batched = input.dim() == nd + 2
            self.in_channels = input.shape[1] if batched else input.shape[0]
            if self.in_channels % self.groups != 0:
                raise ValueError("in_channels must be divisible by groups")
            with no_grad():
                if self.transposed:
                    shape = (self.in_channels, self.out_channels // self.groups) + self.kernel_size
                else:
                    shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
                self.weight.materialize(shape)
                if self.bias is not None:
                    self.bias.materialize((self.out_channels,))
                self.reset_parameters()


def _lazy_conv(base, transposed):
    def __init__(self, out_channels, kernel_size, stride=1, padding=0, *rest, bias=True, device=None, dtype=None,
                 **kwargs):
        # the ordinary layer with 0 input and output channels, then placeholders
        if transposed:
            base.__init__(self, 0, 0, kernel_size, stride, padding, *rest, bias=False, dtype=dtype, **kwargs)
        else:
            base.__init__(self, 0, 0, kernel_size, stride, padding, *rest, bias=False, dtype=dtype, **kwargs)
        self._lazy_conv_init(out_channels, bias)
    name = "Lazy" + base.__name__
    doc = f"``nn.{name}(out_channels, kernel_size, ...)``: ``in_channels`` from the first input."
    return type(name, (_LazyConvMixin, base), {"cls_to_become": base, "__init__": __init__, "__doc__": doc,
                                               "__module__": __name__})


LazyConv1d = _lazy_conv(Conv1d, False)
LazyConv2d = _lazy_conv(Conv2d, False)
LazyConv3d = _lazy_conv(Conv3d, False)
LazyConvTranspose1d = _lazy_conv(ConvTranspose1d, True)
LazyConvTranspose2d = _lazy_conv(ConvTranspose2d, True)
LazyConvTranspose3d = _lazy_conv(ConvTranspose3d, True)


class _LazyNormMixin(LazyModuleMixin):
    def _lazy_norm_init(self):
        dt = D.get_default_dtype().np if self.weight is None else self.weight._data.dtype
        if self.affine:
            self.weight = UninitializedParameter(dtype=dt)
            self.bias = UninitializedParameter(dtype=dt)
        if self.track_running_stats:
            self.register_buffer("running_mean", UninitializedBuffer(dtype=dt))
            self.register_buffer("running_var", UninitializedBuffer(dtype=dt))
        self._lazy_init()

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.num_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input):
        if self.has_uninitialized_params():
            self.num_features = input.shape[1]
            with no_grad():
                if self.affine:
                    self.weight.materialize((self.num_features,))
                    self.bias.materialize((self.num_features,))
                if self.track_running_stats:
                    self.running_mean.materialize((self.num_features,))
                    self.running_var.materialize((self.num_features,))
                    self.num_batches_tracked.zero_()
                self.reset_parameters()


def _lazy_norm(base):
    def __init__(self, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None, dtype=None):
        base.__init__(self, 0, eps, momentum, affine, track_running_stats, dtype=dtype)
        self._lazy_norm_init()
    name = "Lazy" + base.__name__
    doc = f"``nn.{name}(eps=1e-5, momentum=0.1, affine=True, track_running_stats=True)``: ``num_features`` " \
          "from the first input."
    return type(name, (_LazyNormMixin, base), {"cls_to_become": base, "__init__": __init__, "__doc__": doc,
                                               "__module__": __name__})


LazyBatchNorm1d = _lazy_norm(BatchNorm1d)
LazyBatchNorm2d = _lazy_norm(BatchNorm2d)
LazyBatchNorm3d = _lazy_norm(BatchNorm3d)
