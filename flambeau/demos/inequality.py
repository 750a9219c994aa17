"""Seed 003 §4.5: learn the "≠" boolean function with f(x, y, a) = min(a |x - y|, 1).

Four samples, squared error, plain gradient descent on the single parameter ``a`` with
``requires_grad``, ``backward()``, ``no_grad()`` and ``a.grad.zero_()`` — first one sample at a
time (the course's loop), then batched over one tensor (its "pour aller plus loin").
"""
from __future__ import annotations

import flambeau as torch
from ._plot import pyplot

X = [4, 6, 1, 3]
Y = [2, -3, 1, 3]
REF = [1, 1, 0, 0]


def f(x, y, a):
    return torch.min(a * torch.abs(x - y), torch.ones(1))


def err(estim, ref):
    return (estim - ref) ** 2


def descent_loop(pas, iterations=100, a0=0.05):
    """The course's version: a Python loop over the four samples builds the total error."""
    a = torch.FloatTensor([a0])
    a.requires_grad = True
    history = []
    for it in range(iterations):
        ErrTot = torch.FloatTensor([0])
        for i in range(4):
            y = f(torch.FloatTensor([X[i]]), torch.FloatTensor([Y[i]]), a)
            ErrTot += err(y, torch.FloatTensor([REF[i]]))
        history.append(ErrTot.item())
        if ErrTot.item() < 1e-6:
            break
        ErrTot.backward()
        with torch.no_grad():
            a -= pas * a.grad
            a.grad.zero_()
    return a.item(), history


def descent_batched(pas, iterations=100, a0=0.05):
    """No loop over samples: one tensor holds the four experiments."""
    x, y, ref = torch.FloatTensor(X), torch.FloatTensor(Y), torch.FloatTensor(REF)
    a = torch.tensor([a0], requires_grad=True)
    history = []
    for it in range(iterations):
        ErrTot = torch.sum((torch.clamp(a * torch.abs(x - y), max=1) - ref) ** 2)
        history.append(ErrTot.item())
        if ErrTot.item() < 1e-6:
            break
        ErrTot.backward()
        with torch.no_grad():
            a -= pas * a.grad
            a.grad.zero_()
    return a.item(), history


def run(out_dir, fast=False, pas=0.02):
    a_loop, h_loop = descent_loop(pas)
    a_batch, h_batch = descent_batched(pas)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogy(range(len(h_loop)), [max(h, 1e-8) for h in h_loop], "o-", label="loop over samples")
    ax.semilogy(range(len(h_batch)), [max(h, 1e-8) for h in h_batch], "x--", label="batched tensor")
    ax.set_xlabel("iteration")
    ax.set_ylabel("total squared error")
    ax.set_title(f"f(x,y,a)=min(a|x-y|,1), step {pas}: a = {a_batch:.3f}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(f"{out_dir}/inequality.png", dpi=100)
    plt.close(fig)
    return {"step": pas, "a_loop": a_loop, "iterations_loop": len(h_loop), "a_batched": a_batch,
            "iterations_batched": len(h_batch), "final_error": h_batch[-1], "figure": "inequality.png"}
