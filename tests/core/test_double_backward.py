"""Double backward (``create_graph=True``): gradients that are themselves differentiable.

* every op with a ``backward_graph`` passes ``gradgradcheck`` on its registry case (float64,
  finite differences of the first derivatives, atol 1e-5 / rtol 1e-3 as gradcheck);
* Hessians, Hessian-vector products, gradient penalties and ``.grad`` with a history match
  PyTorch (float64: rtol 1e-10, atol 1e-12; float32: rtol 1e-4, atol 1e-5);
* an op without a double backward makes the second backward fail loudly, never silently.
"""
import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn.functional as F
from flambeau.autograd.function import _backward_graph_of
from helpers import make_exp


def _registry():
    """The gradcheck registry module (tests are imported by path: it is not on sys.path)."""
    import importlib.util
    import os
    import sys
    name = "_registry_for_double_backward"
    if name not in sys.modules:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_gradcheck_registry.py")
        spec = importlib.util.spec_from_file_location(name, path)
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


ALL, CASES, _node_classes = _registry().ALL, _registry().CASES, _registry()._node_classes

F64 = dict(rtol=1e-10, atol=1e-12)
F32 = dict(rtol=1e-4, atol=1e-5)

# registry cases that cannot check second derivatives, and why
_SKIP = {
    "elementwise.Maximum": "the case has ties, where the gradient jumps (no second derivative)",
    "elementwise.Minimum": "the case has ties, where the gradient jumps (no second derivative)",
    "indexing.ScatterReduce": "the case includes reduce='prod', first-order only; the sum, mean, amax and amin "
                              "reductions are checked in test_second_derivatives_match_torch[scatter_reduce]",
}

TWICE = sorted(k for k in CASES if k in ALL and _backward_graph_of(ALL[k]) is not None)


def test_the_core_ops_have_a_double_backward():
    needed = ["elementwise.Add", "elementwise.Mul", "elementwise.Div", "elementwise.Relu", "elementwise.PowScalar",
              "reduce.Sum", "reduce.Mean", "reduce.LogSoftmax", "reduce.Softmax", "reduce.VectorNorm",
              "shape.Reshape", "shape.Permute", "shape.Expand", "shape.Slice", "shape.Cat", "indexing.Index",
              "linalg.Matmul", "linalg.Linear", "conv.ConvNd", "conv.ConvTransposeNd", "conv.ConvWeight",
              "loss.ClassNLL", "loss.SquaredError", "loss.BCEWithLogits", "activation.LeakyRelu"]
    assert not [k for k in needed if k not in TWICE]


@pytest.mark.parametrize("name", TWICE)
def test_gradgradcheck_case(name):
    if name in _SKIP:
        pytest.skip(_SKIP[name])
    fn, arrays, *opts = CASES[name]
    opts = dict(opts[0]) if opts else {}
    if opts.pop("raises", None) is not None:
        pytest.skip("the case checks an error")
    opts.pop("nondiff", None)
    ins = [flambeau.from_numpy(np.array(a, dtype=np.float64)).requires_grad_(True) for a in arrays]
    out = fn(flambeau, *ins)
    assert any(issubclass(c, ALL[name]) for c in _node_classes(out))
    # backward_graph gives the same first derivatives as backward (gradgradcheck alone cannot
    # tell: it differentiates backward_graph's own output)
    outs = [o for o in (out if isinstance(out, tuple) else (out,)) if isinstance(o, flambeau.Tensor) and o.requires_grad]
    rng = np.random.default_rng(0)
    cots = [flambeau.from_numpy(rng.standard_normal(tuple(o.shape))) for o in outs]
    plain = flambeau.autograd.grad(outs, ins, cots, retain_graph=True, allow_unused=True)
    graph = flambeau.autograd.grad(outs, ins, cots, create_graph=True, allow_unused=True)
    for p_, g_ in zip(plain, graph):
        assert (p_ is None) == (g_ is None)
        if p_ is not None:
            np.testing.assert_allclose(g_.detach().numpy(), p_.numpy(), rtol=1e-12, atol=1e-12)
    assert flambeau.autograd.gradgradcheck(lambda *xs: fn(flambeau, *xs), ins, **opts)


# ---------------------------------------------------------------------------- against PyTorch
def _both(a, requires_grad=True):
    a = np.array(a, copy=True)
    return (flambeau.from_numpy(a.copy()).requires_grad_(requires_grad),
            torch.from_numpy(a.copy()).requires_grad_(requires_grad))


def _close(f, t, tol):
    np.testing.assert_allclose(f.detach().numpy(), t.detach().numpy(), **tol)


def test_hessian_of_an_mlp_loss_matches_torch():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 5))
    y = rng.integers(0, 3, 8)
    W1, b1, W2 = rng.standard_normal((6, 5)) * 0.5, rng.standard_normal(6) * 0.1, rng.standard_normal((3, 6)) * 0.5

    def loss(lib, F_, w1, bias, w2):
        h = lib.tanh(F_.linear(lib.from_numpy(X), w1, bias))
        h = F_.leaky_relu(h * 2 - 0.3, 0.1) + lib.sigmoid(h) ** 2
        return F_.cross_entropy(h @ w2.t(), lib.from_numpy(y))

    fl = flambeau.autograd.functional.hessian(lambda *p: loss(flambeau, F, *p),
                                              tuple(flambeau.from_numpy(a.copy()) for a in (W1, b1, W2)))
    th = torch.autograd.functional.hessian(lambda *p: loss(torch, torch.nn.functional, *p),
                                           tuple(torch.from_numpy(a.copy()) for a in (W1, b1, W2)))
    for i in range(3):
        for j in range(3):
            _close(fl[i][j], th[i][j], F64)


def test_gradient_penalty_through_a_conv_critic_matches_torch():
    """WGAN-GP: the norm of d critic / d input, backpropagated into the critic's parameters."""
    rng = np.random.default_rng(1)
    params = [rng.standard_normal((4, 2, 3, 3)) * 0.3, rng.standard_normal(4) * 0.1,
              rng.standard_normal((3, 4, 3, 3)) * 0.3, rng.standard_normal((1, 3 * 2 * 2)) * 0.3]
    xs = rng.standard_normal((5, 2, 8, 8))
    grads = {}
    for lib, F_ in ((flambeau, F), (torch, torch.nn.functional)):
        p = [lib.from_numpy(a.copy()).requires_grad_(True) for a in params]
        x = lib.from_numpy(xs.copy()).requires_grad_(True)
        h = F_.leaky_relu(F_.conv2d(x, p[0], p[1], stride=2, padding=1), 0.2)
        h = F_.softplus(F_.conv2d(h, p[2], padding=1, stride=2))
        score = F_.linear(h.reshape(5, -1), p[3])
        g, = lib.autograd.grad(score.sum(), x, create_graph=True)
        penalty = ((g.reshape(5, -1).norm(2, dim=1) - 1) ** 2).mean()
        penalty.backward()
        grads[lib.__name__] = [penalty] + [q.grad for q in p] + [x.grad]
    for f, t in zip(grads["flambeau"], grads["torch"]):
        _close(f, t, F64)


def test_grad_with_create_graph_is_differentiable_and_float32_stays_float32():
    a = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    (xf, xt) = _both(a)
    out = {}
    for lib, x in ((flambeau, xf), (torch, xt)):
        y = (lib.exp(x * 0.5) * lib.sin(x)).sum() + (x @ x.t()).pow(2).mean()
        g, = lib.autograd.grad(y, x, create_graph=True)
        assert g.requires_grad and g.grad_fn is not None
        h, = lib.autograd.grad((g * g).sum(), x)
        out[lib.__name__] = (g, h)
    assert out["flambeau"][0].dtype == flambeau.float32 and out["flambeau"][1].dtype == flambeau.float32
    _close(out["flambeau"][0], out["torch"][0], F32)
    _close(out["flambeau"][1], out["torch"][1], F32)


def test_backward_create_graph_gives_grad_a_history():
    for lib in (flambeau, torch):
        x = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
        (x ** 3).sum().backward(create_graph=True)
        assert x.grad.grad_fn is not None
        g = x.grad
        x.grad = None
        g.sum().backward()             # d/dx sum(3 x^2) = 6 x
        np.testing.assert_allclose(x.grad.detach().numpy(), [6.0, 12.0, 18.0])
        # a second create_graph backward adds out of place: the first .grad keeps its value
        x.grad = None
        (x ** 2).sum().backward(create_graph=True)
        first = x.grad
        (x ** 2).sum().backward(create_graph=True)
        np.testing.assert_allclose(first.detach().numpy(), [2.0, 4.0, 6.0])
        np.testing.assert_allclose(x.grad.detach().numpy(), [4.0, 8.0, 12.0])


def test_functional_products_match_torch():
    rng = np.random.default_rng(3)
    a = rng.standard_normal(5)
    v = rng.standard_normal(5)
    M = rng.standard_normal((3, 5))

    def f(lib, x):
        return (lib.tanh(lib.from_numpy(M) @ x) ** 2).sum() + (x * x * x).mean()

    def g(lib, x):
        return lib.sigmoid(lib.from_numpy(M) @ x) * 3

    fl, th = flambeau.autograd.functional, torch.autograd.functional
    xf, xt = flambeau.from_numpy(a.copy()), torch.from_numpy(a.copy())
    vf, vt = flambeau.from_numpy(v.copy()), torch.from_numpy(v.copy())
    for name in ("hvp", "vhp"):
        rf, rt = getattr(fl, name)(lambda x: f(flambeau, x), xf, vf), getattr(th, name)(lambda x: f(torch, x), xt, vt)
        _close(rf[0], rt[0], F64)
        _close(rf[1], rt[1], F64)
    _close(fl.hessian(lambda x: f(flambeau, x), xf), th.hessian(lambda x: f(torch, x), xt), F64)
    rf, rt = fl.jvp(lambda x: g(flambeau, x), xf, vf), th.jvp(lambda x: g(torch, x), xt, vt)
    _close(rf[1], rt[1], F64)
    u = rng.standard_normal(3)
    rf = fl.vjp(lambda x: g(flambeau, x), xf, flambeau.from_numpy(u.copy()))
    rt = th.vjp(lambda x: g(torch, x), xt, torch.from_numpy(u.copy()))
    _close(rf[1], rt[1], F64)
    _close(fl.jacobian(lambda x: g(flambeau, x), xf), th.jacobian(lambda x: g(torch, x), xt), F64)
    # create_graph=True: the Hessian-vector product itself is differentiable
    xf2, xt2 = flambeau.from_numpy(a.copy()).requires_grad_(True), torch.from_numpy(a.copy()).requires_grad_(True)
    hf = fl.hvp(lambda x: f(flambeau, x), xf2, vf, create_graph=True)[1].sum()
    ht = th.hvp(lambda x: f(torch, x), xt2, vt, create_graph=True)[1].sum()
    hf.backward()
    ht.backward()
    _close(xf2.grad, xt2.grad, F64)


def test_custom_function_saved_output_double_backward():
    """A user Function that saves its output: the second derivative flows through it."""
    res = {}
    for lib in (flambeau, torch):
        x = lib.tensor([0.1, -0.4, 1.2], dtype=lib.float64, requires_grad=True)
        y = make_exp(lib).apply(x * 2)
        g, = lib.autograd.grad(y.sum(), x, create_graph=True)
        h, = lib.autograd.grad(g.sum(), x)
        res[lib.__name__] = (g, h)
    _close(res["flambeau"][0], res["torch"][0], F64)
    _close(res["flambeau"][1], res["torch"][1], F64)   # 4 exp(2x)


def test_once_differentiable_custom_function_refuses_a_second_backward():
    class Square(flambeau.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @flambeau.autograd.function.once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * g * x

    x = flambeau.tensor([1.0, 2.0], requires_grad=True)
    g, = flambeau.autograd.grad(Square.apply(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), [2.0, 4.0])
    with pytest.raises(RuntimeError, match="not implemented"):
        g.sum().backward()


def test_an_op_without_double_backward_fails_loudly_on_the_second_backward():
    x = flambeau.randn(2, 3, 4, 4, requires_grad=True)
    def ctc(a):
        lp = F.log_softmax(a.reshape(8, 2, 6), 2)
        return F.ctc_loss(lp, flambeau.tensor([[1, 2, 3], [4, 5, 0]]), [8, 8], [3, 2])
    y = ctc(x) ** 2
    g, = flambeau.autograd.grad(y, x, create_graph=True)   # the first derivative is fine
    assert g.grad_fn is not None
    np.testing.assert_allclose(g.detach().numpy(), flambeau.autograd.grad(ctc(x) ** 2, x)[0].numpy())
    with pytest.raises(RuntimeError, match="CtcLossBackward0's backward is not implemented"):
        g.sum().backward()
    # a gradient that does not reach the op is unaffected
    z = (x * x).sum() + ctc(x.detach())
    g2, = flambeau.autograd.grad(z, x, create_graph=True)
    g2.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(x.shape, 2.0))


def test_retain_graph_defaults_to_create_graph():
    x = flambeau.tensor([1.0, 2.0], requires_grad=True)
    y = (x ** 3).sum()
    flambeau.autograd.grad(y, x, create_graph=True)
    g, = flambeau.autograd.grad(y, x)        # the graph is still there
    np.testing.assert_allclose(g.numpy(), [3.0, 12.0])
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        flambeau.autograd.grad(y, x)


def test_hooks_see_and_replace_graph_gradients():
    x = flambeau.tensor([1.0, 2.0], dtype=flambeau.float64, requires_grad=True)
    y = x * x
    y.register_hook(lambda g: g * 3)
    g, = flambeau.autograd.grad(y.sum(), x, create_graph=True)
    assert g.grad_fn is not None
    np.testing.assert_allclose(g.detach().numpy(), [6.0, 12.0])
    h, = flambeau.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), [6.0, 6.0])


@pytest.mark.parametrize("layer", ["batch_norm", "batch_norm_eval", "layer_norm", "group_norm", "rms_norm"])
def test_normalisation_double_backward_matches_torch(layer):
    rng = np.random.default_rng(4)
    xs = rng.standard_normal((4, 6, 3, 3))
    ws, bs = rng.standard_normal(6) + 1.0, rng.standard_normal(6)
    lw = rng.standard_normal((3, 3)) + 1.0
    rm, rv = rng.standard_normal(6) * 0.1, rng.uniform(0.5, 2.0, 6)
    res = {}
    for lib, F_ in ((flambeau, F), (torch, torch.nn.functional)):
        x = lib.from_numpy(xs.copy()).requires_grad_(True)
        w = lib.from_numpy(ws.copy()).requires_grad_(True)
        b = lib.from_numpy(bs.copy()).requires_grad_(True)
        if layer == "batch_norm":
            y = F_.batch_norm(x, None, None, w, b, training=True)
        elif layer == "batch_norm_eval":
            y = F_.batch_norm(x, lib.from_numpy(rm.copy()), lib.from_numpy(rv.copy()), w, b, training=False)
        elif layer == "group_norm":
            y = F_.group_norm(x, 3, w, b)
        elif layer == "layer_norm":
            w = lib.from_numpy(lw.copy()).requires_grad_(True)
            y = F_.layer_norm(x, (3, 3), w, b[:3].reshape(1, 3).expand(3, 3).contiguous())
        else:
            w = lib.from_numpy(lw.copy()).requires_grad_(True)
            y = F_.rms_norm(x, (3, 3), w, eps=1e-6)
        loss = (lib.tanh(y) ** 2).sum()
        gx, gw = lib.autograd.grad(loss, (x, w), create_graph=True)
        ((gx ** 2).sum() + (gw ** 3).sum()).backward()
        res[lib.__name__] = (gx, gw, x.grad, w.grad)
    for f, t in zip(res["flambeau"], res["torch"]):
        _close(f, t, dict(rtol=1e-9, atol=1e-11))


@pytest.mark.parametrize("pool", ["max", "max_overlap", "avg", "adaptive_avg", "nearest", "bilinear"])
def test_pooling_double_backward_matches_torch(pool):
    rng = np.random.default_rng(5)
    xs = rng.permutation(2 * 3 * 6 * 6).reshape(2, 3, 6, 6) / 50.0   # distinct: no max ties
    res = {}
    for lib, F_ in ((flambeau, F), (torch, torch.nn.functional)):
        x = lib.from_numpy(xs.copy()).requires_grad_(True)
        h = lib.sin(x * 3)
        if pool == "max":
            y = F_.max_pool2d(h, 2)
        elif pool == "max_overlap":
            y = F_.max_pool2d(h, 3, stride=2, padding=1)
        elif pool == "avg":
            y = F_.avg_pool2d(h, 3, stride=2, padding=1, count_include_pad=False)
        elif pool == "adaptive_avg":
            y = F_.adaptive_avg_pool2d(h, (4, 3))
        elif pool == "nearest":
            y = F_.interpolate(h, scale_factor=2, mode="nearest")
        else:
            y = F_.interpolate(h, size=(9, 7), mode="bilinear", align_corners=False)
        g, = lib.autograd.grad((y ** 3).sum(), x, create_graph=True)
        (g ** 2).sum().backward()
        res[lib.__name__] = (g, x.grad)
    for f, t in zip(res["flambeau"], res["torch"]):
        _close(f, t, F64)


def test_autograd_grad_runs_only_what_leads_to_the_inputs():
    """Gradients w.r.t. an input image compute no weight gradient (and run no node for it)."""
    calls = []

    class Spy(flambeau.autograd.Function):
        @staticmethod
        def forward(ctx, w):
            return w * 1

        @staticmethod
        def backward(ctx, g):
            calls.append(1)
            return g

    x = flambeau.randn(3, 4, requires_grad=True)
    w = flambeau.randn(5, 4, requires_grad=True)
    loss = F.linear(x, Spy.apply(w)).pow(2).sum()
    gx, = flambeau.autograd.grad(loss, x, retain_graph=True)
    assert calls == [] and w.grad is None
    # the Linear node itself computes no weight gradient for a gradient of x alone
    from flambeau.ops.linalg import Linear
    seen = []
    original = Linear.__dict__["backward"]
    Linear.backward = staticmethod(lambda ctx, g: (seen.append(ctx.needs_input_grad[:2]),
                                                   original.__func__(ctx, g))[1])
    try:
        flambeau.autograd.grad(loss, x, retain_graph=True)
    finally:
        Linear.backward = original
    assert seen == [(True, False)]
    gw, = flambeau.autograd.grad(loss, w)
    assert calls == [1]
    np.testing.assert_allclose(gx.numpy(), (2 * (x @ w.t()) @ w).detach().numpy(), rtol=1e-5, atol=1e-5)


def _setitem(lib, x):
    y = x * 1
    y[1:3, ::2] = lib.sin(x[:2, :3]) * 2
    return y


def _relu_inplace(lib, x):
    y = lib.tanh(x) * 3
    lib.nn.functional.relu(y, inplace=True)
    return y * x


_INDEX = np.array([2, 0, 2, 1])
_SECOND_ORDER = {
    "einsum": lambda lib, x: lib.einsum("ij,kj->ik", x, lib.sin(x)),
    "einsum_trace": lambda lib, x: lib.einsum("ii->i", x[:, :4] @ x[:, :4].t()) * x.sum(),
    "index_select": lambda lib, x: lib.index_select(lib.sin(x), 0, lib.from_numpy(_INDEX)) * x[:4],
    "masked_fill": lambda lib, x: lib.exp(x).masked_fill(lib.from_numpy(np.eye(4, 6, dtype=bool)), 0.5) * x,
    "scatter": lambda lib, x: lib.zeros(4, 6, dtype=lib.float64).scatter(
        1, lib.from_numpy(np.argsort(np.arange(24).reshape(4, 6) % 5, 1)[:, :3].copy()), x[:, :3] ** 2) * x,
    "scatter_reduce": lambda lib, x: sum(
        (x ** 2).scatter_reduce(1, lib.from_numpy(np.array([[0, 1, 0], [2, 2, 1], [5, 3, 3], [4, 4, 0]])),
                                lib.sin(x[:, :3]) * x[:, 3:], reduce=r, include_self=inc) * x
        for r in ("sum", "mean", "amax", "amin") for inc in (True, False)),
    "gather": lambda lib, x: lib.gather(x * x, 1, lib.from_numpy(np.array([[0, 5], [1, 1], [3, 2], [4, 0]]))),
    "index_add": lambda lib, x: lib.zeros(3, 6, dtype=lib.float64).index_add(0, lib.from_numpy(_INDEX[:3]),
                                                                             x[:3] ** 2) * x[:3],
    "setitem": lambda lib, x: _setitem(lib, x) ** 2,
    "relu_inplace": _relu_inplace,
    "cumsum_cumprod_prod": lambda lib, x: lib.cumsum(x ** 2, 1) + lib.cumprod(x + 2.0, 0) + lib.prod(x, 0) * x.prod(),
    "repeat_tril": lambda lib, x: lib.tril(x.repeat(2, 1) ** 2, -1) * lib.exp(x.repeat(2, 1)),
    "diagonal_diag_embed": lambda lib, x: lib.diag_embed(lib.diagonal(x * x, 1)) ** 2,
    "unfold_dim": lambda lib, x: (x ** 2).unfold(1, 3, 2) * 2,
    "fold_unfold": lambda lib, x: lib.nn.functional.fold(
        lib.nn.functional.unfold((x ** 2).reshape(1, 1, 4, 6), 2, stride=1), (4, 6), 2, stride=1) * x,
    "adaptive_max": lambda lib, x: lib.nn.functional.adaptive_max_pool2d((x ** 3).reshape(1, 1, 4, 6), (2, 4)),
    "logcumsumexp": lambda lib, x: lib.logcumsumexp(x * x, 1) * x,
    "pad": lambda lib, x: (lib.nn.functional.pad(x ** 2, (1, 2, 1, 0), value=0.5)
                           + lib.nn.functional.pad((x ** 3).reshape(1, 4, 6), (2, 3), mode="reflect").sum()
                           + lib.nn.functional.pad((x * x).reshape(1, 1, 4, 6), (1, 1, 2, 2), mode="replicate").sum()
                           + lib.nn.functional.pad(lib.sin(x).reshape(1, 1, 4, 6), (2, 2, 1, 1), mode="circular").sum()),
    "embedding": lambda lib, x: lib.nn.functional.embedding(lib.from_numpy(np.array([[0, 2], [2, 3], [1, 2]])), x ** 2,
                                                            padding_idx=1) * x[:3, :1].unsqueeze(1),
    "embedding_scaled": lambda lib, x: lib.nn.functional.embedding(
        lib.from_numpy(np.array([[0, 2], [2, 3], [1, 2]])), x ** 2, scale_grad_by_freq=True) * x[:3, :2].unsqueeze(2),
    "max_unpool_overlap": lambda lib, x: lib.nn.functional.max_unpool2d(
        *lib.nn.functional.max_pool2d((x ** 3).reshape(1, 1, 4, 6), 3, 1, return_indices=True), 3, 1) * x.reshape(1, 1, 4, 6),
    "grid_sample": lambda lib, x: lib.nn.functional.grid_sample(
        (x ** 3).reshape(1, 1, 4, 6), lib.from_numpy(np.random.default_rng(7).uniform(-1.1, 1.1, (1, 3, 5, 2))),
        align_corners=False) * x[:3, :5].reshape(1, 1, 3, 5),
    "multi_margin": lambda lib, x: sum(
        lib.nn.functional.multi_margin_loss(x * x, lib.from_numpy(np.array([0, 3, 5, 2])), p=p, margin=m,
                                            weight=lib.from_numpy(np.linspace(0.5, 1.5, 6)), reduction=r) * x.sum()
        for p, m, r in ((1, 1.0, "mean"), (2, 0.7, "sum"), (2, 1.3, "mean"), (1, 0.5, "sum"))),
    "multi_margin_none": lambda lib, x: lib.nn.functional.multi_margin_loss(
        lib.sin(x) * 2, lib.from_numpy(np.array([1, 0, 4, 2])), p=2, reduction="none") * x[:, 0],
    "rrelu_eval": lambda lib, x: lib.nn.functional.rrelu(x ** 3, training=False) * x,
    "max_unpool": lambda lib, x: lib.nn.functional.max_unpool2d(
        *lib.nn.functional.max_pool2d((x ** 3).reshape(1, 1, 4, 6), 2, return_indices=True), 2) * x.reshape(1, 1, 4, 6),
    "multilabel_margin": lambda lib, x: lib.nn.functional.multilabel_margin_loss(
        x * x, lib.from_numpy(np.array([[0, 3, -1, 0, 0, 0], [5, -1, 0, 0, 0, 0], [1, 2, 4, -1, 0, 0],
                                        [2, -1, 0, 0, 0, 0]])), reduction="none") * x.sum(1),
    "flip_roll": lambda lib, x: lib.roll(lib.flip(x ** 2, (0,)), 2, 1) * x,
    "pow_tensor": lambda lib, x: (x.abs() + 0.5) ** lib.cos(x),
    "rpow": lambda lib, x: 2.0 ** (x * x),
    "clamp_tensor": lambda lib, x: lib.clamp(x ** 2, min=x * 0.5, max=x * 0 + 0.7) * x,
    "remainder": lambda lib, x: lib.remainder(x ** 2 * 3, x.abs() + 0.3) * x,
    "nan_to_num_where": lambda lib, x: lib.nan_to_num(lib.where(x > 0, x ** 3, x ** 2)),
    "max_dim_sort": lambda lib, x: lib.max(x ** 3, 1).values + lib.sort(lib.sin(x), 1).values.sum(1),
    "var_std_logsumexp": lambda lib, x: lib.var(x ** 2, 1) + lib.std(lib.sin(x), 0).sum() + lib.logsumexp(x * x, 1),
    "smooth_l1_bce_soft_ce": lambda lib, x: (
        lib.nn.functional.smooth_l1_loss(x ** 2, lib.sin(x), beta=0.5)
        + lib.nn.functional.binary_cross_entropy(lib.sigmoid(x), lib.sigmoid(x * 0 + 0.3))
        + lib.nn.functional.cross_entropy(x * x, lib.softmax(x.t() @ x, 1)[:4], label_smoothing=0.1)),
    "activations": lambda lib, x: (lib.nn.functional.gelu(x) + lib.nn.functional.silu(x) + lib.nn.functional.elu(x)
                                   + lib.nn.functional.softplus(x) + lib.nn.functional.mish(x)
                                   + lib.nn.functional.logsigmoid(x) + lib.nn.functional.softsign(x)
                                   + lib.nn.functional.tanhshrink(x) + lib.nn.functional.hardswish(x * 2)
                                   + lib.nn.functional.gelu(x, approximate="tanh")) * x,
}


# PyTorch has no double backward for these: checked by finite differences instead
_TORCH_LACKS = {"multilabel_margin", "multi_margin", "multi_margin_none"}


@pytest.mark.parametrize("name", sorted(_SECOND_ORDER))
def test_second_derivatives_match_torch(name):
    """g = d sum(f(x) * c) / dx with create_graph, then d sum(g^2) / dx, against PyTorch (float64)."""
    fn = _SECOND_ORDER[name]
    rng = np.random.default_rng(6)
    xs = rng.uniform(-1.5, 1.5, (4, 6))
    if name in _TORCH_LACKS:
        x = flambeau.from_numpy(xs).requires_grad_(True)
        assert flambeau.autograd.gradgradcheck(lambda a: fn(flambeau, a), (x,))
        return
    res = {}
    for lib in (flambeau, torch):
        x = lib.from_numpy(xs.copy()).requires_grad_(True)
        y = fn(lib, x)
        c = lib.from_numpy(np.linspace(-1, 1, y.numel()).reshape(tuple(y.shape)))
        g, = lib.autograd.grad((y * c).sum(), x, create_graph=True)
        h, = lib.autograd.grad((g * g).sum(), x)
        res[lib.__name__] = (y, g, h)
    for f, t in zip(res["flambeau"], res["torch"]):
        _close(f, t, F64)


def test_seeds_that_require_grad_stay_connected():
    """grad_outputs that require grad: differentiable through a leaf output and through a
    dtype cast, as in PyTorch (jvp's double-vjp trick relies on it)."""
    for lib in (flambeau, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        v = lib.tensor([3.0, 4.0], requires_grad=True)
        g, = lib.autograd.grad([x, x * x], x, [v, v], create_graph=True)
        np.testing.assert_allclose(lib.autograd.grad(g.sum(), v)[0].numpy(), [3.0, 5.0])
        x64 = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        g, = lib.autograd.grad(x64 * x64, x64, v, create_graph=True)
        np.testing.assert_allclose(lib.autograd.grad(g.sum(), v)[0].numpy(), [2.0, 4.0])
    out = flambeau.autograd.functional.jvp(lambda a: a, flambeau.tensor([1.0, 2.0]), flambeau.tensor([3.0, 4.0]))
    np.testing.assert_allclose(out[1].numpy(), [3.0, 4.0])


def test_create_graph_grad_never_aliases_the_callers_tensor():
    x = flambeau.tensor([1.0, 2.0], requires_grad=True)
    v = flambeau.tensor([3.0, 4.0])
    (x + 1).backward(v, create_graph=True)
    assert x.grad is not v
    (x * 1).sum().backward()
    np.testing.assert_allclose(v.numpy(), [3.0, 4.0])


def test_in_place_change_between_the_two_backwards_is_caught():
    x = flambeau.tensor([1.0, 2.0], requires_grad=True)
    g, = flambeau.autograd.grad((x ** 3).sum(), x, create_graph=True)
    with flambeau.no_grad():
        x.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        flambeau.autograd.grad(g.sum(), x)
    # the same through an optimizer step between a penalty's two backwards
    w = flambeau.tensor([1.0, 2.0], requires_grad=True)
    opt = flambeau.optim.SGD([w], lr=0.1)
    (w ** 3).sum().backward(create_graph=True)
    penalty = (w.grad ** 2).sum()
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        flambeau.autograd.grad(penalty, w)


def test_retain_grad_keeps_the_history_under_create_graph():
    for lib in (flambeau, torch):
        x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        y = x * 2
        y.retain_grad()
        (y ** 3).sum().backward(create_graph=True)
        assert y.grad.requires_grad
        h, = lib.autograd.grad(y.grad.sum(), x)
        np.testing.assert_allclose(h.numpy(), [24.0, 48.0])


def test_hooks_of_a_requested_non_leaf_tensor_as_in_torch():
    res = []
    for lib in (flambeau, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        y.register_hook(lambda g: g * 100)
        z = (y * 10).sum() + (y ** 2).sum()
        res.append([t.numpy() for t in lib.autograd.grad(z, y, retain_graph=True) + lib.autograd.grad(z, (y, x))])
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b)
