"""``utils.checkpoint``: gradients equal, bit for bit, to the same computation without
checkpointing (dropout included: the RNG state is restored for the recomputation), the
re-entrant and non-re-entrant behaviours of PyTorch, and checkpoint_sequential."""
import warnings

import numpy as np
import pytest
import torch

import flambeau
from flambeau.utils.checkpoint import checkpoint


def _net(seed=0):
    flambeau.manual_seed(seed)
    nn = flambeau.nn
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Dropout(0.3), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))


def _grads(net, x):
    return [x.grad.numpy().copy()] + [p.grad.numpy().copy() for p in net.parameters()]


@pytest.mark.parametrize("use_reentrant", [True, False])
def test_checkpointed_gradients_are_the_plain_ones(use_reentrant):
    data = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    runs = []
    for ckpt in (False, True):
        net = _net()
        x = flambeau.tensor(data, requires_grad=True)
        flambeau.manual_seed(1)                         # the same dropout masks in both runs
        if ckpt:
            y = checkpoint(lambda t, scale: net(t) * scale, x, 2.0, use_reentrant=use_reentrant)
        else:
            y = net(x) * 2.0
        y.square().sum().backward()
        runs.append([y.detach().numpy()] + _grads(net, x))
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_inputs_without_grad():
    net, x = _net(), flambeau.ones(3, 4)
    with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True"):
        y = checkpoint(net, x, use_reentrant=True)
    assert not y.requires_grad                           # as PyTorch's re-entrant variant
    y = checkpoint(net, x, use_reentrant=False)           # the parameters still get gradients
    y.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    with pytest.raises(ValueError, match="Unexpected keyword arguments: scale"):
        checkpoint(net, x, use_reentrant=True, scale=2)
    with flambeau.no_grad():
        assert not checkpoint(net, x.requires_grad_(), use_reentrant=True).requires_grad


def test_checkpoint_sequential_and_torch_semantics():
    data = np.random.default_rng(1).standard_normal((6, 4)).astype(np.float32)
    results = []
    nets = {lib: lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.Tanh(), lib.nn.Linear(8, 8), lib.nn.ReLU(),
                                   lib.nn.Linear(8, 2)) for lib in (torch, flambeau)}
    nets[flambeau].load_state_dict({k: flambeau.tensor(v.detach().numpy()) for k, v in nets[torch].state_dict().items()})
    for lib in (torch, flambeau):
        net = nets[lib]
        x = lib.tensor(data, requires_grad=True)
        mod = torch.utils.checkpoint if lib is torch else flambeau.utils.checkpoint
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = mod.checkpoint_sequential(net, 2, x, use_reentrant=True)
        y.square().sum().backward()
        results.append([y.detach().numpy(), x.grad.numpy()] + [p.grad.numpy() for p in net.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_non_reentrant_module_parameters_go_through_the_graph():
    lin, head = flambeau.nn.Linear(3, 3), flambeau.nn.Linear(3, 1)
    x = flambeau.randn(2, 3)
    lin.requires_grad_(False)                           # a frozen backbone, checkpointed
    head(checkpoint(lin, x, use_reentrant=False)).sum().backward()
    assert head.weight.grad is not None
    lin.requires_grad_(True)
    # autograd.grad asks for the module's weight: returned, not accumulated into .grad
    (g,) = flambeau.autograd.grad(checkpoint(lin, x, use_reentrant=False).sum(), [lin.weight])
    (ref,) = flambeau.autograd.grad(lin(x).sum(), [lin.weight])
    np.testing.assert_array_equal(g.numpy(), ref.numpy())
    assert lin.weight.grad is None
