"""Time `flambeau train --dataset cifar10`'s recipe against the same recipe in PyTorch.

    python benchmarks/cifar10_recipe.py --model simple-cnn --epochs 10
    python benchmarks/cifar10_recipe.py --model resnet20 --epochs 30 --tta
    python benchmarks/cifar10_recipe.py --model resnet9 --width 32 --epochs 12 --tta
    python benchmarks/cifar10_recipe.py --model airbench --epochs 14 --tta --batch-size 1024

One training step of the recipe is: batch augmentation (random crop with 4-pixel padding and
horizontal flip, the same NumPy code for both), forward, cross-entropy, backward, SGD with
Nesterov momentum 0.9 and weight decay 5e-4, one-cycle learning-rate step. Both libraries run
the same network (flambeau's weights copied from PyTorch's), alternating, in one process; the
evaluation pass is a forward over the 10,000 test images (twice with ``--tta``). The projected
wall-clock time of the full recipe is ``epochs * (391 steps * step + evaluation)``.

``--model airbench`` times its own recipe instead (``flambeau train --model airbench``): batch
norm shifts in their own group, SGD with Nesterov momentum 0.85, the triangle schedule, crops
of at most 2 pixels, label smoothing 0.2, and one evaluation after the last epoch (the weight
average's update after each step, 3 ms, is left out).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

import flambeau
import flambeau.vision.models  # noqa: F401  (airbench)
from flambeau.cli.recipe import MODEL_RECIPES, augment_batch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_step import _copy, _median_ms, resnet20  # noqa: E402
from twins import torch_airbench  # noqa: E402

torch.set_num_threads(int(os.environ.get("OPENBLAS_NUM_THREADS", os.cpu_count() or 1)))


def simple_cnn(lib, width=32):
    """flambeau.vision.models.SimpleCNN, written once for both libraries."""
    nn = lib.nn

    def block(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                             nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                             nn.MaxPool2d(2))
    return nn.Sequential(nn.Sequential(block(3, width), block(width, 2 * width), block(2 * width, 4 * width)),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, 10))


def resnet9(lib, width=64):
    """flambeau.vision.models.ResNet9, written once for both libraries."""
    nn = lib.nn

    def conv(cin, cout, pool=False):
        layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False)] + ([nn.MaxPool2d(2)] if pool else [])
        return nn.Sequential(*layers, nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    class Residual(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.body = nn.Sequential(conv(c, c), conv(c, c))

        def forward(self, x):
            return x + self.body(x)

    class Scale(nn.Module):
        def forward(self, x):
            return x * 0.125

    w = width
    return nn.Sequential(conv(3, w), conv(w, 2 * w, True), Residual(2 * w), conv(2 * w, 4 * w, True),
                         conv(4 * w, 8 * w, True), Residual(8 * w), nn.AdaptiveMaxPool2d(1), nn.Flatten(),
                         nn.Linear(8 * w, 10, bias=False), Scale())


def airbench(lib, width=64):
    """flambeau's own airbench, and its PyTorch twin (whitening filters left random: timing only)."""
    if lib is flambeau:
        return flambeau.vision.models.airbench(width=width)
    return torch_airbench(torch.nn, width)


def recipe_step(lib, model, data, labels, batch, total_steps, fast=False):
    F = lib.nn.functional
    if fast:        # airbench's recipe, with the values `flambeau train --model airbench` uses
        r = MODEL_RECIPES["airbench"]
        lr, wd, k = r["lr"], r["weight_decay"], r["norm_bias_lr_scale"]
        shifts = [p for name, p in model.named_parameters() if ".norm" in name and name.endswith("bias")]
        rest = [p for name, p in model.named_parameters() if p.requires_grad and not any(p is q for q in shifts)]
        opt = lib.optim.SGD([{"params": rest, "lr": lr, "weight_decay": wd},
                             {"params": shifts, "lr": lr * k, "weight_decay": wd / k}],
                            momentum=r["momentum"], nesterov=r["nesterov"])
        # recipe.make_scheduler's "triangle", written for both libraries
        sched = lib.optim.lr_scheduler.OneCycleLR(opt, max_lr=[lr, lr * k], total_steps=total_steps, pct_start=0.23,
                                                  anneal_strategy="linear", cycle_momentum=False, div_factor=5.0,
                                                  final_div_factor=0.2 / 0.07)
        pad, smoothing = r["crop_pad"], r["label_smoothing"]
    else:
        opt = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
        sched = lib.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=total_steps)
        pad, smoothing = 4, 0.0
    fill = np.full(3, -2.0, np.float32)
    state = {"i": 0}
    model.train()

    def step():
        i = state["i"] % (len(labels) // batch)
        state["i"] += 1
        idx = np.arange(i * batch, (i + 1) * batch)
        xb = lib.from_numpy(np.ascontiguousarray(augment_batch(data[idx], "crop-flip", fill, pad)))
        yb = lib.from_numpy(labels[idx])
        loss = F.cross_entropy(model(xb), yb, label_smoothing=smoothing)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return step


def eval_fn(lib, model, data, tta):
    def run():
        model.eval()
        with lib.no_grad():
            for i in range(0, len(data), 500):
                xb = lib.from_numpy(data[i:i + 500])
                out = model(xb)
                if tta:
                    out = out + model(xb.flip(3))
        model.train()
    return run


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="simple-cnn", choices=["simple-cnn", "resnet20", "resnet9", "airbench"])
    p.add_argument("--width", type=int, default=None, help="resnet9's and airbench's base width (default 64)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=12, help="timed steps per library")
    p.add_argument("--tta", action="store_true")
    args = p.parse_args()

    rng = np.random.default_rng(0)
    data = rng.standard_normal((50_000 // 10, 3, 32, 32)).astype(np.float32)   # timing only: values don't matter
    labels = rng.integers(0, 10, len(data))
    test = rng.standard_normal((10_000, 3, 32, 32)).astype(np.float32)
    ctor = {"simple-cnn": simple_cnn, "resnet20": resnet20,
            "resnet9": lambda lib: resnet9(lib, args.width or 64),
            "airbench": lambda lib: airbench(lib, args.width or 64)}[args.model]
    fast = args.model == "airbench"
    torch.manual_seed(0)
    th_model, fl_model = ctor(torch), ctor(flambeau)
    _copy(th_model, fl_model)
    steps_per_epoch = -(-50_000 // args.batch_size)
    total = args.epochs * steps_per_epoch
    f_fl = recipe_step(flambeau, fl_model, data, labels, args.batch_size, total, fast)
    f_th = recipe_step(torch, th_model, data, labels, args.batch_size, total, fast)
    fl, th = [], []
    for _ in range(3):                       # alternate: both libraries see the same machine state
        fl.append(_median_ms(f_fl, max(1, args.steps // 3), warmup=1))
        th.append(_median_ms(f_th, max(1, args.steps // 3), warmup=1))
    step_fl, step_th = statistics.median(fl), statistics.median(th)
    t0 = time.perf_counter()
    eval_fn(flambeau, fl_model, test, args.tta)()
    ev_fl = time.perf_counter() - t0
    t0 = time.perf_counter()
    eval_fn(torch, th_model, test, args.tta)()
    ev_th = time.perf_counter() - t0

    threads = torch.get_num_threads()
    name = args.model + (f" width {args.width}" if args.width else "")
    print(f"{name}, batch {args.batch_size}, {threads} thread(s); recipe: {args.epochs} epochs x "
          f"{steps_per_epoch} steps" + (", test-time flips" if args.tta else ""))
    print("| | flambeau | PyTorch | ratio |\n|---|---:|---:|---:|")
    print(f"| training step (ms) | {step_fl:.0f} | {step_th:.0f} | {step_fl / step_th:.2f} |")
    print(f"| evaluation, 10,000 images (s) | {ev_fl:.1f} | {ev_th:.1f} | {ev_fl / ev_th:.2f} |")
    evals = 1 if fast else args.epochs          # airbench's recipe evaluates after the last epoch only
    proj_fl = (args.epochs * steps_per_epoch * step_fl / 1e3 + evals * ev_fl) / 60
    proj_th = (args.epochs * steps_per_epoch * step_th / 1e3 + evals * ev_th) / 60
    print(f"| projected recipe (min) | {proj_fl:.0f} | {proj_th:.0f} | {proj_fl / proj_th:.2f} |")


if __name__ == "__main__":
    main()
