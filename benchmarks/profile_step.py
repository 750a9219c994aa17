"""Where a training step's time goes, op by op: flambeau.profiler next to torch.profiler.

    python benchmarks/profile_step.py --model reseau2          # also mlp, linear, resnet20
    python benchmarks/profile_step.py --model resnet20 --steps 3 --rows 15

Both libraries run the same model, batch and SGD step as ``train_step.py``; each profiles
``--steps`` steps after one warm-up step and prints its table sorted by self time. Op names
differ (flambeau's are its autograd Functions and backward nodes, PyTorch's are aten ops), the
totals per step compare directly. ``--trace DIR`` also writes both Chrome traces.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

import flambeau
import flambeau.profiler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_step import MODELS, _copy, train_step_fn  # noqa: E402


def profile_steps(lib, prof_mod, step, steps, trace):
    sched = prof_mod.schedule(wait=0, warmup=1, active=steps, repeat=1)
    with prof_mod.profile(activities=[prof_mod.ProfilerActivity.CPU], schedule=sched) as prof:
        for _ in range(steps + 1):
            step()
            prof.step()
    if trace:
        prof.export_chrome_trace(trace)
    return prof


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="reseau2", help="linear | mlp | reseau2 | resnet20")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--rows", type=int, default=12)
    ap.add_argument("--trace", metavar="DIR")
    ap.add_argument("--no-onednn", action="store_true", help="flambeau's own NumPy convolutions")
    args = ap.parse_args()
    if args.no_onednn:
        flambeau.backends.mkldnn.enabled = False
    names = {key.split()[0].lower().replace("-", ""): key for key in MODELS}
    if args.model not in names:
        ap.error(f"--model: one of {', '.join(sorted(names))}")
    ctor, shape, batch = MODELS[names[args.model]]
    torch.set_num_threads(flambeau.get_num_threads())
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch,) + shape).astype(np.float32)
    y = rng.integers(0, 10, batch)
    th_model = ctor(torch)
    fl_model = ctor(flambeau)
    _copy(th_model, fl_model)
    print(f"{names[args.model]}, batch {batch}, {args.steps} steps; threads: flambeau {flambeau.get_num_threads()}, "
          f"PyTorch {torch.get_num_threads()}\n")
    for lib, prof_mod, model in ((flambeau, flambeau.profiler, fl_model), (torch, torch.profiler, th_model)):
        step = train_step_fn(lib, model, lib.from_numpy(x), lib.from_numpy(y))
        step()
        trace = os.path.join(args.trace, f"{lib.__name__}.trace.json") if args.trace else None
        prof = profile_steps(lib, prof_mod, step, args.steps, trace)
        per_step = prof.key_averages().self_cpu_time_total / args.steps / 1e3
        print(f"== {lib.__name__}: {per_step:.2f} ms per step")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
