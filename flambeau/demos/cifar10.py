"""Seed 001's TD: simple and less simple networks on CIFAR-10 (aim: more than 50 %).

Three networks, the same training loop (Adam, batches of 64; lr 1e-4 for the linear network,
3e-4 for the MLP, 1e-3 for the CNN: the larger rates make the shallow networks oscillate):

* ``linear``: one Linear layer 3072 -> 10;
* ``mlp``: 3072 -> 512 -> 256 -> 10 with ReLU;
* ``cnn``: three 3×3 convolution + ReLU + max-pooling blocks (32, 64, 64 channels), then
  Linear 1024 -> 128 -> 10.

Two epochs each by default (``epochs=``): the linear network stays around 40 %, the CNN
passes 50 %.

Written: test accuracy along training for the three (``curves.png``), the CNN's confusion
matrix and the test images it gets wrong with the highest confidence (``mistakes.png``).
The images are normalised per channel inside the networks (a ``Normalize`` layer), so the
networks take [0, 1] pixels.
"""
from __future__ import annotations

import os

import flambeau as torch
import flambeau.nn as nn
import flambeau.nn.functional as F
from ._plot import pyplot
from .mnist import STATS, load_split, report, subset, train_classifier


class Normalize(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


LR = {"linear": 1e-4, "mlp": 3e-4, "cnn": 1e-3}


def make_model(name):
    norm = Normalize(*STATS["cifar10"])
    if name == "linear":
        return nn.Sequential(norm, nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    if name == "mlp":
        return nn.Sequential(norm, nn.Flatten(), nn.Linear(3 * 32 * 32, 512), nn.ReLU(),
                             nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    if name == "cnn":
        return nn.Sequential(
            norm,
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),     # 32×32 -> 16×16
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 16×16 -> 8×8
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 8×8 -> 4×4
            nn.Flatten(), nn.Linear(64 * 4 * 4, 128), nn.ReLU(), nn.Linear(128, 10))
    raise ValueError(f"unknown network {name!r}")


def run(out_dir, fast=False, data_root=None, epochs=None, seed=0):
    x_train, y_train, classes = load_split("cifar10", data_root, train=True)
    x_test, y_test, _ = load_split("cifar10", data_root, train=False)
    if fast:
        x_train, y_train = subset(x_train, y_train, 5000, seed=seed)
        x_test, y_test = subset(x_test, y_test, 1000, seed=seed)
    batch_size = 64
    epoch_steps = len(y_train) // batch_size
    if fast:
        plan = {"linear": 100, "mlp": 100, "cnn": 30}
    else:
        e = epochs or 2
        plan = {k: (e if isinstance(e, int) else e[k]) * epoch_steps for k in ("linear", "mlp", "cnn")}
    n_eval = 300 if fast else 2000
    results, hists, models = {}, {}, {}
    for name, steps in plan.items():
        torch.manual_seed(seed)
        model = make_model(name)
        optimizer = torch.optim.Adam(model.parameters(), lr=LR[name])
        hist = train_classifier(model, optimizer, x_train, y_train, steps, batch_size, x_test[:n_eval],
                                y_test[:n_eval], evals=3 if fast else 8, loss_fn=F.cross_entropy, seed=seed)
        hists[name], models[name] = hist, model
        results[name] = {"lr": LR[name], "steps": steps, "epochs": round(steps / epoch_steps, 2),
                         "parameters": sum(p.numel() for p in model.parameters()),
                         "train_time_s": round(hist["train_time_s"], 1)}

    for name, model in models.items():
        if name != "cnn":
            probs_acc = report(model, x_test, y_test, classes, out_dir, f"{name}_", f"{name} on CIFAR-10")
            results[name]["test_accuracy"] = probs_acc["test_accuracy"]
    cnn = report(models["cnn"], x_test, y_test, classes, out_dir, "", "small CNN on CIFAR-10")
    results["cnn"].update({k: cnn[k] for k in ("test_accuracy", "per_class_accuracy", "most_confused",
                                                "worst_mistake_confidence", "confusion_matrix")})

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, h in hists.items():
        ax.plot([s / epoch_steps for s in h["eval_step"]], h["eval_accuracy"], "o-",
                label=f"{name}: {results[name]['test_accuracy']:.1%}")
    ax.axhline(0.5, color="0.6", ls="--", lw=0.8)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"accuracy on {n_eval} test images")
    ax.set_title("CIFAR-10, Adam, batch 64")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "curves.png"), dpi=90)
    plt.close(fig)
    return {"train_images": len(y_train), "test_images": len(y_test),
            "test_accuracy": {k: results[k]["test_accuracy"] for k in results},
            "results": results,
            "figures": ["curves.png", "confusion.png", "mistakes.png", "linear_confusion.png", "linear_mistakes.png",
                        "mlp_confusion.png", "mlp_mistakes.png"]}
