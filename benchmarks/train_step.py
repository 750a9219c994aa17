"""Training-step and layer timings of flambeau against PyTorch, side by side in one process.

    python benchmarks/train_step.py                 # the full table
    python benchmarks/train_step.py --quick         # fewer repeats
    python benchmarks/train_step.py --scaling       # + time per step against batch size (PNG)
    python benchmarks/train_step.py --memory        # + peak resident memory of a training run
    python benchmarks/train_step.py --standalone    # + each library's steps in a process of its own

Both libraries run the same model (flambeau's weights copied from PyTorch's), the same batch and
the same optimizer; each case alternates between the two and reports medians, so both see the
same machine state. Ratios are flambeau / PyTorch (lower is better, 1.0 is parity).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

import flambeau
import flambeau.vision.models  # noqa: F401  (resnet20)

# as many PyTorch threads as BLAS threads, so both libraries get the same cores
torch.set_num_threads(int(os.environ.get("OPENBLAS_NUM_THREADS", os.cpu_count() or 1)))
HERE = os.path.dirname(os.path.abspath(__file__))
_CHILD_ARGS = []            # options the child processes get too


# ---------------------------------------------------------------------------- models, written once
def reseau2(lib):
    nn, F = lib.nn, lib.nn.functional

    class Reseau2(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, 1)
            self.conv2 = nn.Conv2d(32, 64, 3, 1)
            self.dropout1 = nn.Dropout2d(0.25)
            self.dropout2 = nn.Dropout2d(0.5)
            self.fc1 = nn.Linear(9216, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x = self.conv2(x)
            x = self.dropout1(F.max_pool2d(x, 2))
            x = lib.flatten(x, 1)
            x = self.dropout2(F.relu(self.fc1(x)))
            return self.fc2(x)
    return Reseau2()


def linear(lib):
    return lib.nn.Sequential(lib.nn.Flatten(), lib.nn.Linear(784, 10))


def mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def resnet20(lib):
    if lib is flambeau:
        return flambeau.vision.models.resnet20()
    # the same architecture in PyTorch, written with the same code
    import flambeau.vision.models.resnet as R
    return _torch_resnet20(R)


def _torch_resnet20(R):
    nn, F = torch.nn, torch.nn.functional

    class Pad(nn.Module):
        def __init__(self, planes):
            super().__init__()
            self.pad = planes // 4

        def forward(self, x):
            return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = Pad(cout) if stride != 1 or cin != cout else nn.Identity()

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return F.relu(out + self.shortcut(x))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            self.layer1 = nn.Sequential(*[Block(16, 16, 1) for _ in range(3)])
            self.layer2 = nn.Sequential(Block(16, 32, 2), Block(32, 32, 1), Block(32, 32, 1))
            self.layer3 = nn.Sequential(Block(32, 64, 2), Block(64, 64, 1), Block(64, 64, 1))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            x = F.relu(self.bn1(self.conv1(x)))
            x = self.layer3(self.layer2(self.layer1(x)))
            return self.fc(self.avgpool(x).flatten(1))
    return Net()


MODELS = {"linear": (linear, (1, 28, 28), 64), "MLP 784-256-128-10": (mlp, (1, 28, 28), 64),
          "Reseau2 CNN": (reseau2, (1, 28, 28), 64), "ResNet-20": (resnet20, (3, 32, 32), 128)}


def _copy(th_model, fl_model):
    sd = {k: flambeau.from_numpy(v.detach().numpy().copy()) for k, v in th_model.state_dict().items()}
    fl_model.load_state_dict(sd)


def _median_ms(fn, repeat, warmup=2):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e3


def _alternate(f_fl, f_th, rounds, per_round):
    for f in (f_fl, f_th):
        f()
        f()
    fl, th = [], []
    for _ in range(rounds):
        fl.append(_median_ms(f_fl, per_round, 0))
        th.append(_median_ms(f_th, per_round, 0))
    return statistics.median(fl), statistics.median(th)


def train_step_fn(lib, model, x, y):
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    F = lib.nn.functional
    model.train()

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    return step


def bench_models(rounds, per_round, batch_override=None):
    rows = []
    rng = np.random.default_rng(0)
    for name, (ctor, shape, batch) in MODELS.items():
        batch = batch_override or batch
        torch.manual_seed(0)
        th_model = ctor(torch)
        fl_model = ctor(flambeau)
        _copy(th_model, fl_model)
        x = rng.standard_normal((batch,) + shape).astype(np.float32)
        y = rng.integers(0, 10, batch)
        f_fl = train_step_fn(flambeau, fl_model, flambeau.from_numpy(x), flambeau.from_numpy(y))
        f_th = train_step_fn(torch, th_model, torch.from_numpy(x), torch.from_numpy(y))
        r = rounds if name != "ResNet-20" else max(2, rounds // 2)
        ms_fl, ms_th = _alternate(f_fl, f_th, r, per_round if name != "ResNet-20" else 2)
        rows.append((f"train step: {name} (batch {batch})", ms_fl, ms_th, None))
    return rows


# ---------------------------------------------------------------------------- layers
def sgemm_gflops():
    """NumPy's sgemm 1024² with as many BLAS threads as each library computes with: the
    machine's practical rate, which the convolutions are compared with."""
    import contextlib
    try:
        from threadpoolctl import threadpool_limits
        limits = threadpool_limits(flambeau.get_num_threads(), user_api="blas")
    except ImportError:
        limits = contextlib.nullcontext()
    a = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
    b = a.copy()
    with limits:
        ms = _median_ms(lambda: a @ b, 10)
    return 2 * 1024 ** 3 / (ms / 1e3) / 1e9


def bench_layers(rounds, per_round):
    rng = np.random.default_rng(0)
    rows = []

    def fwd_bwd(lib, fn, *arrays):
        ts = [lib.from_numpy(a.copy()).requires_grad_(a.dtype.kind == "f") for a in arrays]

        def run():
            for t in ts:
                t.grad = None
            fn(lib, *ts).sum().backward()
        return run

    # Reseau2's two layers, ResNet-20's (16-64 channels), then the wider layers of ResNet-9,
    # VGG or ResNet-18 (128 and 256 channels), where the GEMMs are large enough for BLAS
    convs = [(64, 1, 32, 28, 1), (64, 32, 64, 26, 1), (128, 16, 16, 32, 1), (128, 32, 32, 16, 1),
             (128, 64, 64, 8, 1), (128, 16, 32, 32, 2), (128, 32, 64, 16, 2), (64, 128, 128, 16, 1),
             (64, 256, 256, 8, 1)]
    for n, cin, cout, hw, stride in convs:
        x = rng.standard_normal((n, cin, hw, hw)).astype(np.float32)
        w = rng.standard_normal((cout, cin, 3, 3)).astype(np.float32) * 0.1
        b = rng.standard_normal(cout).astype(np.float32)
        fn = (lambda s: lambda lib, x, w, b: lib.nn.functional.conv2d(x, w, b, stride=s, padding=1))(stride)
        ms_fl, ms_th = _alternate(fwd_bwd(flambeau, fn, x, w, b), fwd_bwd(torch, fn, x, w, b), rounds, per_round)
        hout = (hw + 2 - 3) // stride + 1
        flops = 3 * 2 * n * cout * hout * hout * cin * 9  # forward + two backward GEMMs
        rows.append((f"conv2d 3x3 fwd+bwd {n}x{cin}x{hw}x{hw}->{cout} s{stride}", ms_fl, ms_th,
                     flops / (ms_fl / 1e3) / 1e9))
    x = rng.standard_normal((64, 64, 24, 24)).astype(np.float32)
    rows.append(("max_pool2d(2) fwd+bwd 64x64x24x24",
                 *_alternate(fwd_bwd(flambeau, lambda lib, x: lib.nn.functional.max_pool2d(x, 2), x),
                             fwd_bwd(torch, lambda lib, x: lib.nn.functional.max_pool2d(x, 2), x), rounds,
                             per_round), None))
    x = rng.standard_normal((128, 64, 16, 16)).astype(np.float32)
    g = np.ones(64, np.float32)
    bn = lambda lib, x, w, b: lib.nn.functional.batch_norm(x, None, None, w, b, training=True)  # noqa: E731
    rows.append(("batch_norm train fwd+bwd 128x64x16x16",
                 *_alternate(fwd_bwd(flambeau, bn, x, g, g * 0), fwd_bwd(torch, bn, x, g, g * 0), rounds,
                             per_round), None))
    logits = rng.standard_normal((512, 10)).astype(np.float32)
    tgt = rng.integers(0, 10, 512)
    ce = lambda lib, x, t: lib.nn.functional.nll_loss(lib.nn.functional.log_softmax(x, 1), t)  # noqa: E731
    rows.append(("log_softmax+nll fwd+bwd 512x10",
                 *_alternate(fwd_bwd(flambeau, ce, logits, tgt), fwd_bwd(torch, ce, logits, tgt), rounds,
                             per_round), None))
    a = rng.standard_normal((1024, 1024)).astype(np.float32)
    mm = lambda lib, a, b: a @ b  # noqa: E731
    ms_fl, ms_th = _alternate(lambda: flambeau.from_numpy(a) @ flambeau.from_numpy(a),
                              lambda: torch.from_numpy(a) @ torch.from_numpy(a), rounds, per_round)
    rows.append(("matmul 1024x1024 (forward)", ms_fl, ms_th, 2 * 1024 ** 3 / (ms_fl / 1e3) / 1e9))
    del mm
    return rows


# ---------------------------------------------------------------------------- memory
def _peak_rss_mb():
    """This process's peak resident memory (VmHWM: reset by exec, unlike getrusage's ru_maxrss,
    which a child started by fork + exec inherits from the parent's size)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _memory_child(lib_name, steps):
    lib = flambeau if lib_name == "flambeau" else torch
    rng = np.random.default_rng(0)
    lib.manual_seed(0)
    model = reseau2(lib)
    x = lib.from_numpy(rng.standard_normal((64, 1, 28, 28)).astype(np.float32))
    y = lib.from_numpy(rng.integers(0, 10, 64))
    step = train_step_fn(lib, model, x, y)
    rss = []
    for _ in range(steps):
        step()
        rss.append(_peak_rss_mb())
    print(json.dumps({"peak_mb": rss[-1], "after_5_mb": rss[min(4, steps - 1)]}))


def _child_env(lib):
    """A child process's environment: PyTorch's child keeps glibc's default allocator (importing
    flambeau here would otherwise set flambeau's allocator thresholds for it too)."""
    env = dict(os.environ)
    if lib == "torch":
        env["FLAMBEAU_RETAIN_MEMORY"] = "0"
    return env


def bench_memory(steps=40):
    out = {}
    for lib in ("flambeau", "torch"):
        r = subprocess.run([sys.executable, __file__, "--memory-child", lib, str(steps), *_CHILD_ARGS], capture_output=True,
                           text=True, check=True, env=_child_env(lib))
        out[lib] = json.loads(r.stdout.strip().splitlines()[-1])
    return out


def _standalone_child(lib_name, model_name, steps):
    lib = flambeau if lib_name == "flambeau" else torch
    ctor, shape, batch = MODELS[model_name]
    rng = np.random.default_rng(0)
    lib.manual_seed(0)
    x = lib.from_numpy(rng.standard_normal((batch,) + shape).astype(np.float32))
    y = lib.from_numpy(rng.integers(0, 10, batch))
    print(json.dumps({"ms": _median_ms(train_step_fn(lib, ctor(lib), x, y), steps, warmup=3)}))


def bench_standalone(steps=15):
    """Each library in a process of its own, as its users run it (flambeau with its allocator
    settings, PyTorch with glibc's defaults); one after the other, so less robust to machine
    noise than the interleaved table."""
    rows = []
    for name in MODELS:
        ms = {}
        for lib in ("flambeau", "torch"):
            n = steps if name != "ResNet-20" else max(3, steps // 3)
            r = subprocess.run([sys.executable, __file__, "--standalone-child", lib, name, str(n), *_CHILD_ARGS],
                               capture_output=True, text=True, check=True, env=_child_env(lib))
            ms[lib] = json.loads(r.stdout.strip().splitlines()[-1])["ms"]
        rows.append((f"train step, separate processes: {name}", ms["flambeau"], ms["torch"], None))
    return rows


# ---------------------------------------------------------------------------- scaling plot
def bench_scaling(path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sizes = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    res = {"flambeau": [], "PyTorch": []}
    rng = np.random.default_rng(0)
    for bs in sizes:
        torch.manual_seed(0)
        th_model, fl_model = reseau2(torch), reseau2(flambeau)
        _copy(th_model, fl_model)
        x = rng.standard_normal((bs, 1, 28, 28)).astype(np.float32)
        y = rng.integers(0, 10, bs)
        f_fl = train_step_fn(flambeau, fl_model, flambeau.from_numpy(x), flambeau.from_numpy(y))
        f_th = train_step_fn(torch, th_model, torch.from_numpy(x), torch.from_numpy(y))
        ms_fl, ms_th = _alternate(f_fl, f_th, 3, 3 if bs < 256 else 1)
        res["flambeau"].append(ms_fl)
        res["PyTorch"].append(ms_th)
        print(f"batch {bs:4d}: flambeau {ms_fl:8.2f} ms  PyTorch {ms_th:8.2f} ms  ratio {ms_fl / ms_th:.2f}")
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for k, v in res.items():
        ax[0].loglog(sizes, v, "o-", label=k)
        ax[1].semilogx(sizes, [t / b for t, b in zip(v, sizes)], "o-", label=k)
    ax[0].set_xlabel("batch size")
    ax[0].set_ylabel("ms per training step")
    ax[1].set_xlabel("batch size")
    ax[1].set_ylabel("ms per image")
    for a in ax:
        a.legend()
        a.grid(True, which="both", alpha=0.3)
    fig.suptitle("Reseau2 (MNIST CNN) training step: flambeau vs PyTorch, same process")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--scaling", action="store_true")
    ap.add_argument("--memory", action="store_true")
    ap.add_argument("--models-only", action="store_true")
    ap.add_argument("--no-table", action="store_true", help="only the --memory / --scaling parts")
    ap.add_argument("--standalone", action="store_true",
                    help="+ each library's training steps in a process of its own")
    ap.add_argument("--no-onednn", action="store_true",
                    help="flambeau's own NumPy convolutions even when oneDNN is installed")
    ap.add_argument("--memory-child", nargs=2)
    ap.add_argument("--standalone-child", nargs=3)
    args = ap.parse_args()
    if args.memory_child:
        return _memory_child(args.memory_child[0], int(args.memory_child[1]))
    if args.no_onednn:
        flambeau.backends.mkldnn.enabled = False
        _CHILD_ARGS.append("--no-onednn")
    if args.standalone_child:
        return _standalone_child(args.standalone_child[0], args.standalone_child[1], int(args.standalone_child[2]))
    rounds, per_round = (3, 3) if args.quick else (5, 5)
    if args.no_table:
        rows = []
        args.models_only = True
    gf = sgemm_gflops()
    convs = "oneDNN" if flambeau.backends.mkldnn.enabled and flambeau.backends.mkldnn.is_available() else "NumPy"
    print(f"threads: flambeau {flambeau.get_num_threads()}, PyTorch {torch.get_num_threads()}; "
          f"NumPy sgemm 1024^2 in this run: {gf:.0f} GFLOP/s; flambeau's convolutions: {convs}\n")
    rows = [] if args.no_table else bench_models(rounds, per_round)
    if not args.models_only:
        rows += bench_layers(rounds, per_round)
    if args.standalone:
        rows += bench_standalone()
    print(f"{'case':58s} {'flambeau':>10s} {'PyTorch':>10s} {'ratio':>6s} {'GFLOP/s':>8s} {'% sgemm':>8s}")
    for name, fl, th, gflops in rows:
        extra = f" {gflops:8.0f} {100 * gflops / gf:7.0f}%" if gflops else ""
        print(f"{name:58s} {fl:8.2f}ms {th:8.2f}ms {fl / th:6.2f}{extra}")
    if args.memory:
        mem = bench_memory()
        print(f"\npeak RSS, 40 Reseau2 training steps (batch 64): flambeau {mem['flambeau']['peak_mb']:.0f} MB, "
              f"PyTorch {mem['torch']['peak_mb']:.0f} MB (ratio {mem['flambeau']['peak_mb'] / mem['torch']['peak_mb']:.2f}); "
              f"flambeau after 5 steps {mem['flambeau']['after_5_mb']:.0f} MB")
    if args.scaling:
        bench_scaling(os.path.join(HERE, "scaling.png"))


if __name__ == "__main__":
    main()
