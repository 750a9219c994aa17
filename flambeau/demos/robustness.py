"""Seed 001's TD: how far a convolutional network is from seeing like a person.

1. Slight corruptions of the test images (Gaussian noise, a blur, a 2-pixel shift, a lower
   contrast): the digits stay perfectly readable, yet the accuracy drops.
2. FGSM adversarial examples: ``x + ε·sign(∇x loss)``, one gradient step on the *input*, for
   ε from 0 to 0.3 (pixels in [0, 1]): accuracy against ε.
3. "Fooling images": gradient ascent on the input, starting from noise, until the network sees
   each digit 0..9 with more than 99 % confidence in images that look like nothing.

The network is Reseau2 (``mnist-cnn``); its checkpoint ``mnist-cnn/reseau2.safetensors`` next to
this demo's folder is reused when present (trained on MNIST; a fast-mode checkpoint is only
reused by the fast mode), otherwise the network is trained first.
"""
from __future__ import annotations

import os

import flambeau as torch
import flambeau.nn.functional as F
from ._plot import pyplot
from .mnist import CHECKPOINT, accuracy, load_reseau2, load_split, show_image, subset, to_float, train_reseau2

EPSILONS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)


# ---------------------------------------------------------------------------- corruptions
def gaussian_kernel(sigma, size=5):
    r = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    k1 = torch.exp(-(r ** 2) / (2 * sigma ** 2))
    k = k1[:, None] * k1[None, :]
    return (k / k.sum()).view(1, 1, size, size)


def add_noise(x, sigma):
    return (x + sigma * torch.randn_like(x)).clamp(0, 1)


def blur(x, sigma):
    return F.conv2d(x, gaussian_kernel(sigma), padding=2)


def shift(x, pixels):
    """Move the image ``pixels`` to the right and down (zeros come in)."""
    h, w = x.shape[-2:]
    return F.pad(x, (pixels, 0, pixels, 0))[..., :h, :w]


def lower_contrast(x, factor):
    """Blend each image with its mean grey level (``transforms.functional.adjust_contrast``)."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (factor * x + (1 - factor) * mean).clamp(0, 1)


CORRUPTIONS = {
    "noise σ=0.2": lambda x: add_noise(x, 0.2),
    "noise σ=0.4": lambda x: add_noise(x, 0.4),
    "blur σ=1": lambda x: blur(x, 1.0),
    "shift 2 px": lambda x: shift(x, 2),
    "contrast ×0.3": lambda x: lower_contrast(x, 0.3),
}


# ---------------------------------------------------------------------------- FGSM and fooling images
def input_gradient(model, x, y, batch_size=500):
    """``∇x`` of the cross-entropy, batch by batch (the network in eval mode)."""
    model.eval()
    grads = []
    for i in range(0, len(y), batch_size):
        xb = x[i:i + batch_size].clone().requires_grad_(True)
        loss = F.cross_entropy(model(xb), y[i:i + batch_size], reduction="sum")
        (g,) = torch.autograd.grad(loss, xb)
        grads.append(g)
    return torch.cat(grads)


def fgsm(x, grad, eps):
    return (x + eps * grad.sign()).clamp(0, 1)


def fooling_images(model, steps=300, lr=0.02, target_confidence=0.995, seed=0):
    """One image per class, from uniform noise, by Adam steps on the pixels that raise the
    log-probability of that class; stops once every image reaches ``target_confidence``."""
    model.eval()
    params = list(model.parameters())
    trainable = [p.requires_grad for p in params]
    for p in params:                      # only the pixels are optimised
        p.requires_grad_(False)
    g = torch.Generator().manual_seed(seed)
    start = torch.rand(10, 1, 28, 28, generator=g)
    x = start.clone().requires_grad_(True)
    target = torch.arange(10)
    optimizer = torch.optim.Adam([x], lr=lr)
    done = 0
    for done in range(1, steps + 1):
        logp = F.log_softmax(model(x), dim=1)
        conf = logp.detach().exp()[target, target]
        if float(conf.min()) >= target_confidence:
            done -= 1
            break
        optimizer.zero_grad()
        (-logp[target, target].sum()).backward()
        optimizer.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    for p, flag in zip(params, trainable):
        p.requires_grad_(flag)
    with torch.no_grad():
        probs = F.softmax(model(x), dim=1)
        start_probs = F.softmax(model(start), dim=1)
    return start, x.detach(), probs, start_probs, done


# ---------------------------------------------------------------------------- the network
def get_model(out_dir, fast, data_root):
    """Reuse a checkpoint written by ``mnist-cnn`` (or by an earlier run of this demo), or train."""
    for path in (os.path.join(os.path.dirname(os.path.abspath(out_dir)), "mnist-cnn", CHECKPOINT),
                 os.path.join(out_dir, CHECKPOINT)):
        if os.path.isfile(path):
            model, info = load_reseau2(path)
            if info.get("dataset") == "mnist" and (fast or not info.get("fast")):
                return model, f"reused {path}"
    x_train, y_train, _ = load_split("mnist", data_root, train=True)
    if fast:
        x_train, y_train = subset(x_train, y_train, 6000)
    steps = 40 if fast else -(-len(y_train) // 64)
    model, _ = train_reseau2(x_train, y_train, None, None, steps, "mnist", evals=0)
    torch.save({"model": model.state_dict(), "dataset": "mnist", "fast": bool(fast)},
               os.path.join(out_dir, CHECKPOINT))
    model.eval()
    return model, f"trained here ({steps} steps of Adadelta), saved to {CHECKPOINT}"


# ---------------------------------------------------------------------------- figures
def _row_of_images(axes, images, probs, labels, title, fmt="{:.0%}"):
    p = probs.numpy()
    for k, ax in enumerate(axes):
        pred = int(p[k].argmax())
        ok = labels is None or pred == int(labels[k])
        show_image(ax, images[k].numpy(), f"{pred} ({fmt.format(p[k, pred])})")
        ax.title.set_color("black" if ok else "red")
    axes[0].text(-0.15, 0.5, title, transform=axes[0].transAxes, ha="right", va="center", fontsize=9)


def plot_corruptions(x, y, model, rows, path, n=8):
    plt = pyplot()
    fig, axes = plt.subplots(len(rows), n, figsize=(1.25 * n + 1.8, 1.45 * len(rows)), squeeze=False)
    for r, (name, images, acc) in enumerate(rows):
        probs = F.softmax(model(images[:n]), dim=1)
        _row_of_images(axes[r], images[:n], probs, y[:n], f"{name}\naccuracy {acc:.1%}")
    fig.suptitle("Slightly corrupted test images: prediction (confidence), wrong in red")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_fgsm(x, y, grad, model, accs, path, n=8, shown=(0.0, 0.1, 0.2, 0.3)):
    plt = pyplot()
    fig = plt.figure(figsize=(1.25 * n + 5.5, 1.45 * len(shown)))
    gs = fig.add_gridspec(len(shown), n + 4)
    ax = fig.add_subplot(gs[:, :4])
    ax.plot(list(accs), [accs[e] for e in accs], "o-")
    ax.set_xlabel("ε")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.set_title("FGSM: x + ε sign(∇x loss)")
    for r, eps in enumerate(shown):
        xa = fgsm(x[:n], grad[:n], eps)
        probs = F.softmax(model(xa), dim=1)
        axes = [fig.add_subplot(gs[r, 4 + k]) for k in range(n)]
        _row_of_images(axes, xa, probs, y[:n], f"ε={eps}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_fooling(start, images, probs, start_probs, path):
    plt = pyplot()
    fig, axes = plt.subplots(2, 10, figsize=(14, 3.4))
    _row_of_images(axes[0], start, start_probs, None, "noise")
    _row_of_images(axes[1], images, probs, None, "after\nascent", fmt="{:.1%}")
    fig.suptitle("Fooling images: noise pushed by gradient ascent until the network sees each digit "
                 "with > 99 % confidence")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# ---------------------------------------------------------------------------- the demo
def run(out_dir, fast=False, data_root=None, seed=0):
    model, source = get_model(out_dir, fast, data_root)
    x_test, y_test, _ = load_split("mnist", data_root, train=False)
    x_test, y_test = subset(x_test, y_test, 500 if fast else 2000, seed=seed)
    x = to_float(x_test)
    torch.manual_seed(seed)
    clean = accuracy(model, x, y_test)

    corrupted = {name: fn(x) for name, fn in CORRUPTIONS.items()}
    corr_acc = {name: accuracy(model, xc, y_test) for name, xc in corrupted.items()}
    with torch.no_grad():
        plot_corruptions(x, y_test, model, [("clean", x, clean)] + [(k, corrupted[k], corr_acc[k]) for k in corrupted],
                         os.path.join(out_dir, "corruptions.png"))

    grad = input_gradient(model, x, y_test)
    fgsm_acc = {eps: accuracy(model, fgsm(x, grad, eps), y_test) for eps in EPSILONS}
    with torch.no_grad():
        plot_fgsm(x, y_test, grad, model, fgsm_acc, os.path.join(out_dir, "fgsm.png"))

    start, fool, probs, start_probs, steps = fooling_images(model, steps=300 if fast else 600, seed=seed)
    plot_fooling(start, fool, probs, start_probs, os.path.join(out_dir, "fooling.png"))
    conf = probs[torch.arange(10), torch.arange(10)]
    return {
        "model": source,
        "test_images": len(y_test),
        "clean_accuracy": clean,
        "corruption_accuracy": corr_acc,
        "fgsm_accuracy": {str(e): a for e, a in fgsm_acc.items()},
        "fooling": {"target_confidence": [float(c) for c in conf],
                    "min_confidence": float(conf.min()),
                    "predicted": probs.argmax(1).tolist(),
                    "noise_start_max_confidence": float(start_probs.max(1).values.max()),
                    "steps": steps,
                    "mean_abs_change_from_noise": float((fool - start).abs().mean())},
        "figures": ["corruptions.png", "fgsm.png", "fooling.png"],
    }
