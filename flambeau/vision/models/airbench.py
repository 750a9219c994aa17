"""A whitened, residual-free fast CIFAR-10 network (Jordan, "94 % on CIFAR-10 in 3.29 seconds on a
single GPU", 2024: the network of airbench94).

What makes it learn a lot per epoch:

- the first layer is a fixed **whitening** convolution: its 2×2 filters are the eigenvectors of
  the covariance of the training set's 2×2 patches, each divided by the square root of its
  eigenvalue, and their negatives (so that a ReLU keeps both signs). The next layers see
  decorrelated inputs of unit variance from the first step (:meth:`Airbench.init_whitening`);
- each 3×3 convolution starts as the identity on its first ``in_channels`` output channels
  (``nn.init.dirac_``) and random elsewhere;
- batch norm keeps its scale at 1 (``weight.requires_grad = False``): after a normalisation a
  learnable scale only duplicates the next layer's weights; its shift is learnt (the training
  recipe gives it a larger learning rate);
- three blocks of conv, max pool, batch norm, activation, conv, batch norm, activation; the
  pool comes before batch norm, so both run at the pooled size.
"""
from __future__ import annotations

import numpy as np

from ... import nn, tensor


class _Conv(nn.Conv2d):
    """3×3, 'same' padding, no bias, identity on the first ``in_channels`` output channels."""

    def __init__(self, in_channels, out_channels):
        super().__init__(in_channels, out_channels, 3, padding="same", bias=False)

    def reset_parameters(self):
        super().reset_parameters()
        w = self.weight.data
        nn.init.dirac_(w[:min(w.shape[0], w.shape[1])])


class _BatchNorm(nn.BatchNorm2d):
    """Batch norm whose scale stays 1; running statistics follow the last batches closely
    (momentum 0.4) since the network changes fast."""

    def __init__(self, num_features, momentum=0.4, eps=1e-12):
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.weight.requires_grad = False


class _Block(nn.Module):
    def __init__(self, in_channels, out_channels, act):
        super().__init__()
        self.conv1 = _Conv(in_channels, out_channels)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = _BatchNorm(out_channels)
        self.conv2 = _Conv(out_channels, out_channels)
        self.norm2 = _BatchNorm(out_channels)
        self.activ = act()

    def forward(self, x):
        x = self.activ(self.norm1(self.pool(self.conv1(x))))
        return self.activ(self.norm2(self.conv2(x)))


_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "celu": nn.CELU}


class Airbench(nn.Module):
    """whiten (2×2 conv, fixed weights, learnt bias) → activation → three blocks of widths
    ``widths`` → 3×3 max pool → linear without bias, its output scaled by ``scale``.

    Call :meth:`init_whitening` with training images before training; until then the whitening
    layer holds random filters. ``act``: ``'relu'`` (the default here: the cheapest on the CPU),
    ``'gelu'`` (the original's) or ``'celu'``.
    """

    def __init__(self, num_classes=10, in_channels=3, widths=(64, 256, 256), act="relu", scale=1 / 9,
                 whiten_kernel=2):
        super().__init__()
        if act not in _ACTIVATIONS:
            raise ValueError(f"Airbench: act must be one of {', '.join(_ACTIVATIONS)}, got {act!r}")
        if len(widths) != 3:
            raise ValueError(f"Airbench: widths must hold the three blocks' widths, got {widths!r}")
        whiten_width = 2 * in_channels * whiten_kernel ** 2
        self.whiten = nn.Conv2d(in_channels, whiten_width, whiten_kernel, padding=0, bias=True)
        self.whiten.weight.requires_grad = False
        self.whiten.bias.data.zero_()
        self.activ = _ACTIVATIONS[act]()
        self.block1 = _Block(whiten_width, widths[0], _ACTIVATIONS[act])
        self.block2 = _Block(widths[0], widths[1], _ACTIVATIONS[act])
        self.block3 = _Block(widths[1], widths[2], _ACTIVATIONS[act])
        self.pool = nn.MaxPool2d(3)
        self.fc = nn.Linear(widths[2], num_classes, bias=False)
        self.scale = scale

    def init_whitening(self, images, eps=5e-4):
        """Set the whitening filters from ``images (N, C, H, W)`` (normalised training images; a few
        thousand are plenty): the eigenvectors ``v`` of the covariance of every ``k×k`` patch,
        as ``v / sqrt(λ + eps)`` and ``-v / sqrt(λ + eps)``, largest eigenvalue first."""
        x = np.asarray(images.numpy() if hasattr(images, "numpy") else images)
        c, k = self.whiten.in_channels, self.whiten.kernel_size[0]
        if x.ndim != 4 or x.shape[1] != c or min(x.shape[2:]) < k:
            raise ValueError(f"Airbench.init_whitening: expected images of shape (N, {c}, H, W) with H, W >= {k}, "
                             f"got {tuple(x.shape)}")
        cov, count = np.zeros((c * k * k, c * k * k)), 0
        for i in range(0, len(x), 500):     # 500 images at a time bound the patch matrix's memory
            # every k×k patch as a row of c·k·k values, in the conv weight's (c, kh, kw) order
            windows = np.lib.stride_tricks.sliding_window_view(x[i:i + 500], (k, k), axis=(2, 3))
            patches = windows.transpose(0, 2, 3, 1, 4, 5).reshape(-1, c * k * k).astype(np.float64)
            cov += patches.T @ patches
            count += len(patches)
        eigenvalues, eigenvectors = np.linalg.eigh(cov / count)
        eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]     # eigh's order is ascending
        filters = (eigenvectors / np.sqrt(eigenvalues + eps)).T.reshape(-1, c, k, k)
        weight = self.whiten.weight
        weight.data.copy_(tensor(np.concatenate([filters, -filters]), dtype=weight.dtype))
        return self

    def forward(self, x):
        x = self.activ(self.whiten(x))
        x = self.block3(self.block2(self.block1(x)))
        return self.fc(self.pool(x).flatten(1)) * self.scale


def airbench(num_classes=10, in_shape=(3, 32, 32), width=64, act="relu", **kwargs):
    """:class:`Airbench` for ``in_shape`` images; ``width``: the first block's width (the others
    have four times as many channels; 64 is the original)."""
    return Airbench(num_classes=num_classes, in_channels=in_shape[0], widths=(width, 4 * width, 4 * width),
                    act=act, **kwargs)
