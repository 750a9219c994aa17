"""batch_norm, group_norm, instance_norm, local_response_norm and their layers against PyTorch.

Tolerances: float64 the helper's defaults; float32 rtol 1e-4 / atol 1e-5 (statistics are sums
over the batch, reduced in another order than PyTorch's kernels, then divided by a std).
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
from helpers import check, gradcheck, rand

import flambeau
from flambeau.nn.modules.batchnorm import (
    BatchNorm1d,
    BatchNorm2d,
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    LocalResponseNorm,
)

# ``flambeau.ops.norm`` is also the name of the vector-norm op: import the module by path
N = importlib.import_module("flambeau.ops.norm")
F32 = dict(rtol=1e-4, atol=1e-5)


def F(lib):
    return N if lib is flambeau else torch.nn.functional


def _stats(lib, C, dtype, seed=3):
    rm = rand(C, dtype=dtype, seed=seed)
    rv = rand(C, dtype=dtype, seed=seed + 1) + 2
    return lib.from_numpy(rm), lib.from_numpy(rv)


@pytest.mark.parametrize("shape", [(5, 3), (3, 4, 5), (2, 3, 4, 5), (1, 2, 3, 3)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_matches_torch(shape, training, dtype):
    C = shape[1]
    x = rand(*shape, dtype=dtype)
    w = rand(C, dtype=dtype, seed=1) + 1.5
    b = rand(C, dtype=dtype, seed=2)
    tol = F32 if dtype == np.float32 else {}
    check(lambda lib, x, w, b: F(lib).batch_norm(x, *_stats(lib, C, dtype), w, b, training=training), x, w, b,
          **tol)
    check(lambda lib, x: F(lib).batch_norm(x, *_stats(lib, C, dtype), training=training), x, **tol)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("needs", ["x", "w", "xw"])
def test_batch_norm_in_sample_chunks_matches_torch(training, needs):
    # 64 samples of 8 x 32 x 32: the threads share chunks of samples, and the per-channel sums
    # are partial sums added across chunks. An offset of 3 standard deviations checks that the
    # variance and the gradient are taken around the mean (no cancellation in float32).
    shape, C = (64, 8, 32, 32), 8
    assert len(N.blocks(shape[0], int(np.prod(shape[1:])))) > 1
    x = rand(*shape, seed=5) * 2 + 3
    w = rand(C, seed=1) + 1.5
    b = rand(C, seed=2)
    if needs == "x":
        check(lambda lib, x: F(lib).batch_norm(x, *_stats(lib, C, np.float32), lib.from_numpy(w),
                                               lib.from_numpy(b), training=training), x, **F32)
    elif needs == "w":
        check(lambda lib, w, b: F(lib).batch_norm(lib.from_numpy(x), *_stats(lib, C, np.float32), w, b,
                                                  training=training), w, b, **F32)
    else:
        check(lambda lib, x, w, b: F(lib).batch_norm(x, *_stats(lib, C, np.float32), w, b, training=training),
              x, w, b, **F32)


def test_batch_norm_training_without_running_stats():
    check(lambda lib, x, w: F(lib).batch_norm(x, None, None, w, None, training=True),
          rand(4, 3, 2, 2, dtype=np.float64), rand(3, dtype=np.float64, seed=1))


def test_batch_norm_updates_running_stats_in_place_like_torch():
    x = rand(6, 3, 4, 4, dtype=np.float32)
    rmf, rvf = _stats(flambeau, 3, np.float32)
    rmt, rvt = _stats(torch, 3, np.float32)
    v0 = rmf._version[0]
    N.batch_norm(flambeau.from_numpy(x), rmf, rvf, training=True, momentum=0.3)
    torch.nn.functional.batch_norm(torch.from_numpy(x), rmt, rvt, training=True, momentum=0.3)
    np.testing.assert_allclose(rmf.numpy(), rmt.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rvf.numpy(), rvt.numpy(), rtol=1e-5, atol=1e-6)   # unbiased variance
    assert rmf.dtype == flambeau.float32 and rmf._version[0] > v0


def test_batch_norm_float32_stays_float32_and_grad_fn_name():
    x = flambeau.randn(4, 3, 5, 5, requires_grad=True)
    y = N.batch_norm(x, None, None, training=True)
    assert y.dtype == flambeau.float32 and y.grad_fn.name() == "NativeBatchNormBackward0"
    y.sum().backward()
    assert x.grad.dtype == flambeau.float32


@pytest.mark.parametrize("G", [1, 2, 3, 6])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_group_norm_matches_torch(G, dtype):
    x = rand(2, 6, 3, 5, dtype=dtype)
    w, b = rand(6, dtype=dtype, seed=5) + 1, rand(6, dtype=dtype, seed=6)
    tol = F32 if dtype == np.float32 else {}
    check(lambda lib, x, w, b: F(lib).group_norm(x, G, w, b), x, w, b, **tol)
    check(lambda lib, x: F(lib).group_norm(x, G), x[:, :, :, 0], **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_instance_norm_matches_torch(dtype):
    x = rand(3, 4, 5, 6, dtype=dtype)
    w, b = rand(4, dtype=dtype, seed=1) + 1, rand(4, dtype=dtype, seed=2)
    tol = F32 if dtype == np.float32 else {}
    check(lambda lib, x, w, b: F(lib).instance_norm(x, weight=w, bias=b), x, w, b, **tol)
    check(lambda lib, x: F(lib).instance_norm(x, *_stats(lib, 4, dtype), use_input_stats=False), x, **tol)
    rmf, rvf = _stats(flambeau, 4, dtype)
    rmt, rvt = _stats(torch, 4, dtype)
    N.instance_norm(flambeau.from_numpy(x), rmf, rvf, momentum=0.2)
    torch.nn.functional.instance_norm(torch.from_numpy(x), rmt, rvt, momentum=0.2)
    np.testing.assert_allclose(rmf.numpy(), rmt.numpy(), **tol)
    np.testing.assert_allclose(rvf.numpy(), rvt.numpy(), **tol)


@pytest.mark.parametrize("size", [2, 3, 5])
def test_local_response_norm_matches_torch(size):
    check(lambda lib, x: F(lib).local_response_norm(x, size, alpha=0.1, beta=0.6, k=1.5),
          rand(2, 6, 3, 4, dtype=np.float64))
    check(lambda lib, x: F(lib).local_response_norm(x, size), rand(2, 6, 5, dtype=np.float64))


def test_gradcheck_norms():
    assert gradcheck(lambda lib, x, w, b: N.batch_norm(x, None, None, w, b, training=True), rand(3, 2, 2, 2),
                     rand(2, seed=1), rand(2, seed=2))
    rm, rv = flambeau.zeros(2, dtype=flambeau.float64), flambeau.ones(2, dtype=flambeau.float64) * 2
    assert gradcheck(lambda lib, x, w: N.batch_norm(x, rm, rv, w, None, training=False), rand(3, 2, 2),
                     rand(2, seed=1))
    assert gradcheck(lambda lib, x, w, b: N.group_norm(x, 2, w, b), rand(2, 4, 3), rand(4, seed=1), rand(4, seed=2))
    assert gradcheck(lambda lib, x: N.instance_norm(x), rand(2, 2, 4))
    assert gradcheck(lambda lib, x: N.local_response_norm(x, 3), rand(1, 4, 2, 2) + 0.5)


def test_norm_error_messages_match_torch():
    x = flambeau.zeros(64, 3, 28, 28)
    with pytest.raises(RuntimeError, match="running_mean should contain 3 elements not 4"):
        N.batch_norm(x, flambeau.zeros(4), flambeau.ones(4), training=True)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        N.batch_norm(flambeau.zeros(1, 3), flambeau.zeros(3), flambeau.ones(3), training=True)
    with pytest.raises(RuntimeError) as e:
        N.group_norm(x, 2)
    assert str(e.value) == ("Expected number of channels in input to be divisible by num_groups, but got input of "
                            "shape [64, 3, 28, 28] and num_groups=2")
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        BatchNorm2d(4)(flambeau.zeros(2, 4, 3))
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        BatchNorm1d(4)(flambeau.zeros(2, 4, 3, 3))
    with pytest.raises(ValueError, match="num_channels must be divisible by num_groups"):
        GroupNorm(2, 3)


# ---------------------------------------------------------------------------- layers
def _pair(fl_cls, th_cls, *args, **kwargs):
    fl, th = fl_cls(*args, **kwargs), th_cls(*args, **kwargs)
    assert repr(fl) == repr(th)
    assert list(fl.state_dict()) == list(th.state_dict())
    for (k, a), (_, b) in zip(fl.state_dict().items(), th.state_dict().items()):
        assert tuple(a.shape) == tuple(b.shape), k
        assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1], k
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy(), err_msg=k)
    return fl, th


def _set_affine(fl, th, seed=0):
    rng = np.random.default_rng(seed)
    for (n, p), (m, q) in zip(fl.named_parameters(), th.named_parameters()):
        v = rng.uniform(0.5, 1.5, tuple(p.shape)).astype(np.float32)
        p.data = flambeau.from_numpy(v.copy())
        with torch.no_grad():
            q.copy_(torch.from_numpy(v.copy()))


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("cls,shape", [("BatchNorm2d", (4, 3, 5, 5)), ("BatchNorm1d", (6, 3)),
                                       ("BatchNorm1d", (4, 3, 7))])
def test_batchnorm_layer_running_stat_trajectory_matches_torch(cls, shape, momentum):
    fl, th = _pair({"BatchNorm2d": BatchNorm2d, "BatchNorm1d": BatchNorm1d}[cls], getattr(torch.nn, cls), 3,
                   momentum=momentum)
    _set_affine(fl, th)
    for step in range(4):                                    # several training steps
        x = rand(*shape, seed=10 + step) * (step + 1) + step
        check(lambda lib, x: (fl if lib is flambeau else th)(x), x, **F32)
    for k in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(fl, k).numpy(), getattr(th, k).numpy(), rtol=1e-5, atol=1e-5)
    assert int(fl.num_batches_tracked.item()) == int(th.num_batches_tracked.item()) == 4
    assert fl.num_batches_tracked.dtype == flambeau.int64
    fl.eval()
    th.eval()
    check(lambda lib, x: (fl if lib is flambeau else th)(x), rand(*shape, seed=99), **F32)


@pytest.mark.parametrize("kwargs", [dict(affine=False), dict(track_running_stats=False), dict(bias=False),
                                    dict(eps=1e-3, momentum=0.3)])
def test_batchnorm_layer_options(kwargs):
    fl, th = _pair(BatchNorm2d, torch.nn.BatchNorm2d, 3, **kwargs)
    for train in (True, False):
        fl.train(train)
        th.train(train)
        check(lambda lib, x: (fl if lib is flambeau else th)(x), rand(4, 3, 3, 3, seed=int(train)), **F32)


def test_instance_and_group_norm_layers():
    for args, kwargs in (((3,), {}), ((3,), dict(affine=True)), ((3,), dict(track_running_stats=True))):
        fl, th = _pair(InstanceNorm2d, torch.nn.InstanceNorm2d, *args, **kwargs)
        check(lambda lib, x: (fl if lib is flambeau else th)(x), rand(2, 3, 4, 5), **F32)
        check(lambda lib, x: (fl if lib is flambeau else th)(x), rand(3, 4, 5), **F32)     # unbatched
        fl.eval()
        th.eval()
        check(lambda lib, x: (fl if lib is flambeau else th)(x), rand(2, 3, 4, 5, seed=1), **F32)
    fl, th = _pair(InstanceNorm1d, torch.nn.InstanceNorm1d, 3, affine=True)
    check(lambda lib, x: (fl if lib is flambeau else th)(x), rand(2, 3, 6), **F32)
    for kwargs in ({}, dict(affine=False), dict(bias=False, eps=1e-3)):
        fl, th = _pair(GroupNorm, torch.nn.GroupNorm, 2, 4, **kwargs)
        check(lambda lib, x: (fl if lib is flambeau else th)(x), rand(2, 4, 3, 3), **F32)
    fl, th = _pair(LocalResponseNorm, torch.nn.LocalResponseNorm, 3)
    check(lambda lib, x: (fl if lib is flambeau else th)(x), rand(2, 4, 3, 3), **F32)


def test_batchnorm_load_state_dict_from_torch():
    th = torch.nn.BatchNorm2d(3)
    th(torch.randn(4, 3, 2, 2))
    fl = BatchNorm2d(3)
    fl.load_state_dict({k: flambeau.from_numpy(v.numpy().copy()) for k, v in th.state_dict().items()})
    th.eval()
    fl.eval()
    check(lambda lib, x: (fl if lib is flambeau else th)(x), rand(2, 3, 2, 2), **F32)
