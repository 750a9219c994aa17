"""Seed 000, regularisation: over-fitting a small training set, and its cures.

The same MLP (784 -> 512 -> 512 -> 10, ReLU) is trained on only 2 000 MNIST images, five ways:

* ``none``: it learns the training set by heart (100 %) and the test accuracy stalls well below;
* ``weight decay``: an L2 penalty ``λ‖W‖²/2`` (``weight_decay=λ`` of the optimizer);
* ``dropout``: ``nn.Dropout(0.5)`` after each hidden layer (off in ``eval()`` mode);
* ``augmentation``: every batch is shifted at random by up to 2 pixels (one shift per image,
  vectorised with one gather);
* ``gradient clipping``: ``nn.utils.clip_grad_norm_(…, 1.0)`` bounds the gradient's norm.

Written: train/test accuracy and test loss per epoch for every variant, and the final
train/test accuracies and their gap.
"""
from __future__ import annotations

import os

import numpy as np

import flambeau as torch
import flambeau.nn as nn
import flambeau.nn.functional as F
from ._plot import pyplot
from .mnist import load_split, subset, to_float, train_classifier

VARIANTS = ("none", "weight decay", "dropout", "augmentation", "gradient clipping")


class MLP(nn.Module):
    def __init__(self, hidden=512, p=0.0):
        super().__init__()
        self.fc1 = nn.Linear(784, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, 10)
        self.dropout = nn.Dropout(p)

    def forward(self, x):
        x = torch.flatten(x, 1)
        x = self.dropout(F.relu(self.fc1(x)))
        x = self.dropout(F.relu(self.fc2(x)))
        return self.fc3(x)


def random_shift(x, max_shift=2):
    """Each image of the batch moved by its own random (dy, dx) in [-max_shift, max_shift]:
    pad, then gather every image's window with one advanced index."""
    n, c, h, w = x.shape
    xp = F.pad(x, (max_shift,) * 4)
    dy = torch.randint(0, 2 * max_shift + 1, (n,))
    dx = torch.randint(0, 2 * max_shift + 1, (n,))
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None]     # n, 1, h, 1
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :]     # n, 1, 1, w
    return xp[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]


def evaluate(model, x, y):
    model.eval()
    with torch.no_grad():
        out = model(to_float(x))
        return float((out.argmax(1) == y).float().mean()), F.cross_entropy(out, y).item()


def train_variant(variant, x_train, y_train, x_test, y_test, epochs, hidden, batch_size=64, lr=0.05,
                  weight_decay=1e-2, seed=0):
    torch.manual_seed(seed)
    model = MLP(hidden, p=0.5 if variant == "dropout" else 0.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9,
                                weight_decay=weight_decay if variant == "weight decay" else 0.0)
    steps_per_epoch = len(y_train) // batch_size
    hist = {"train_accuracy": [], "test_accuracy": [], "train_loss": [], "test_loss": []}
    for epoch in range(epochs):
        train_classifier(model, optimizer, x_train, y_train, steps_per_epoch, batch_size, seed=seed * 1000 + epoch,
                         transform=random_shift if variant == "augmentation" else None,
                         clip=1.0 if variant == "gradient clipping" else None)
        for split, (x, y) in (("train", (x_train, y_train)), ("test", (x_test, y_test))):
            acc, loss = evaluate(model, x, y)
            hist[f"{split}_accuracy"].append(acc)
            hist[f"{split}_loss"].append(loss)
    return hist


def run(out_dir, fast=False, data_root=None, n_train=None, epochs=None, weight_decay=None, seed=0):
    x_train, y_train, _ = load_split("mnist", data_root, train=True)
    x_test, y_test, _ = load_split("mnist", data_root, train=False)
    n_train = n_train or (1000 if fast else 2000)
    x_train, y_train = subset(x_train, y_train, n_train, seed=seed)
    x_test, y_test = subset(x_test, y_test, 1000 if fast else 5000, seed=seed)
    epochs = epochs or (15 if fast else 40)
    hidden = 256 if fast else 512
    weight_decay = weight_decay or (1e-2 if fast else 5e-3)   # the short run needs a stronger penalty to show
    hists = {v: train_variant(v, x_train, y_train, x_test, y_test, epochs, hidden, weight_decay=weight_decay,
                              seed=seed) for v in VARIANTS}

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    ep = np.arange(1, epochs + 1)
    for k, v in enumerate(VARIANTS):
        c = f"C{k}"
        axes[0].plot(ep, hists[v]["train_accuracy"], "--", color=c)
        axes[0].plot(ep, hists[v]["test_accuracy"], "-", color=c, label=v)
        axes[1].plot(ep, hists[v]["test_loss"], "-", color=c, label=v)
    axes[0].set_title(f"accuracy (dashed: the {n_train} training images, solid: test)")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylim(0.8, 1.001)
    axes[0].legend(fontsize=8)
    axes[0].grid(alpha=0.3)
    axes[1].set_title("test loss: rises again when the network over-fits")
    axes[1].set_xlabel("epoch")
    axes[1].legend(fontsize=8)
    axes[1].grid(alpha=0.3)
    xs = np.arange(len(VARIANTS))
    tr = [hists[v]["train_accuracy"][-1] for v in VARIANTS]
    te = [hists[v]["test_accuracy"][-1] for v in VARIANTS]
    axes[2].bar(xs - 0.2, tr, 0.4, label="train")
    axes[2].bar(xs + 0.2, te, 0.4, label="test")
    for i in xs:
        axes[2].text(i, max(tr[i], te[i]) + 0.003, f"gap {tr[i] - te[i]:.1%}", ha="center", fontsize=8)
    axes[2].set_xticks(xs, VARIANTS, rotation=15, fontsize=8)
    axes[2].set_ylim(0.8, 1.02)
    axes[2].set_title(f"after {epochs} epochs")
    axes[2].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"MLP 784-{hidden}-{hidden}-10 on {n_train} MNIST images, SGD lr 0.05 momentum 0.9")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "regularisation.png"), dpi=90)
    plt.close(fig)

    results = {}
    for v in VARIANTS:
        h = hists[v]
        results[v] = {"train_accuracy": h["train_accuracy"][-1], "test_accuracy": h["test_accuracy"][-1],
                      "gap": h["train_accuracy"][-1] - h["test_accuracy"][-1],
                      "best_test_accuracy": max(h["test_accuracy"]),
                      "final_test_loss": h["test_loss"][-1], "min_test_loss": min(h["test_loss"])}
    return {"train_images": n_train, "test_images": len(y_test), "epochs": epochs, "hidden": hidden,
            "weight_decay": weight_decay, "dropout": 0.5, "max_shift_px": 2, "clip_norm": 1.0,
            "results": results, "figure": "regularisation.png"}
