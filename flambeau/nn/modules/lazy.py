"""Lazy layers (``torch.nn.LazyLinear``, ``LazyConv*d``, ``LazyConvTranspose*d``,
``LazyBatchNorm*d``): the input size is read from the first input.

Until its first call a lazy layer holds ``UninitializedParameter`` placeholders; the first
forward infers ``in_features`` / ``in_channels`` / ``num_features``, gives the placeholders
their shapes in place (so an optimizer built before that call holds the real parameters),
initialises them as the ordinary layer would, and turns the module into that layer
(``LazyLinear`` becomes ``Linear``), as PyTorch does.
"""
from __future__ import annotations

from ... import _dtype as D
from ... import _creation
from ...autograd.grad_mode import no_grad
from ..parameter import UninitializedBuffer, UninitializedParameter
from .batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .linear import Linear

__all__ = ["UninitializedParameter", "UninitializedBuffer", "LazyModuleMixin", "LazyLinear", "LazyConv1d",
           "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyConvTranspose3d",
           "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d"]


def _is_placeholder(module, name, t):
    """An uninitialised parameter or buffer (a dtype conversion, ``.double()``, may have turned a
    placeholder buffer into an empty plain tensor: still a placeholder)."""
    if isinstance(t, (UninitializedParameter, UninitializedBuffer)):
        return True
    return name in getattr(module, "_lazy_buffers", ()) and t is not None and t.numel() == 0


def _materialize(module, registry, name, shape):
    t = registry[name]
    if isinstance(t, (UninitializedParameter, UninitializedBuffer)):
        t.materialize(shape)
    else:                                   # a converted placeholder buffer: a new one, same dtype
        registry[name] = _creation.zeros(*shape, dtype=t.dtype)


class LazyModuleMixin:
    """First forward: ``initialize_parameters(*inputs)``, then become ``cls_to_become``."""

    cls_to_become = None

    def _lazy_init(self):
        self._lazy_hook = self.register_forward_pre_hook(LazyModuleMixin._infer_parameters)

    def _load_from_state_dict(self, state_dict, prefix, *args):
        # a checkpoint gives the placeholders their shapes (PyTorch's lazy load hook); the sizes
        # (in_features ...) follow from them
        for registry in (self._parameters, self._buffers):
            for name, t in list(registry.items()):
                key = prefix + name
                if _is_placeholder(self, name, t) and key in state_dict:
                    _materialize(self, registry, name, tuple(state_dict[key].shape))
        if not self.has_uninitialized_params():
            self._sizes_from_parameters()
        super()._load_from_state_dict(state_dict, prefix, *args)

    def has_uninitialized_params(self):
        return any(_is_placeholder(self, name, t) for registry in (self._parameters, self._buffers)
                   for name, t in registry.items())

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

    def _sizes_from_parameters(self):
        self.in_features = self.weight.shape[1]

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

    def _sizes_from_parameters(self):
        w = self.weight.shape
        self.in_channels = w[0] if self.transposed else w[1] * self.groups

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
    # PyTorch's argument order: transposed convolutions take output_padding before groups
    if transposed:
        def __init__(self, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True,
                     dilation=1, padding_mode="zeros", device=None, dtype=None):
            base.__init__(self, 0, 0, kernel_size, stride, padding, output_padding, groups, False, dilation,
                          padding_mode, dtype=dtype)
            self._lazy_conv_init(out_channels, bias)
    else:
        def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                     padding_mode="zeros", device=None, dtype=None):
            base.__init__(self, 0, 0, kernel_size, stride, padding, dilation, groups, False, padding_mode,
                          dtype=dtype)
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
            self._lazy_buffers = ("running_mean", "running_var")
        self._lazy_init()

    def _sizes_from_parameters(self):
        t = self.weight if self.weight is not None else self.running_mean
        self.num_features = t.shape[0]

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
                    _materialize(self, self._buffers, "running_mean", (self.num_features,))
                    _materialize(self, self._buffers, "running_var", (self.num_features,))
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
