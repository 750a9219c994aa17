"""``torch.amp.GradScaler`` against PyTorch's ``torch.amp.GradScaler("cpu")``: the same models, the
same gradients (including injected infs), step by step: scale, growth tracker, skipped steps,
parameters."""
from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn.functional as FF


def _mlp_pair(seed=0, sizes=(6, 8, 3)):
    torch.manual_seed(seed)
    layers_t, layers_f = [], []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers_t.append(torch.nn.Linear(a, b))
        layers_f.append(flambeau.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers_t.append(torch.nn.ReLU())
            layers_f.append(flambeau.nn.ReLU())
    tm, fm = torch.nn.Sequential(*layers_t), flambeau.nn.Sequential(*layers_f)
    fm.load_state_dict({k: flambeau.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return tm, fm


def _assert_params_equal(fm, tm, **tol):
    for (name, tp), fp in zip(tm.named_parameters(), fm.parameters()):
        np.testing.assert_allclose(fp.detach().numpy(), tp.detach().numpy(), err_msg=name, **(tol or
                                   dict(rtol=1e-6, atol=1e-7)))


def _set_grads(model, grads, lib):
    for p, g in zip(model.parameters(), grads):
        p.grad = lib.tensor(g.copy())


def test_step_by_step_with_injected_inf_matches_torch():
    """Identical gradients given by hand: unscale, skip, backoff and growth exactly as PyTorch."""
    tm, fm = _mlp_pair()
    topt = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    fopt = flambeau.optim.SGD(fm.parameters(), lr=0.1, momentum=0.9)
    ts = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=3)
    fs = flambeau.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=3)
    rs = np.random.RandomState(0)
    shapes = [tuple(p.shape) for p in tm.parameters()]
    for it in range(12):
        # the scaled loss (lazily creates the scale)
        t_loss, f_loss = torch.tensor(1.5), flambeau.tensor(1.5)
        assert ts.scale(t_loss).item() == fs.scale(f_loss).item()
        scale = ts.get_scale()
        grads = [(rs.randn(*s) * scale).astype(np.float32) for s in shapes]
        if it in (2, 7):
            grads[it % len(grads)].flat[0] = np.inf if it == 2 else np.nan
        _set_grads(tm, grads, torch)
        _set_grads(fm, grads, flambeau)
        t_ret, f_ret = ts.step(topt), fs.step(fopt)
        assert t_ret == f_ret is None
        ts.update()
        fs.update()
        assert fs.get_scale() == ts.get_scale(), it
        assert fs._get_growth_tracker() == ts._get_growth_tracker(), it
        _assert_params_equal(fm, tm)
        for tp, fp in zip(tm.parameters(), fm.parameters()):
            np.testing.assert_allclose(fp.grad.numpy(), tp.grad.numpy(), rtol=1e-6, atol=1e-7)
    # inf at it=2 and nan at it=7 halved the scale; 3 clean steps in a row doubled it
    assert fs.get_scale() == ts.get_scale()


def test_skipped_step_leaves_params_and_optimizer_state_untouched():
    _, fm = _mlp_pair()
    opt = flambeau.optim.Adam(fm.parameters(), lr=0.01)
    scaler = flambeau.amp.GradScaler("cpu", init_scale=8.0)
    before = [p.detach().clone() for p in fm.parameters()]
    scaler.scale(fm(flambeau.randn(4, 6)).sum()).backward()
    next(fm.parameters()).grad.view(-1)[0] = float("inf")
    scaler.step(opt)
    scaler.update()
    for b, p in zip(before, fm.parameters()):
        assert flambeau.equal(b, p)
    assert len(opt.state) == 0
    assert scaler.get_scale() == 4.0 and scaler._get_growth_tracker() == 0


def test_growth_after_growth_interval_and_custom_factors():
    _, fm = _mlp_pair()
    opt = flambeau.optim.SGD(fm.parameters(), lr=0.0)
    s = flambeau.amp.GradScaler("cpu", init_scale=4.0, growth_factor=3.0, backoff_factor=0.25, growth_interval=2)
    t = torch.amp.GradScaler("cpu", init_scale=4.0, growth_factor=3.0, backoff_factor=0.25, growth_interval=2)
    _, tm = None, _mlp_pair()[0]
    topt = torch.optim.SGD(tm.parameters(), lr=0.0)
    history = []
    for inf in (False, False, False, True, False, False):
        for model, opt_, sc, lib in ((fm, opt, s, flambeau), (tm, topt, t, torch)):
            sc.scale(lib.tensor(1.0))
            for p in model.parameters():
                p.grad = lib.ones(p.shape) * (float("inf") if inf else 1.0)
            sc.step(opt_)
            sc.update()
        history.append(s.get_scale())
        assert s.get_scale() == t.get_scale() and s._get_growth_tracker() == t._get_growth_tracker()
    assert history == [4.0, 12.0, 12.0, 3.0, 3.0, 9.0]
    assert s.get_growth_factor() == 3.0 and s.get_backoff_factor() == 0.25 and s.get_growth_interval() == 2
    s.set_growth_factor(4.0)
    s.set_backoff_factor(0.5)
    s.set_growth_interval(7)
    assert (s.get_growth_factor(), s.get_backoff_factor(), s.get_growth_interval()) == (4.0, 0.5, 7)


def test_real_backward_matches_torch():
    """autocast forward + scaled backward + step, against torch, for a few iterations."""
    tm, fm = _mlp_pair(sizes=(6, 16, 3))
    topt = torch.optim.SGD(tm.parameters(), lr=0.05)
    fopt = flambeau.optim.SGD(fm.parameters(), lr=0.05)
    ts = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10)
    fs = flambeau.amp.GradScaler("cpu", init_scale=2.0 ** 10)
    rs = np.random.RandomState(3)
    for _ in range(4):
        x = rs.randn(8, 6).astype(np.float32)
        y = rs.randint(0, 3, 8)
        with torch.autocast("cpu", dtype=torch.float16):
            tl = torch.nn.functional.cross_entropy(tm(torch.tensor(x)), torch.tensor(y))
        with flambeau.autocast("cpu", dtype=flambeau.float16):
            fl = FF.cross_entropy(fm(flambeau.tensor(x)), flambeau.tensor(y))
        np.testing.assert_allclose(fl.item(), tl.item(), rtol=1e-2, atol=1e-2)
        topt.zero_grad()
        fopt.zero_grad()
        ts.scale(tl).backward()
        fs.scale(fl).backward()
        ts.step(topt)
        fs.step(fopt)
        ts.update()
        fs.update()
        assert fs.get_scale() == ts.get_scale()
    _assert_params_equal(fm, tm, rtol=2e-2, atol=2e-2)


def test_unscale_then_clip_grad_norm_recipe():
    tm, fm = _mlp_pair()
    topt = torch.optim.SGD(tm.parameters(), lr=0.1)
    fopt = flambeau.optim.SGD(fm.parameters(), lr=0.1)
    ts = torch.amp.GradScaler("cpu", init_scale=256.0)
    fs = flambeau.amp.GradScaler("cpu", init_scale=256.0)
    rs = np.random.RandomState(1)
    grads = [(rs.randn(*p.shape) * 256.0 * 5).astype(np.float32) for p in tm.parameters()]
    ts.scale(torch.tensor(1.0))
    fs.scale(flambeau.tensor(1.0))
    _set_grads(tm, grads, torch)
    _set_grads(fm, grads, flambeau)
    ts.unscale_(topt)
    fs.unscale_(fopt)
    for tp, fp in zip(tm.parameters(), fm.parameters()):      # unscaled in place
        np.testing.assert_allclose(fp.grad.numpy(), tp.grad.numpy(), rtol=1e-6)
    tn = torch.nn.utils.clip_grad_norm_(tm.parameters(), 1.0)
    fn = flambeau.nn.utils.clip_grad_norm_(fm.parameters(), 1.0)
    np.testing.assert_allclose(fn.item(), tn.item(), rtol=1e-5)
    ts.step(topt)
    fs.step(fopt)                   # does not unscale a second time
    ts.update()
    fs.update()
    _assert_params_equal(fm, tm, rtol=1e-5, atol=1e-6)


def test_state_machine_errors_match_torch():
    for lib in (torch, flambeau):
        model = lib.nn.Linear(2, 2)
        opt = lib.optim.SGD(model.parameters(), lr=0.1)
        s = lib.amp.GradScaler("cpu")
        with pytest.raises(AssertionError, match=r"Attempted unscale_ but _scale is None.  This may indicate"):
            s.unscale_(opt)
        with pytest.raises(AssertionError, match="Attempted step but _scale is None"):
            s.step(opt)
        with pytest.raises(AssertionError, match="Attempted update but _scale is None"):
            s.update()
        s.scale(model(lib.ones(1, 2)).sum()).backward()
        s.unscale_(opt)
        with pytest.raises(RuntimeError, match=r"unscale_\(\) has already been called on this optimizer since "
                                               r"the last update\(\)."):
            s.unscale_(opt)
        s.step(opt)
        with pytest.raises(RuntimeError, match=r"step\(\) has already been called since the last update\(\)."):
            s.step(opt)
        with pytest.raises(RuntimeError, match=r"unscale_\(\) is being called after step\(\)."):
            s.unscale_(opt)
        s.update()
        s.scale(model(lib.ones(1, 2)).sum()).backward()
        s.unscale_(opt)                                 # allowed again after update()
        with pytest.raises(RuntimeError, match="Closure use is not currently supported"):
            s.step(opt, closure=lambda: 0.0)
        with pytest.raises(AssertionError, match="The growth factor must be > 1.0."):
            lib.amp.GradScaler("cpu", growth_factor=1.0)
        with pytest.raises(AssertionError, match="The backoff factor must be < 1.0."):
            lib.amp.GradScaler("cpu", backoff_factor=1.0)
        with pytest.raises(ValueError, match="outputs must be a Tensor or an iterable of Tensors"):
            lib.amp.GradScaler("cpu").scale([3.0])
        # update() with no step recorded
        s2 = lib.amp.GradScaler("cpu")
        s2.scale(lib.ones(()))
        with pytest.raises(AssertionError, match="No inf checks were recorded prior to update."):
            s2.update()


def test_fp16_gradients_cannot_be_unscaled():
    for lib in (torch, flambeau):
        p = lib.nn.Parameter(lib.ones(3).half())
        p.grad = lib.ones(3).half()
        opt = lib.optim.SGD([p], lr=0.1)
        s = lib.amp.GradScaler("cpu")
        s.scale(lib.ones(()))
        with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients."):
            s.unscale_(opt)


def test_scale_nested_outputs_and_float16_loss():
    s = flambeau.amp.GradScaler("cpu", init_scale=4.0)
    x = flambeau.ones(2)
    out = s.scale([x, (x * 2, x)])
    assert isinstance(out, list) and isinstance(out[1], tuple)
    assert out[0].tolist() == [4.0, 4.0] and out[1][0].tolist() == [8.0, 8.0]
    assert s.scale(flambeau.ones(2).half()).dtype == torch_dtype_name("float16")
    ts = torch.amp.GradScaler("cpu", init_scale=4.0)
    assert str(ts.scale(torch.ones(2).half()).dtype) == "torch.float16"


def torch_dtype_name(name):
    return getattr(flambeau, name)


def test_update_new_scale():
    for lib in (torch, flambeau):
        s = lib.amp.GradScaler("cpu", init_scale=8.0)
        s.scale(lib.ones(()))
        s.update(new_scale=2.0)
        assert s.get_scale() == 2.0
        s.update(new_scale=lib.tensor(32.0))
        assert s.get_scale() == 32.0
        with pytest.raises(AssertionError, match="new_scale should be a float or a 1-element"):
            s.update(new_scale=lib.ones(2))
        with pytest.raises(AssertionError, match="new_scale should be a float or a 1-element"):
            s.update(new_scale=lib.ones((), requires_grad=True))


def test_state_dict_round_trip_and_pickle():
    tm, fm = _mlp_pair()
    ts = torch.amp.GradScaler("cpu", init_scale=64.0, growth_interval=5)
    fs = flambeau.amp.GradScaler("cpu", init_scale=64.0, growth_interval=5)
    assert fs.state_dict() == ts.state_dict()             # before the first scale()
    for s, m, lib in ((ts, tm, torch), (fs, fm, flambeau)):
        opt = lib.optim.SGD(m.parameters(), lr=0.0)
        for _ in range(3):
            s.scale(m(lib.ones(1, 6)).sum()).backward()
            s.step(opt)
            s.update()
    sd = fs.state_dict()
    assert sd == ts.state_dict()
    assert sd == {"scale": 64.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 5,
                  "_growth_tracker": 3}
    fresh = flambeau.amp.GradScaler("cpu")
    fresh.load_state_dict(sd)
    assert fresh.state_dict() == sd
    fresh.scale(flambeau.ones(()))                         # the lazily created tensors take the loaded state
    assert fresh.get_scale() == 64.0 and fresh._get_growth_tracker() == 3
    fresh.load_state_dict({**sd, "scale": 16.0, "_growth_tracker": 1})
    assert fresh.get_scale() == 16.0 and fresh._get_growth_tracker() == 1
    # a torch state dict loads too (plain Python numbers)
    other = flambeau.amp.GradScaler("cpu")
    other.load_state_dict(ts.state_dict())
    assert other.state_dict() == ts.state_dict()
    with pytest.raises(RuntimeError, match="The source state dict is empty"):
        flambeau.amp.GradScaler("cpu").load_state_dict({})
    # checkpointing with flambeau.save / load and pickling
    clone = pickle.loads(pickle.dumps(fs))
    assert clone.state_dict() == sd
    clone.scale(flambeau.ones(()))
    assert clone.get_scale() == 64.0


def test_default_device_is_cuda_and_disabled_like_torch():
    """GradScaler() means device="cuda" in PyTorch: without CUDA it warns and passes through."""
    with pytest.warns(UserWarning, match="torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  "
                                         "Disabling."):
        s = flambeau.amp.GradScaler()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = torch.amp.GradScaler()
    assert s.is_enabled() is t.is_enabled() is False
    assert s.get_scale() == t.get_scale() == 1.0 and s.state_dict() == t.state_dict() == {}
    model = flambeau.nn.Linear(2, 1)
    opt = flambeau.optim.SGD(model.parameters(), lr=0.5)
    loss = model(flambeau.ones(1, 2)).sum()
    assert s.scale(loss) is loss
    loss.backward()
    before = model.weight.detach().clone()
    s.unscale_(opt)                                         # no-ops
    s.step(opt)                                             # just optimizer.step()
    s.update()
    s.load_state_dict({})
    assert not flambeau.equal(before, model.weight)
    np.testing.assert_allclose(model.weight.detach().numpy(), before.numpy() - 0.5, rtol=1e-6)
    with pytest.warns(FutureWarning, match=r"torch.cuda.amp.GradScaler\(args...\)` is deprecated"):
        with pytest.warns(UserWarning, match="CUDA is not available"):
            assert flambeau.cuda.amp.GradScaler().is_enabled() is False
    with pytest.warns(FutureWarning, match=r"torch.cpu.amp.GradScaler\(args...\)` is deprecated"):
        assert flambeau.cpu.amp.GradScaler().is_enabled() is True
    assert flambeau.amp.GradScaler("cpu", enabled=False).is_enabled() is False


def test_step_returns_optimizer_step_value_and_passes_args():
    p = flambeau.nn.Parameter(flambeau.ones(2))
    opt = flambeau.optim.SGD([p], lr=0.1)
    calls = []
    orig = opt.step

    def step(*args, **kwargs):
        calls.append((args, kwargs))
        return orig()
    opt.step = step
    s = flambeau.amp.GradScaler("cpu", init_scale=2.0)
    s.scale(flambeau.ones(()))
    p.grad = flambeau.ones(2) * 2.0
    s.step(opt, "a", k=1)
    assert calls == [(("a",), {"k": 1})]
    np.testing.assert_allclose(p.detach().numpy(), [0.9, 0.9], rtol=1e-6)


def test_optimizer_with_own_amp_scaling():
    """An optimizer declaring _step_supports_amp_scaling gets grad_scale and found_inf, as in PyTorch."""
    seen = {}

    class OwnScaling(flambeau.optim.SGD):
        _step_supports_amp_scaling = True

        def step(self, closure=None):
            seen["grad_scale"] = self.grad_scale.item()
            seen["found_inf"] = self.found_inf.item()

    p = flambeau.nn.Parameter(flambeau.ones(2))
    opt = OwnScaling([p], lr=0.1)
    s = flambeau.amp.GradScaler("cpu", init_scale=8.0)
    s.scale(flambeau.ones(()))
    p.grad = flambeau.tensor([1.0, float("inf")])
    s.step(opt)
    assert seen == {"grad_scale": 8.0, "found_inf": 1.0}
    assert not hasattr(opt, "grad_scale") and not hasattr(opt, "found_inf")
    s.update()
    assert s.get_scale() == 4.0


def test_multiple_optimizers_share_one_update():
    m1, m2 = flambeau.nn.Linear(2, 2), flambeau.nn.Linear(2, 2)
    o1, o2 = flambeau.optim.SGD(m1.parameters(), lr=0.1), flambeau.optim.SGD(m2.parameters(), lr=0.1)
    s = flambeau.amp.GradScaler("cpu", init_scale=16.0)
    s.scale(m1(flambeau.ones(1, 2)).sum() + m2(flambeau.ones(1, 2)).sum()).backward()
    m2.weight.grad.view(-1)[0] = float("nan")
    w1 = m1.weight.detach().clone()
    w2 = m2.weight.detach().clone()
    s.step(o1)
    s.step(o2)
    s.update()
    assert not flambeau.equal(w1, m1.weight)           # its grads were finite: stepped
    assert flambeau.equal(w2, m2.weight)               # skipped
    assert s.get_scale() == 8.0                         # one inf anywhere backs off once


def test_training_with_autocast_and_grad_scaler_reduces_loss():
    """The full recipe on the embedded digits data: autocast forward, scaled backward, unscale_ and
    clip, step, update. The loss must fall well below its starting value."""
    from flambeau.vision.datasets.digits import load_digits_arrays
    images, labels = load_digits_arrays()
    x = flambeau.tensor((images[:512].reshape(-1, 64) / 16.0).astype(np.float32))
    y = flambeau.tensor(labels[:512])
    flambeau.manual_seed(0)
    model = flambeau.nn.Sequential(flambeau.nn.Linear(64, 64), flambeau.nn.ReLU(), flambeau.nn.Linear(64, 10))
    opt = flambeau.optim.Adam(model.parameters(), lr=1e-2)
    scaler = flambeau.amp.GradScaler("cpu")
    losses = []
    for epoch in range(8):
        for i in range(0, 512, 64):
            opt.zero_grad()
            with flambeau.autocast("cpu", dtype=flambeau.float16):
                out = model(x[i:i + 64])
                loss = FF.cross_entropy(out, y[i:i + 64])
            assert out.dtype == flambeau.float16 and loss.dtype == flambeau.float32
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            flambeau.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            scaler.step(opt)
            scaler.update()
            losses.append(loss.item())
    assert all(p.dtype == flambeau.float32 for p in model.parameters())
    first, last = np.mean(losses[:8]), np.mean(losses[-8:])
    assert last < 0.25 * first, (first, last)
    with flambeau.no_grad(), flambeau.autocast("cpu", dtype=flambeau.float16):
        acc = (model(x).argmax(1) == y).float().mean().item()
    assert acc > 0.9
    assert scaler.get_scale() > 0
