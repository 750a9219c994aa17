"""``optim.swa_utils`` against ``torch.optim.swa_utils``: the averaged weights and buffers
after training both libraries in step (float32, atol 1e-6: the two trainings themselves differ
by rounding), SWALR's rates (to rounding) and update_bn's statistics."""
import numpy as np
import pytest
import torch
from torch.optim import swa_utils as TS

import flambeau
from flambeau.optim import swa_utils as FS


def _net(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))


def _pair():
    tm, fm = _net(torch), _net(flambeau)
    fm.load_state_dict({k: flambeau.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return tm, fm


def _batches(n=5):
    rng = np.random.default_rng(0)
    return [(rng.standard_normal((8, 3, 8, 8)).astype(np.float32), rng.integers(0, 5, 8)) for _ in range(n)]


def _close(a, b, atol=1e-6):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        np.testing.assert_allclose(sb[k].numpy(), sa[k].detach().numpy(), rtol=1e-5, atol=atol, err_msg=k)


@pytest.mark.parametrize("kind", ["swa", "ema", "ema_buffers", "avg_fn"])
def test_averaged_model_follows_torch(kind):
    def kwargs(su):
        return {"swa": {}, "ema": dict(multi_avg_fn=su.get_ema_multi_avg_fn(0.9)),
                "ema_buffers": dict(multi_avg_fn=su.get_ema_multi_avg_fn(0.9), use_buffers=True),
                "avg_fn": dict(avg_fn=su.get_ema_avg_fn(0.8))}[kind]
    tm, fm = _pair()
    at, af = TS.AveragedModel(tm, **kwargs(TS)), FS.AveragedModel(fm, **kwargs(FS))
    ot = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    of = flambeau.optim.SGD(fm.parameters(), lr=0.1, momentum=0.9)
    for x, y in _batches():
        for lib, m, o, a in ((torch, tm, ot, at), (flambeau, fm, of, af)):
            o.zero_grad()
            lib.nn.functional.cross_entropy(m(lib.tensor(x)), lib.tensor(y)).backward()
            o.step()
            a.update_parameters(m)
    _close(at, af)
    assert int(af.n_averaged) == 5
    # the average is not the last model (the copy is independent of the model it follows)
    assert not np.allclose(af.module[0].weight.detach().numpy(), fm[0].weight.detach().numpy())
    x = _batches(1)[0][0]
    np.testing.assert_allclose(af(flambeau.tensor(x)).detach().numpy(), at(torch.tensor(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)


def test_update_bn_recomputes_the_statistics():
    tm, fm = _pair()
    at, af = TS.AveragedModel(tm), FS.AveragedModel(fm)
    data = _batches(4)
    TS.update_bn([(torch.tensor(x), 0) for x, _ in data], at)
    FS.update_bn([(flambeau.tensor(x), 0) for x, _ in data], af)
    _close(at, af)
    bn = af.module[1]
    assert bn.momentum == 0.1 and af.training          # restored
    FS.update_bn([flambeau.tensor(x) for x, _ in data], flambeau.nn.Linear(2, 2))   # no batch norm: no-op


@pytest.mark.parametrize("strategy, anneal_epochs", [("cos", 3), ("linear", 4), ("cos", 0)])
def test_swalr_rates(strategy, anneal_epochs):
    rates = []
    for lib, su in ((torch, TS), (flambeau, FS)):
        p = lib.nn.Parameter(lib.zeros(2))
        opt = lib.optim.SGD([p, ], lr=0.5)
        sched = su.SWALR(opt, swa_lr=0.05, anneal_epochs=anneal_epochs, anneal_strategy=strategy)
        seq = [opt.param_groups[0]["lr"]]
        for _ in range(7):
            opt.step()
            sched.step()
            seq.append(opt.param_groups[0]["lr"])
        rates.append(seq)
    np.testing.assert_allclose(rates[1], rates[0], rtol=1e-12)


def test_swa_errors():
    opt = flambeau.optim.SGD([flambeau.nn.Parameter(flambeau.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="anneal_strategy must by one of 'cos' or 'linear'"):
        FS.SWALR(opt, 0.01, anneal_strategy="exp")
    with pytest.raises(ValueError, match="anneal_epochs must be equal or greater than 0"):
        FS.SWALR(opt, 0.01, anneal_epochs=-1)
    with pytest.raises(AssertionError):
        FS.AveragedModel(flambeau.nn.Linear(1, 1), avg_fn=FS.get_swa_avg_fn(), multi_avg_fn=FS.get_swa_multi_avg_fn())


def test_averaging_buffers_with_integer_counters():
    """use_buffers=True averages num_batches_tracked too (an int64 buffer: truncated, as PyTorch)."""
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    fm = flambeau.nn.Sequential(flambeau.nn.Linear(3, 4), flambeau.nn.BatchNorm1d(4))
    fm.load_state_dict({k: flambeau.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    at, af = TS.AveragedModel(tm, use_buffers=True), FS.AveragedModel(fm, use_buffers=True)
    x = np.random.default_rng(0).standard_normal((3, 5, 3)).astype(np.float32)
    for lib, m, a in ((torch, tm, at), (flambeau, fm, af)):
        m(lib.tensor(x[0]))
        a.update_parameters(m)
        m(lib.tensor(x[1]))
        m(lib.tensor(x[2]))
        a.update_parameters(m)
    _close(at, af)
