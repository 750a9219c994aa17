"""One MNIST epoch of the course's code, timed with flambeau and with PyTorch.

    python benchmarks/epoch_times.py --data-root ../shared/datasets/mnist [--model linear|cnn|both]

The same PyTorch-style program (seed 001's Reseau1 with SGD, Reseau2 with Adadelta; batch 64;
ToTensor + Normalize; DataLoader with shuffling) runs once per library: torchvision's role is
played by ``flambeau.vision`` for both, so the data pipeline is identical and the time is the
library's. Prints epoch seconds, test accuracy, and the ratio flambeau / PyTorch.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import flambeau
from flambeau.vision import datasets, transforms
from train_step import reseau2  # benchmarks/ is the script's folder


def models(lib):
    nn, F = lib.nn, lib.nn.functional

    class Reseau1(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(784, 10)

        def forward(self, x):
            return F.log_softmax(self.layer(x.view(-1, 784)), dim=1)

    return Reseau1, lambda: reseau2(lib)  # the same Reseau2 as train_step.py


def batches(root, train, batch_size, seed):
    t = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    ds = datasets.MNIST(root, train=train, download=False, transform=t)
    loader = flambeau.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=train)
    flambeau.manual_seed(seed)
    return [(x.numpy(), y.numpy()) for x, y in loader]  # the same batches for both libraries


def run(lib, name, train, test, epochs=1):
    Reseau1, Reseau2 = models(lib)
    lib.manual_seed(0)
    if name == "linear":
        model = Reseau1()
        opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss_fn = lib.nn.functional.nll_loss
    else:
        model = Reseau2()
        opt = lib.optim.Adadelta(model.parameters(), lr=1.0)
        loss_fn = lib.nn.functional.cross_entropy
    sched = lib.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    times, accs = [], []
    for _ in range(epochs):
        model.train()
        t0 = time.perf_counter()
        for x, y in train:
            out = model(lib.from_numpy(x))
            loss = loss_fn(out, lib.from_numpy(y))
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
        sched.step()
        model.eval()
        correct = 0
        with lib.no_grad():
            for x, y in test:
                correct += int((model(lib.from_numpy(x)).argmax(1).numpy() == y).sum())
        accs.append(correct / sum(len(y) for _, y in test))
    return times, accs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--model", default="both", choices=["linear", "cnn", "both"])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="threads of both libraries (default: all cores)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        flambeau.set_num_threads(args.threads)
    train = batches(args.data_root, True, 64, 1)
    test = batches(args.data_root, False, 1000, 0)
    names = ["linear", "cnn"] if args.model == "both" else [args.model]
    print(f"{'model':8s} {'epoch':>5s} {'flambeau s':>11s} {'PyTorch s':>10s} {'ratio':>6s}  "
          "test accuracy (flambeau / PyTorch)")
    for name in names:
        tf, af = run(flambeau, name, train, test, args.epochs)
        tt, at = run(torch, name, train, test, args.epochs)
        for e in range(args.epochs):
            print(f"{name:8s} {e + 1:5d} {tf[e]:11.1f} {tt[e]:10.1f} {tf[e] / tt[e]:6.2f}  {af[e]:.4f} / {at[e]:.4f}")


if __name__ == "__main__":
    main()
