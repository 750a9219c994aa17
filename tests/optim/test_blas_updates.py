"""The BLAS's one-pass updates (flambeau/_blas.py: axpy, axpby) behind the optimizers' large
updates: bitwise PyTorch's SGD where they run, NumPy's values (within one rounding) where not."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import flambeau
from flambeau import _blas

SHAPE = (256, 784)          # above _blas.MIN_SIZE: the fused path


def _numpy_blas_is_bundled_openblas():
    cfg = getattr(np, "__config__", None)
    try:
        return "openblas" in cfg.CONFIG["Build Dependencies"]["blas"]["name"]
    except (AttributeError, KeyError, TypeError):
        return False


def test_available_with_numpys_own_openblas():
    pytest.importorskip("threadpoolctl")
    if not _numpy_blas_is_bundled_openblas():
        pytest.skip("NumPy was built against another BLAS: the updates use NumPy (tested below)")
    assert _blas.available()


def _sgd_run(lib, dtype, kw, steps=4):
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(SHAPE).astype(dtype)
    p = lib.nn.Parameter(lib.from_numpy(w0))
    opt = lib.optim.SGD([p], **kw)
    for _ in range(steps):
        p.grad = lib.from_numpy(rng.standard_normal(SHAPE).astype(dtype))
        opt.step()
    buf = opt.state[p].get("momentum_buffer")
    return p.detach().numpy().copy(), None if buf is None else buf.numpy().copy()


SGD_OPTIONS = [dict(lr=0.01), dict(lr=0.01, momentum=0.9), dict(lr=0.05, momentum=0.5, dampening=0.3)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", SGD_OPTIONS, ids=["plain", "momentum", "dampening"])
def test_sgd_is_bitwise_pytorchs_through_the_blas(kw, dtype):
    if not _blas.available():
        pytest.skip("no BLAS updates here (no threadpoolctl, or a BLAS other than NumPy's OpenBLAS)")
    ours, theirs = _sgd_run(flambeau, dtype, kw), _sgd_run(torch, dtype, kw)
    np.testing.assert_array_equal(ours[0], theirs[0])
    if ours[1] is not None:
        np.testing.assert_array_equal(ours[1], theirs[1])


@pytest.mark.parametrize("kw", SGD_OPTIONS, ids=["plain", "momentum", "dampening"])
def test_without_the_blas_numpy_gives_the_same_values(kw, monkeypatch):
    fused = _sgd_run(flambeau, np.float32, kw)
    monkeypatch.setattr(_blas, "_fns", {})
    assert not _blas.available()
    plain = _sgd_run(flambeau, np.float32, kw)
    # one rounding against two per update: the parameters agree to float32's last bits
    np.testing.assert_allclose(plain[0], fused[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(plain[0], _sgd_run(torch, np.float32, kw)[0], rtol=1e-6, atol=1e-7)


def test_axpy_and_axpby_refuse_what_they_cannot_take():
    if not _blas.available():
        pytest.skip("no BLAS updates here")
    n = _blas.MIN_SIZE
    y, x = np.ones(n, np.float32), np.full(n, 2.0, np.float32)
    assert _blas.axpy_(y, 0.5, x) and np.all(y == 2.0)
    assert _blas.axpby_(y, 3.0, 0.5, x) and np.all(y == 7.0)
    small = np.ones(n - 1, np.float32)
    assert not _blas.axpy_(small, 0.5, small.copy())                    # below MIN_SIZE: NumPy's job
    assert not _blas.axpy_(y, 0.5, x.astype(np.float64))                # mixed dtypes
    assert not _blas.axpy_(y, 0.5, np.ones(2 * n, np.float32)[::2])     # a strided operand
    assert not _blas.axpy_(np.ones(n, np.int64), 1, np.ones(n, np.int64))
    frozen = np.ones(n, np.float32)
    frozen.flags.writeable = False
    assert not _blas.axpy_(frozen, 0.5, x)
    assert np.all(y == 7.0) and np.all(frozen == 1.0)                   # nothing written by a refusal
