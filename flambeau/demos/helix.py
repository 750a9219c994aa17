"""Seed 003 §5.6: the three-armed helix, learned by Linear + ReLU + Linear, no Python loops.

The forward pass and the hinge error run on all points at once; the hidden width is compared
across 10, 30, 100, 300, 500 and 1000 neurons (accuracy, training time, decision regions).
"""
from __future__ import annotations

import time

import numpy as np

import flambeau as torch
import flambeau.nn as nn
import flambeau.nn.functional as F
from ._plot import pyplot, draw_regions
from .three_classes import hinge_error


def helix(n_per_class=100, classes=3, seed=0):
    """Points on ``classes`` interleaved spiral arms (radius 0 → 1), with angular noise."""
    rng = np.random.default_rng(seed)
    pts, cats = [], []
    for k in range(classes):
        r = np.linspace(0.05, 1, n_per_class)
        t = np.linspace(k * 4, (k + 1) * 4, n_per_class) + rng.standard_normal(n_per_class) * 0.2
        pts.append(np.c_[r * np.sin(t), r * np.cos(t)])
        cats.append(np.full(n_per_class, k))
    return np.concatenate(pts).astype(np.float32), np.concatenate(cats)


class Net(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.couche1 = nn.Linear(2, hidden)
        self.couche2 = nn.Linear(hidden, 3)

    def forward(self, x):
        return self.couche2(F.relu(self.couche1(x)))


def train(hidden, x, cat, iterations, delta=1.0, lr=0.05):
    torch.manual_seed(0)
    model = Net(hidden)
    optim = torch.optim.Adam(model.parameters(), lr=lr / 5)
    t0 = time.perf_counter()
    for _ in range(iterations):
        optim.zero_grad()
        err = hinge_error(model(x), cat, delta) / len(cat)
        err.backward()
        optim.step()
    elapsed = time.perf_counter() - t0
    with torch.no_grad():
        acc = float((model(x).argmax(1) == cat).float().mean())
    return model, acc, elapsed, err.item()


def run(out_dir, fast=False, sizes=(10, 30, 100, 300, 500, 1000)):
    p, c = helix(60 if fast else 100)
    x, cat = torch.from_numpy(p), torch.from_numpy(c)
    iterations = 300 if fast else 2000
    if fast:
        sizes = sizes[:3]
    results, models = {}, {}
    for h in sizes:
        model, acc, elapsed, err = train(h, x, cat, iterations)
        results[str(h)] = {"accuracy": acc, "train_time_s": round(elapsed, 3), "final_error": err}
        models[h] = model
    plt = pyplot()
    cols = len(sizes)
    fig, ax = plt.subplots(1, cols, figsize=(3.2 * cols, 3.4))
    for a, h in zip(np.atleast_1d(ax), sizes):
        draw_regions(a, models[h], p, c, (-1.1, -1.1), (1.1, 1.1),
                     f"{h} neurons: {results[str(h)]['accuracy']:.0%}", n=120)
    fig.tight_layout()
    fig.savefig(f"{out_dir}/helix.png", dpi=90)
    plt.close(fig)
    return {"iterations": iterations, "results": results, "figure": "helix.png"}
