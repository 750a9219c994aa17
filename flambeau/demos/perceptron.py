"""Seed 000: the perceptron algorithm, its limit on XOR, and the two-layer network that solves it.

Perceptron rule, on labels y in {-1, 1}: for each example with y <w, x> <= 0, w <- w + eps y x.
It converges on linearly separable data and cycles forever on XOR; an MLP with a non-linearity
(Linear-Tanh-Linear) trained by gradient descent separates XOR.
"""
from __future__ import annotations

import numpy as np

import flambeau
from flambeau import nn
from ._plot import pyplot


def perceptron(x, y, eps=0.1, max_epochs=100):
    """Train w (bias first) with the perceptron rule; returns w and the epochs until convergence
    (None if it never converged)."""
    X = flambeau.cat([flambeau.ones(len(x), 1), x], dim=1)  # constant input for the bias w0
    w = flambeau.zeros(3)
    for epoch in range(1, max_epochs + 1):
        errors = 0
        for xi, yi in zip(X, y):
            if yi * (w @ xi) <= 0:
                w += eps * yi * xi
                errors += 1
        if errors == 0:
            return w, epoch
    return w, None


def separable_data(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    y = np.where(x[:, 0] + 0.5 * x[:, 1] > 0.1, 1.0, -1.0).astype(np.float32)
    keep = np.abs(x[:, 0] + 0.5 * x[:, 1] - 0.1) > 0.1  # a margin, so the perceptron converges quickly
    return x[keep], y[keep]


def xor_data(n, seed):
    rng = np.random.default_rng(seed)
    centres = np.array([[-1, -1], [1, 1], [-1, 1], [1, -1]], np.float32) * 0.6
    labels = np.array([-1, -1, 1, 1], np.float32)
    k = rng.integers(0, 4, n)
    return (centres[k] + 0.15 * rng.standard_normal((n, 2))).astype(np.float32), labels[k]


def train_mlp(x, y, hidden=8, steps=500, lr=0.1):
    flambeau.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, 1))
    opt = flambeau.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    xt, yt = flambeau.from_numpy(x), flambeau.from_numpy((y > 0).astype(np.float32))
    for _ in range(steps):
        loss = nn.functional.binary_cross_entropy_with_logits(model(xt).squeeze(1), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with flambeau.no_grad():
        acc = float(((model(xt).squeeze(1) > 0).float() == yt).float().mean())
    return model, acc


def run(out_dir, fast=False):
    n = 60 if fast else 200
    xs, ys = separable_data(n, 0)
    xx, yx = xor_data(n, 1)
    w_sep, ep_sep = perceptron(flambeau.from_numpy(xs), flambeau.from_numpy(ys))
    w_xor, ep_xor = perceptron(flambeau.from_numpy(xx), flambeau.from_numpy(yx), max_epochs=30 if fast else 100)
    X = np.c_[np.ones(len(xx)), xx]
    xor_perc_acc = float((np.sign(X @ w_xor.numpy()) == yx).mean())
    model, mlp_acc = train_mlp(xx, yx, steps=200 if fast else 500)

    plt = pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(14, 4.4))
    grid = np.linspace(-1.3, 1.3, 200, dtype=np.float32)
    GX, GY = np.meshgrid(grid, grid)
    for a, (x, y, w, title) in zip(ax[:2], [(xs, ys, w_sep, f"separable: converged in {ep_sep} epochs"),
                                             (xx, yx, w_xor, "XOR: the perceptron never converges")]):
        w = w.numpy()
        a.contourf(GX, GY, np.sign(w[0] + w[1] * GX + w[2] * GY), levels=[-2, 0, 2], colors=["#f4c7c3", "#c6dbef"])
        a.scatter(x[:, 0], x[:, 1], c=np.where(y > 0, "tab:blue", "tab:red"), edgecolors="k", s=20)
        a.set_title(title)
    with flambeau.no_grad():
        z = model(flambeau.from_numpy(np.stack([GX, GY], -1))).squeeze(-1).numpy()
    ax[2].contourf(GX, GY, np.sign(z), levels=[-2, 0, 2], colors=["#f4c7c3", "#c6dbef"])
    ax[2].scatter(xx[:, 0], xx[:, 1], c=np.where(yx > 0, "tab:blue", "tab:red"), edgecolors="k", s=20)
    ax[2].set_title(f"XOR: 2-layer MLP, accuracy {mlp_acc:.0%}")
    fig.tight_layout()
    fig.savefig(f"{out_dir}/perceptron.png", dpi=100)
    plt.close(fig)
    return {"separable_epochs_to_converge": ep_sep, "xor_perceptron_converged": ep_xor is not None,
            "xor_perceptron_accuracy": xor_perc_acc, "xor_mlp_accuracy": mlp_acc, "figure": "perceptron.png"}
