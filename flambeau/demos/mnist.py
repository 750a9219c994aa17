"""Seed 001: MNIST with ``Reseau1`` (one Linear layer + softmax) and ``Reseau2`` (the CNN).

``mnist-linear``: Reseau1, one epoch of SGD (lr 0.01, momentum 0.9, batches of 64): about 92 %.
``mnist-cnn``: Reseau2 (two 3×3 convolutions, max-pooling, dropout, two Linear layers), one
epoch of Adadelta (lr 1.0): about 98 %.

Both write the loss/accuracy curves, the confusion matrix and the test images the network gets
wrong with the highest confidence; ``mnist-cnn`` also saves its weights (``reseau2.safetensors``,
``flambeau.save``), which the ``robustness`` demo reuses. ``dataset="fashion-mnist"`` runs the
same networks on Fashion-MNIST.

The helpers here (loading a dataset into tensors, the training loop, the figures) are shared by
the other image demos.
"""
from __future__ import annotations

import os
import time

import numpy as np

import flambeau as torch
import flambeau.nn as nn
import flambeau.nn.functional as F
from ._plot import pyplot

# ---------------------------------------------------------------------------- data
FILES = {
    "mnist": ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"],
    "fashion-mnist": ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                      "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"],
    "cifar10": ["cifar-10-binary.tar.gz (or its extracted cifar-10-batches-bin/ folder)"],
}
# mean and standard deviation of the training pixels (in [0, 1]), per channel
STATS = {"mnist": ((0.1307,), (0.3081,)), "fashion-mnist": ((0.2860,), (0.3530,)),
         "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))}
FASHION_CLASSES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"]

_cache = {}


def default_data_root():
    """``$FLAMBEAU_DATA`` when set, else ``./data``."""
    return os.environ.get("FLAMBEAU_DATA") or "data"


def load_split(dataset, data_root=None, train=True):
    """``(images, labels, class_names)``: images a uint8 tensor N×C×H×W, labels an int64 tensor.

    The files are looked up in ``data_root`` and in ``data_root/<dataset>`` (so a folder holding
    ``mnist/``, ``fashion-mnist/`` and ``cifar10/`` works for every demo)."""
    from ..vision import datasets
    if dataset not in FILES:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(FILES)}")
    root = os.fspath(data_root or default_data_root())
    key = (dataset, os.path.abspath(root), bool(train))
    if key in _cache:
        return _cache[key]
    cls = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST, "cifar10": datasets.CIFAR10}[dataset]
    ds = None
    for folder in (os.path.join(root, dataset), root):
        if not os.path.isdir(folder):
            continue
        try:
            ds = cls(folder, train=train, download=False)
            break
        except RuntimeError:
            continue
    if ds is None:
        raise FileNotFoundError(
            f"the {dataset} data set was not found: the demo needs {', '.join(FILES[dataset])} in {root} "
            f"or in {os.path.join(root, dataset)}. Point data_root (or the FLAMBEAU_DATA environment "
            "variable) at the folder holding these files.")
    x = np.asarray(ds.data)
    if x.ndim == 3:
        x = x[:, None]
    elif x.shape[-1] in (1, 3):
        x = x.transpose(0, 3, 1, 2)            # N, H, W, C -> N, C, H, W
    x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.uint8))
    y = torch.from_numpy(np.asarray(ds.targets, dtype=np.int64))
    classes = FASHION_CLASSES if dataset == "fashion-mnist" else (
        [str(i) for i in range(10)] if dataset == "mnist" else list(ds.classes))
    _cache[key] = (x, y, classes)
    return _cache[key]


def to_float(images):
    """uint8 images -> float32 in [0, 1] (what ``transforms.ToTensor`` gives)."""
    return images.float() / 255.0


def subset(x, y, n, seed=0):
    """``n`` random examples (the whole set when ``n`` is None or too large)."""
    if n is None or n >= len(y):
        return x, y
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(y), generator=g)[:n]
    return x[idx], y[idx]


# ---------------------------------------------------------------------------- the networks
class Reseau1(nn.Module):
    """One Linear layer 784 -> 10 followed by a softmax, as on the slide.

    ``forward`` returns the log of the softmax (``F.log_softmax``), so that ``F.nll_loss`` computes
    the course's cost, the sum over the batch of ``-log f(x_i)(y_i)`` (averaged here)."""

    def __init__(self, in_features=784):
        super().__init__()
        self.in_features = in_features
        self.layer = nn.Linear(in_features, 10)

    def forward(self, x):
        return F.log_softmax(self.layer(x.view(-1, self.in_features)), dim=1)


class Reseau2(nn.Module):
    """The slide's convolutional network. The input is a [0, 1] image; it is normalised with the
    training set's mean and standard deviation inside the network (buffers saved with the weights),
    so that corrupted or adversarial images can be built directly in pixel space."""

    def __init__(self, mean=0.1307, std=0.3081):
        super().__init__()
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout2d(0.25)
        self.dropout2 = nn.Dropout(0.5)     # the slide has Dropout2d, which on fc1's 2-D output is Dropout
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = (x - self.mean) / self.std
        x = F.relu(self.conv1(x))
        x = self.conv2(x)
        x = self.dropout1(F.max_pool2d(x, 2))
        x = torch.flatten(x, 1)
        x = self.dropout2(F.relu(self.fc1(x)))
        x = self.fc2(x)
        return x


# ---------------------------------------------------------------------------- training and evaluation
def predict(model, images, batch_size=1000):
    """Class probabilities (N×10 tensor) for uint8 or float images, in eval mode, without grad."""
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            xb = images[i:i + batch_size]
            if xb.dtype == torch.uint8:
                xb = to_float(xb)
            out.append(F.softmax(model(xb), dim=1))
    return torch.cat(out)


def accuracy(model, images, labels, batch_size=1000):
    return float((predict(model, images, batch_size).argmax(1) == labels).float().mean())


def train_classifier(model, optimizer, x, y, steps, batch_size=64, x_eval=None, y_eval=None, evals=10,
                     loss_fn=F.cross_entropy, seed=0, transform=None, clip=None, after_backward=None):
    """Mini-batch training for ``steps`` steps (reshuffling at each epoch).

    ``x`` are uint8 images, turned into [0, 1] floats batch by batch (and passed through
    ``transform`` when given, e.g. a data augmentation). ``clip``: a maximum gradient norm.
    Returns the history: loss and accuracy per step, test accuracy at ``evals`` points, and the
    training time (evaluations excluded)."""
    g = torch.Generator().manual_seed(seed)
    n = len(y)
    perm, pos = torch.randperm(n, generator=g), 0
    eval_at = set(np.linspace(0, steps, evals + 1).astype(int)[1:].tolist()) if x_eval is not None else set()
    hist = {"loss": [], "batch_accuracy": [], "eval_step": [], "eval_accuracy": []}
    train_time = 0.0
    for step in range(1, steps + 1):
        if pos + batch_size > n:
            perm, pos = torch.randperm(n, generator=g), 0
        idx = perm[pos:pos + batch_size]
        pos += batch_size
        t0 = time.perf_counter()
        model.train()
        xb = to_float(x[idx])
        if transform is not None:
            xb = transform(xb)
        out = model(xb)
        loss = loss_fn(out, y[idx])
        optimizer.zero_grad()
        loss.backward()
        if after_backward is not None:
            after_backward(model)
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        train_time += time.perf_counter() - t0
        hist["loss"].append(loss.item())
        hist["batch_accuracy"].append(float((out.argmax(1) == y[idx]).float().mean()))
        if step in eval_at:
            hist["eval_step"].append(step)
            hist["eval_accuracy"].append(accuracy(model, x_eval, y_eval))
    hist["train_time_s"] = train_time
    return hist


def smooth(values, k=20):
    v = np.asarray(values, dtype=np.float64)
    if len(v) < k:
        return v
    c = np.cumsum(np.r_[0.0, v])
    return np.r_[c[1:k] / np.arange(1, k), (c[k:] - c[:-k]) / k]


def confusion_matrix(target, pred, n=10):
    """Rows: the true class, columns: the predicted one."""
    m = np.zeros((n, n), np.int64)
    np.add.at(m, (np.asarray(target), np.asarray(pred)), 1)
    return m


# ---------------------------------------------------------------------------- figures
def show_image(ax, img, title="", cmap="gray"):
    """``img``: a C×H×W tensor or array in [0, 1]."""
    a = np.asarray(img, dtype=np.float32)
    a = a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)
    ax.imshow(np.clip(a, 0, 1), cmap=cmap if a.ndim == 2 else None, vmin=0, vmax=1)
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def plot_curves(hist, path, title):
    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    steps = np.arange(1, len(hist["loss"]) + 1)
    a1.plot(steps, hist["loss"], color="0.75", lw=0.6, label="batch")
    a1.plot(steps, smooth(hist["loss"]), color="C0", label="moving average")
    a1.set_xlabel("step")
    a1.set_ylabel("training loss")
    a1.set_yscale("log")
    a1.legend()
    a2.plot(steps, smooth(hist["batch_accuracy"]), color="C0", label="training batches (moving average)")
    if hist["eval_step"]:
        a2.plot(hist["eval_step"], hist["eval_accuracy"], "o-", color="C3", label="test images")
    a2.set_xlabel("step")
    a2.set_ylabel("accuracy")
    a2.set_ylim(0, 1)
    a2.grid(alpha=0.3)
    a2.legend(loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_confusion(cm, classes, path, title):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.2, 5.4))
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i, j in zip(*np.nonzero(cm)):
        ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45 if max(map(len, classes)) > 2 else 0, fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def worst_mistakes(probs, labels, k=24):
    """Indices of the ``k`` misclassified examples with the most confident (wrong) prediction."""
    p = probs.numpy()
    t = labels.numpy()
    pred = p.argmax(1)
    wrong = np.nonzero(pred != t)[0]
    order = wrong[np.argsort(-p[wrong, pred[wrong]], kind="stable")]
    return order[:k]


def plot_mistakes(images, labels, probs, idx, classes, path, title, cols=8):
    plt = pyplot()
    rows = max(1, -(-len(idx) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 2.1 * rows), squeeze=False)
    p = probs.numpy()
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), idx):
        pred = int(p[i].argmax())
        show_image(ax, to_float(images[int(i)]).numpy(),
                   f"true {classes[int(labels[int(i)])]}\npred {classes[pred]} {p[i, pred]:.0%}")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def report(model, x_test, y_test, classes, out_dir, prefix, title):
    """Test accuracy, confusion matrix and the worst mistakes; writes the two figures."""
    probs = predict(model, x_test)
    pred = probs.argmax(1)
    acc = float((pred == y_test).float().mean())
    cm = confusion_matrix(y_test.numpy(), pred.numpy(), len(classes))
    plot_confusion(cm, classes, os.path.join(out_dir, f"{prefix}confusion.png"),
                   f"{title}: test accuracy {acc:.2%}")
    idx = worst_mistakes(probs, y_test)
    plot_mistakes(x_test, y_test, probs, idx, classes, os.path.join(out_dir, f"{prefix}mistakes.png"),
                  f"{title}: the most confident mistakes")
    off = cm - np.diag(np.diag(cm))
    i, j = np.unravel_index(int(off.argmax()), off.shape)
    return {"test_accuracy": acc,
            "per_class_accuracy": {classes[k]: float(cm[k, k] / max(cm[k].sum(), 1)) for k in range(len(classes))},
            "confusion_matrix": cm.tolist(),
            "most_confused": {"true": classes[i], "predicted": classes[j], "count": int(off[i, j])},
            "worst_mistake_confidence": float(probs.numpy()[idx[0]].max()) if len(idx) else None}


# ---------------------------------------------------------------------------- the two demos
def _setup(dataset, data_root, fast, train_subset, test_subset):
    x_train, y_train, classes = load_split(dataset, data_root, train=True)
    x_test, y_test, _ = load_split(dataset, data_root, train=False)
    if fast:
        x_train, y_train = subset(x_train, y_train, train_subset)
        x_test, y_test = subset(x_test, y_test, test_subset)
    return x_train, y_train, x_test, y_test, classes


def train_reseau2(x_train, y_train, x_eval, y_eval, steps, dataset="mnist", seed=0, evals=10):
    torch.manual_seed(seed)
    mean, std = STATS[dataset]
    model = Reseau2(mean[0], std[0])
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    hist = train_classifier(model, optimizer, x_train, y_train, steps, 64, x_eval, y_eval, evals, seed=seed)
    return model, hist


def run_linear(out_dir, fast=False, data_root=None, dataset="mnist", epochs=1, seed=0):
    x_train, y_train, x_test, y_test, classes = _setup(dataset, data_root, fast, 20000, 2000)
    batch_size = 64
    steps = 300 if fast else int(epochs * -(-len(y_train) // batch_size))
    torch.manual_seed(seed)
    model = Reseau1()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    hist = train_classifier(model, optimizer, x_train, y_train, steps, batch_size,
                            x_test[:1000], y_test[:1000], evals=10, loss_fn=F.nll_loss, seed=seed)
    title = f"Reseau1 on {dataset}"
    plot_curves(hist, os.path.join(out_dir, "curves.png"), f"{title}: SGD lr 0.01 momentum 0.9, batch 64")
    metrics = {"dataset": dataset, "model": "Reseau1 (Linear 784->10 + softmax)", "steps": steps,
               "batch_size": batch_size, "epochs": round(steps * batch_size / len(y_train), 3),
               "train_images": len(y_train), "test_images": len(y_test),
               "epoch_time_s": round(hist["train_time_s"] * len(y_train) / (steps * batch_size), 2),
               "train_time_s": round(hist["train_time_s"], 2), "final_loss": float(smooth(hist["loss"])[-1])}
    metrics.update(report(model, x_test, y_test, classes, out_dir, "", title))
    metrics["figures"] = ["curves.png", "confusion.png", "mistakes.png"]
    return metrics


def run_cnn(out_dir, fast=False, data_root=None, dataset="mnist", epochs=1, seed=0):
    x_train, y_train, x_test, y_test, classes = _setup(dataset, data_root, fast, 6000, 1000)
    batch_size = 64
    steps = 40 if fast else int(epochs * -(-len(y_train) // batch_size))
    n_eval = 500 if fast else 1000
    model, hist = train_reseau2(x_train, y_train, x_test[:n_eval], y_test[:n_eval], steps, dataset, seed,
                                evals=2 if fast else 10)
    title = f"Reseau2 on {dataset}"
    plot_curves(hist, os.path.join(out_dir, "curves.png"), f"{title}: Adadelta lr 1.0, batch 64")
    metrics = {"dataset": dataset, "model": "Reseau2 (conv 32, conv 64, max-pool, dropout, fc 128, fc 10)",
               "steps": steps, "batch_size": batch_size, "epochs": round(steps * batch_size / len(y_train), 3),
               "train_images": len(y_train), "test_images": len(y_test),
               "epoch_time_s": round(hist["train_time_s"] * len(y_train) / (steps * batch_size), 2),
               "train_time_s": round(hist["train_time_s"], 2), "final_loss": float(smooth(hist["loss"])[-1])}
    metrics.update(report(model, x_test, y_test, classes, out_dir, "", title))
    torch.save({"model": model.state_dict(), "dataset": dataset, "fast": bool(fast),
                "test_accuracy": metrics["test_accuracy"]}, os.path.join(out_dir, CHECKPOINT))
    metrics["checkpoint"] = CHECKPOINT
    metrics["figures"] = ["curves.png", "confusion.png", "mistakes.png"]
    return metrics


CHECKPOINT = "reseau2.safetensors"


def load_reseau2(path):
    """The network and the checkpoint's info (dataset, fast, test accuracy) saved by ``mnist-cnn``."""
    ckpt = torch.load(path)
    model = Reseau2()
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, {k: v for k, v in ckpt.items() if k != "model"}


run = run_linear
