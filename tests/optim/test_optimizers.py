"""flambeau.optim against torch.optim: the same parameters and gradients, step after step.

Every optimizer runs 12 steps with random gradients (identical on both sides) over parameters of
several shapes (a 0-d one included) split into two groups with different options; after each
step the parameters and every state entry are compared. Tolerances: float32 rtol 1e-5 / atol 1e-6,
float64 rtol 1e-10 / atol 1e-12 (tests/helpers.py).
"""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch
from helpers import assert_close

import flambeau
import flambeau.optim as foptim

SHAPES = [(3, 4), (5,), (), (2, 3, 2)]
N_STEPS = 12


# --------------------------------------------------------------------------- option grids
def _grid(**axes):
    keys = list(axes)
    return [dict(zip(keys, values)) for values in itertools.product(*(axes[k] for k in keys))]


def _sgd_cases():
    out = []
    for c in _grid(momentum=[0, 0.9], dampening=[0, 0.3], nesterov=[False, True], weight_decay=[0, 0.1],
                   maximize=[False, True]):
        if c["nesterov"] and (c["momentum"] <= 0 or c["dampening"] != 0):
            continue
        out.append(dict(lr=0.05, **c))
    return out


CASES = {
    "SGD": _sgd_cases(),
    "Adagrad": [dict(lr=0.1, **c) for c in _grid(lr_decay=[0, 0.1], weight_decay=[0, 0.1],
                                                 initial_accumulator_value=[0, 0.1], maximize=[False, True])]
               + [dict(eps=1e-3)],
    "RMSprop": [dict(lr=0.01, **c) for c in _grid(momentum=[0, 0.5], centered=[False, True],
                                                  weight_decay=[0, 0.1], maximize=[False, True])]
               + [dict(alpha=0.5, eps=1e-3)],
    "Adadelta": [dict(**c) for c in _grid(lr=[1.0, 0.5], rho=[0.9, 0.5], weight_decay=[0, 0.1],
                                          maximize=[False, True])] + [dict(eps=1e-3)],
    "Adam": [dict(lr=0.01, **c) for c in _grid(amsgrad=[False, True], weight_decay=[0, 0.1],
                                               maximize=[False, True], decoupled_weight_decay=[False, True])]
            + [dict(betas=(0.5, 0.9), eps=1e-3)],
    "AdamW": [dict(lr=0.01, **c) for c in _grid(amsgrad=[False, True], weight_decay=[0, 0.1],
                                                maximize=[False, True])] + [dict()],
    "Adamax": [dict(lr=0.01, **c) for c in _grid(weight_decay=[0, 0.1], maximize=[False, True])]
              + [dict(betas=(0.5, 0.9), eps=1e-3)],
    "NAdam": [dict(lr=0.01, **c) for c in _grid(weight_decay=[0, 0.1], decoupled_weight_decay=[False, True],
                                                maximize=[False, True])]
             + [dict(momentum_decay=0.1, betas=(0.8, 0.99))],
    "RAdam": [dict(lr=0.01, **c) for c in _grid(weight_decay=[0, 0.1], decoupled_weight_decay=[False, True],
                                                maximize=[False, True])]
             + [dict(betas=(0.5, 0.9), eps=1e-3)],
    "Rprop": [dict(lr=0.01, **c) for c in _grid(etas=[(0.5, 1.2), (0.3, 1.5)], maximize=[False, True])]
             + [dict(step_sizes=(1e-3, 0.02))],
    "ASGD": [dict(lr=0.05, **c) for c in _grid(weight_decay=[0, 0.1], t0=[1e6, 3], maximize=[False, True])]
            + [dict(lambd=0.1, alpha=0.5, t0=0)],
}

# the second group overrides some options, so that groups with different settings are exercised
GROUP2 = {
    "SGD": dict(lr=0.02, momentum=0.5, weight_decay=0.05),
    "Adagrad": dict(lr=0.05, lr_decay=0.2),
    "RMSprop": dict(lr=0.02, centered=True, momentum=0.3),
    "Adadelta": dict(lr=0.7, rho=0.8),
    "Adam": dict(lr=0.02, amsgrad=True, weight_decay=0.2),
    "AdamW": dict(lr=0.02, amsgrad=True, weight_decay=0.2),
    "Adamax": dict(lr=0.03, betas=(0.8, 0.99)),
    "NAdam": dict(lr=0.03, weight_decay=0.05),
    "RAdam": dict(lr=0.03, weight_decay=0.05, decoupled_weight_decay=True),
    "Rprop": dict(lr=0.02, etas=(0.4, 1.3)),
    "ASGD": dict(lr=0.02, lambd=1e-3, t0=5),
}

ALL_CASES = [(name, kw) for name, cases in CASES.items() for kw in cases]


def _ids(case):
    name, kw = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kw.items())


# --------------------------------------------------------------------------- helpers
def _arrays(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def _pair(arrays):
    fl = [flambeau.tensor(a.copy(), requires_grad=True) for a in arrays]
    th = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    return fl, th


def _groups(params, group2):
    return [{"params": params[:2]}, {"params": params[2:], **group2}]


def _set_grads(fl, th, rng, step, dtype):
    for i, (pf, pt) in enumerate(zip(fl, th)):
        if i == len(fl) - 1 and step % 4 == 2:  # the last parameter sometimes has no gradient
            pf.grad, pt.grad = None, None
            continue
        g = rng.standard_normal(SHAPES[i]).astype(dtype)
        pf.grad = flambeau.tensor(g.copy())
        pt.grad = torch.tensor(g.copy())


def _compare_state(opt_f, opt_t, fl, th, what):
    for i, (pf, pt) in enumerate(zip(fl, th)):
        st, sf = opt_t.state.get(pt, {}), opt_f.state.get(pf, {})
        assert set(sf) == set(st), f"{what}: param {i} state keys {sorted(sf)} != torch's {sorted(st)}"
        for key, vt in st.items():
            vf = sf[key]
            if isinstance(vt, torch.Tensor):
                assert isinstance(vf, flambeau.Tensor), f"{what}: state {key} is not a Tensor"
                assert_close(vf, vt, what=f"{what}: param {i} state {key}")
            else:
                assert vf == vt, f"{what}: param {i} state {key}: {vf} != {vt}"


def _compare_params(fl, th, what):
    for i, (pf, pt) in enumerate(zip(fl, th)):
        assert_close(pf, pt, what=f"{what}: param {i}")


def _run_both(name, kwargs, group2, dtype, steps=N_STEPS, seed=0):
    fl, th = _pair(_arrays(dtype, seed))
    opt_f = getattr(foptim, name)(_groups(fl, group2), **kwargs)
    opt_t = getattr(torch.optim, name)(_groups(th, group2), **kwargs)
    rng = np.random.default_rng(seed + 1)
    for step in range(steps):
        _set_grads(fl, th, rng, step, dtype)
        opt_f.step()
        opt_t.step()
        _compare_params(fl, th, f"{name} step {step}")
        _compare_state(opt_f, opt_t, fl, th, f"{name} step {step}")
    return opt_f, opt_t, fl, th


# --------------------------------------------------------------------------- step-by-step agreement
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", ALL_CASES, ids=[_ids(c) for c in ALL_CASES])
def test_matches_torch(case, dtype):
    name, kwargs = case
    _run_both(name, kwargs, GROUP2[name], dtype)


@pytest.mark.parametrize("name", list(CASES))
def test_defaults_match_torch(name):
    """Default hyperparameters, a single group given as a generator of parameters."""
    arrays = _arrays(np.float32, seed=3)
    fl, th = _pair(arrays)
    opt_f = getattr(foptim, name)(p for p in fl)
    opt_t = getattr(torch.optim, name)(p for p in th)
    assert opt_f.defaults == opt_t.defaults
    assert repr(opt_f) == repr(opt_t)
    rng = np.random.default_rng(5)
    for step in range(N_STEPS):
        _set_grads(fl, th, rng, step, np.float32)
        opt_f.step()
        opt_t.step()
        _compare_params(fl, th, f"{name} step {step}")
        _compare_state(opt_f, opt_t, fl, th, f"{name} step {step}")


def test_float32_stays_float32():
    for name in CASES:
        fl, _ = _pair(_arrays(np.float32))
        opt = getattr(foptim, name)(fl, **({} if name == "Rprop" else {"weight_decay": 0.1}))   # Rprop has none
        for p in fl:
            p.grad = flambeau.ones_like(p)
        opt.step()
        for p in fl:
            assert p._data.dtype == np.float32, name
            for key, v in opt.state[p].items():
                assert v._data.dtype == np.float32, f"{name} state {key}"


def test_version_counter_bumped():
    p = flambeau.tensor([1.0, 2.0], requires_grad=True)
    p.grad = flambeau.tensor([0.5, 0.5])
    v0 = p._version[0]
    foptim.SGD([p], lr=0.1).step()
    assert p._version[0] > v0


def test_repr_matches_torch():
    fl, th = _pair(_arrays(np.float32))
    for name in list(CASES) + ["LBFGS"]:
        if name == "LBFGS":
            assert repr(foptim.LBFGS(fl)) == repr(torch.optim.LBFGS(th))
            continue
        g2 = GROUP2[name]
        assert repr(getattr(foptim, name)(_groups(fl, g2))) == repr(getattr(torch.optim, name)(_groups(th, g2)))
    text = repr(foptim.SGD(fl, lr=0.1))
    assert text.startswith("SGD (\nParameter Group 0\n    dampening: 0\n")


# --------------------------------------------------------------------------- grad None, zero_grad, closure
def test_param_without_grad_is_skipped():
    p = flambeau.tensor([1.0, 2.0], requires_grad=True)
    q = flambeau.tensor([3.0], requires_grad=True)
    opt = foptim.Adam([p, q], lr=0.1)
    p.grad = flambeau.tensor([1.0, 1.0])
    opt.step()
    np.testing.assert_array_equal(q._data, [3.0])
    assert q not in opt.state and p in opt.state
    assert not np.array_equal(p._data, [1.0, 2.0])


def test_zero_grad():
    p = flambeau.tensor([1.0, 2.0], requires_grad=True)
    opt = foptim.SGD([p], lr=0.1)
    (p * p).sum().backward()
    g = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is g
    np.testing.assert_array_equal(p.grad._data, [0.0, 0.0])
    assert not p.grad.requires_grad
    opt.zero_grad()
    assert p.grad is None
    opt.zero_grad()  # no gradient: nothing to do
    assert p.grad is None


def test_closure_is_evaluated_with_grad_and_returned():
    arr = np.array([1.0, -2.0, 0.5], dtype=np.float32)
    pf, pt = flambeau.tensor(arr.copy(), requires_grad=True), torch.tensor(arr.copy(), requires_grad=True)
    for name in CASES:
        opt_f = getattr(foptim, name)([pf], lr=0.1)
        opt_t = getattr(torch.optim, name)([pt], lr=0.1)
        calls = []

        def closure_f(opt_f=opt_f, calls=calls):
            calls.append(flambeau.is_grad_enabled())
            opt_f.zero_grad()
            loss = (pf * pf).sum()
            loss.backward()
            return loss

        def closure_t(opt_t=opt_t):
            opt_t.zero_grad()
            loss = (pt * pt).sum()
            loss.backward()
            return loss

        with flambeau.no_grad():
            loss_f = opt_f.step(closure_f)
        loss_t = opt_t.step(closure_t)
        assert calls == [True]
        assert isinstance(loss_f, flambeau.Tensor)
        assert_close(loss_f, loss_t.detach(), what=f"{name} loss")
        assert_close(pf, pt.detach(), what=f"{name} params")
    assert foptim.SGD([pf]).step() is None


def test_step_hooks():
    p = flambeau.tensor([1.0], requires_grad=True)
    p.grad = flambeau.tensor([1.0])
    opt = foptim.SGD([p], lr=0.1)
    seen = []
    h1 = opt.register_step_pre_hook(lambda o, args, kwargs: seen.append(("pre", o is opt)))
    opt.register_step_post_hook(lambda o, args, kwargs: seen.append(("post", float(p._data[0]))))
    opt.step()
    assert seen == [("pre", True), ("post", pytest.approx(0.9))]
    h1.remove()
    opt.step()
    assert seen[-1] == ("post", pytest.approx(0.8)) and len(seen) == 3


# --------------------------------------------------------------------------- param groups
def test_param_groups_filled_with_defaults():
    fl, th = _pair(_arrays(np.float32))
    opt_f = foptim.Adam(_groups(fl, {"lr": 0.5}), lr=0.01)
    opt_t = torch.optim.Adam(_groups(th, {"lr": 0.5}), lr=0.01)
    for gf, gt in zip(opt_f.param_groups, opt_t.param_groups):
        assert {k: v for k, v in gf.items() if k != "params"} == {k: v for k, v in gt.items() if k != "params"}
    assert opt_f.param_groups[1]["lr"] == 0.5


def test_add_param_group_then_steps_match():
    fl, th = _pair(_arrays(np.float64))
    opt_f = foptim.SGD(fl[:2], lr=0.1, momentum=0.9)
    opt_t = torch.optim.SGD(th[:2], lr=0.1, momentum=0.9)
    opt_f.add_param_group({"params": fl[2:], "lr": 0.01, "nesterov": True})
    opt_t.add_param_group({"params": th[2:], "lr": 0.01, "nesterov": True})
    rng = np.random.default_rng(0)
    for step in range(6):
        _set_grads(fl, th, rng, step, np.float64)
        opt_f.step()
        opt_t.step()
        _compare_params(fl, th, f"step {step}")
    adagrad_f = foptim.Adagrad(fl[:1])
    adagrad_f.add_param_group({"params": fl[1:2]})
    fl[1].grad = flambeau.ones_like(fl[1])
    adagrad_f.step()  # state of a late group is created at its first step
    assert set(adagrad_f.state[fl[1]]) == {"step", "sum"}


def test_named_parameters():
    fl, th = _pair(_arrays(np.float32))
    opt_f = foptim.SGD([(f"p{i}", p) for i, p in enumerate(fl)], lr=0.1)
    opt_t = torch.optim.SGD([(f"p{i}", p) for i, p in enumerate(th)], lr=0.1)
    assert opt_f.param_groups[0]["param_names"] == opt_t.param_groups[0]["param_names"]
    assert opt_f.state_dict()["param_groups"] == opt_t.state_dict()["param_groups"]


# --------------------------------------------------------------------------- state_dict
@pytest.mark.parametrize("name", list(CASES))
def test_state_dict_layout_matches_torch(name):
    fl, th = _pair(_arrays(np.float32))
    g2 = GROUP2[name]
    opt_f = getattr(foptim, name)(_groups(fl, g2))
    opt_t = getattr(torch.optim, name)(_groups(th, g2))
    rng = np.random.default_rng(0)
    for step in range(3):
        _set_grads(fl, th, rng, step, np.float32)
        opt_f.step()
        opt_t.step()
    sd_f, sd_t = opt_f.state_dict(), opt_t.state_dict()
    assert sd_f["param_groups"] == sd_t["param_groups"]
    assert sorted(sd_f["state"]) == sorted(sd_t["state"])
    for k, st in sd_t["state"].items():
        sf = sd_f["state"][k]
        assert set(sf) == set(st)
        for key, v in st.items():
            assert isinstance(sf[key], flambeau.Tensor)
            assert_close(sf[key], v, what=f"state {k}.{key}")
    if name != "SGD":  # SGD without momentum keeps no state
        step = sd_f["state"][0]["step"]
        assert step.shape == () and step.dtype == flambeau.float32 and float(step) == 3.0


@pytest.mark.parametrize("name", list(CASES))
def test_state_dict_round_trip_continues_identically(name):
    dtype = np.float32
    arrays = _arrays(dtype)
    g2 = GROUP2[name]
    # uninterrupted run
    full = [flambeau.tensor(a.copy(), requires_grad=True) for a in arrays]
    opt_full = getattr(foptim, name)(_groups(full, g2))
    # interrupted run: 5 steps, save, a fresh optimizer loads, 7 more steps
    part = [flambeau.tensor(a.copy(), requires_grad=True) for a in arrays]
    opt_a = getattr(foptim, name)(_groups(part, g2))
    rng = np.random.default_rng(7)
    grads = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(N_STEPS)]
    for gs in grads:
        for p, g in zip(full, gs):
            p.grad = flambeau.tensor(g.copy())
        opt_full.step()
    for gs in grads[:5]:
        for p, g in zip(part, gs):
            p.grad = flambeau.tensor(g.copy())
        opt_a.step()
    sd = opt_a.state_dict()
    saved = {k: {n: v._data.copy() for n, v in s.items()} for k, s in sd["state"].items()}
    resumed = [flambeau.tensor(p._data.copy(), requires_grad=True) for p in part]
    opt_b = getattr(foptim, name)(_groups(resumed, {}))  # group options come from the state dict
    opt_b.load_state_dict(sd)
    assert opt_b.param_groups[1]["lr"] == g2["lr"]
    for gs in grads[5:]:
        for p, g in zip(resumed, gs):
            p.grad = flambeau.tensor(g.copy())
        opt_b.step()
    # the optimizer the state was saved from is left untouched by the new one's steps
    for k, s in opt_a.state_dict()["state"].items():
        for n, v in s.items():
            np.testing.assert_array_equal(v._data, saved[k][n])
    for pf, pr in zip(full, resumed):
        np.testing.assert_array_equal(pr._data, pf._data)


def test_load_torch_layout_state_dict():
    """A state dict in torch's layout (converted to flambeau tensors) continues torch's run."""
    fl, th = _pair(_arrays(np.float64))
    opt_t = torch.optim.Adam(th, lr=0.01, amsgrad=True)
    rng = np.random.default_rng(0)
    for _ in range(4):
        _set_grads(fl, th, rng, 1, np.float64)
        opt_t.step()
    sd_t = opt_t.state_dict()
    sd = {"state": {k: {n: flambeau.tensor(v.detach().numpy().copy()) for n, v in s.items()}
                    for k, s in sd_t["state"].items()},
          "param_groups": sd_t["param_groups"]}
    for pf, pt in zip(fl, th):
        pf._data[...] = pt.detach().numpy()
    opt_f = foptim.Adam(fl)
    opt_f.load_state_dict(sd)
    assert opt_f.param_groups[0]["amsgrad"] is True
    for step in range(4):
        _set_grads(fl, th, rng, 1, np.float64)
        opt_f.step()
        opt_t.step()
        _compare_params(fl, th, f"step {step}")


def test_state_dict_through_save_and_load(tmp_path):
    fl, _ = _pair(_arrays(np.float32))
    opt = foptim.AdamW(fl, lr=0.01)
    for p in fl:
        p.grad = flambeau.ones_like(p)
    opt.step()
    flambeau.save(opt.state_dict(), str(tmp_path / "opt.safetensors"))
    loaded = flambeau.load(str(tmp_path / "opt.safetensors"))
    opt2 = foptim.AdamW([flambeau.tensor(p._data.copy(), requires_grad=True) for p in fl])
    opt2.load_state_dict(loaded)
    assert opt2.param_groups[0]["betas"] == (0.9, 0.999)
    np.testing.assert_array_equal(opt2.state_dict()["state"][0]["exp_avg"]._data, opt.state[fl[0]]["exp_avg"]._data)


def test_load_state_dict_errors():
    fl, _ = _pair(_arrays(np.float32))
    opt = foptim.SGD(_groups(fl, {}), lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        foptim.SGD(fl, lr=0.1).load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match="doesn't match the size"):
        foptim.SGD([{"params": fl[:1]}, {"params": fl[1:]}], lr=0.1).load_state_dict(opt.state_dict())


# --------------------------------------------------------------------------- errors
INVALID = [
    ("SGD", dict(lr=-1)), ("SGD", dict(momentum=-0.1)), ("SGD", dict(weight_decay=-1)),
    ("SGD", dict(nesterov=True)), ("SGD", dict(nesterov=True, momentum=0.9, dampening=0.1)),
    ("Adagrad", dict(lr=-1)), ("Adagrad", dict(lr_decay=-1)), ("Adagrad", dict(weight_decay=-1)),
    ("Adagrad", dict(initial_accumulator_value=-1)), ("Adagrad", dict(eps=-1)),
    ("RMSprop", dict(lr=-1)), ("RMSprop", dict(eps=-1)), ("RMSprop", dict(momentum=-1)),
    ("RMSprop", dict(weight_decay=-1)), ("RMSprop", dict(alpha=-1)),
    ("Adadelta", dict(lr=-1)), ("Adadelta", dict(rho=1.5)), ("Adadelta", dict(eps=-1)),
    ("Adadelta", dict(weight_decay=-1)),
    ("Adam", dict(lr=-1)), ("Adam", dict(eps=-1)), ("Adam", dict(betas=(1.0, 0.9))),
    ("Adam", dict(betas=(0.9, -0.1))), ("Adam", dict(weight_decay=-1)), ("Adam", dict(betas=(0, 0.9))),
    ("AdamW", dict(lr=-1)), ("AdamW", dict(betas=(0.9, 1.0))), ("AdamW", dict(weight_decay=-1)),
    ("Adamax", dict(lr=-1)), ("Adamax", dict(eps=-1)), ("Adamax", dict(betas=(-0.1, 0.9))),
    ("Adamax", dict(weight_decay=-1)),
    ("NAdam", dict(lr=-1)), ("NAdam", dict(betas=(0.9, 1.5))), ("NAdam", dict(momentum_decay=-1)),
    ("NAdam", dict(weight_decay=-1)),
    ("RAdam", dict(lr=-1)), ("RAdam", dict(eps=-1)), ("RAdam", dict(betas=(1.0, 0.9))),
    ("LBFGS", dict(lr=-1)),
]


@pytest.mark.parametrize("case", INVALID, ids=[_ids(c) for c in INVALID])
def test_invalid_hyperparameters_raise_like_torch(case):
    name, kwargs = case
    with pytest.raises(Exception) as t_exc:
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kwargs)
    with pytest.raises(Exception) as f_exc:
        getattr(foptim, name)([flambeau.zeros(2, requires_grad=True)], **kwargs)
    assert type(f_exc.value) is type(t_exc.value)
    assert str(f_exc.value) == str(t_exc.value)


def test_invalid_params_raise_like_torch():
    p = flambeau.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="^optimizer got an empty parameter list$"):
        foptim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="^some parameters appear in more than one parameter group$"):
        foptim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts, but got flambeau.FloatTensor"):
        foptim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors"):
        foptim.SGD([1.0], lr=0.1)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        foptim.SGD([p * 2], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        foptim.SGD([{"params": {p}}], lr=0.1)
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        foptim.LBFGS([{"params": [p]}, {"params": [flambeau.zeros(1, requires_grad=True)]}])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        foptim.SGD([p, p], lr=0.1)
    assert any("duplicate parameters" in str(x.message) for x in w)


# --------------------------------------------------------------------------- LBFGS
def _lbfgs_problem(lib, x, a, b):
    r = a @ x - b
    return (r * r).sum() + 0.1 * (x * x * x * x).sum()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kwargs", [dict(), dict(line_search_fn="strong_wolfe"), dict(history_size=2, max_iter=5),
                                    dict(lr=0.5, max_iter=3, line_search_fn="strong_wolfe")],
                         ids=["plain", "wolfe", "short-history", "lr-wolfe"])
def test_lbfgs_matches_torch(kwargs, dtype):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 4)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    x0 = rng.standard_normal(4).astype(dtype)
    xf, xt = flambeau.tensor(x0.copy(), requires_grad=True), torch.tensor(x0.copy(), requires_grad=True)
    af, bf, at, bt = flambeau.tensor(a), flambeau.tensor(b), torch.tensor(a), torch.tensor(b)
    opt_f = foptim.LBFGS([xf], **kwargs)
    opt_t = torch.optim.LBFGS([xt], **kwargs)

    def closure_f():
        opt_f.zero_grad()
        loss = _lbfgs_problem(flambeau, xf, af, bf)
        loss.backward()
        return loss

    def closure_t():
        opt_t.zero_grad()
        loss = _lbfgs_problem(torch, xt, at, bt)
        loss.backward()
        return loss

    # float32: dot products are summed in another order by the two BLAS calls, and L-BFGS
    # feeds those scalars back through many iterations
    tol = {} if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)
    for step in range(3):
        lf, lt = opt_f.step(closure_f), opt_t.step(closure_t)
        assert_close(lf, lt.detach(), what=f"loss {step}", **tol)
        assert_close(xf, xt.detach(), what=f"x after step {step}", **tol)
        sf, st = opt_f.state[xf], opt_t.state[xt]
        if dtype == np.float64:
            assert sf["func_evals"] == st["func_evals"] and sf["n_iter"] == st["n_iter"]
        assert set(sf) == set(st)
        assert_close(sf["d"], st["d"], what="d", **tol)
        assert len(sf["old_dirs"]) == len(st["old_dirs"])


def test_lbfgs_state_dict_round_trip():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal(5)
    af, bf = flambeau.tensor(a), flambeau.tensor(b)

    def make(x0):
        x = flambeau.tensor(x0.copy(), requires_grad=True)
        opt = foptim.LBFGS([x], max_iter=4, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = _lbfgs_problem(flambeau, x, af, bf)
            loss.backward()
            return loss
        return x, opt, closure

    x0 = rng.standard_normal(3)
    x1, opt1, c1 = make(x0)
    for _ in range(3):
        opt1.step(c1)
    x2, opt2, c2 = make(x0)
    opt2.step(c2)
    x3, opt3, c3 = make(x2._data)
    opt3.load_state_dict(opt2.state_dict())
    opt3.step(c3)
    opt3.step(c3)
    np.testing.assert_array_equal(x3._data, x1._data)


# --------------------------------------------------------------------------- end to end
CONVERGENCE = [
    ("SGD", dict(lr=0.1)), ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)), ("Adagrad", dict(lr=0.5)),
    ("RMSprop", dict(lr=0.02)), ("Adadelta", dict(lr=10.0)), ("Adam", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, weight_decay=0.0)), ("Adamax", dict(lr=0.1)), ("NAdam", dict(lr=0.05)),
    ("RAdam", dict(lr=0.05)),
]


@pytest.mark.parametrize("case", CONVERGENCE, ids=[_ids(c) for c in CONVERGENCE])
def test_minimises_a_quadratic(case):
    name, kwargs = case
    target = flambeau.tensor([1.0, -2.0, 3.0, 0.5])
    x = flambeau.zeros(4, requires_grad=True)
    opt = getattr(foptim, name)([x], **kwargs)
    for _ in range(500):
        opt.zero_grad()
        loss = ((x - target) ** 2).sum()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(x._data, target._data, atol=2e-2)


def test_lbfgs_minimises_a_quadratic():
    target = flambeau.tensor([1.0, -2.0, 3.0, 0.5], dtype=flambeau.float64)
    x = flambeau.zeros(4, dtype=flambeau.float64, requires_grad=True)
    opt = foptim.LBFGS([x], line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = ((x - target) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    np.testing.assert_allclose(x._data, target._data, atol=1e-6)


def test_maximize_ascends():
    x = flambeau.zeros(2, requires_grad=True)
    opt = foptim.Adam([x], lr=0.1, maximize=True)
    for _ in range(50):
        opt.zero_grad()
        (-(x - 1.0) ** 2).sum().backward()
        opt.step()
    np.testing.assert_allclose(x._data, [1.0, 1.0], atol=5e-2)


# --------------------------------------------------------------------------- tensor hyperparameters
@pytest.mark.parametrize("name,kwargs", [("SGD", dict(momentum=0.9)), ("Adam", dict()), ("AdamW", dict(amsgrad=True)),
                                         ("RMSprop", dict()), ("NAdam", dict())])
def test_tensor_lr_matches_torch(name, kwargs):
    fl, th = _pair(_arrays(np.float64))
    opt_f = getattr(foptim, name)(fl, lr=flambeau.tensor(0.01), **kwargs)
    opt_t = getattr(torch.optim, name)(th, lr=torch.tensor(0.01), **kwargs)
    rng = np.random.default_rng(2)
    for step in range(N_STEPS):
        _set_grads(fl, th, rng, step, np.float64)
        opt_f.step()
        opt_t.step()
        _compare_params(fl, th, f"{name} step {step}")
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        getattr(foptim, name)(fl, lr=flambeau.tensor([0.1, 0.2]))


def test_adam_tensor_betas_match_torch():
    fl, th = _pair(_arrays(np.float32))
    opt_f = foptim.Adam(fl, lr=0.01, betas=(flambeau.tensor(0.8), flambeau.tensor(0.99)))
    opt_t = torch.optim.Adam(th, lr=0.01, betas=(torch.tensor(0.8), torch.tensor(0.99)))
    rng = np.random.default_rng(3)
    for step in range(N_STEPS):
        _set_grads(fl, th, rng, step, np.float32)
        opt_f.step()
        opt_t.step()
        _compare_params(fl, th, f"step {step}")


def test_custom_optimizer_subclass():
    """A user-written optimizer: required options, hooks and grad mode work as in torch."""
    from flambeau.optim.optimizer import required

    class SignSGD(foptim.Optimizer):
        def __init__(self, params, lr=required):
            super().__init__(params, dict(lr=lr))

        def step(self, closure=None):
            assert not flambeau.is_grad_enabled()
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p._data -= group["lr"] * np.sign(p.grad._data)

    p = flambeau.tensor([1.0, -1.0], requires_grad=True)
    with pytest.raises(ValueError, match="didn't specify a value of required optimization parameter lr"):
        SignSGD([p])
    opt = SignSGD([p], lr=0.5)
    calls = []
    opt.register_step_post_hook(lambda o, a, k: calls.append(1))
    p.grad = flambeau.tensor([2.0, -3.0])
    opt.step()
    np.testing.assert_array_equal(p._data, [0.5, -0.5])
    assert calls == [1] and flambeau.is_grad_enabled()
