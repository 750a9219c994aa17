"""Gradcheck cases (float64) for the convolution, pooling, upsampling and normalisation ops.

Merged into ``tests/core/test_gradcheck_registry.py``'s registry, which runs each case and checks
that its graph contains a node of the named class. Inputs hold distinct values, so that no
max-pooling window has a tie.
"""
import numpy as np


def _x(*shape, low=0.2, high=0.9, seed=0):
    n = int(np.prod(shape))
    return (low + (high - low) * (np.random.default_rng(seed).permutation(n) + 0.5) / n).reshape(shape)


X = _x(2, 3, 5, 5)
W = _x(4, 3, 3, 3, seed=1) - 0.5
WT = _x(3, 2, 3, 3, seed=2) - 0.5
B4 = _x(4, seed=3)
B3 = _x(3, seed=4)
COLS = _x(2, 3 * 2 * 2, 16, seed=5)   # fold: 4x4 positions of a 2x2 kernel over 5x5


def _F(lib):
    return lib.nn.functional


def _conv_weight_grad(lib, x, w):
    """conv's weight gradient as an op (what double backward differentiates), strided, grouped."""
    with lib.enable_grad():   # gradcheck's finite differences run under no_grad
        y = _F(lib).conv2d(x[:, :2], w[:2, :1], stride=2, padding=1, groups=2)
        return lib.autograd.grad((y ** 2).sum(), w, create_graph=True)[0]


GRADCHECK_CASES = {
    "conv.ConvNd": (lambda lib, x, w, b: _F(lib).conv2d(x, w, b, stride=2, padding=1).sum(dim=0)
                    + _F(lib).conv2d(x, w, None, dilation=2, padding="same").mean(), (X, W, B4)),
    "conv.ConvTransposeNd": (lambda lib, x, w, b: _F(lib).conv_transpose2d(x, w, b, stride=2, padding=1,
                                                                           output_padding=1), (X, WT, B3[:2].copy())),
    "conv.ConvWeight": (_conv_weight_grad, (X, W)),
    "conv.Im2Col": (lambda lib, x: _F(lib).unfold(x, kernel_size=2, padding=1, stride=2), (X,)),
    "conv.Col2Im": (lambda lib, c: _F(lib).fold(c, output_size=(5, 5), kernel_size=2), (COLS,)),
    "norm.BatchNorm": (lambda lib, x, w, b: _F(lib).batch_norm(x, None, None, w, b, training=True), (X, B3, B3[::-1].copy())),
    "norm.GroupNorm": (lambda lib, x, w, b: _F(lib).group_norm(x[:, :2], 2, w, b), (X, B3[:2].copy(), B3[1:].copy())),
    "pool.MaxPool": (lambda lib, x: _F(lib).max_pool2d(x, 2, stride=1) + 0, (X,)),
    "pool.AvgPool": (lambda lib, x: _F(lib).avg_pool2d(x, 2, padding=1, count_include_pad=False), (X,)),
    # 5x5 -> (2, 3): overlapping windows of unequal sizes; global pooling too
    "pool.AdaptiveAvg": (lambda lib, x: _F(lib).adaptive_avg_pool2d(x, (2, 3)).sum() + _F(lib).adaptive_avg_pool2d(x, 1).sum(),
                         (X,)),
    # the shared backward of the separable (one matrix per axis) ops, run through bilinear upsampling
    "pool.Separable": (lambda lib, x: _F(lib).interpolate(x, scale_factor=1.5, mode="bilinear"), (X,)),
    "pool.AdaptiveMax": (lambda lib, x: _F(lib).adaptive_max_pool2d(x, (2, 3)), (X,)),
    "pool.UpsampleNearest": (lambda lib, x: _F(lib).interpolate(x, scale_factor=2, mode="nearest"), (X,)),
    "pool.UpsampleBicubic": (lambda lib, x: _F(lib).interpolate(x, size=(7, 3), mode="bicubic"), (X,)),
    "pool.UpsampleBilinearAa": (lambda lib, x: _F(lib).interpolate(x, size=(2, 8), mode="bilinear", antialias=True),
                                (X,)),
    "pool.UpsampleBicubicAa": (lambda lib, x: _F(lib).interpolate(x, size=(3, 2), mode="bicubic", antialias=True),
                               (X,)),
    "pool.UpsampleLanczosAa": (lambda lib, x: _F(lib).interpolate(x, size=(4, 7), mode="lanczos", antialias=True),
                               (X,)),
    "pool.UpsampleLinear": (lambda lib, x: _F(lib).interpolate(x, size=(7, 8), mode="bilinear", align_corners=False),
                            (X,)),
}


def test_inputs_have_no_ties():
    assert len(np.unique(X)) == X.size
