"""Lazy layers against PyTorch's: reprs before and after the first call, the class they become,
state-dict keys and shapes, outputs with copied weights (float32 rtol 1e-5 / atol 1e-6), an
optimizer built before the first call training the materialised parameters, and d2l-style
Sequential networks of lazy layers."""
import numpy as np
import pytest
import torch

import flambeau

CASES = [("LazyLinear", (7,), (3, 5)), ("LazyConv1d", (4, 3), (2, 3, 8)), ("LazyConv2d", (4, 3), (2, 3, 8, 8)),
         ("LazyConv2d", (4, 3), (3, 6, 6)), ("LazyConv3d", (2, 2), (1, 3, 4, 4, 4)),
         ("LazyConvTranspose2d", (4, 3), (2, 3, 5, 5)), ("LazyBatchNorm1d", (), (6, 3)),
         ("LazyBatchNorm2d", (), (4, 3, 5, 5))]


@pytest.mark.parametrize("name, args, shape", CASES)
def test_lazy_layers_follow_torch(name, args, shape):
    tm, fm = getattr(torch.nn, name)(*args), getattr(flambeau.nn, name)(*args)
    assert repr(fm) == repr(tm) and fm.has_uninitialized_params()
    opt = flambeau.optim.SGD(fm.parameters(), lr=0.1)          # built before the shapes are known
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    tm(torch.tensor(x))
    fm(flambeau.tensor(x))
    assert type(fm).__name__ == type(tm).__name__ and repr(fm) == repr(tm)
    assert {k: tuple(v.shape) for k, v in fm.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in tm.state_dict().items()}
    fm.load_state_dict({k: flambeau.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    yt, yf = tm(torch.tensor(x)), fm(flambeau.tensor(x))
    np.testing.assert_allclose(yf.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    before = [p.detach().numpy().copy() for p in fm.parameters()]
    yf.square().sum().backward()
    opt.step()
    assert any(not np.array_equal(b, p.detach().numpy()) for b, p in zip(before, fm.parameters()))


def test_sequential_of_lazy_layers_trains():
    """d2l's style: the shapes come from a first batch, then an ordinary training loop."""
    flambeau.manual_seed(0)
    nn = flambeau.nn
    net = nn.Sequential(nn.LazyConv2d(6, 3, padding=1), nn.LazyBatchNorm2d(), nn.ReLU(), nn.Flatten(),
                        nn.LazyLinear(16), nn.ReLU(), nn.LazyLinear(2))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1, 6, 6)).astype(np.float32)
    y = (x[:, 0, :3].sum((1, 2)) > x[:, 0, 3:].sum((1, 2))).astype(np.int64)   # top half brighter?
    net(flambeau.tensor(x[:2]))
    assert [type(m).__name__ for m in net][:2] == ["Conv2d", "BatchNorm2d"]
    opt = flambeau.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        loss = nn.functional.cross_entropy(net(flambeau.tensor(x)), flambeau.tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    acc = (net(flambeau.tensor(x)).argmax(1).numpy() == y).mean()
    assert acc > 0.95, acc


def test_positional_arguments_state_dicts_dtype_and_deepcopy():
    import copy
    assert repr(flambeau.nn.LazyConv2d(4, 3, 1, 1, 1, 1, False)) == repr(torch.nn.LazyConv2d(4, 3, 1, 1, 1, 1, False))
    assert repr(flambeau.nn.LazyConvTranspose1d(4, 3, 2, 1, 1, 1, False, 1)) == \
        repr(torch.nn.LazyConvTranspose1d(4, 3, 2, 1, 1, 1, False, 1))
    # a checkpoint loaded before the first call gives the placeholders their shapes
    src = flambeau.nn.Linear(5, 3)
    m = flambeau.nn.LazyLinear(3)
    m.load_state_dict(src.state_dict())
    x = flambeau.ones(2, 5)
    np.testing.assert_array_equal(m(x).detach().numpy(), src(x).detach().numpy())
    assert type(m) is flambeau.nn.Linear and m.in_features == 5
    bn = flambeau.nn.LazyBatchNorm1d()
    bn.double()                                        # placeholders survive a dtype change
    assert bn(flambeau.ones(3, 2, dtype=flambeau.float64)).dtype == flambeau.float64
    lazy = flambeau.nn.LazyLinear(3)
    assert flambeau.nn.parameter.is_lazy(lazy.weight)
    with pytest.raises(ValueError, match="uninitialized parameter in __deepcopy__"):
        copy.deepcopy(lazy)
