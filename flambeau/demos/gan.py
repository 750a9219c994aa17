"""Seed 001, GANs: a DCGAN that learns to draw MNIST digits.

The generator turns a noise vector z into a 28×28 image with transposed convolutions
(``ConvTranspose2d`` + ``BatchNorm2d`` + ``ReLU``, ``Tanh`` at the end); the discriminator is a
convolutional network (``Conv2d`` + ``LeakyReLU(0.2)``, ``BatchNorm2d`` in the middle, a sigmoid at
the end). Both are trained with the binary cross-entropy and Adam (lr 2e-4, betas (0.5, 0.999)):
D learns to tell real digits (label 1) from generated ones (label 0), G learns to make D answer 1.

Written: a grid of digits drawn from the same 64 noise vectors after each epoch
(``epoch_K.png`` and ``progress.png``), the loss curves (``losses.png``) and the networks
(``gan.safetensors``, ``flambeau.save``). ``run('gan', out, sample=True)`` reloads the generator
and draws new digits (``samples.png``) without training.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

import flambeau as torch
import flambeau.nn as nn
from flambeau.vision.utils import make_grid
from ._plot import pyplot
from .mnist import CHECKPOINT as CLASSIFIER_CHECKPOINT, load_reseau2, load_split, smooth, subset, to_float

CHECKPOINT = "gan.safetensors"


class Generator(nn.Module):
    def __init__(self, nz=64, ngf=32):
        super().__init__()
        self.nz = nz
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 7, 1, 0, bias=False),       # 1×1 -> 7×7
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),  # 7×7 -> 14×14
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, 1, 4, 2, 1, bias=False),        # 14×14 -> 28×28
            nn.Tanh(),
        )

    def forward(self, z):
        return self.main(z.view(-1, self.nz, 1, 1))


class Discriminator(nn.Module):
    def __init__(self, ndf=32):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(1, ndf, 4, 2, 1, bias=False),                    # 28×28 -> 14×14
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),              # 14×14 -> 7×7
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, 1, 7, 1, 0, bias=False),                # 7×7 -> 1×1
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.main(x).view(-1)


def weights_init(m):
    """DCGAN's initialisation: N(0, 0.02) for the convolutions, N(1, 0.02) for BatchNorm scales."""
    name = type(m).__name__
    if "Conv" in name:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif "BatchNorm" in name:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def fixed_noise(n, nz, seed):
    return torch.randn(n, nz, generator=torch.Generator().manual_seed(seed))


def generate(netG, z):
    """Images in [0, 1] (the generator in eval mode: BatchNorm with its running statistics)."""
    netG.eval()
    with torch.no_grad():
        return (netG(z) + 1) / 2


def save_grid(images, path, title):
    plt = pyplot()
    grid = make_grid(images, nrow=8, padding=2, pad_value=1.0)
    fig, ax = plt.subplots(figsize=(5, 5.3))
    ax.imshow(grid.permute(1, 2, 0).numpy().clip(0, 1))
    ax.set_title(title)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_progress(grids, path):
    plt = pyplot()
    n = len(grids)
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.9), squeeze=False)
    for ax, (epoch, images) in zip(axes[0], grids):
        ax.imshow(make_grid(images[:16], nrow=4, padding=1, pad_value=1.0).permute(1, 2, 0).numpy().clip(0, 1))
        ax.set_title(f"epoch {epoch}")
        ax.axis("off")
    fig.suptitle("The same 16 noise vectors, epoch after epoch")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_losses(hist, path):
    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.6))
    steps = np.arange(1, len(hist["loss_D"]) + 1)
    for key, c in (("loss_D", "C0"), ("loss_G", "C1")):
        a1.plot(steps, hist[key], color=c, alpha=0.25, lw=0.6)
        a1.plot(steps, smooth(hist[key]), color=c, label=key.replace("_", " "))
    a1.set_xlabel("step")
    a1.set_ylabel("binary cross-entropy")
    a1.legend()
    for key, c, lab in (("D_x", "C2", "D(x), real images"), ("D_G_z", "C3", "D(G(z)), generated")):
        a2.plot(steps, smooth(hist[key]), color=c, label=lab)
    a2.set_ylim(0, 1)
    a2.set_xlabel("step")
    a2.set_ylabel("discriminator output")
    a2.legend()
    a2.grid(alpha=0.3)
    fig.suptitle("DCGAN on MNIST: Adam lr 2e-4, betas (0.5, 0.999)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def classifier_opinion(out_dir, images):
    """What a Reseau2 trained by ``mnist-cnn`` (next to this folder) thinks of the generated digits."""
    path = os.path.join(os.path.dirname(os.path.abspath(out_dir)), "mnist-cnn", CLASSIFIER_CHECKPOINT)
    if not os.path.isfile(path):
        return None
    model, info = load_reseau2(path)
    if info.get("dataset") != "mnist":
        return None
    with torch.no_grad():
        probs = torch.nn.functional.softmax(model(images), dim=1)
    conf, pred = probs.max(1)
    return {"classifier": path, "mean_confidence": float(conf.mean()),
            "digit_counts": np.bincount(pred.numpy(), minlength=10).tolist()}


def draw_samples(out_dir, n=64, seed=1):
    path = os.path.join(out_dir, CHECKPOINT)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no trained generator in {path}: run the gan demo without sample=True first")
    ckpt = torch.load(path)
    cfg = ckpt["config"]
    netG = Generator(cfg["nz"], cfg["ngf"])
    netG.load_state_dict(ckpt["generator"])
    images = generate(netG, fixed_noise(n, cfg["nz"], seed))
    save_grid(images, os.path.join(out_dir, "samples.png"), f"{n} new digits (noise seed {seed})")
    info = {"checkpoint": CHECKPOINT, "seed": seed, "n": n, "pixel_mean": float(images.mean()),
            "figure": "samples.png"}
    opinion = classifier_opinion(out_dir, images)
    if opinion:
        info["classifier_opinion"] = opinion
    metrics_path = os.path.join(out_dir, "metrics.json")
    metrics = {}
    if os.path.isfile(metrics_path):   # keep the training run's numbers, add the sample's
        with open(metrics_path) as f:
            metrics = json.load(f)
    metrics["sample"] = info
    return metrics


def run(out_dir, fast=False, data_root=None, sample=False, sample_seed=1, seed=0, epochs=None, n_images=None):
    """Train (``sample=False``), or draw 64 new digits from the saved generator (``sample=True``)."""
    if sample:
        return draw_samples(out_dir, seed=sample_seed)
    nz, ngf, ndf, batch_size = 64, 32, 32, 64
    epochs = epochs or (2 if fast else 5)
    n_images = n_images or (640 if fast else 30000)
    x_train, _, _ = load_split("mnist", data_root, train=True)
    x_train, _ = subset(x_train, torch.zeros(len(x_train), dtype=torch.int64), n_images, seed=seed)
    real_mean = float(to_float(x_train[:2000]).mean())

    torch.manual_seed(seed)
    netG, netD = Generator(nz, ngf), Discriminator(ndf)
    netG.apply(weights_init)
    netD.apply(weights_init)
    criterion = nn.BCELoss()
    optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    z_fixed = fixed_noise(64, nz, seed + 1)
    start_mean = float(generate(netG, z_fixed).mean())

    hist = {"loss_D": [], "loss_G": [], "D_x": [], "D_G_z": []}
    grids = []
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    steps_per_epoch = len(x_train) // batch_size
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(len(x_train), generator=g)
        netG.train()
        netD.train()
        for i in range(steps_per_epoch):
            real = to_float(x_train[perm[i * batch_size:(i + 1) * batch_size]]) * 2 - 1   # in [-1, 1] like Tanh
            ones, zeros = torch.ones(batch_size), torch.zeros(batch_size)
            # (1) D: maximise log D(x) + log(1 - D(G(z)))
            optD.zero_grad()
            out_real = netD(real)
            fake = netG(torch.randn(batch_size, nz))
            out_fake = netD(fake.detach())
            loss_D = criterion(out_real, ones) + criterion(out_fake, zeros)
            loss_D.backward()
            optD.step()
            # (2) G: maximise log D(G(z)) (the non-saturating form)
            optG.zero_grad()
            loss_G = criterion(netD(fake), ones)
            loss_G.backward()
            optG.step()
            hist["loss_D"].append(loss_D.item())
            hist["loss_G"].append(loss_G.item())
            hist["D_x"].append(float(out_real.mean()))
            hist["D_G_z"].append(float(out_fake.mean()))
        images = generate(netG, z_fixed)
        grids.append((epoch, images))
        save_grid(images, os.path.join(out_dir, f"epoch_{epoch}.png"), f"epoch {epoch}")
    train_time = time.perf_counter() - t0

    plot_progress(grids, os.path.join(out_dir, "progress.png"))
    plot_losses(hist, os.path.join(out_dir, "losses.png"))
    torch.save({"generator": netG.state_dict(), "discriminator": netD.state_dict(),
                "config": {"nz": nz, "ngf": ngf, "ndf": ndf, "epochs": epochs, "images": len(x_train)}},
               os.path.join(out_dir, CHECKPOINT))
    final = grids[-1][1]
    k = max(1, steps_per_epoch // 2)
    metrics = {
        "images": len(x_train), "epochs": epochs, "steps": len(hist["loss_D"]),
        "train_time_s": round(train_time, 1),
        "final_loss_D": float(np.mean(hist["loss_D"][-k:])), "final_loss_G": float(np.mean(hist["loss_G"][-k:])),
        "final_D_x": float(np.mean(hist["D_x"][-k:])), "final_D_G_z": float(np.mean(hist["D_G_z"][-k:])),
        "real_pixel_mean": real_mean, "generated_pixel_mean_before": start_mean,
        "generated_pixel_mean": float(final.mean()),
        "checkpoint": CHECKPOINT,
        "figures": [f"epoch_{e}.png" for e in range(1, epochs + 1)] + ["progress.png", "losses.png"],
    }
    opinion = classifier_opinion(out_dir, final)
    if opinion:
        metrics["classifier_opinion"] = opinion
    return metrics
