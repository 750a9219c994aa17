"""Autocast and GradScaler corner cases, each against PyTorch: out= products, normalisation layers
with float32 parameters on float16 activations, checkpoint recomputation, a step without backward."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn.functional as FF
import torch.nn.functional as TF
from flambeau.utils.checkpoint import checkpoint as fl_checkpoint
from torch.utils.checkpoint import checkpoint as t_checkpoint

rs = np.random.RandomState(3)
A = rs.randn(2, 4, 5).astype(np.float32)
B = rs.randn(2, 5, 3).astype(np.float32)
C = rs.randn(2, 4, 3).astype(np.float32)


def _name(dt):
    return str(dt).split(".")[-1]


@pytest.mark.parametrize("op", ["matmul", "bmm", "baddbmm", "addbmm"])
def test_out_variants_are_not_autocast(op):
    # PyTorch's autocast covers the functional forms only: with out= the product runs in the
    # inputs' float32, so a float32 out holds the exact float32 product
    def call(lib, out_shape):
        a, b, c = lib.tensor(A), lib.tensor(B), lib.tensor(C)
        out = lib.empty(out_shape)
        with lib.no_grad(), lib.autocast("cpu", dtype=lib.float16):
            if op == "matmul":
                lib.matmul(a, b, out=out)
            elif op == "bmm":
                lib.bmm(a, b, out=out)
            elif op == "baddbmm":
                lib.baddbmm(c, a, b, out=out)
            else:
                lib.addbmm(c[0], a, b, out=out)
        return out

    shape = (4, 3) if op == "addbmm" else (2, 4, 3)
    f, t = call(flambeau, shape), call(torch, shape)
    assert _name(f.dtype) == _name(t.dtype) == "float32"
    np.testing.assert_allclose(f.numpy(), t.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layer", ["LayerNorm", "GroupNorm", "RMSNorm", "InstanceNorm2d"])
def test_norm_layers_keep_float16_activations(layer):
    # float32 parameters on a float16 activation (a conv or linear output under autocast) give a
    # float16 output in PyTorch; the gradients still reach the parameters in float32
    x = rs.randn(2, 4, 3, 3).astype(np.float32)
    cw, cb = rs.randn(4, 4, 1, 1).astype(np.float32), rs.randn(4).astype(np.float32)
    outs = []
    for lib in (flambeau, torch):
        conv = lib.nn.Conv2d(4, 4, 1)
        with lib.no_grad():
            conv.weight.copy_(lib.tensor(cw))
            conv.bias.copy_(lib.tensor(cb))
        norm = {"LayerNorm": lambda: lib.nn.LayerNorm(3), "GroupNorm": lambda: lib.nn.GroupNorm(2, 4),
                "RMSNorm": lambda: lib.nn.RMSNorm(3),
                "InstanceNorm2d": lambda: lib.nn.InstanceNorm2d(4, affine=True)}[layer]()
        with lib.autocast("cpu", dtype=lib.float16):
            y = norm(conv(lib.tensor(x)))
        y.float().sum().backward()
        outs.append((y, [p.grad for p in norm.parameters()]))
    (fy, fg), (ty, tg) = outs
    assert _name(fy.dtype) == _name(ty.dtype) == "float16"
    assert [_name(g.dtype) for g in fg] == [_name(g.dtype) for g in tg]
    np.testing.assert_allclose(fy.float().detach().numpy(), ty.float().detach().numpy(), rtol=1e-2, atol=1e-2)


def test_checkpoint_recomputes_under_the_forward_autocast_state():
    # backward runs outside the autocast region; the recomputed forward must still run in float16
    for reentrant in (True, False):
        seen = {}
        for lib, ckpt in ((flambeau, fl_checkpoint), (torch, t_checkpoint)):
            lib.manual_seed(0)
            lin = lib.nn.Linear(8, 8)
            dtypes = seen.setdefault(lib.__name__, [])

            def fwd(x, lin=lin, dtypes=dtypes):
                y = lin(x)
                dtypes.append(_name(y.dtype))
                return y

            x = lib.tensor(rs.randn(3, 8).astype(np.float32), requires_grad=True)
            with lib.autocast("cpu", dtype=lib.float16):
                y = ckpt(fwd, x, use_reentrant=reentrant)
            y.float().sum().backward()
        assert set(seen["flambeau"]) == set(seen["torch"]) == {"float16"}


def test_step_without_backward_raises_like_torch():
    errors = []
    for lib in (flambeau, torch):
        p = lib.nn.Parameter(lib.ones(3))
        opt = lib.optim.SGD([p], lr=0.1)
        scaler = lib.amp.GradScaler("cpu")
        scaler.scale(p.sum())               # backward() forgotten: no gradient to check
        with pytest.raises(AssertionError) as e:
            scaler.step(opt)
        errors.append(str(e.value))
        assert p.tolist() == [1.0, 1.0, 1.0]
    assert errors[0] == errors[1] == "No inf checks were recorded for this optimizer."


def test_linalg_vecdot_runs_in_float16():
    # linalg_vecdot is on PyTorch's CPU lower-precision list
    x, y = rs.randn(3, 5).astype(np.float32), rs.randn(3, 5).astype(np.float32)
    res = []
    for lib in (flambeau, torch):
        with lib.autocast("cpu", dtype=lib.float16):
            res.append(lib.linalg.vecdot(lib.tensor(x), lib.tensor(y)))
    assert _name(res[0].dtype) == _name(res[1].dtype) == "float16"
    np.testing.assert_allclose(res[0].float().numpy(), res[1].float().numpy(), rtol=1e-2, atol=1e-2)


def test_thin_conv_weight_gradient_under_autocast():
    # a first layer on 3 channels: its float16 weight gradient is summed over batch chunks in
    # float32 and rounded once, as close to the float64 truth as PyTorch's (it was 3x further
    # when each chunk's partial sum was rounded to float16 first)
    rs = np.random.RandomState(0)
    x = rs.randn(64, 3, 32, 32).astype(np.float32)
    w = (rs.randn(16, 3, 3, 3) * 0.2).astype(np.float32)
    g = rs.randn(64, 16, 32, 32).astype(np.float32)
    errs = {}
    for lib in (flambeau, torch):
        wt = lib.tensor(w, requires_grad=True)
        with lib.autocast("cpu", dtype=lib.float16):
            y = lib.nn.functional.conv2d(lib.tensor(x), wt, padding=1)
        assert y.dtype == lib.float16
        y.backward(lib.tensor(g).half())
        truth = torch.nn.grad.conv2d_weight(torch.from_numpy(x).double().half().double(), w.shape,
                                            torch.from_numpy(g).half().double(), padding=1).numpy()
        errs[lib.__name__] = float(np.abs(wt.grad.numpy().astype(np.float64) - truth).max())
    assert errs["flambeau"] <= 1.5 * errs["torch"], errs
