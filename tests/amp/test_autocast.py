"""``torch.autocast`` on the CPU in float16, against PyTorch's ``torch.autocast("cpu", dtype=torch.float16)``.

Output dtypes must equal PyTorch's for every op in the table; values agree within float16
tolerances (``rtol=atol=1e-2``: one float16 rounding of the inputs plus of the result, on
O(1) data). flambeau has no bfloat16: ``autocast("cpu")`` without a dtype is an error.
"""
from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn.functional as FF
import torch.nn.functional as TF

F16_TOL = dict(rtol=1e-2, atol=1e-2)


def _pair(a):
    return flambeau.tensor(a), torch.tensor(a)


def _name(dt):
    return str(dt).split(".")[-1]


rs = np.random.RandomState(0)
X = rs.randn(4, 6).astype(np.float32)
W = rs.randn(5, 6).astype(np.float32)
B = rs.randn(5).astype(np.float32)
IMG = rs.randn(2, 3, 8, 8).astype(np.float32)
CW = rs.randn(4, 3, 3, 3).astype(np.float32)
VOL = rs.randn(1, 2, 4, 4, 4).astype(np.float32)
T = rs.randint(0, 5, (4,)).astype(np.int64)
PROB = (1 / (1 + np.exp(-X))).astype(np.float32)
SPD = (np.eye(3) * 2 + 0.1).astype(np.float32)


def _cases():
    """name -> fn(lib, F, args...) with its numpy inputs; 'h' suffix: the inputs are float16."""
    def h(a):
        return a.astype(np.float16)
    return {
        # lower-precision list: float32 in, float16 out
        "linear": (lambda L, F, x, w, b: F.linear(x, w, b), (X, W, B)),
        "matmul": (lambda L, F, x, w: x @ w.T, (X, W)),
        "matmul_fn": (lambda L, F, x, w: L.matmul(x, w.t()), (X, W)),
        "mm": (lambda L, F, x, w: L.mm(x, w.t()), (X, W)),
        "bmm": (lambda L, F, x, w: L.bmm(x[None], w.t()[None]), (X, W)),
        "addmm": (lambda L, F, b, x, w: L.addmm(b, x, w.t()), (B, X, W)),
        "baddbmm": (lambda L, F, b, x, w: L.baddbmm(b[None, None], x[None], w.t()[None]), (B, X, W)),
        "addbmm": (lambda L, F, b, x, w: L.addbmm(b[None], x[None], w.t()[None]), (B, X, W)),
        "einsum": (lambda L, F, x, w: L.einsum("ij,kj->ik", x, w), (X, W)),
        "tensordot": (lambda L, F, x, w: L.tensordot(x, w, ([1], [1])), (X, W)),
        "conv1d": (lambda L, F, x, w: F.conv1d(x[:, :, 0], w[:, :, 0]), (IMG, CW)),
        "conv2d": (lambda L, F, x, w: F.conv2d(x, w, padding=1), (IMG, CW)),
        "conv3d": (lambda L, F, x: F.conv3d(x, x[:, :, :2, :2, :2].repeat(3, 1, 1, 1, 1)), (VOL,)),
        "conv_transpose1d": (lambda L, F, x, w: F.conv_transpose1d(x[:, :, 0], w.transpose(0, 1)[:, :, 0]),
                             (IMG, CW)),
        "conv_transpose2d": (lambda L, F, x, w: F.conv_transpose2d(x, w.transpose(0, 1), stride=2), (IMG, CW)),
        "prelu": (lambda L, F, x: F.prelu(x, x.new_tensor([0.25])), (X,)),
        "sdpa": (lambda L, F, q: F.scaled_dot_product_attention(q[None], q[None], q[None]), (X,)),
        # not on any list: float32 stays float32, float16 stays float16
        "mv": (lambda L, F, x: L.mv(x, x[0]), (X,)),
        "dot": (lambda L, F, x: L.dot(x[0], x[1]), (X,)),
        "outer": (lambda L, F, x: L.outer(x[0], x[1]), (X,)),
        "addmv": (lambda L, F, x: L.addmv(x[:, 0], x, x[0]), (X,)),
        "bilinear": (lambda L, F, x, w: F.bilinear(x, x, w[:2].reshape(2, 3, 2).repeat(1, 2, 3)), (X, W)),
        "relu_f32": (lambda L, F, x: F.relu(x), (X,)),
        "relu_h": (lambda L, F, x: F.relu(x), (h(X),)),
        "softmax_h": (lambda L, F, x: F.softmax(x, -1), (h(X),)),
        "log_softmax_h": (lambda L, F, x: F.log_softmax(x, -1), (h(X),)),
        "layer_norm_h": (lambda L, F, x: F.layer_norm(x, (6,)), (h(X),)),
        "batch_norm_h": (lambda L, F, x: F.batch_norm(x, None, None, training=True), (h(IMG),)),
        "max_pool2d_h": (lambda L, F, x: F.max_pool2d(x, 2), (h(IMG),)),
        "sum_h": (lambda L, F, x: x.sum(), (h(X),)),
        "gelu_h": (lambda L, F, x: F.gelu(x), (h(X),)),
        "cat_mixed": (lambda L, F, a, b: L.cat([a, b]), (X, h(X))),
        "stack_mixed": (lambda L, F, a, b: L.stack([a, b]), (X, h(X))),
        "reflect3d_h": (lambda L, F, x: F.pad(x, (1,) * 6, mode="reflect"), (h(VOL),)),
        "circular2d_h": (lambda L, F, x: F.pad(x, (1, 1, 1, 1), mode="circular"), (h(IMG),)),
        # float32 list: float16 in, float32 out
        "mse_loss": (lambda L, F, a, b: F.mse_loss(a, b), (h(X), h(X[::-1].copy()))),
        "mse_loss_mixed": (lambda L, F, a, b: F.mse_loss(a, b), (h(X), X[::-1].copy())),
        "cross_entropy": (lambda L, F, x, t: F.cross_entropy(x, t), (h(X), T)),
        "nll_loss": (lambda L, F, x, t: F.nll_loss(x, t), (h(X), T)),
        "binary_cross_entropy": (lambda L, F, p, q: F.binary_cross_entropy(p, q), (h(PROB), h(PROB[::-1].copy()))),
        "bce_with_logits": (lambda L, F, x, p: F.binary_cross_entropy_with_logits(x, p), (h(X), h(PROB))),
        "l1_loss": (lambda L, F, a, b: F.l1_loss(a, b), (h(X), h(X.T.copy().T * 0.5))),
        "smooth_l1_loss": (lambda L, F, a, b: F.smooth_l1_loss(a, b * 0.3), (h(X), h(X))),
        "huber_loss": (lambda L, F, a, b: F.huber_loss(a, b * 0.3), (h(X), h(X))),
        "kl_div": (lambda L, F, a, b: F.kl_div(a, b, reduction="batchmean"), (h(np.log(PROB)), h(PROB))),
        "soft_margin_loss": (lambda L, F, a: F.soft_margin_loss(a, a.sign()), (h(X),)),
        "margin_ranking_loss": (lambda L, F, a: F.margin_ranking_loss(a[0], a[1], a[2].sign()), (h(X),)),
        "cosine_embedding_loss": (lambda L, F, a, b: F.cosine_embedding_loss(a, b, a.new_ones(4)), (h(X), h(X * 2))),
        "multi_margin_loss": (lambda L, F, x, t: F.multi_margin_loss(x, t), (h(X), T)),
        "hinge_embedding_loss": (lambda L, F, a: F.hinge_embedding_loss(a, a.sign()), (h(X),)),
        "poisson_nll_loss": (lambda L, F, a, b: F.poisson_nll_loss(a, b), (h(X), h(PROB))),
        "triplet_margin_loss": (lambda L, F, a, b: F.triplet_margin_loss(a, b, a * 2), (h(X), h(X[::-1].copy()))),
        "prod_h": (lambda L, F, x: L.prod(x * 0.5 + 1), (h(X),)),
        "prod_dim_h": (lambda L, F, x: (x * 0.5 + 1).prod(1), (h(X),)),
        "cdist_h": (lambda L, F, x: L.cdist(x, x), (h(X),)),
        "trace_h": (lambda L, F, x: L.trace(x), (h(X),)),
        "avg_pool3d_h": (lambda L, F, x: F.avg_pool3d(x, 2), (h(VOL),)),
        "max_pool3d_h": (lambda L, F, x: F.max_pool3d(x, 2), (h(VOL),)),
        "adaptive_avg_pool3d_h": (lambda L, F, x: F.adaptive_avg_pool3d(x, 1), (h(VOL),)),
        "adaptive_max_pool3d_h": (lambda L, F, x: F.adaptive_max_pool3d(x, 1), (h(VOL),)),
        "reflect1d_h": (lambda L, F, x: F.pad(x[:, :, 0], (1, 1), mode="reflect"), (h(IMG),)),
        "reflect2d_h": (lambda L, F, x: F.pad(x, (1, 1, 1, 1), mode="reflect"), (h(IMG),)),
        "replicate2d_h": (lambda L, F, x: F.pad(x, (1, 1, 1, 1), mode="replicate"), (h(IMG),)),
        "replicate3d_h": (lambda L, F, x: F.pad(x, (1,) * 6, mode="replicate"), (h(VOL),)),
        "grid_sample_h": (lambda L, F, x, g: F.grid_sample(x, g, align_corners=False),
                          (h(IMG), h(np.tanh(rs.randn(2, 4, 4, 2)).astype(np.float32)))),
        "inverse_h": (lambda L, F, a: L.inverse(a), (h(SPD),)),
        "cholesky_h": (lambda L, F, a: L.linalg.cholesky(a), (h(SPD),)),
        "solve_h": (lambda L, F, a: L.linalg.solve(a, a[:, :2]), (h(SPD),)),
        # float64 and integer inputs are never cast
        "linear_f64": (lambda L, F, x, w: F.linear(x, w), (X.astype(np.float64), W.astype(np.float64))),
        "conv2d_f64": (lambda L, F, x, w: F.conv2d(x, w), (IMG.astype(np.float64), CW.astype(np.float64))),
        "matmul_int": (lambda L, F, a: a @ a, (np.ones((2, 2), np.int64),)),
    }


CASES = _cases()


@pytest.mark.parametrize("name", list(CASES))
def test_op_dtype_and_value_match_torch(name):
    fn, arrays = CASES[name]
    fl_in = [flambeau.tensor(a) for a in arrays]
    th_in = [torch.tensor(a) for a in arrays]
    with torch.autocast("cpu", dtype=torch.float16):
        ref = fn(torch, TF, *th_in)
    with flambeau.autocast("cpu", dtype=flambeau.float16):
        out = fn(flambeau, FF, *fl_in)
    assert _name(out.dtype) == _name(ref.dtype), f"{name}: {out.dtype} vs torch {ref.dtype}"
    np.testing.assert_allclose(out.detach().numpy().astype(np.float64), ref.detach().numpy().astype(np.float64),
                               **F16_TOL)


def test_nested_disabled_region_and_reentry():
    a, b = flambeau.randn(8, 8), flambeau.randn(8, 8)
    with flambeau.autocast("cpu", dtype=flambeau.float16):
        e = flambeau.mm(a, b)
        assert e.dtype == flambeau.float16
        assert flambeau.is_autocast_enabled("cpu")
        with flambeau.autocast("cpu", enabled=False):
            assert not flambeau.is_autocast_enabled("cpu")
            f = flambeau.mm(a, e.float())
            assert f.dtype == flambeau.float32
            z = flambeau.zeros(3, 3)            # tensors created inside keep working
            assert (z @ z).dtype == flambeau.float32
            with pytest.raises(RuntimeError, match="same dtype"):
                flambeau.mm(a, e)               # no autocast here: mixed dtypes are the user's to cast
        g = flambeau.mm(f, b)
        assert g.dtype == flambeau.float16
        # a nested region without a dtype inherits the enclosing float16
        with flambeau.autocast("cpu"):
            assert flambeau.mm(a, b).dtype == flambeau.float16
    assert not flambeau.is_autocast_enabled("cpu")
    assert flambeau.mm(a, b).dtype == flambeau.float32
    z = (g.float() + 1) @ b                     # float16 results from the region, cast back by hand
    assert z.dtype == flambeau.float32


def test_state_restored_after_exception():
    with pytest.raises(ValueError):
        with flambeau.autocast("cpu", dtype=flambeau.float16):
            raise ValueError("boom")
    assert not flambeau.is_autocast_enabled("cpu")
    assert flambeau.mm(flambeau.ones(2, 2), flambeau.ones(2, 2)).dtype == flambeau.float32
    from flambeau.amp import _state
    assert _state.active is False


def test_decorator_form():
    lin = flambeau.nn.Linear(4, 3)

    @flambeau.autocast("cpu", dtype=flambeau.float16)
    def forward(x):
        return lin(x)

    assert forward(flambeau.randn(2, 4)).dtype == flambeau.float16
    assert lin(flambeau.randn(2, 4)).dtype == flambeau.float32

    class M(flambeau.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = flambeau.nn.Linear(4, 2)

        @flambeau.amp.autocast(device_type="cpu", dtype=flambeau.float16)
        def forward(self, x):
            return self.fc(x)

    assert M()(flambeau.randn(3, 4)).dtype == flambeau.float16
    with pytest.raises(TypeError, match="requires a callable"):
        flambeau.autocast("cpu", dtype=flambeau.float16)(3)


def _models(seed=0):
    torch.manual_seed(seed)
    tm = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                             torch.nn.Conv2d(4, 6, 3), torch.nn.BatchNorm2d(6), torch.nn.ReLU(),
                             torch.nn.Flatten(), torch.nn.Linear(6 * 2 * 2, 16), torch.nn.GELU(),
                             torch.nn.Linear(16, 10))
    fm = flambeau.nn.Sequential(flambeau.nn.Conv2d(1, 4, 3, padding=1), flambeau.nn.ReLU(),
                                flambeau.nn.MaxPool2d(2), flambeau.nn.Conv2d(4, 6, 3), flambeau.nn.BatchNorm2d(6),
                                flambeau.nn.ReLU(), flambeau.nn.Flatten(), flambeau.nn.Linear(6 * 2 * 2, 16),
                                flambeau.nn.GELU(), flambeau.nn.Linear(16, 10))
    fm.load_state_dict({k: flambeau.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return tm, fm


def test_small_cnn_forward_backward_matches_torch():
    tm, fm = _models()
    x = np.random.RandomState(1).randn(8, 1, 8, 8).astype(np.float32)
    y = np.random.RandomState(2).randint(0, 10, 8)
    tx, fx = torch.tensor(x), flambeau.tensor(x)
    with torch.autocast("cpu", dtype=torch.float16):
        t_acts = [tx]
        for layer in tm:
            t_acts.append(layer(t_acts[-1]))
        t_loss = TF.cross_entropy(t_acts[-1], torch.tensor(y))
    with flambeau.autocast("cpu", dtype=flambeau.float16):
        f_acts = [fx]
        for layer in fm:
            f_acts.append(layer(f_acts[-1]))
        f_loss = FF.cross_entropy(f_acts[-1], flambeau.tensor(y))
    for i, (a, b) in enumerate(zip(f_acts, t_acts)):
        assert _name(a.dtype) == _name(b.dtype), f"layer {i}: {a.dtype} vs {b.dtype}"
    assert f_loss.dtype == flambeau.float32 and t_loss.dtype == torch.float32
    np.testing.assert_allclose(f_loss.item(), t_loss.item(), rtol=1e-2, atol=1e-2)
    t_loss.backward()
    f_loss.backward()
    for (name, tp), fp in zip(tm.named_parameters(), fm.parameters()):
        assert fp.grad is not None and fp.grad.dtype == flambeau.float32, name   # float32, as the parameter
        g, r = fp.grad.numpy(), tp.grad.numpy()
        np.testing.assert_allclose(g, r, rtol=5e-2, atol=5e-2 * max(1.0, np.abs(r).max()), err_msg=name)


def test_mlp_grads_reach_float32_params_and_input():
    torch.manual_seed(0)
    tl = torch.nn.Linear(6, 5)
    fl = flambeau.nn.Linear(6, 5)
    fl.load_state_dict({k: flambeau.tensor(v.detach().numpy()) for k, v in tl.state_dict().items()})
    tx = torch.tensor(X, requires_grad=True)
    fx = flambeau.tensor(X, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.float16):
        tout = tl(tx).relu().sum()
    with flambeau.autocast("cpu", dtype=flambeau.float16):
        fout = fl(fx).relu().sum()
    assert _name(fout.dtype) == _name(tout.dtype) == "float16"
    tout.float().backward()
    fout.float().backward()
    for f, t in ((fx, tx), (fl.weight, tl.weight), (fl.bias, tl.bias)):
        assert f.grad.dtype == flambeau.float32
        np.testing.assert_allclose(f.grad.numpy(), t.grad.numpy(), **F16_TOL)


def test_weight_cache_shares_one_cast_per_region():
    lin = flambeau.nn.Linear(4, 4)
    x = flambeau.randn(2, 4)
    with flambeau.autocast("cpu", dtype=flambeau.float16):
        y = lin(lin(x))                                 # the weight is cast once
        assert y.dtype == flambeau.float16
        from flambeau.amp import _state
        assert id(lin.weight) in _state.tls.cache
    assert not _state.tls.cache                         # dropped on leaving the outermost region
    y.float().sum().backward()
    assert lin.weight.grad.dtype == flambeau.float32
    with flambeau.autocast("cpu", dtype=flambeau.float16, cache_enabled=False):
        lin(x)
        assert not _state.tls.cache


def test_autocast_state_is_thread_local():
    seen = {}

    def other():
        seen["enabled"] = flambeau.is_autocast_enabled("cpu")
        seen["dtype"] = flambeau.mm(flambeau.ones(2, 2), flambeau.ones(2, 2)).dtype

    with flambeau.autocast("cpu", dtype=flambeau.float16):
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert seen == {"enabled": False, "dtype": flambeau.float32}


def test_custom_fwd_bwd_on_custom_function():
    record = {}

    class MyMM(flambeau.autograd.Function):
        @staticmethod
        @flambeau.amp.custom_fwd(device_type="cpu", cast_inputs=flambeau.float32)
        def forward(ctx, a, b):
            record["fwd_enabled"] = flambeau.is_autocast_enabled("cpu")
            record["fwd_dtypes"] = (a.dtype, b.dtype)
            ctx.save_for_backward(a, b)
            return a.mm(b)

        @staticmethod
        @flambeau.amp.custom_bwd(device_type="cpu")
        def backward(ctx, g):
            record["bwd_enabled"] = flambeau.is_autocast_enabled("cpu")
            a, b = ctx.saved_tensors
            return g.mm(b.t()), a.t().mm(g)

    class Plain(flambeau.autograd.Function):
        @staticmethod
        @flambeau.amp.custom_fwd(device_type="cpu")
        def forward(ctx, a, b):
            record["plain_fwd_enabled"] = flambeau.is_autocast_enabled("cpu")
            return a.mm(b)

        @staticmethod
        @flambeau.amp.custom_bwd(device_type="cpu")
        def backward(ctx, g):
            record["plain_bwd_enabled"] = flambeau.is_autocast_enabled("cpu")
            record["plain_bwd_dtype"] = flambeau.get_autocast_dtype("cpu")
            return g, g

    a = flambeau.randn(3, 3, requires_grad=True)
    b = flambeau.randn(3, 3).half().requires_grad_()
    with flambeau.autocast("cpu", dtype=flambeau.float16):
        out = MyMM.apply(a, b)
        p = Plain.apply(a, a)
    assert out.dtype == flambeau.float32                       # ran in float32, autocast off inside
    assert record["fwd_enabled"] is False
    assert record["fwd_dtypes"] == (flambeau.float32, flambeau.float32)
    assert p.dtype == flambeau.float16 and record["plain_fwd_enabled"] is True
    out.sum().backward()
    assert record["bwd_enabled"] is False
    assert b.grad.dtype == flambeau.float16 and a.grad.dtype == flambeau.float32
    p.float().sum().backward()
    assert record["plain_bwd_enabled"] is True and record["plain_bwd_dtype"] == flambeau.float16
    assert not flambeau.is_autocast_enabled("cpu")
    # outside autocast custom_fwd is a no-op
    out2 = MyMM.apply(a, b.float())
    assert out2.dtype == flambeau.float32 and record["fwd_enabled"] is False


def test_custom_fwd_requires_str_device_type():
    with pytest.raises(ValueError, match="device_type"):
        flambeau.amp.custom_fwd(device_type=3)
    with pytest.raises(TypeError):
        flambeau.amp.custom_fwd(lambda ctx: None)     # device_type is keyword-only and required


# ---------------------------------------------------------------------------- errors and device types
def test_cpu_without_dtype_is_a_clear_error():
    with pytest.raises(RuntimeError, match="float16 only.*bfloat16"):
        flambeau.autocast("cpu")
    with pytest.raises(RuntimeError, match="dtype=torch.float16"):
        flambeau.amp.autocast(device_type="cpu")
    with pytest.warns(FutureWarning), pytest.raises(RuntimeError, match="bfloat16"):
        flambeau.cpu.amp.autocast()
    with pytest.raises(AttributeError, match="no bfloat16 dtype"):
        flambeau.bfloat16
    assert not hasattr(flambeau, "bfloat16")
    # disabled regions need no dtype; neither does a region once the CPU dtype has been chosen
    with flambeau.autocast("cpu", enabled=False):
        assert not flambeau.is_autocast_enabled("cpu")
    try:
        flambeau.set_autocast_dtype("cpu", flambeau.float16)
        with flambeau.autocast("cpu"):
            assert FF.linear(flambeau.ones(1, 2), flambeau.ones(3, 2)).dtype == flambeau.float16
    finally:
        from flambeau.amp import _state
        _state.tls.dtype.pop("cpu", None)
    assert flambeau.get_autocast_dtype("cpu") == flambeau.float16


def test_unsupported_dtype_warns_and_disables_like_torch():
    with pytest.warns(UserWarning, match="In CPU autocast, but the target dtype is not supported"):
        ac = flambeau.autocast("cpu", dtype=flambeau.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tac = torch.autocast("cpu", dtype=torch.float32)
    with ac, tac:
        assert flambeau.is_autocast_enabled("cpu") == torch.is_autocast_enabled("cpu") is False


def test_bad_device_type():
    with pytest.raises(ValueError, match="Expected `device_type` of type `str`"):
        flambeau.autocast(3)
    with pytest.raises(RuntimeError, match="unsupported autocast device_type 'meta'"):
        flambeau.autocast("meta", dtype=flambeau.float16)
    assert flambeau.amp.is_autocast_available("cpu") and not flambeau.amp.is_autocast_available("meta")


def test_cuda_autocast_warns_and_is_disabled_like_torch():
    with pytest.warns(UserWarning, match="CUDA is not available or torch_xla is imported. Disabling autocast."):
        ac = flambeau.autocast("cuda")
    with ac:
        assert not flambeau.is_autocast_enabled("cuda") and not flambeau.is_autocast_enabled()
        assert flambeau.mm(flambeau.ones(2, 2), flambeau.ones(2, 2)).dtype == flambeau.float32
    with pytest.warns(FutureWarning, match=r"torch.cuda.amp.autocast\(args...\)` is deprecated"):
        with pytest.warns(UserWarning, match="CUDA is not available"):
            old = flambeau.cuda.amp.autocast()
    assert old._enabled is False and old.fast_dtype == flambeau.float16
    assert flambeau.get_autocast_dtype("cuda") == flambeau.float16


def test_deprecated_cpu_autocast_with_float16():
    with pytest.warns(FutureWarning, match=r"torch.cpu.amp.autocast\(args...\)` is deprecated"):
        ac = flambeau.cpu.amp.autocast(dtype=flambeau.float16)
    with ac:
        assert flambeau.is_autocast_enabled("cpu")


def test_top_level_state_functions_mirror_torch():
    for name in ("autocast", "is_autocast_enabled", "set_autocast_enabled", "get_autocast_dtype",
                 "set_autocast_dtype", "is_autocast_cpu_enabled", "set_autocast_cpu_enabled",
                 "get_autocast_cpu_dtype", "set_autocast_cpu_dtype", "get_autocast_gpu_dtype",
                 "set_autocast_gpu_dtype", "is_autocast_cache_enabled", "set_autocast_cache_enabled",
                 "clear_autocast_cache", "autocast_increment_nesting", "autocast_decrement_nesting"):
        assert hasattr(torch, name) and callable(getattr(flambeau, name)), name
    assert flambeau.autocast is flambeau.amp.autocast
    with pytest.warns(DeprecationWarning, match="is_autocast_cpu_enabled"):
        assert flambeau.is_autocast_cpu_enabled() is False
    with pytest.warns(DeprecationWarning, match="get_autocast_gpu_dtype"):
        assert flambeau.get_autocast_gpu_dtype() == flambeau.float16
    assert flambeau.is_autocast_cache_enabled() is True
    assert flambeau.autocast_increment_nesting() == 1 and flambeau.autocast_decrement_nesting() == 0
    # set_autocast_enabled by hand, as torch allows
    flambeau.set_autocast_dtype("cpu", flambeau.float16)
    flambeau.set_autocast_enabled("cpu", True)
    try:
        assert flambeau.mm(flambeau.ones(2, 2), flambeau.ones(2, 2)).dtype == flambeau.float16
    finally:
        flambeau.set_autocast_enabled("cpu", False)
        from flambeau.amp import _state
        _state.tls.dtype.pop("cpu", None)
    assert flambeau.mm(flambeau.ones(2, 2), flambeau.ones(2, 2)).dtype == flambeau.float32


def test_float16_gemm_goes_through_float32_blas():
    a = np.random.RandomState(0).randn(64, 48).astype(np.float16)
    b = np.random.RandomState(1).randn(48, 32).astype(np.float16)
    got = (flambeau.tensor(a) @ flambeau.tensor(b)).numpy()
    want = (a.astype(np.float32) @ b.astype(np.float32)).astype(np.float16)
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, want)
    ref = (torch.tensor(a) @ torch.tensor(b)).numpy()
    np.testing.assert_allclose(got.astype(np.float32), ref.astype(np.float32), rtol=2e-3, atol=2e-3)


def test_no_grad_forward_then_grad_forward_in_one_region():
    lin = flambeau.nn.Linear(3, 2)
    x = flambeau.randn(4, 3)
    with flambeau.autocast("cpu", dtype=flambeau.float16):
        with flambeau.no_grad():
            lin(x)                                      # evaluation pass: its cast has no graph
        y = lin(x)
    y.float().sum().backward()
    assert lin.weight.grad is not None and lin.weight.grad.dtype == flambeau.float32


def test_backward_inside_region_keeps_forward_types():
    """Not the recommended placement, but it must work: backward ops run in the forward's types."""
    lin = flambeau.nn.Linear(3, 2)
    x = flambeau.randn(4, 3, requires_grad=True)
    with flambeau.autocast("cpu", dtype=flambeau.float16):
        loss = FF.mse_loss(lin(x), flambeau.zeros(4, 2))
        loss.backward()
    assert loss.dtype == flambeau.float32
    assert lin.weight.grad.dtype == x.grad.dtype == flambeau.float32
