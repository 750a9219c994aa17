"""The one helper that proves a flambeau op equal to PyTorch's.

Write the op once, as a function of the library: ``lambda lib, x, y: lib.maximum(x, y)``.
:func:`check` runs it on flambeau and on torch with the same inputs, then compares

* the outputs: values (within the stated tolerances), dtype and shape;
* the gradients of every float input, after backpropagating the same random upstream
  gradient through both.

Tolerances: float32 ``rtol=1e-5, atol=1e-6`` (values) unless a test states looser ones for an
op whose float32 rounding legitimately differs (a reduction order, a transcendental);
float64 ``rtol=1e-10, atol=1e-12``.
"""
from __future__ import annotations

import numpy as np
import torch

import flambeau

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12),
       np.float16: dict(rtol=1e-3, atol=1e-3)}


def to_torch(a, requires_grad=False):
    t = torch.from_numpy(np.array(a, copy=True))
    return t.requires_grad_(requires_grad) if requires_grad else t


def to_fl(a, requires_grad=False):
    t = flambeau.from_numpy(np.array(a, copy=True))
    return t.requires_grad_(requires_grad) if requires_grad else t


def _np(x):
    if isinstance(x, torch.Tensor):
        return x.detach().numpy()
    if isinstance(x, flambeau.Tensor):
        return x.detach().numpy()
    return np.asarray(x)


def _flatten_outputs(out):
    if isinstance(out, (tuple, list)):
        res = []
        for o in out:
            res.extend(_flatten_outputs(o))
        return res
    return [out]


def assert_close(actual, expected, rtol=None, atol=None, what="value", check_dtype=True):
    a, e = _np(actual), _np(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != torch's {e.shape}"
    if check_dtype:
        assert a.dtype == e.dtype, f"{what}: dtype {a.dtype} != torch's {e.dtype}"
    if a.dtype.kind == "f" or e.dtype.kind == "f":
        tol = TOL.get(e.dtype.type, TOL[np.float32])
        np.testing.assert_allclose(a, e, rtol=rtol if rtol is not None else tol["rtol"],
                                   atol=atol if atol is not None else tol["atol"], err_msg=what,
                                   equal_nan=True)
    else:
        np.testing.assert_array_equal(a, e, err_msg=what)


def check(fn, *inputs, grad=True, rtol=None, atol=None, grad_rtol=None, grad_atol=None, seed=0,
          check_dtype=True, noncontiguous=False):
    """Run ``fn(lib, *tensors)`` on flambeau and torch; compare outputs and input gradients.

    ``inputs`` are NumPy arrays (or Python scalars, passed through unchanged). Float arrays
    require grad when ``grad`` is True. With ``noncontiguous=True`` each array input is given
    to both libraries as a transposed (non-contiguous) view of the same values.
    """
    rng = np.random.default_rng(seed)
    fl_in, th_in = [], []
    for x in inputs:
        if isinstance(x, np.ndarray):
            rg = grad and x.dtype.kind == "f"
            if noncontiguous and x.ndim >= 2:
                base = np.ascontiguousarray(np.swapaxes(x, -1, -2))
                f = flambeau.from_numpy(base.copy()).transpose(-1, -2)
                t = torch.from_numpy(base.copy()).transpose(-1, -2)
                if rg:
                    f = f.detach().requires_grad_(False)
                    fl_leaf = flambeau.from_numpy(base.copy()).requires_grad_(True)
                    th_leaf = torch.from_numpy(base.copy()).requires_grad_(True)
                    f, t = fl_leaf.transpose(-1, -2), th_leaf.transpose(-1, -2)
                    fl_in.append((f, fl_leaf))
                    th_in.append((t, th_leaf))
                    continue
                fl_in.append((f, None))
                th_in.append((t, None))
                continue
            f, t = to_fl(x, rg), to_torch(x, rg)
            fl_in.append((f, f if rg else None))
            th_in.append((t, t if rg else None))
        else:
            fl_in.append((x, None))
            th_in.append((x, None))
    out_f = fn(flambeau, *[a for a, _ in fl_in])
    out_t = fn(torch, *[a for a, _ in th_in])
    outs_f, outs_t = _flatten_outputs(out_f), _flatten_outputs(out_t)
    assert len(outs_f) == len(outs_t), f"{len(outs_f)} outputs vs torch's {len(outs_t)}"
    for i, (of, ot) in enumerate(zip(outs_f, outs_t)):
        if isinstance(ot, torch.Tensor):
            assert isinstance(of, flambeau.Tensor), f"output {i}: expected a Tensor, got {type(of)}"
            assert_close(of, ot, rtol, atol, f"output {i}", check_dtype)
        else:
            assert of == ot or np.allclose(of, ot), f"output {i}: {of} != {ot}"
    if not grad:
        return out_f
    leaves_f = [leaf for _, leaf in fl_in if leaf is not None]
    leaves_t = [leaf for _, leaf in th_in if leaf is not None]
    if not leaves_f:
        return out_f
    diff_f = [o for o in outs_f if isinstance(o, flambeau.Tensor) and o.requires_grad]
    diff_t = [o for o in outs_t if isinstance(o, torch.Tensor) and o.requires_grad]
    assert len(diff_f) == len(diff_t), "different numbers of differentiable outputs"
    if not diff_t:
        return out_f
    gs = [rng.standard_normal(o.shape).astype(_np(o).dtype) for o in diff_t]
    torch.autograd.backward(diff_t, [torch.from_numpy(g.copy()) for g in gs])
    flambeau.autograd.backward(diff_f, [flambeau.from_numpy(g.copy()) for g in gs])
    for i, (lf, lt) in enumerate(zip(leaves_f, leaves_t)):
        if lt.grad is None:
            assert lf.grad is None or not np.any(_np(lf.grad)), f"input {i}: torch has no grad, flambeau does"
            continue
        assert lf.grad is not None, f"input {i}: no gradient (torch has one)"
        assert_close(lf.grad, lt.grad, grad_rtol if grad_rtol is not None else rtol,
                     grad_atol if grad_atol is not None else atol, f"grad of input {i}", check_dtype)
    return out_f


def gradcheck(fn, *arrays, eps=1e-6, atol=1e-5, rtol=1e-3):
    """flambeau's gradcheck of ``fn(flambeau, *tensors)`` on float64 copies of ``arrays``."""
    ins = [flambeau.from_numpy(np.array(a, dtype=np.float64)).requires_grad_(True)
           if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in arrays]
    return flambeau.autograd.gradcheck(lambda *xs: fn(flambeau, *xs), ins, eps=eps, atol=atol, rtol=rtol)


def away_from(x, points=(0.0,), margin=0.05):
    """Move values within ``margin`` of a kink (ReLU at 0, abs at 0 …) away from it, so that
    finite differences never straddle it."""
    x = np.array(x, copy=True)
    for p in points:
        near = np.abs(x - p) < margin
        x[near] = p + np.where(x[near] >= p, margin, -margin) * 2
    return x


def rand(*shape, dtype=np.float32, seed=0, low=-1.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(dtype)


def make_exp(lib):
    """A user ``autograd.Function`` computing exp that saves its output for backward, in ``lib``."""
    class Exp(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y
    return Exp
