"""The course's experiments, one command each: ``flambeau demo NAME [--fast] [--out DIR]``.

Each demo writes its figure(s) and a ``metrics.json`` into ``DIR/NAME`` and returns the metrics.
``--fast`` runs a reduced version (what the tests use).
"""
from __future__ import annotations

import importlib
import json
import os

# name -> (module, one-line description)
DEMOS = {
    "perceptron": ("perceptron", "seed 000: the perceptron on separable data and on XOR; a 2-layer MLP solves XOR"),
    "inequality": ("inequality", "seed 003 §4.5: learn f(x,y,a)=min(a|x-y|,1) by plain gradient descent"),
    "three-classes": ("three_classes", "seed 003 §5.5: one Linear layer, hinge error with margin δ, decision regions"),
    "helix": ("helix", "seed 003 §5.6: the 3-class helix, Linear+ReLU+Linear, hidden sizes compared"),
    "mnist-linear": ("mnist:run_linear", "seed 001: Reseau1 (Linear+softmax) on MNIST, 1 epoch of SGD, ~91 %"),
    "mnist-cnn": ("mnist:run_cnn", "seed 001: Reseau2 (the CNN) on MNIST, 1 epoch of Adadelta, ~98.7 %; saved"),
    "robustness": ("robustness", "seed 001 TD: corrupted images, FGSM, fooling images (MNIST CNN)"),
    "gan": ("gan", "seed 001: a DCGAN draws MNIST digits; sample=True redraws from the checkpoint"),
    "vanishing-gradients": ("vanishing", "seed 000: gradient norm per layer: sigmoid/ReLU/Kaiming/BatchNorm/LayerNorm"),
    "regularisation": ("regularisation", "seed 000: an MLP over-fits 2 000 MNIST images, and its cures"),
    "cifar10": ("cifar10", "seed 001 TD: linear, MLP, small CNN on CIFAR-10 (> 50 %), worst mistakes"),
}


def entry_point(name):
    """The function that runs demo ``name``: ``module.run``, or ``module.function`` for entries
    written ``"module:function"``."""
    if name not in DEMOS:
        raise ValueError(f"unknown demo {name!r}; choose one of {', '.join(DEMOS)}")
    module, _, func = DEMOS[name][0].partition(":")
    return getattr(importlib.import_module(f".{module}", __name__), func or "run")


def run(name, out="demos", fast=False, **kwargs):
    fn = entry_point(name)
    out_dir = os.path.join(out, name)
    os.makedirs(out_dir, exist_ok=True)
    metrics = fn(out_dir, fast=fast, **kwargs)
    tmp = os.path.join(out_dir, "metrics.json.tmp")
    with open(tmp, "w") as f:
        json.dump(metrics, f, indent=2)
    os.replace(tmp, os.path.join(out_dir, "metrics.json"))
    return metrics
