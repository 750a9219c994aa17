"""Losses (functional and modules) against torch: values, dtypes, gradients; gradcheck; errors."""
import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn  # noqa: F401
from helpers import away_from, check, gradcheck, rand

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]


def F(lib):
    return lib.nn.functional


def T(lib, a):
    """An integer/auxiliary array as a tensor of ``lib`` (not differentiated)."""
    return lib.from_numpy(np.array(a, copy=True))


# float32 reductions and transcendental rounding differ in the last bits between libraries
def tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else {}


# ---------------------------------------------------------------- cross entropy / nll
CE_CASES = {
    "2d": ((6, 5), (6,)),
    "1d_unbatched": ((5,), ()),
    "spatial": ((3, 4, 2, 3), (3, 2, 3)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", sorted(CE_CASES))
def test_cross_entropy_class_indices(case, reduction, dtype):
    xs, ts = CE_CASES[case]
    x = rand(*xs, dtype=dtype, seed=1, low=-3, high=3)
    C = xs[1] if len(xs) > 1 else xs[0]
    t = np.random.default_rng(2).integers(0, C, ts)
    check(lambda lib, x: F(lib).cross_entropy(x, T(lib, t), reduction=reduction), x, **tol(dtype))
    w = rand(C, dtype=dtype, seed=3, low=0.2, high=2.0)
    check(lambda lib, x: F(lib).cross_entropy(x, T(lib, t), weight=T(lib, w), reduction=reduction), x,
          **tol(dtype))
    check(lambda lib, x: F(lib).cross_entropy(x, T(lib, t), weight=T(lib, w), reduction=reduction,
                                              label_smoothing=0.2), x, **tol(dtype))
    check(lambda lib, x: F(lib).nll_loss(F(lib).log_softmax(x, 1 if len(xs) > 1 else 0), T(lib, t),
                                         weight=T(lib, w), reduction=reduction), x, **tol(dtype))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_ignore_index(reduction):
    x = rand(8, 4, dtype=np.float64, seed=4)
    t = np.array([0, 3, -100, 1, 2, -100, 3, 0])
    w = rand(4, dtype=np.float64, seed=5, low=0.5, high=1.5)
    for kw in [{}, {"weight": w}, {"weight": w, "label_smoothing": 0.1}]:
        check(lambda lib, x: F(lib).cross_entropy(
            x, T(lib, t), reduction=reduction, **{k: (T(lib, v) if k == "weight" else v) for k, v in kw.items()}), x)
    t2 = np.array([0, 3, 2, 1, 2, 2, 3, 0])
    check(lambda lib, x: F(lib).nll_loss(x, T(lib, t2), ignore_index=2, reduction=reduction), x)
    # all targets ignored: mean is 0/0 = nan in both libraries
    check(lambda lib, x: F(lib).cross_entropy(x, T(lib, np.full(8, -100))), x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_class_probabilities(reduction, dtype):
    x = rand(5, 4, dtype=dtype, seed=6, low=-2, high=2)
    p = np.random.default_rng(7).dirichlet(np.ones(4), 5).astype(dtype)
    w = rand(4, dtype=dtype, seed=8, low=0.5, high=1.5)
    check(lambda lib, x, p: F(lib).cross_entropy(x, p, reduction=reduction), x, p, **tol(dtype))
    check(lambda lib, x, p: F(lib).cross_entropy(x, p, weight=T(lib, w), reduction=reduction,
                                                 label_smoothing=0.3), x, p, **tol(dtype))
    xs = rand(2, 3, 4, dtype=dtype, seed=9)
    ps = np.random.default_rng(10).dirichlet(np.ones(3), (2, 4)).transpose(0, 2, 1).astype(dtype)
    check(lambda lib, x, p: F(lib).cross_entropy(x, p, reduction=reduction), xs, ps, **tol(dtype))


def test_cross_entropy_and_nll_gradcheck():
    x = rand(4, 5, dtype=np.float64, seed=11)
    t = np.array([1, 0, 4, 2])
    w = np.array([1.0, 0.5, 2.0, 1.5, 0.7])
    for red in REDUCTIONS:
        assert gradcheck(lambda lib, x: F(lib).cross_entropy(x, T(lib, t), weight=T(lib, w), reduction=red,
                                                             label_smoothing=0.15), x)
        assert gradcheck(lambda lib, x: F(lib).nll_loss(x, T(lib, t), weight=T(lib, w), reduction=red), x)
    p = np.random.default_rng(12).dirichlet(np.ones(5), 4)
    assert gradcheck(lambda lib, x, p: F(lib).cross_entropy(x, p, label_smoothing=0.1), x, p)
    xs = rand(2, 3, 2, 2, dtype=np.float64, seed=13)
    assert gradcheck(lambda lib, x: F(lib).cross_entropy(x, T(lib, np.zeros((2, 2, 2), np.int64) + 1)), xs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_fast_path_is_bitwise_the_general_one(reduction, dtype):
    # targets all in [1, C): with ignore_index=-100 no target can be ignored (ClassNLL's short
    # path), with ignore_index=0 one could be (the general path); the numbers must not differ
    x = rand(64, 10, dtype=dtype, seed=21)
    t = np.random.default_rng(22).integers(1, 10, 64)
    out = []
    for ignore in (-100, 0):
        xf = flambeau.from_numpy(x.copy()).requires_grad_(True)
        loss = F(flambeau).cross_entropy(xf, T(flambeau, t), reduction=reduction, ignore_index=ignore)
        loss.backward()
        out.append((loss.detach().numpy(), xf.grad.numpy()))
    (l0, g0), (l1, g1) = out
    assert l0.dtype == l1.dtype == dtype
    np.testing.assert_array_equal(l0, l1)
    np.testing.assert_array_equal(g0, g1)


def test_cross_entropy_fast_path_double_backward():
    # the short path's node, differentiated twice (a gradient penalty), against PyTorch
    x = rand(8, 5, dtype=np.float64, seed=23)
    t = np.random.default_rng(24).integers(0, 5, 8)

    def penalty(lib, x):
        loss = F(lib).cross_entropy(x * x, T(lib, t))
        (g,) = lib.autograd.grad(loss, x, create_graph=True)
        return (g * g).sum()
    check(penalty, x)
    assert flambeau.autograd.gradgradcheck(lambda x: F(flambeau).cross_entropy(x, T(flambeau, t)),
                                           [flambeau.from_numpy(x).requires_grad_(True)])


def test_cross_entropy_is_one_fused_node():
    x = flambeau.randn(3, 4, requires_grad=True)
    loss = F(flambeau).cross_entropy(x, flambeau.tensor([0, 1, 3]))
    assert loss.grad_fn.name() == "NllLossBackward0"
    edges = [e for e in loss.grad_fn.next_functions if e is not None and e[0] is not None]
    assert len(edges) == 1 and type(edges[0][0]).__name__ == "AccumulateGrad"  # straight to x: no log_softmax node


def test_nll_loss_sum_call_from_course_code():
    out = F(flambeau).log_softmax(flambeau.randn(10, 3), dim=1)
    targets = flambeau.randint(0, 3, (10,))
    loss = F(flambeau).nll_loss(out, targets, reduction="sum")
    expected = -out.numpy()[np.arange(10), targets.numpy()].sum()
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-5)


def test_class_loss_errors_like_torch():
    f = F(flambeau)
    x = flambeau.randn(3, 5)
    with pytest.raises(IndexError, match="Target 12 is out of bounds."):
        f.cross_entropy(x, flambeau.tensor([1, 2, 12]))
    with pytest.raises(IndexError, match="Target -1 is out of bounds."):
        f.nll_loss(x, flambeau.tensor([1, 2, -1]))
    with pytest.raises(RuntimeError, match="expected target dtype to be Long or Byte, but got Float"):
        f.cross_entropy(x, flambeau.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match=r"Expected input batch_size \(3\) to match target batch_size \(2\)"):
        f.cross_entropy(x, flambeau.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="Expected floating point type for target with class probabilities"):
        f.cross_entropy(x, flambeau.zeros(3, 5, dtype=flambeau.int64))
    with pytest.raises(RuntimeError, match=r"Expected target size \[2, 4\], got \[2, 3\]"):
        f.cross_entropy(flambeau.randn(2, 5, 4), flambeau.zeros(2, 3, dtype=flambeau.int64))
    with pytest.raises(RuntimeError, match="weight tensor should be defined either for all 5 classes"):
        f.cross_entropy(x, flambeau.tensor([1, 2, 3]), weight=flambeau.ones(4))
    with pytest.raises(ValueError, match="bad is not a valid value for reduction"):
        f.cross_entropy(x, flambeau.tensor([1, 2, 3]), reduction="bad")


def test_empty_batch():
    check(lambda lib, x: F(lib).cross_entropy(x, T(lib, np.zeros(0, np.int64))), np.zeros((0, 5), np.float32))
    check(lambda lib, x: F(lib).nll_loss(x, T(lib, np.zeros(0, np.int64)), reduction="sum"),
          np.zeros((0, 5), np.float32))


# ---------------------------------------------------------------- pointwise losses
POINTWISE = {
    "mse": lambda lib, x, y, r: F(lib).mse_loss(x, y, reduction=r),
    "l1": lambda lib, x, y, r: F(lib).l1_loss(x, y, reduction=r),
    "smooth_l1": lambda lib, x, y, r: F(lib).smooth_l1_loss(x, y, reduction=r, beta=0.5),
    "smooth_l1_beta0": lambda lib, x, y, r: F(lib).smooth_l1_loss(x, y, reduction=r, beta=0.0),
    "huber": lambda lib, x, y, r: F(lib).huber_loss(x, y, reduction=r, delta=0.7),
    # PyTorch does not differentiate these w.r.t. the target: it is detached on both sides
    "soft_margin": lambda lib, x, y, r: F(lib).soft_margin_loss(x, lib.sign(y.detach()), reduction=r),
    "kl_div": lambda lib, x, y, r: F(lib).kl_div(x, lib.abs(y), reduction=r),
    "kl_div_log_target": lambda lib, x, y, r: F(lib).kl_div(x, y, reduction=r, log_target=True),
    "bce_with_logits": lambda lib, x, y, r: F(lib).binary_cross_entropy_with_logits(x * 4, lib.sigmoid(y), reduction=r),
    "bce": lambda lib, x, y, r: F(lib).binary_cross_entropy(lib.sigmoid(x * 3), lib.sigmoid(y), reduction=r),
    "multilabel_soft_margin": lambda lib, x, y, r: F(lib).multilabel_soft_margin_loss(x, (y.detach() > 0).to(x.dtype),
                                                                                      reduction=r),
    "hinge_embedding": lambda lib, x, y, r: F(lib).hinge_embedding_loss(x, lib.sign(y.detach()), reduction=r,
                                                                                    margin=0.5),
}


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss")  # kl_div's own warning
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", sorted(POINTWISE))
def test_pointwise_loss(name, reduction, dtype):
    fn = POINTWISE[name]
    x = rand(4, 5, dtype=dtype, seed=20, low=-2, high=2)
    y = away_from(rand(4, 5, dtype=dtype, seed=21, low=-2, high=2))
    # keep |x - y| off the kinks of l1 / smooth_l1 / huber (0, beta, delta) and hinge's margin
    x = y + away_from(x - y, (0.0, 0.5, -0.5, 0.7, -0.7))
    if name == "hinge_embedding":
        x = away_from(x, (0.5,))
    check(lambda lib, x, y: fn(lib, x, y, reduction), x, y, **tol(dtype))
    assert gradcheck(lambda lib, x, y: fn(lib, x, y, reduction), x, y)


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss")
@pytest.mark.parametrize("name", ["mse", "l1", "smooth_l1", "huber", "bce_with_logits", "kl_div"])
def test_pointwise_0d_and_empty(name):
    fn = POINTWISE[name]
    check(lambda lib, x, y: fn(lib, x, y, "mean"), np.array(0.3, np.float32), np.array(-0.4, np.float32))
    check(lambda lib, x, y: fn(lib, x, y, "sum"), np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32))


def test_mse_broadcast_warns_and_promotes_like_torch():
    with pytest.warns(UserWarning, match="target size"):
        check(lambda lib, x, y: F(lib).mse_loss(x, y), rand(3, 5), rand(3, 1, seed=1))
    check(lambda lib, x, y: F(lib).mse_loss(x, y), rand(3, 5), rand(3, 5, seed=2, dtype=np.float64))


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_weight_and_clamped_log(dtype):
    x = np.array([0.0, 1.0, 0.3, 0.9], dtype=dtype)
    y = np.array([1.0, 0.0, 0.0, 1.0], dtype=dtype)
    w = np.array([1.0, 2.0, 0.5, 1.5], dtype=dtype)
    check(lambda lib, x, y: F(lib).binary_cross_entropy(x, y, weight=T(lib, w[2:]), reduction="none"),
          x[2:], y[2:])
    # at x = 0 or 1 the input gradient divides by PyTorch's EPSILON = 1e-12, which its kernel
    # holds as a float32 (relative error 4e-9 in float64); the target gradient is +-inf there
    check(lambda lib, x, y: F(lib).binary_cross_entropy(x, y, weight=T(lib, w), reduction="none"), x, y,
          rtol=1e-8 if dtype == np.float64 else None)
    loss = F(flambeau).binary_cross_entropy(flambeau.from_numpy(x), flambeau.from_numpy(y), reduction="none")
    assert loss.numpy()[0] == 100 and loss.numpy()[1] == 100  # log clamped at -100
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F(flambeau).binary_cross_entropy(flambeau.tensor([1.5]), flambeau.tensor([1.0]))
    with pytest.raises(ValueError, match="different to the input size"):
        F(flambeau).binary_cross_entropy(flambeau.rand(3), flambeau.rand(3, 1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_weights_and_stability(dtype):
    x = rand(4, 3, dtype=dtype, seed=30, low=-3, high=3)
    y = rand(4, 3, dtype=dtype, seed=31, low=0, high=1)
    w = rand(3, dtype=dtype, seed=32, low=0.5, high=2)
    pw = rand(3, dtype=dtype, seed=33, low=0.5, high=3)
    for red in REDUCTIONS:
        # PyTorch does not differentiate w.r.t. weight and pos_weight: plain tensors there
        check(lambda lib, x, y: F(lib).binary_cross_entropy_with_logits(x, y, T(lib, w), reduction=red,
                                                                        pos_weight=T(lib, pw)), x, y, **tol(dtype))
    # flambeau also differentiates w.r.t. weight and pos_weight: gradcheck covers those gradients
    assert gradcheck(lambda lib, x, y, w, pw: F(lib).binary_cross_entropy_with_logits(x, y, w, pos_weight=pw),
                     x, y, w, pw)
    big = np.array([-200.0, -50.0, 50.0, 200.0], dtype=dtype)
    check(lambda lib, x, y: F(lib).binary_cross_entropy_with_logits(x, y, reduction="none"), big,
          np.array([1.0, 0.0, 1.0, 0.0], dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin(p, dtype):
    x = rand(6, 4, dtype=dtype, seed=40, low=-1, high=1)
    t = np.array([0, 3, 1, 2, 2, 0])
    w = rand(4, dtype=dtype, seed=41, low=0.5, high=2)
    for red in REDUCTIONS:
        check(lambda lib, x: F(lib).multi_margin_loss(x, T(lib, t), p=p, margin=0.8, reduction=red), x, **tol(dtype))
        check(lambda lib, x: F(lib).multi_margin_loss(x, T(lib, t), p=p, weight=T(lib, w), reduction=red), x,
              **tol(dtype))
    check(lambda lib, x: F(lib).multi_margin_loss(x, T(lib, np.array(2)), p=p), x[0], **tol(dtype))
    assert gradcheck(lambda lib, x: F(lib).multi_margin_loss(x, T(lib, t), p=p, weight=T(lib, w)), x)


def test_multi_margin_formula():
    # loss_i = sum_{j != y} max(0, margin - x[y] + x[j])^p / C
    x = np.array([[0.1, 0.2, 0.4, 0.8]])
    got = F(flambeau).multi_margin_loss(flambeau.from_numpy(x), flambeau.tensor([3])).item()
    assert abs(got - ((1 - 0.8 + 0.1) + (1 - 0.8 + 0.2) + (1 - 0.8 + 0.4)) / 4) < 1e-12


@pytest.mark.parametrize("dtype", DTYPES)
def test_pair_losses(dtype):
    a, b = rand(5, 4, dtype=dtype, seed=50), rand(5, 4, dtype=dtype, seed=51)
    y = np.array([1.0, -1.0, 1.0, -1.0, -1.0], dtype=dtype)
    for red in REDUCTIONS:
        check(lambda lib, a, b: F(lib).cosine_embedding_loss(a, b, T(lib, y), margin=-0.2, reduction=red), a, b,
              **tol(dtype))
        check(lambda lib, a, b: F(lib).margin_ranking_loss(a[:, 0], b[:, 0], T(lib, y), margin=0.1,
                                                           reduction=red), a, b, **tol(dtype))
    assert gradcheck(lambda lib, a, b: F(lib).cosine_embedding_loss(a, b, T(lib, y), margin=-0.2), a, b)
    assert gradcheck(lambda lib, a, b: F(lib).margin_ranking_loss(a[:, 0], b[:, 0], T(lib, y), 0.1), a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gaussian_nll(dtype):
    x, y = rand(4, 3, dtype=dtype, seed=60), rand(4, 3, dtype=dtype, seed=61)
    var = rand(4, 3, dtype=dtype, seed=62, low=0.1, high=2)
    for red in REDUCTIONS:
        check(lambda lib, x, y, v: F(lib).gaussian_nll_loss(x, y, v, full=True, reduction=red), x, y, var,
              **tol(dtype))
    check(lambda lib, x, y, v: F(lib).gaussian_nll_loss(x, y, v[:, 0]), x, y, var, **tol(dtype))
    assert gradcheck(lambda lib, x, y, v: F(lib).gaussian_nll_loss(x, y, v), x, y, var)


def test_kl_div_batchmean():
    x = np.log(np.random.default_rng(70).dirichlet(np.ones(5), 4))
    y = np.random.default_rng(71).dirichlet(np.ones(5), 4)
    y[0, 0] = 0.0  # 0 * log 0 counts as 0 (the target is not differentiated at 0)
    check(lambda lib, x: F(lib).kl_div(x, T(lib, y), reduction="batchmean"), x)
    check(lambda lib, x, y: F(lib).kl_div(x, y, reduction="batchmean"), x, y + 0.01)
    check(lambda lib, x, y: F(lib).kl_div(x, lib.log(y + 1e-3), reduction="batchmean", log_target=True), x, y)


# ---------------------------------------------------------------- modules
def test_loss_modules_match_functional_and_torch():
    x = rand(6, 4, dtype=np.float64, seed=80)
    t = np.array([0, 3, 1, 2, 2, 0])
    y = rand(6, 4, dtype=np.float64, seed=81)
    w = np.array([1.0, 2.0, 0.5, 1.0])
    cases = [
        (lambda nn: nn.CrossEntropyLoss(), lambda lib: T(lib, t)),
        (lambda nn: nn.CrossEntropyLoss(weight=T(nn.functional.__name__.startswith("torch") and torch or flambeau, w),
                                        label_smoothing=0.1, reduction="sum"), lambda lib: T(lib, t)),
        (lambda nn: nn.NLLLoss(ignore_index=2), lambda lib: T(lib, t)),
        (lambda nn: nn.MultiMarginLoss(p=2, margin=0.5), lambda lib: T(lib, t)),
        (lambda nn: nn.MSELoss(reduction="none"), lambda lib: T(lib, y)),
        (lambda nn: nn.L1Loss(), lambda lib: T(lib, y)),
        (lambda nn: nn.SmoothL1Loss(beta=0.3), lambda lib: T(lib, y)),
        (lambda nn: nn.HuberLoss(delta=0.4), lambda lib: T(lib, y)),
        (lambda nn: nn.BCEWithLogitsLoss(pos_weight=T(nn.functional.__name__.startswith("torch") and torch
                                                      or flambeau, w)), lambda lib: T(lib, (y > 0) * 1.0)),
        (lambda nn: nn.SoftMarginLoss(), lambda lib: T(lib, np.sign(y))),
        (lambda nn: nn.KLDivLoss(reduction="batchmean", log_target=True), lambda lib: T(lib, y)),
        (lambda nn: nn.MultiLabelSoftMarginLoss(), lambda lib: T(lib, (y > 0) * 1.0)),
    ]
    for make, target in cases:
        check(lambda lib, x: make(lib.nn)(x, target(lib)), x)
    check(lambda lib, x: lib.nn.BCELoss()(lib.sigmoid(x), T(lib, (y > 0) * 1.0)), x)
    check(lambda lib, a, b: lib.nn.CosineEmbeddingLoss(0.1)(a, b, T(lib, np.sign(y[:, 0]))), x, y)
    check(lambda lib, a, b: lib.nn.MarginRankingLoss(0.1)(a[:, 0], b[:, 0], T(lib, np.sign(y[:, 1]))), x, y)
    check(lambda lib, a, b: lib.nn.GaussianNLLLoss()(a, b, T(lib, np.abs(y) + 0.1)), x, y)


def test_loss_module_repr_and_weight_buffer():
    m = flambeau.nn.CrossEntropyLoss(weight=flambeau.ones(3))
    assert repr(m) == "CrossEntropyLoss()"
    assert list(m.state_dict()) == list(torch.nn.CrossEntropyLoss(weight=torch.ones(3)).state_dict()) == ["weight"]
    assert list(flambeau.nn.MSELoss().state_dict()) == []
