"""More ``torch.nn`` layers: padding (zero / constant / reflection / replication / circular, 1-3 d),
pixel and channel shuffles, RReLU, LP pooling, max unpooling, AdaptiveAvgPool3d and the
triplet-margin, Poisson-NLL and multilabel-margin losses. The math is in
:mod:`flambeau.nn.functional_extra` and :func:`flambeau.nn.functional.pad`."""
from __future__ import annotations

from .. import functional as F
from .. import functional_extra as FE
from .loss import _Loss
from .module import Module

__all__ = ["ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
           "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d",
           "ReplicationPad3d", "CircularPad1d", "CircularPad2d", "CircularPad3d", "PixelShuffle", "PixelUnshuffle",
           "ChannelShuffle", "RReLU", "LPPool1d", "LPPool2d", "LPPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d",
           "AdaptiveAvgPool3d", "AdaptiveMaxPool3d", "TripletMarginLoss", "PoissonNLLLoss", "MultiLabelMarginLoss", "CTCLoss", "EmbeddingBag",
           "Dropout3d", "FeatureAlphaDropout", "CosineSimilarity", "PairwiseDistance", "TripletMarginWithDistanceLoss"]


def _ntuple(v, n):
    if isinstance(v, (tuple, list)):
        return tuple(v)
    return (v,) * n


# ---------------------------------------------------------------------------- padding
class _PadNd(Module):
    __constants__ = ["padding"]
    _n = 1           # spatial dims
    _mode = "constant"

    def __init__(self, padding):
        super().__init__()
        self.padding = _ntuple(padding, 2 * self._n)

    def forward(self, input):
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self):
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    __constants__ = ["padding", "value"]

    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """``nn.ConstantPad1d(padding, value)``: pad the last dim with ``value``."""
    _n = 1


class ConstantPad2d(_ConstantPadNd):
    """``nn.ConstantPad2d(padding, value)``: (left, right, top, bottom)."""
    _n = 2


class ConstantPad3d(_ConstantPadNd):
    """``nn.ConstantPad3d(padding, value)``: (left, right, top, bottom, front, back)."""
    _n = 3


class _ZeroPad:
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad1d(_ZeroPad, ConstantPad1d):
    """``nn.ZeroPad1d(padding)``."""


class ZeroPad2d(_ZeroPad, ConstantPad2d):
    """``nn.ZeroPad2d(padding)``."""


class ZeroPad3d(_ZeroPad, ConstantPad3d):
    """``nn.ZeroPad3d(padding)``."""


class ReflectionPad1d(_PadNd):
    """``nn.ReflectionPad1d(padding)``: mirror without repeating the edge."""
    _n, _mode = 1, "reflect"


class ReflectionPad2d(_PadNd):
    _n, _mode = 2, "reflect"


class ReflectionPad3d(_PadNd):
    _n, _mode = 3, "reflect"


class ReplicationPad1d(_PadNd):
    """``nn.ReplicationPad1d(padding)``: repeat the edge value."""
    _n, _mode = 1, "replicate"


class ReplicationPad2d(_PadNd):
    _n, _mode = 2, "replicate"


class ReplicationPad3d(_PadNd):
    _n, _mode = 3, "replicate"


class _CircularPadNd(_PadNd):
    _mode = "circular"

    def forward(self, input):
        nd = input.dim()
        if nd not in (self._n + 1, self._n + 2):
            raise ValueError(f"expected {self._n + 1}D or {self._n + 2}D input (got {nd}D input)")
        return F.pad(input, self.padding, "circular")


class CircularPad1d(_CircularPadNd):
    """``nn.CircularPad1d(padding)``: wrap around."""
    _n = 1


class CircularPad2d(_CircularPadNd):
    _n = 2


class CircularPad3d(_CircularPadNd):
    _n = 3


# ---------------------------------------------------------------------------- shuffles
class PixelShuffle(Module):
    """``nn.PixelShuffle(upscale_factor)``: (*, C r^2, H, W) -> (*, C, H r, W r)."""

    __constants__ = ["upscale_factor"]

    def __init__(self, upscale_factor):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input):
        return FE.pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self):
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """``nn.PixelUnshuffle(downscale_factor)``: (*, C, H r, W r) -> (*, C r^2, H, W)."""

    __constants__ = ["downscale_factor"]

    def __init__(self, downscale_factor):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input):
        return FE.pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self):
        return f"downscale_factor={self.downscale_factor}"


class ChannelShuffle(Module):
    """``nn.ChannelShuffle(groups)``."""

    __constants__ = ["groups"]

    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, input):
        return FE.channel_shuffle(input, self.groups)

    def extra_repr(self):
        return f"groups={self.groups}"


# ---------------------------------------------------------------------------- activation
class RReLU(Module):
    """``nn.RReLU(lower=1/8, upper=1/3, inplace=False)``: random negative slopes while training,
    their mean in eval mode."""

    __constants__ = ["lower", "upper", "inplace"]

    def __init__(self, lower=1.0 / 8, upper=1.0 / 3, inplace=False):
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, input):
        return FE.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self):
        inplace_str = ", inplace=True" if self.inplace else ""
        return f"lower={self.lower}, upper={self.upper}{inplace_str}"


# ---------------------------------------------------------------------------- pooling
class _LPPoolNd(Module):
    __constants__ = ["norm_type", "kernel_size", "stride", "ceil_mode"]
    _fn = None

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        super().__init__()
        self.norm_type, self.kernel_size, self.stride, self.ceil_mode = norm_type, kernel_size, stride, ceil_mode

    def forward(self, input):
        return type(self)._fn(input, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode)

    def extra_repr(self):
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    """``nn.LPPool1d(norm_type, kernel_size, stride=None, ceil_mode=False)``."""
    _fn = staticmethod(FE.lp_pool1d)


class LPPool2d(_LPPoolNd):
    """``nn.LPPool2d(norm_type, kernel_size, stride=None, ceil_mode=False)``."""
    _fn = staticmethod(FE.lp_pool2d)


class LPPool3d(_LPPoolNd):
    """``nn.LPPool3d(norm_type, kernel_size, stride=None, ceil_mode=False)``."""
    _fn = staticmethod(FE.lp_pool3d)


class _MaxUnpoolNd(Module):
    _n = 1
    _fn = None

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = _ntuple(kernel_size, self._n)
        self.stride = _ntuple(stride if stride is not None else kernel_size, self._n)
        self.padding = _ntuple(padding, self._n)

    def forward(self, input, indices, output_size=None):
        return type(self)._fn(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """``nn.MaxUnpool1d(kernel_size, stride=None, padding=0)``."""
    _n = 1
    _fn = staticmethod(FE.max_unpool1d)


class MaxUnpool2d(_MaxUnpoolNd):
    """``nn.MaxUnpool2d(kernel_size, stride=None, padding=0)``."""
    _n = 2
    _fn = staticmethod(FE.max_unpool2d)


class MaxUnpool3d(_MaxUnpoolNd):
    """``nn.MaxUnpool3d(kernel_size, stride=None, padding=0)``."""
    _n = 3
    _fn = staticmethod(FE.max_unpool3d)


class AdaptiveAvgPool3d(Module):
    """``nn.AdaptiveAvgPool3d(output_size)``: (N, C, D, H, W) -> (N, C, *output_size)."""

    __constants__ = ["output_size"]

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return FE.adaptive_avg_pool3d(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool3d(Module):
    """``nn.AdaptiveMaxPool3d(output_size, return_indices=False)``: (N, C, D, H, W) -> (N, C, *output_size)."""

    __constants__ = ["output_size", "return_indices"]

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input):
        return FE.adaptive_max_pool3d(input, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}"


# ---------------------------------------------------------------------------- losses
class TripletMarginLoss(_Loss):
    """``nn.TripletMarginLoss(margin=1.0, p=2.0, eps=1e-6, swap=False, reduction='mean')``."""

    __constants__ = ["margin", "p", "eps", "swap", "reduction"]

    def __init__(self, margin=1.0, p=2.0, eps=1e-6, swap=False, size_average=None, reduce=None,
                 reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor, positive, negative):
        return FE.triplet_margin_loss(anchor, positive, negative, margin=self.margin, p=self.p, eps=self.eps,
                                      swap=self.swap, reduction=self.reduction)


class PoissonNLLLoss(_Loss):
    """``nn.PoissonNLLLoss(log_input=True, full=False, eps=1e-8, reduction='mean')``."""

    __constants__ = ["log_input", "full", "eps", "reduction"]

    def __init__(self, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.log_input, self.full, self.eps = log_input, full, eps

    def forward(self, log_input, target):
        return FE.poisson_nll_loss(log_input, target, log_input=self.log_input, full=self.full, eps=self.eps,
                                   reduction=self.reduction)


class MultiLabelMarginLoss(_Loss):
    """``nn.MultiLabelMarginLoss(reduction='mean')``."""

    __constants__ = ["reduction"]

    def forward(self, input, target):
        return FE.multilabel_margin_loss(input, target, reduction=self.reduction)


class CTCLoss(_Loss):
    """``nn.CTCLoss(blank=0, reduction='mean', zero_infinity=False)``: connectionist temporal
    classification of (T, N, C) log-probabilities against unsegmented target sequences."""

    __constants__ = ["blank", "reduction"]

    def __init__(self, blank=0, reduction="mean", zero_infinity=False):
        super().__init__(reduction=reduction)
        self.blank, self.zero_infinity = blank, zero_infinity

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        from ...ops.ctc import ctc_loss
        return ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank, self.reduction,
                        self.zero_infinity)


class EmbeddingBag(Module):
    """``nn.EmbeddingBag(num_embeddings, embedding_dim, max_norm=None, norm_type=2.0,
    scale_grad_by_freq=False, mode='mean', sparse=False, _weight=None, include_last_offset=False,
    padding_idx=None)``: the sum, mean or max of each bag's embeddings (``F.embedding_bag``)."""

    def __init__(self, num_embeddings, embedding_dim, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                 mode="mean", sparse=False, _weight=None, include_last_offset=False, padding_idx=None, device=None,
                 dtype=None):
        super().__init__()
        from ... import _creation
        from .. import init
        from ..parameter import Parameter
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.max_norm, self.norm_type, self.scale_grad_by_freq = max_norm, norm_type, scale_grad_by_freq
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise AssertionError("padding_idx must be within num_embeddings")
            padding_idx %= num_embeddings
        self.padding_idx = padding_idx
        if _weight is None:
            self.weight = Parameter(_creation.empty(num_embeddings, embedding_dim, dtype=dtype))
            init.normal_(self.weight)
            if padding_idx is not None:
                from ...autograd.grad_mode import no_grad
                with no_grad():
                    self.weight[padding_idx].fill_(0)
        else:
            if list(_weight.shape) != [num_embeddings, embedding_dim]:
                raise AssertionError("Shape of weight does not match num_embeddings and embedding_dim")
            self.weight = Parameter(_weight)
        self.mode, self.sparse, self.include_last_offset = mode, sparse, include_last_offset

    def forward(self, input, offsets=None, per_sample_weights=None):
        return FE.embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type, self.scale_grad_by_freq,
                                self.mode, self.sparse, per_sample_weights, self.include_last_offset,
                                self.padding_idx)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        s += f", mode='{self.mode}'"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s


class Dropout3d(Module):
    """``nn.Dropout3d(p=0.5, inplace=False)``: zero whole channels of (N, C, D, H, W)."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input):
        return FE.dropout3d(input, self.p, self.training, self.inplace)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class FeatureAlphaDropout(Dropout3d):
    """``nn.FeatureAlphaDropout(p=0.5, inplace=False)``: alpha dropout of whole channels."""

    def forward(self, input):
        return FE.feature_alpha_dropout(input, self.p, self.training)


class CosineSimilarity(Module):
    """``nn.CosineSimilarity(dim=1, eps=1e-8)``."""

    def __init__(self, dim=1, eps=1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """``nn.PairwiseDistance(p=2.0, eps=1e-6, keepdim=False)``."""

    def __init__(self, p=2.0, eps=1e-6, keepdim=False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1, x2):
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


class TripletMarginWithDistanceLoss(_Loss):
    """``nn.TripletMarginWithDistanceLoss(*, distance_function=None, margin=1.0, swap=False,
    reduction='mean')``."""

    def __init__(self, *, distance_function=None, margin=1.0, swap=False, reduction="mean"):
        super().__init__(reduction=reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginWithDistanceLoss: expected margin to be greater than 0, got {margin} "
                             "instead")
        # PyTorch's default distance is a PairwiseDistance module (a child, shown by repr)
        self.distance_function = distance_function if distance_function is not None else PairwiseDistance()
        self.margin, self.swap = margin, swap

    def forward(self, anchor, positive, negative):
        return FE.triplet_margin_with_distance_loss(anchor, positive, negative,
                                                    distance_function=self.distance_function, margin=self.margin,
                                                    swap=self.swap, reduction=self.reduction)
