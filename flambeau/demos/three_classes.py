"""Seed 003 §5.5: three categories, one Linear layer, and the hinge error with a margin δ.

    Err(Scores, cat) = sum_j max(0, Scores[j] - (Scores[cat] - δ))

With δ = 0 the error reaches zero as soon as every point sits in its zone, often right at a
border; with δ = 1 or 2 the zones move so that the points sit inside them. The error is
computed for all points at once (``Scores[I, CAT]`` gathers each point's own score). The
animation (GIF) shows the decision regions while training, first with δ = 0, then δ = 2.
"""
from __future__ import annotations

import numpy as np

import flambeau as torch
import flambeau.nn as nn
from ._plot import pyplot, draw_regions

LO, HI = (-1.0, -1.0), (1.0, 1.0)


def points():
    """Ten points in three categories (0 red, 1 green, 2 blue)."""
    p = np.array([[-0.7, 0.6], [-0.5, 0.3], [-0.8, 0.1], [0.1, 0.7], [0.4, 0.5], [0.2, 0.3],
                  [0.0, -0.5], [-0.3, -0.6], [0.5, -0.4], [0.3, -0.8]], np.float32)
    c = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    return p, c


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.couche1 = nn.Linear(2, 3)

    def forward(self, x):
        return self.couche1(x)


def hinge_error(scores, cat, delta):
    """sum over points and categories of max(0, S_j - (S_cat - δ)), the j == cat terms excluded."""
    I = torch.arange(0, len(cat), dtype=torch.int64)
    good = scores[I, cat].unsqueeze(1)
    margins = torch.clamp(scores - (good - delta), min=0)
    margins = margins.masked_fill(torch.nn.functional.one_hot(cat, 3).bool(), 0)
    return margins.sum()


def min_margin(model, p, c):
    """The smallest gap between a point's own score and its best other score."""
    with torch.no_grad():
        s = model(torch.from_numpy(p)).numpy()
    own = s[np.arange(len(c)), c]
    s[np.arange(len(c)), c] = -np.inf
    return float((own - s.max(1)).min())


def run(out_dir, fast=False, deltas=(0.0, 2.0), iterations=None):
    iterations = iterations or (60 if fast else 200)
    p, c = points()
    x, cat = torch.from_numpy(p), torch.from_numpy(c)
    torch.manual_seed(3)
    model = Net()
    optim = torch.optim.SGD(model.parameters(), lr=0.05)
    frames, results = [], {}
    for delta in deltas:
        for it in range(iterations):
            optim.zero_grad()
            err = hinge_error(model(x), cat, delta)
            err.backward()
            optim.step()
            if it % (5 if fast else 4) == 0:
                frames.append((delta, it, err.item(), {k: v.detach().clone() for k, v in model.state_dict().items()}))
        with torch.no_grad():
            acc = float((model(x).argmax(1) == cat).float().mean())
        results[f"delta_{delta:g}"] = {"final_error": err.item(), "accuracy": acc,
                                       "min_margin": min_margin(model, p, c)}

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    snapshot = Net()

    def draw(frame):
        delta, it, e, sd = frame
        snapshot.load_state_dict(sd)
        ax.clear()
        draw_regions(ax, snapshot, p, c, LO, HI, f"δ = {delta:g}, iteration {it}, error {e:.3f}", n=100)
    files = ["regions.png"]
    draw(frames[-1])
    fig.savefig(f"{out_dir}/regions.png", dpi=90)
    try:
        from matplotlib.animation import FuncAnimation, PillowWriter
        anim = FuncAnimation(fig, draw, frames=frames, interval=120)
        anim.save(f"{out_dir}/regions.gif", writer=PillowWriter(fps=8))
        files.append("regions.gif")
    except (ImportError, RuntimeError):
        pass  # Pillow missing: the still image is still written
    plt.close(fig)
    return {**results, "figures": files}
