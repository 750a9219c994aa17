"""Seed 000, "Amélioration du gradient": the gradient vanishes far from the supervision and in
saturated sigmoids; ReLU keeps it, BatchNorm and LayerNorm keep every layer in a good regime.

The same 10-layer MLP (784 -> 9 hidden layers of 128 -> 10) is built five ways: sigmoid,
ReLU (the default ``nn.Linear`` initialisation), ReLU with He/Kaiming initialisation, ReLU +
BatchNorm1d, ReLU + LayerNorm. On a batch of MNIST images we measure the norm of
the gradient of the loss with respect to each Linear layer's weight, at initialisation and
after some SGD steps, and the ratio first layer / last layer (close to 1: every layer learns;
tiny: the first layers receive almost nothing).
"""
from __future__ import annotations

import os

import numpy as np

import flambeau as torch
import flambeau.nn as nn
import flambeau.nn.functional as F
from ._plot import pyplot
from .mnist import load_split, subset, to_float

VARIANTS = ("sigmoid", "relu", "relu+kaiming", "relu+batchnorm", "relu+layernorm")


class DeepMLP(nn.Module):
    def __init__(self, kind, depth=10, width=128, in_features=784, classes=10):
        super().__init__()
        sizes = [in_features] + [width] * (depth - 1) + [classes]
        blocks = []
        for i in range(depth):
            blocks.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i == depth - 1:
                break
            if kind.endswith("batchnorm"):
                blocks.append(nn.BatchNorm1d(sizes[i + 1]))
            elif kind.endswith("layernorm"):
                blocks.append(nn.LayerNorm(sizes[i + 1]))
            blocks.append(nn.Sigmoid() if kind == "sigmoid" else nn.ReLU())
        self.net = nn.Sequential(nn.Flatten(), *blocks)
        if kind == "relu+kaiming":   # He initialisation: keeps the variance of ReLU activations constant
            for m in self.linears():
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def linears(self):
        return [m for m in self.net if isinstance(m, nn.Linear)]

    def forward(self, x):
        return self.net(x)


def layer_grad_norms(model):
    return [float(m.weight.grad.norm()) for m in model.linears()]


def grad_norms_on(model, x, y):
    """Per-layer weight-gradient norms of the cross-entropy on one batch (no update)."""
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    norms = layer_grad_norms(model)
    model.zero_grad()
    return norms


def run(out_dir, fast=False, data_root=None, depth=10, steps=None, lr=0.05, seed=0):
    x_train, y_train, _ = load_split("mnist", data_root, train=True)
    x_train, y_train = subset(x_train, y_train, 4000 if fast else 20000, seed=seed)
    steps = steps or (40 if fast else 400)
    g = torch.Generator().manual_seed(seed + 1)
    probe = torch.randperm(len(y_train), generator=g)[:256]       # the batch the norms are measured on
    xp, yp = to_float(x_train[probe]), y_train[probe]
    results, curves = {}, {}
    for kind in VARIANTS:
        torch.manual_seed(seed)
        model = DeepMLP(kind, depth)
        model.train()
        init = grad_norms_on(model, xp, yp)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        losses = []
        for step in range(steps):
            idx = torch.randint(0, len(y_train), (64,), generator=g)
            loss = F.cross_entropy(model(to_float(x_train[idx])), y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        after = grad_norms_on(model, xp, yp)
        model.eval()
        with torch.no_grad():
            acc = float((model(xp).argmax(1) == yp).float().mean())
        results[kind] = {"grad_norms_init": init, "grad_norms_after": after,
                         "ratio_first_last_init": init[0] / init[-1], "ratio_first_last_after": after[0] / after[-1],
                         "final_loss": float(np.mean(losses[-10:])), "batch_accuracy_after": acc}
        curves[kind] = losses

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    layers = np.arange(1, depth + 1)
    for kind in VARIANTS:
        axes[0].semilogy(layers, results[kind]["grad_norms_init"], "o-", label=kind)
        axes[1].semilogy(layers, results[kind]["grad_norms_after"], "o-", label=kind)
        axes[2].plot(curves[kind], lw=0.8, label=kind)
    for ax, t in zip(axes[:2], ("at initialisation", f"after {steps} SGD steps")):
        ax.set_xlabel("layer (1 = input side)")
        ax.set_ylabel("‖∂loss/∂W‖")
        ax.set_title(f"gradient norm per layer, {t}")
        ax.set_xticks(layers)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    axes[2].set_xlabel("step")
    axes[2].set_ylabel("training loss")
    axes[2].set_title(f"{depth}-layer MLP on MNIST, SGD lr {lr}")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "gradient_norms.png"), dpi=90)
    plt.close(fig)
    return {"depth": depth, "steps": steps, "lr": lr, "results": results,
            "ratio_first_last_init": {k: results[k]["ratio_first_last_init"] for k in VARIANTS},
            "ratio_first_last_after": {k: results[k]["ratio_first_last_after"] for k in VARIANTS},
            "figure": "gradient_norms.png"}
