"""Gradcheck cases (float64) for the activation, normalisation and loss ArrayFunctions.

Merged into ``tests/core/test_gradcheck_registry.py``'s registry, which runs each case and
checks that its graph really contains a node of the named class. Inputs are distinct values
placed away from every kink (ReLU-like corners at 0, shrink/hardtanh/hardsigmoid thresholds).
"""
import numpy as np


def _x(*shape, low=0.2, high=0.9, seed=0):
    n = int(np.prod(shape))
    return (low + (high - low) * (np.random.default_rng(seed).permutation(n) + 0.5) / n).reshape(shape)


X = _x(3, 4)
Y = _x(3, 4, seed=1) * 0.9 + 0.04  # never equal to X elementwise (l1/smooth-l1 kink at 0)
W4 = _x(4, seed=2)
IDX = np.array([1, 0, 3])
P = np.array([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25], [0.7, 0.1, 0.1, 0.1]])
T01 = np.array([[0.0, 1.0, 0.3, 0.8], [1.0, 0.0, 0.5, 0.2], [0.9, 0.1, 0.0, 1.0]])


def _F(lib):
    return lib.nn.functional


def _c(a):  # centred on 0, spread to [-1.4, 1.4]
    return (a - 0.55) * 4


GRADCHECK_CASES = {
    # ---------------------------------------------------------------- activations
    "activation.LeakyRelu": (lambda lib, a: _F(lib).leaky_relu(_c(a), 0.1), (X,)),
    "activation.Elu": (lambda lib, a: _F(lib).elu(_c(a), 1.3), (X,)),
    "activation.Hardtanh": (lambda lib, a: _F(lib).hardtanh(_c(a)), (X,)),
    "activation.Threshold": (lambda lib, a: _F(lib).threshold(_c(a), 0.1, -2.0), (X,)),
    "activation.Prelu": (lambda lib, a, w: _F(lib).prelu(_c(a), w), (X, W4)),
    "activation.Gelu": (lambda lib, a: _F(lib).gelu(_c(a)) + _F(lib).gelu(_c(a), approximate="tanh"), (X,)),
    "activation.Silu": (lambda lib, a: _F(lib).silu(_c(a)), (X,)),
    "activation.Mish": (lambda lib, a: _F(lib).mish(_c(a)), (X,)),
    "activation.Hardsigmoid": (lambda lib, a: _F(lib).hardsigmoid((a - 0.55) * 10), (X,)),
    "activation.Hardswish": (lambda lib, a: _F(lib).hardswish((a - 0.55) * 10), (X,)),
    "activation.Softplus": (lambda lib, a: _F(lib).softplus(_c(a), beta=2.0), (X,)),
    "activation.Softsign": (lambda lib, a: _F(lib).softsign(_c(a)), (X,)),
    "activation.Tanhshrink": (lambda lib, a: _F(lib).tanhshrink(_c(a)), (X,)),
    "activation.LogSigmoid": (lambda lib, a: _F(lib).logsigmoid(_c(a)), (X,)),
    "activation.Shrink": (lambda lib, a: _F(lib).hardshrink(_c(a), 0.5), (X,)),
    "activation.SoftShrink": (lambda lib, a: _F(lib).softshrink(_c(a), 0.5), (X,)),
    # ---------------------------------------------------------------- normalisation
    "activation.LayerNorm": (lambda lib, a, w, b: _F(lib).layer_norm(a, (4,), w, b), (X, W4, W4[::-1].copy())),
    "activation.RMSNorm": (lambda lib, a, w: _F(lib).rms_norm(a, (4,), w), (X, W4)),
    # ---------------------------------------------------------------- losses
    "loss.ClassNLL": (lambda lib, a: _F(lib).nll_loss(a, lib.tensor(IDX)) + _F(lib).cross_entropy(a, lib.tensor(IDX)),
                      (X,)),
    "loss.SoftTargetCE": (lambda lib, a: _F(lib).cross_entropy(a, lib.tensor(P), label_smoothing=0.1), (X,)),
    "loss.MultiMargin": (lambda lib, a: _F(lib).multi_margin_loss(a * 3, lib.tensor(IDX), p=2), (X,)),
    "loss.SquaredError": (lambda lib, a, b: _F(lib).mse_loss(a, b) + _F(lib).l1_loss(a, b), (X, Y)),
    "loss.SmoothL1": (lambda lib, a, b: _F(lib).smooth_l1_loss(a * 3, b * 3, beta=0.05)
                      + _F(lib).huber_loss(a, b, delta=0.01), (X, Y)),
    "loss.BinaryCrossEntropy": (lambda lib, a: _F(lib).binary_cross_entropy(a, lib.tensor(T01)), (X,)),
    "loss.BCEWithLogits": (lambda lib, a: _F(lib).binary_cross_entropy_with_logits(
        _c(a), lib.tensor(T01), pos_weight=lib.tensor([1.0, 2.0, 0.5, 1.5])), (X,)),
}


def test_cases_cover_distinct_values():
    # the cases rely on inputs with no exact ties or zero differences
    assert len(np.unique(X)) == X.size and not np.any(X == Y)
