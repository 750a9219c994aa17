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
    "mnist-linear": ("mnist:run_linear", "seed 001: Reseau1 (Linear+softmax) on MNIST, 1 epoch of SGD, ~92 %"),
    "mnist-cnn": ("mnist:run_cnn", "seed 001: Reseau2 (the CNN) on MNIST, 1 epoch of Adadelta, ~98 %; saves its weights"),
}


def run(name, out="demos", fast=False, **kwargs):
    if name not in DEMOS:
        raise ValueError(f"unknown demo {name!r}; choose one of {', '.join(DEMOS)}")
    module, _, func = DEMOS[name][0].partition(":")   # "module" or "module:function" (default: run)
    mod = importlib.import_module(f".{module}", __name__)
    out_dir = os.path.join(out, name)
    os.makedirs(out_dir, exist_ok=True)
    metrics = getattr(mod, func or "run")(out_dir, fast=fast, **kwargs)
    tmp = os.path.join(out_dir, "metrics.json.tmp")
    with open(tmp, "w") as f:
        json.dump(metrics, f, indent=2)
    os.replace(tmp, os.path.join(out_dir, "metrics.json"))
    return metrics
