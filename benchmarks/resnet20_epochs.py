"""How many epochs `flambeau train --model resnet20`'s recipe needs on this CIFAR-10, measured
with the recipe's PyTorch twin trained in full (on a CUDA device where there is one).

    python benchmarks/resnet20_epochs.py --data-root ../shared/datasets/cifar10 --epochs 30 60 100 180

Each ``--epochs`` value is a separate run from the same initial weights (flambeau's
``resnet20()`` under ``--seed``, copied into PyTorch's twin), with the recipe of ``flambeau
train --dataset cifar10 --model resnet20 --label-smoothing 0.1 --tta``: random crop with 4-pixel
padding (padded with black) and horizontal flip, batches of 128 (``--batch-size``), SGD with Nesterov
momentum 0.9 and weight decay 5e-4, the one-cycle schedule peaking at 0.1 (``--lr``), label smoothing 0.1, test accuracy
with mirrored test images. The runs go one after another on one device; ``--jobs N`` starts N
of them at once as separate processes (a GPU shares itself between them).

This answers a question about the recipe, not about flambeau's speed: a CPU run of flambeau
takes hours per 60 epochs, and the twin tells in minutes whether a schedule can reach a target.
Its 30-epoch accuracy next to flambeau's own 30-epoch run shows that the two train alike.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import torch

import flambeau
import flambeau.vision.models as models
from flambeau.vision.datasets import CIFAR10

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_step import resnet20  # noqa: E402  (the PyTorch twin)


def load(root, device, limit=None):
    """Train and test images as normalised float32 tensors on ``device``, with the per-channel
    statistics of the training images (as `flambeau train` computes them)."""
    tr, te = CIFAR10(root, train=True), CIFAR10(root, train=False)
    to = lambda d: torch.tensor(d.data.transpose(0, 3, 1, 2), device=device).float().div_(255)  # noqa: E731
    x_train, x_test = to(tr)[:limit], to(te)
    mean = x_train.mean((0, 2, 3), keepdim=True)
    std = x_train.std((0, 2, 3), keepdim=True)
    return ((x_train - mean) / std, torch.tensor(tr.targets[:limit], device=device),
            (x_test - mean) / std, torch.tensor(te.targets, device=device), -mean / std)


def crop_flip(x, fill, pad=4):
    """`flambeau.cli.recipe.augment_batch(x, 'crop-flip')` on the device: pad with ``fill``, keep
    a random 32×32 window per image, mirror half the images."""
    n, c, h, w = x.shape
    padded = fill.expand(n, c, h + 2 * pad, w + 2 * pad).clone()
    padded[:, :, pad:pad + h, pad:pad + w] = x
    off = torch.randint(0, 2 * pad + 1, (n, 2), device=x.device)
    rows = (off[:, :1] + torch.arange(h, device=x.device))[:, :, None]
    cols = (off[:, 1:] + torch.arange(w, device=x.device))[:, None, :]
    x = padded[torch.arange(n, device=x.device)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)
    flip = torch.rand(n, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def accuracy(model, x, y, batch=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            xb = x[i:i + batch]
            correct += ((model(xb) + model(xb.flip(3))).argmax(1) == y[i:i + batch]).sum().item()
    model.train()
    return correct / len(y)


def train(epochs, args, data, device):
    x_train, y_train, x_test, y_test, fill = data
    flambeau.manual_seed(args.seed)
    model = resnet20(torch)
    sd = models.resnet20().state_dict()
    model.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in sd.items()})
    model.to(device).train()
    torch.manual_seed(args.seed)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    n, bs = len(y_train), args.batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=epochs * -(-n // bs))
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    curve, t0 = [], time.time()
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(n, device=device)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            loss = loss_fn(model(crop_flip(x_train[idx], fill)), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if epoch % args.eval_every == 0 or epoch == epochs:
            curve.append((epoch, accuracy(model, x_test, y_test)))
            print(f"[{epochs} epochs] epoch {epoch:4d}  test acc (flips) {curve[-1][1]:.4f}  "
                  f"({time.time() - t0:.0f} s)", flush=True)
    return {"epochs": epochs, "batch_size": bs, "lr": args.lr, "seed": args.seed, "device": str(device),
            "wall_s": round(time.time() - t0, 1), "curve": curve, "final": curve[-1][1]}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", default=os.environ.get("FLAMBEAU_DATA"), help="folder holding CIFAR-10")
    p.add_argument("--epochs", type=int, nargs="+", default=[30, 60, 100, 180])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1, help="the one-cycle schedule's peak learning rate")
    p.add_argument("--eval-every", type=int, default=10)
    p.add_argument("--jobs", type=int, default=1, help="runs started at once, each in its own process")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images (smoke runs)")
    p.add_argument("--out", default=None, help="append each run's result to this JSON-lines file")
    args = p.parse_args()
    if not args.data_root:
        p.error("--data-root (or $FLAMBEAU_DATA) is required")
    if args.jobs > 1 and len(args.epochs) > 1:
        # one process per run, at most --jobs at once
        common = ["--data-root", args.data_root, "--seed", str(args.seed), "--eval-every", str(args.eval_every),
                  "--batch-size", str(args.batch_size), "--lr", str(args.lr),
                  "--device", args.device] + (["--out", args.out] if args.out else []) + \
                 (["--limit", str(args.limit)] if args.limit else [])
        procs, queue = [], list(args.epochs)
        while queue or procs:
            while queue and len(procs) < args.jobs:
                procs.append(subprocess.Popen([sys.executable, __file__, *common, "--epochs", str(queue.pop(0))]))
            procs[0].wait()
            procs = [q for q in procs if q.poll() is None]
        return
    torch.backends.cudnn.allow_tf32 = False       # float32 arithmetic, as on the CPU
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True         # the fastest convolution algorithm for each shape
    device = torch.device(args.device)
    data = load(args.data_root, device, args.limit)      # once for all the runs of this process
    for epochs in args.epochs:
        result = train(epochs, args, data, device)
        print(json.dumps(result), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
