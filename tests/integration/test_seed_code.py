"""The course's code runs unchanged, and follows PyTorch step for step.

Seed 001's training loop (``Reseau1`` with a softmax output and
``F.nll_loss(outputs, targets, reduction='sum')``) and seed 003's standard ``Net`` form are run
with ``flambeau`` and with ``torch`` from the same initial weights and the same batches: the
losses agree at every step (float32; tolerance grows with the step count as rounding
differences compound: rtol 1e-4 over 30 steps).
"""
import numpy as np
import pytest
import torch as real_torch

import flambeau


def course_code(torch):
    """Seed 001's Reseau1 and its loop, written once, run with either library."""
    nn = torch.nn
    F = torch.nn.functional

    class Reseau1(nn.Module):
        def __init__(self):
            super(Reseau1, self).__init__()
            self.layer = nn.Linear(784, 10)

        def forward(self, x):
            x = F.softmax(self.layer(x.view(-1, 784)), dim=1)
            return x

    return Reseau1


def net_form(torch):
    """Seed 003 §5.4's recommended form (with real layers in place of the placeholders)."""
    nn = torch.nn
    F = torch.nn.functional

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.couche1 = nn.Conv2d(1, 4, 3)
            self.couche2 = nn.Conv2d(4, 8, 3)
            self.couche3 = nn.Linear(8 * 2 * 2, 3)

        def forward(self, x):
            x = self.couche1(x)
            x = F.relu(x)
            x = self.couche2(x)
            x = F.max_pool2d(x, 2)
            x = x.flatten(1)
            return self.couche3(x)

    return Net


def _copy_weights(src, dst):
    """torch module -> flambeau module, by state_dict key."""
    sd = {k: flambeau.from_numpy(v.detach().numpy().copy()) for k, v in src.state_dict().items()}
    dst.load_state_dict(sd)


def test_seed001_loop_follows_pytorch():
    rng = np.random.default_rng(0)
    x = rng.random((30, 64, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, (30, 64))
    real_torch.manual_seed(0)
    th_model = course_code(real_torch)()
    fl_model = course_code(flambeau)()
    _copy_weights(th_model, fl_model)
    th_opt = real_torch.optim.SGD(th_model.parameters(), lr=0.01, momentum=0.9)
    fl_opt = flambeau.optim.SGD(fl_model.parameters(), lr=0.01, momentum=0.9)
    for i in range(30):
        losses = []
        for lib, model, opt in ((real_torch, th_model, th_opt), (flambeau, fl_model, fl_opt)):
            data, targets = lib.from_numpy(x[i]), lib.from_numpy(y[i])
            outputs = model(data)
            loss = lib.nn.functional.nll_loss(outputs, targets, reduction='sum')
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[1] == pytest.approx(losses[0], rel=1e-4), f"step {i}"
    w_th = th_model.layer.weight.detach().numpy()
    np.testing.assert_allclose(fl_model.layer.weight.detach().numpy(), w_th, rtol=1e-4, atol=1e-6)


def test_seed003_net_form_follows_pytorch():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((20, 16, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, (20, 16))
    real_torch.manual_seed(0)
    th_model = net_form(real_torch)()
    fl_model = net_form(flambeau)()
    _copy_weights(th_model, fl_model)
    th_opt = real_torch.optim.SGD(th_model.parameters(), lr=0.5)
    fl_opt = flambeau.optim.SGD(fl_model.parameters(), lr=0.5)
    for i in range(20):
        losses = []
        for lib, model, opt in ((real_torch, th_model, th_opt), (flambeau, fl_model, fl_opt)):
            opt.zero_grad()
            predictions = model(lib.from_numpy(x[i]))
            loss = lib.nn.functional.cross_entropy(predictions, lib.from_numpy(y[i]))
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[1] == pytest.approx(losses[0], rel=1e-4, abs=1e-6), f"step {i}"
