"""Second-order steps of flambeau against PyTorch, measured side by side in one process.

    python benchmarks/double_backward.py [--repeat 7] [--threads 2]

* ``wgan-gp step``: one critic update of a WGAN-GP on MNIST-sized images (batch 64): the critic
  on real and fake images, the gradient of the critic at interpolates with ``create_graph=True``,
  the penalty, and the backward through all of it into the critic's parameters. The critic is
  DCGAN-like: conv 1->32 and 32->64 (4x4, stride 2) with LeakyReLU, then a linear layer.
* ``first-order step``: the same critic's step without the penalty, for scale.
* ``hvp``: a Hessian-vector product of an MLP's cross-entropy loss (784-256-10, batch 128) with
  respect to all its parameters (``autograd.functional.hvp`` style: a backward of a backward).

Each case runs for both libraries in alternation; the table prints the median time over
``--repeat`` rounds and the ratio flambeau / PyTorch (lower is better).
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import flambeau


def _critic(lib):
    nn = lib.nn
    lib.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 32, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(32, 64, 4, 2, 1),
                         nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(64 * 7 * 7, 1))


def _mlp(lib):
    nn = lib.nn
    lib.manual_seed(0)
    return nn.Sequential(nn.Linear(784, 256), nn.Tanh(), nn.Linear(256, 10))


def cases():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    fake = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    eps = rng.uniform(0, 1, (64, 1, 1, 1)).astype(np.float32)
    xs = rng.standard_normal((128, 784)).astype(np.float32)
    ys = rng.integers(0, 10, 128)

    def make(lib):
        D = _critic(lib)
        opt = lib.optim.Adam(D.parameters(), lr=1e-4, betas=(0.5, 0.9))
        r, f, e = (lib.from_numpy(a.copy()) for a in (real, fake, eps))

        def gp_step():
            mid = (e * r + (1 - e) * f).requires_grad_(True)
            g, = lib.autograd.grad(D(mid).sum(), mid, create_graph=True)
            loss = D(f).mean() - D(r).mean() + 10 * ((g.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

        def plain_step():
            loss = D(f).mean() - D(r).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

        M = _mlp(lib)
        params = list(M.parameters())
        vs = [lib.from_numpy(np.random.default_rng(1).standard_normal(tuple(p.shape)).astype(np.float32))
              for p in params]
        x, y = lib.from_numpy(xs.copy()), lib.from_numpy(ys.copy())

        def hvp():
            loss = lib.nn.functional.cross_entropy(M(x), y)
            gs = lib.autograd.grad(loss, params, create_graph=True)
            lib.autograd.grad(gs, params, vs)

        return {"wgan-gp step (batch 64)": gp_step, "first-order critic step": plain_step,
                "hvp, MLP 784-256-10 (batch 128)": hvp}

    return make(flambeau), make(torch)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    flambeau.set_num_threads(args.threads)
    fl, th = cases()
    print(f"{'case':34s} {'flambeau ms':>12s} {'PyTorch ms':>11s} {'ratio':>6s}")
    for name in fl:
        fl[name]()
        th[name]()          # warm-up
        a, b = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            fl[name]()
            a.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            th[name]()
            b.append(time.perf_counter() - t0)
        ma, mb = statistics.median(a) * 1e3, statistics.median(b) * 1e3
        print(f"{name:34s} {ma:12.2f} {mb:11.2f} {ma / mb:6.2f}")


if __name__ == "__main__":
    main()
