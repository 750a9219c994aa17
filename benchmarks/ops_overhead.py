"""Per-op cost of flambeau against PyTorch, measured side by side in one process.

    python benchmarks/ops_overhead.py [--repeat 7]

Small ops on tiny tensors measure the fixed Python overhead of an op (and of recording and
running its backward); large ops measure the arithmetic itself (BLAS, NumPy ufuncs). Each case
is timed for both libraries in alternation, taking the median of ``--repeat`` rounds, and the
table prints the ratio flambeau / PyTorch (lower is better; 1.0 is parity).
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import flambeau

torch.set_num_threads(2)


def _time(fn, number):
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def _calibrate(fn, target=0.05):
    n = 1
    while _time(fn, n) * n < target:
        n *= 2
    return n


def cases():
    rng = np.random.default_rng(0)
    small_a = rng.standard_normal((4, 4)).astype(np.float32)
    small_b = rng.standard_normal((4, 4)).astype(np.float32)
    big_a = rng.standard_normal((1024, 1024)).astype(np.float32)
    big_b = rng.standard_normal((1024, 1024)).astype(np.float32)
    vec = rng.standard_normal(1_000_000).astype(np.float32)

    def make(lib):
        a = lib.from_numpy(small_a.copy())
        b = lib.from_numpy(small_b.copy())
        ag = lib.from_numpy(small_a.copy()).requires_grad_(True)
        bg = lib.from_numpy(small_b.copy()).requires_grad_(True)
        A = lib.from_numpy(big_a.copy())
        B = lib.from_numpy(big_b.copy())
        v = lib.from_numpy(vec.copy())
        w = lib.from_numpy(vec.copy())
        vg = lib.from_numpy(vec.copy()).requires_grad_(True)

        def fwd_bwd(op):
            def run():
                ag.grad = None
                op(ag, bg).sum().backward()
            return run

        return {
            "add 4x4": lambda: a + b,
            "mul 4x4": lambda: a * b,
            "matmul 4x4": lambda: a @ b,
            "sum 4x4": lambda: a.sum(),
            "add+sum+backward 4x4": fwd_bwd(lambda x, y: x + y),
            "mul+sum+backward 4x4": fwd_bwd(lambda x, y: x * y),
            "matmul+sum+backward 4x4": fwd_bwd(lambda x, y: x @ y),
            "matmul 1024^2": lambda: A @ B,
            "add 1e6": lambda: v + w,
            "mul 1e6": lambda: v * w,
            "exp 1e6": lambda: v.exp(),
            "sum 1e6": lambda: v.sum(),
            "relu+sum+backward 1e6": lambda: (setattr(vg, "grad", None), vg.relu().sum().backward()),
        }

    return make(flambeau), make(torch)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    fl, th = cases()
    rows = []
    for name in fl:
        f, t = fl[name], th[name]
        f()
        t()
        nf, nt = _calibrate(f), _calibrate(t)
        tf, tt = [], []
        for _ in range(args.repeat):  # alternate so both see the same machine state
            tf.append(_time(f, nf))
            tt.append(_time(t, nt))
        mf, mt = statistics.median(tf), statistics.median(tt)
        rows.append((name, mf, mt))
    sgemm = 2 * 1024 ** 3
    print(f"{'case':28s} {'flambeau':>12s} {'PyTorch':>12s} {'ratio':>7s}")
    for name, mf, mt in rows:
        print(f"{name:28s} {_fmt(mf):>12s} {_fmt(mt):>12s} {mf / mt:7.2f}")
        if name == "matmul 1024^2":
            print(f"{'':28s} {sgemm / mf / 1e9:9.0f} GF/s {sgemm / mt / 1e9:9.0f} GF/s")


def _fmt(s):
    return f"{s * 1e6:.1f} us" if s < 1e-3 else f"{s * 1e3:.2f} ms"


if __name__ == "__main__":
    main()
