"""flambeau.optim.lr_scheduler against torch.optim.lr_scheduler: the learning-rate (and momentum)
sequences over 30-100 steps, with three parameter groups of different rates, agree to rtol 1e-6."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import flambeau
import flambeau.optim as foptim

LRS = [0.1, 0.05, 0.3]
RTOL = 1e-6


def _groups(lib, lrs=LRS):
    return [{"params": [lib.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]


def _optimizers(kind="SGD"):
    if kind == "SGD":
        return (foptim.SGD(_groups(flambeau), lr=0.1, momentum=0.9),
                torch.optim.SGD(_groups(torch), lr=0.1, momentum=0.9))
    return foptim.Adam(_groups(flambeau), lr=0.1), torch.optim.Adam(_groups(torch), lr=0.1)


def _lib_scheduler(lib):
    return foptim.lr_scheduler if lib is flambeau else torch.optim.lr_scheduler


def _compare(opt_f, opt_t, sched_f, sched_t, what):
    np.testing.assert_allclose(sched_f.get_last_lr(), sched_t.get_last_lr(), rtol=RTOL, err_msg=f"{what}: last_lr")
    for i, (gf, gt) in enumerate(zip(opt_f.param_groups, opt_t.param_groups)):
        np.testing.assert_allclose(gf["lr"], gt["lr"], rtol=RTOL, err_msg=f"{what}: group {i} lr")
        for key in ("momentum", "betas"):
            if key in gt:
                np.testing.assert_allclose(gf[key], gt[key], rtol=RTOL, err_msg=f"{what}: group {i} {key}")


def _run(make, steps, kind="SGD", metrics=None):
    opt_f, opt_t = _optimizers(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched_f, sched_t = make(_lib_scheduler(flambeau), opt_f), make(_lib_scheduler(torch), opt_t)
    _compare(opt_f, opt_t, sched_f, sched_t, "after construction")
    for i in range(steps):
        opt_f.step()
        opt_t.step()
        if metrics is None:
            sched_f.step()
            sched_t.step()
        else:
            sched_f.step(metrics[i])
            sched_t.step(metrics[i])
        _compare(opt_f, opt_t, sched_f, sched_t, f"step {i}")
    return opt_f, sched_f


SCHEDULERS = {
    "StepLR": (lambda s, o: s.StepLR(o, step_size=7, gamma=0.5), 40, "SGD"),
    "MultiStepLR": (lambda s, o: s.MultiStepLR(o, milestones=[5, 12, 12, 30], gamma=0.3), 40, "SGD"),
    "ExponentialLR": (lambda s, o: s.ExponentialLR(o, gamma=0.93), 60, "SGD"),
    "CosineAnnealingLR": (lambda s, o: s.CosineAnnealingLR(o, T_max=17), 80, "SGD"),
    "CosineAnnealingLR-eta_min": (lambda s, o: s.CosineAnnealingLR(o, T_max=10, eta_min=0.01), 100, "SGD"),
    "LambdaLR": (lambda s, o: s.LambdaLR(o, lambda e: 0.95 ** e), 40, "SGD"),
    "LambdaLR-per-group": (lambda s, o: s.LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: 0.9 ** e,
                                                       lambda e: min(1.0, (e + 1) / 10)]), 40, "SGD"),
    "MultiplicativeLR": (lambda s, o: s.MultiplicativeLR(o, lambda e: 0.97), 50, "SGD"),
    "LinearLR": (lambda s, o: s.LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=12), 30, "SGD"),
    "LinearLR-default": (lambda s, o: s.LinearLR(o), 30, "Adam"),
    "ConstantLR": (lambda s, o: s.ConstantLR(o, factor=0.25, total_iters=8), 30, "SGD"),
    "PolynomialLR": (lambda s, o: s.PolynomialLR(o, total_iters=20, power=2.0), 30, "SGD"),
    "CosineAnnealingWarmRestarts": (lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=7), 50, "SGD"),
    "CosineAnnealingWarmRestarts-mult": (lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2,
                                                                                     eta_min=0.001), 60, "SGD"),
    "OneCycleLR": (lambda s, o: s.OneCycleLR(o, max_lr=[1.0, 0.5, 2.0], total_steps=50), 50, "SGD"),
    "OneCycleLR-linear-adam": (lambda s, o: s.OneCycleLR(o, max_lr=0.01, epochs=5, steps_per_epoch=12,
                                                         anneal_strategy="linear", pct_start=0.25), 60, "Adam"),
    "OneCycleLR-three-phase": (lambda s, o: s.OneCycleLR(o, max_lr=0.1, total_steps=64, three_phase=True,
                                                         div_factor=10.0, final_div_factor=100.0), 64, "SGD"),
    "OneCycleLR-no-momentum": (lambda s, o: s.OneCycleLR(o, max_lr=0.1, total_steps=40, cycle_momentum=False),
                               40, "SGD"),
    "CyclicLR": (lambda s, o: s.CyclicLR(o, base_lr=0.01, max_lr=[0.1, 0.2, 0.3], step_size_up=5), 60, "SGD"),
    "CyclicLR-triangular2": (lambda s, o: s.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4, step_size_down=6,
                                                     mode="triangular2"), 60, "SGD"),
    "CyclicLR-exp-range-adam": (lambda s, o: s.CyclicLR(o, base_lr=0.001, max_lr=0.01, step_size_up=3,
                                                        mode="exp_range", gamma=0.97), 50, "Adam"),
    "SequentialLR": (lambda s, o: s.SequentialLR(o, [s.LinearLR(o, start_factor=0.1, total_iters=10),
                                                     s.CosineAnnealingLR(o, T_max=30)], milestones=[10]), 60, "SGD"),
    "SequentialLR-three": (lambda s, o: s.SequentialLR(o, [s.ConstantLR(o, factor=0.5, total_iters=5),
                                                           s.ExponentialLR(o, gamma=0.9),
                                                           s.StepLR(o, step_size=4)], milestones=[6, 20]), 40, "SGD"),
    "ChainedScheduler": (lambda s, o: s.ChainedScheduler([s.ConstantLR(o, factor=0.5, total_iters=4),
                                                          s.ExponentialLR(o, gamma=0.9)]), 30, "SGD"),
}


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_sequence_matches_torch(name):
    make, steps, kind = SCHEDULERS[name]
    _run(make, steps, kind)


PLATEAU = [
    dict(),
    dict(mode="max", factor=0.5, patience=2),
    dict(threshold_mode="abs", threshold=0.05, patience=1, cooldown=2),
    dict(mode="max", threshold_mode="abs", patience=0, min_lr=[0.01, 0.02, 0.05]),
    dict(factor=0.5, patience=1, min_lr=0.02, eps=1e-3),
]


@pytest.mark.parametrize("kwargs", PLATEAU, ids=[str(k) for k in PLATEAU])
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    rng = np.random.default_rng(0)
    metrics = (list(1.0 / np.arange(1, 11)) + list(0.1 + 0.01 * rng.standard_normal(50))
               + list(np.linspace(0.1, 0.5, 20)))
    _, sched = _run(lambda s, o: s.ReduceLROnPlateau(o, **kwargs), len(metrics), metrics=metrics)
    assert sched.last_epoch == len(metrics)


def test_reduce_lr_on_plateau_metric_tensor_and_errors():
    opt = foptim.SGD(_groups(flambeau), lr=0.1)
    sched = foptim.lr_scheduler.ReduceLROnPlateau(opt, patience=0)
    sched.step(flambeau.tensor(1.0))
    sched.step(flambeau.tensor(2.0))
    assert sched.get_last_lr() == pytest.approx([x * 0.1 for x in LRS])
    with pytest.raises(ValueError, match="Factor should be < 1.0."):
        foptim.lr_scheduler.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode avg is unknown!"):
        foptim.lr_scheduler.ReduceLROnPlateau(opt, mode="avg")
    with pytest.raises(ValueError, match="expected 3 min_lrs, got 2"):
        foptim.lr_scheduler.ReduceLROnPlateau(opt, min_lr=[0.1, 0.2])


def test_closed_form_with_explicit_epoch():
    opt_f, opt_t = _optimizers()
    sched_f = foptim.lr_scheduler.StepLR(opt_f, step_size=3, gamma=0.5)
    sched_t = torch.optim.lr_scheduler.StepLR(opt_t, step_size=3, gamma=0.5)
    for epoch in [4, 7, 2, 10]:
        opt_f.step()
        opt_t.step()
        with pytest.warns(UserWarning, match="epoch parameter"):
            sched_f.step(epoch)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sched_t.step(epoch)
        _compare(opt_f, opt_t, sched_f, sched_t, f"epoch {epoch}")


def test_warm_restarts_fractional_epochs():
    opt_f, opt_t = _optimizers()
    sched_f = foptim.lr_scheduler.CosineAnnealingWarmRestarts(opt_f, T_0=4, T_mult=2)
    sched_t = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt_t, T_0=4, T_mult=2)
    for epoch in range(12):
        for i in range(5):
            opt_f.step()
            opt_t.step()
            sched_f.step(epoch + i / 5)
            sched_t.step(epoch + i / 5)
            _compare(opt_f, opt_t, sched_f, sched_t, f"epoch {epoch}+{i}/5")


def test_initial_lr_and_base_lrs():
    opt = foptim.SGD(_groups(flambeau), lr=0.1)
    sched = foptim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    assert [g["initial_lr"] for g in opt.param_groups] == LRS
    assert sched.base_lrs == LRS and sched.last_epoch == 0
    opt.step()
    sched.step()
    assert sched.last_epoch == 1 and sched.get_last_lr() == pytest.approx([x / 2 for x in LRS])


def test_resume_needs_initial_lr():
    opt = foptim.SGD(_groups(flambeau), lr=0.1)
    with pytest.raises(KeyError, match="initial_lr"):
        foptim.lr_scheduler.StepLR(opt, step_size=2, last_epoch=3)


def test_resume_with_last_epoch_matches_torch():
    opt_f, opt_t = _optimizers()
    for o in (opt_f, opt_t):
        for g in o.param_groups:
            g["initial_lr"] = g["lr"] * 2
    sched_f = foptim.lr_scheduler.CosineAnnealingLR(opt_f, T_max=20, last_epoch=5)
    sched_t = torch.optim.lr_scheduler.CosineAnnealingLR(opt_t, T_max=20, last_epoch=5)
    for i in range(30):
        opt_f.step()
        opt_t.step()
        sched_f.step()
        sched_t.step()
        _compare(opt_f, opt_t, sched_f, sched_t, f"step {i}")


def test_warns_when_stepped_before_optimizer():
    opt = foptim.SGD(_groups(flambeau), lr=0.1)
    sched = foptim.lr_scheduler.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    opt2 = foptim.SGD(_groups(flambeau), lr=0.1)
    sched2 = foptim.lr_scheduler.StepLR(opt2, step_size=2)
    opt2.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched2.step()
        sched2.get_last_lr()
    with pytest.warns(UserWarning, match="get_last_lr"):
        sched2.get_lr()


@pytest.mark.parametrize("name", ["StepLR", "CosineAnnealingLR", "OneCycleLR", "SequentialLR", "ChainedScheduler",
                                  "LambdaLR", "CyclicLR", "CosineAnnealingWarmRestarts-mult"])
def test_state_dict_round_trip(name):
    """Save the optimizer and scheduler mid-run, load them into fresh ones: the rest of the
    sequence is torch's uninterrupted one."""
    make, steps, kind = SCHEDULERS[name]
    opt_t = torch.optim.SGD(_groups(torch), lr=0.1, momentum=0.9) if kind == "SGD" else \
        torch.optim.Adam(_groups(torch), lr=0.1)
    sched_t = make(torch.optim.lr_scheduler, opt_t)
    expected = []
    for _ in range(steps):
        opt_t.step()
        sched_t.step()
        expected.append(sched_t.get_last_lr())

    half = steps // 2
    opt_a, _ = _optimizers(kind)
    sched_a = make(foptim.lr_scheduler, opt_a)
    for _ in range(half):
        opt_a.step()
        sched_a.step()
    sd_sched, sd_opt = sched_a.state_dict(), opt_a.state_dict()
    opt_b, _ = _optimizers(kind)
    sched_b = make(foptim.lr_scheduler, opt_b)
    sched_b.load_state_dict(sd_sched)
    opt_b.load_state_dict(sd_opt)
    for i in range(half, steps):
        opt_b.step()
        sched_b.step()
        np.testing.assert_allclose(sched_b.get_last_lr(), expected[i], rtol=RTOL, err_msg=f"step {i}")
        np.testing.assert_allclose([g["lr"] for g in opt_b.param_groups], expected[i], rtol=RTOL)


def test_scheduler_drives_training():
    """A scheduler changes the rate the optimizer actually uses."""
    p = flambeau.tensor([1.0], requires_grad=True)
    opt = foptim.SGD([p], lr=1.0)
    sched = foptim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for expected in [0.0, -0.5, -0.75]:
        p.grad = flambeau.tensor([1.0])
        opt.step()
        sched.step()
        assert float(p._data[0]) == pytest.approx(expected)


def test_constructor_errors_match_torch():
    cases = [
        lambda s, o: s.ConstantLR(o, factor=1.5),
        lambda s, o: s.LinearLR(o, start_factor=0),
        lambda s, o: s.LinearLR(o, end_factor=2.0),
        lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=0),
        lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0),
        lambda s, o: s.OneCycleLR(o, max_lr=0.1),
        lambda s, o: s.OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=1),
        lambda s, o: s.OneCycleLR(o, max_lr=0.1, total_steps=10, anneal_strategy="exp"),
        lambda s, o: s.OneCycleLR(o, max_lr=[0.1, 0.2], total_steps=10),
        lambda s, o: s.LambdaLR(o, [lambda e: 1.0]),
        lambda s, o: s.SequentialLR(o, [s.StepLR(o, 2)], milestones=[3]),
        lambda s, o: s.CyclicLR(o, 0.01, 0.1, mode="bogus"),
        lambda s, o: s.StepLR("not an optimizer", 2),
    ]
    for i, make in enumerate(cases):
        opt_f, opt_t = _optimizers()
        with pytest.raises(Exception) as t_exc:
            make(torch.optim.lr_scheduler, opt_t)
        with pytest.raises(Exception) as f_exc:
            make(foptim.lr_scheduler, opt_f)
        assert type(f_exc.value) is type(t_exc.value), f"case {i}"
        assert str(f_exc.value) == str(t_exc.value), f"case {i}"


def test_onecycle_too_many_steps():
    opt, _ = _optimizers()
    sched = foptim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=3)
    for _ in range(3):
        opt.step()
        sched.step()
    with pytest.raises(ValueError, match="Tried to step 4 times"):
        sched.step()


def test_cosine_annealing_reaches_eta_min():
    opt, _ = _optimizers()
    sched = foptim.lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=0.001)
    for _ in range(10):
        opt.step()
        sched.step()
    assert sched.get_last_lr() == pytest.approx([0.001] * 3)
    assert math.isclose(sched._get_closed_form_lr()[0], 0.001)


def test_tensor_lr_is_updated_in_place():
    lr_f, lr_t = flambeau.tensor(0.1), torch.tensor(0.1)
    opt_f = foptim.Adam([flambeau.zeros(2, requires_grad=True)], lr=lr_f)
    opt_t = torch.optim.Adam([torch.zeros(2, requires_grad=True)], lr=lr_t)
    sched_f = foptim.lr_scheduler.ExponentialLR(opt_f, gamma=0.5)
    sched_t = torch.optim.lr_scheduler.ExponentialLR(opt_t, gamma=0.5)
    for _ in range(5):
        opt_f.step()
        opt_t.step()
        sched_f.step()
        sched_t.step()
        assert opt_f.param_groups[0]["lr"] is lr_f
        np.testing.assert_allclose(float(lr_f), float(lr_t), rtol=RTOL)
        np.testing.assert_allclose(float(sched_f.get_last_lr()[0]), float(sched_t.get_last_lr()[0]), rtol=RTOL)
