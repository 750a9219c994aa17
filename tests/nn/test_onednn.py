"""flambeau's oneDNN convolutions (``flambeau/_onednn.py``) against PyTorch and against flambeau's
own NumPy convolution; the fallbacks when oneDNN is disabled, missing or refuses a geometry.

Tolerance (float32, against PyTorch and against NumPy's im2col path): rtol 1e-4 and an atol of
1e-5 times the result's largest magnitude. A convolution gradient is a sum of thousands of
products added in another order by each implementation (and by each oneDNN version), so its
rounding error scales with the size of the terms, not with the one (possibly near-zero) result.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn.functional as F
from flambeau import _onednn
from flambeau.backends import mkldnn

needs_onednn = pytest.mark.skipif(not mkldnn.is_available(),
                                  reason="oneDNN is not installed (pip install 'flambeau[onednn]')")


@pytest.fixture
def threads():
    """``threads(n)`` sets flambeau's thread count (oneDNN runs one chunk of the batch per thread);
    the count is restored after the test."""
    before = flambeau.get_num_threads()
    yield flambeau.set_num_threads
    flambeau.set_num_threads(before)


def close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(expected).max(initial=0))))


# (input shape, weight shape, stride, padding, dilation, groups)
CASES = [
    ((8, 32, 26, 26), (64, 32, 3, 3), 1, 0, 1, 1),          # Reseau2's second convolution
    ((16, 16, 32, 32), (32, 16, 3, 3), 2, 1, 1, 1),         # a ResNet down-sampling convolution
    ((4, 3, 9, 8), (5, 3, 3, 3), 2, 0, 1, 1),               # the last input row unused (floor)
    ((2, 4, 10, 11), (6, 2, 3, 2), 2, (1, 0), (2, 1), 2),   # groups, dilation, uneven padding
    ((2, 8, 7, 7), (8, 1, 3, 3), 1, 1, 1, 8),               # depthwise
    ((3, 4, 20), (6, 4, 5), 3, 2, 2, 1),                    # conv1d
    ((2, 2, 5, 6, 7), (3, 2, 3, 3, 3), 1, 1, 1, 1),         # conv3d
]


def _run(lib, x, w, b, geom, gy=None):
    s, p, d, g = geom
    conv = {3: lib.nn.functional.conv1d, 4: lib.nn.functional.conv2d, 5: lib.nn.functional.conv3d}[x.ndim]
    xt, wt = lib.tensor(x, requires_grad=True), lib.tensor(w, requires_grad=True)
    bt = None if b is None else lib.tensor(b, requires_grad=True)
    y = conv(xt, wt, bt, s, p, d, g)
    if gy is None:
        gy = np.cos(np.arange(y.numel(), dtype=np.float64)).reshape(tuple(y.shape)).astype(np.float32)
    y.backward(lib.tensor(gy))
    return [y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy()] + ([] if b is None else [bt.grad.numpy()])


def _case(xs, ws, seed=0, bias=True):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32) if bias else None
    return x, w, b


@needs_onednn
@pytest.mark.parametrize("xs,ws,s,p,d,g", CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_onednn_matches_torch_and_numpy(xs, ws, s, p, d, g, bias, monkeypatch, threads):
    threads(2)                                   # large cases: two chunks, one per thread
    x, w, b = _case(xs, ws, bias=bias)
    monkeypatch.setattr(mkldnn, "enabled", True)
    plans, real = [], _onednn.conv_plan
    monkeypatch.setattr(_onednn, "conv_plan", lambda *a: plans.append(real(*a)) or plans[-1])
    ours = _run(flambeau, x, w, b, (s, p, d, g))
    assert len(plans) == 2 and None not in plans               # oneDNN ran forward and backward
    monkeypatch.setattr(_onednn, "conv_plan", real)
    theirs = _run(torch, x, w, b, (s, p, d, g))
    with mkldnn.flags(enabled=False):
        numpy_path = _run(flambeau, x, w, b, (s, p, d, g))
    for a, t, n in zip(ours, theirs, numpy_path):
        assert a.dtype == np.float32
        close(a, t)
        close(a, n)


@needs_onednn
def test_onednn_is_deterministic_and_leaves_inputs_alone(monkeypatch, threads):
    """Run to run bit-identical for a given thread count; across thread counts (one chunk of the
    batch per thread) the output and input gradient still are, the weight gradient's rounding
    moves with the chunks' partial sums."""
    monkeypatch.setattr(mkldnn, "enabled", True)
    x, w, b = _case((16, 16, 32, 32), (32, 16, 3, 3), seed=1)
    copies = [x.copy(), w.copy(), b.copy()]
    runs = {}
    for n in (1, 2, 3, 2):
        threads(n)
        out = _run(flambeau, x, w, b, (2, 1, 1, 1))
        if n in runs:
            for a, c in zip(out, runs[n]):
                np.testing.assert_array_equal(a, c)
        runs[n] = out
    for n in (2, 3):
        for i, (a, c) in enumerate(zip(runs[n], runs[1])):
            if i < 2:                                   # y and gx: the same bits
                np.testing.assert_array_equal(a, c)
            else:
                close(a, c)
    for a, c in zip((x, w, b), copies):
        np.testing.assert_array_equal(a, c)


@needs_onednn
def test_onednn_noncontiguous_inputs_and_partial_gradients(monkeypatch):
    monkeypatch.setattr(mkldnn, "enabled", True)
    rng = np.random.default_rng(2)
    big = rng.standard_normal((6, 8, 12, 12)).astype(np.float32)
    w = rng.standard_normal((4, 4, 3, 3)).astype(np.float32)
    for lib in (flambeau, torch):
        x = lib.tensor(big)[::2, 1::2].flip(3)                         # strided, then flipped
        wt = lib.tensor(w, requires_grad=True)
        y = lib.nn.functional.conv2d(x, wt, None, 1, 1)
        y.square().sum().backward()                                   # only the weight needs a gradient
        if lib is flambeau:
            ours = (y.detach().numpy(), wt.grad.numpy())
        else:
            theirs = (y.detach().numpy(), wt.grad.numpy())
    for a, t in zip(ours, theirs):
        close(a, t)
    # a strided bias
    bias = rng.standard_normal(8).astype(np.float32)
    ys = [lib.nn.functional.conv2d(lib.tensor(big[:2, :4]), lib.tensor(w), lib.tensor(bias)[::2]).numpy()
          for lib in (flambeau, torch)]
    close(*ys)
    # only the input and the bias need gradients: the bias gradient is NumPy's sum
    x = flambeau.tensor(big[:2], requires_grad=True)
    bt = flambeau.zeros(4, requires_grad=True)
    y = F.conv2d(x, flambeau.tensor(w[:, :4].repeat(2, 1)), bt, padding=1)
    y.sum().backward()
    xt, btt = torch.tensor(big[:2], requires_grad=True), torch.zeros(4, requires_grad=True)
    torch.nn.functional.conv2d(xt, torch.tensor(w[:, :4].repeat(2, 1)), btt, padding=1).sum().backward()
    close(x.grad.numpy(), xt.grad.numpy())
    close(bt.grad.numpy(), btt.grad.numpy())


@needs_onednn
def test_onednn_conv_layers_train_like_torch(monkeypatch):
    """Three SGD steps of a small CNN: the same parameters as PyTorch's."""
    monkeypatch.setattr(mkldnn, "enabled", True)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 3, 16, 16)).astype(np.float32)
    y = rng.integers(0, 5, 8)

    def net(lib):
        nn = lib.nn
        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2),
                             nn.ReLU(), nn.Flatten(), nn.Linear(16 * 7 * 7, 5))
    torch.manual_seed(0)
    tm, fm = net(torch), net(flambeau)
    fm.load_state_dict({k: flambeau.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    for lib, m in ((torch, tm), (flambeau, fm)):
        opt = lib.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        for _ in range(3):
            opt.zero_grad()
            lib.nn.functional.cross_entropy(m(lib.tensor(x)), lib.tensor(y)).backward()
            opt.step()
    for (k, a), (_, t) in zip(fm.state_dict().items(), tm.state_dict().items()):
        np.testing.assert_allclose(a.numpy(), t.numpy(), rtol=1e-4, atol=1e-5, err_msg=k)


@needs_onednn
def test_flags_and_disabled_backend_use_numpy(monkeypatch):
    calls = []
    real = _onednn.conv_plan
    monkeypatch.setattr(_onednn, "conv_plan", lambda *a: calls.append(a) or real(*a))
    x, w, b = _case((2, 3, 8, 8), (4, 3, 3, 3))
    monkeypatch.setattr(mkldnn, "enabled", True)
    with mkldnn.flags(enabled=False):
        assert mkldnn.enabled is False
        _run(flambeau, x, w, b, (1, 1, 1, 1))
    assert mkldnn.enabled is True and calls == []
    _run(flambeau, x, w, b, (1, 1, 1, 1))
    assert len(calls) == 2                                    # forward and backward
    _run(flambeau, x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), (1, 1, 1, 1))
    assert len(calls) == 2                                    # float64 is NumPy's


def test_without_onednn_convolutions_fall_back_to_numpy(monkeypatch):
    """oneDNN missing, or refusing a geometry: NumPy computes the same convolution."""
    x, w, b = _case((2, 3, 8, 8), (4, 3, 3, 3))
    expected = _run(torch, x, w, b, (1, 1, 1, 1))
    monkeypatch.setattr(mkldnn, "enabled", True)
    monkeypatch.setitem(_onednn._state, "lib", False)
    monkeypatch.setattr(_onednn, "_plans", {})
    assert not mkldnn.is_available()
    for a, t in zip(_run(flambeau, x, w, b, (1, 1, 1, 1)), expected):
        close(a, t)

    def refuse(*args):
        raise _onednn._OneDNNError("oneDNN: convolution forward failed (status 3)")
    monkeypatch.setitem(_onednn._state, "lib", None)
    monkeypatch.setattr(_onednn, "ConvPlan", refuse)
    for a, t in zip(_run(flambeau, x, w, b, (1, 1, 1, 1)), expected):
        close(a, t)
    assert list(_onednn._plans.values()) in ([None], [])       # the refusal is remembered


def test_onednn_api_names():
    assert isinstance(mkldnn.is_available(), bool)
    assert flambeau.backends.mkldnn is mkldnn
    assert mkldnn.enabled in (True, False)


def _child_conv(q):
    x = flambeau.randn(64, 16, 32, 32)                # large enough for a parallel region
    q.put(tuple(F.conv2d(x, flambeau.randn(16, 16, 3, 3), padding=1).shape))


@needs_onednn
@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_computes_convolutions(monkeypatch):
    """GNU OpenMP hangs a forked child in its first parallel region once the parent ran one.
    flambeau runs oneDNN on its own threads, one OpenMP thread each, so no team ever starts."""
    import multiprocessing as mp
    monkeypatch.setattr(mkldnn, "enabled", True)
    n = flambeau.get_num_threads()
    flambeau.set_num_threads(2)
    try:
        F.conv2d(flambeau.randn(64, 16, 32, 32), flambeau.randn(16, 16, 3, 3), padding=1)   # oneDNN runs a team
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        p = ctx.Process(target=_child_conv, args=(q,))
        p.start()
        p.join(60)
        if p.is_alive():
            p.kill()
            p.join()
        assert p.exitcode == 0 and q.get(timeout=5) == (64, 16, 32, 32)
    finally:
        flambeau.set_num_threads(n)


@needs_onednn
def test_onednn_buffers_too_large_to_cache_live_through_the_call(monkeypatch, threads):
    """Layout buffers the scratch cache does not keep (here: all of them) are held until the
    primitive has run; once they were freed first, and large evaluation batches read garbage."""
    from flambeau.ops import _buffers
    threads(2)
    monkeypatch.setattr(mkldnn, "enabled", True)
    monkeypatch.setattr(_buffers, "_MAX_BYTES", 0)
    monkeypatch.setattr(_buffers, "_local", __import__("threading").local())
    for seed in range(3):
        x, w, b = _case((32, 16, 24, 24), (32, 16, 3, 3), seed=seed)
        junk = [np.full(1 << 16, np.nan, np.float32) for _ in range(64)]   # reuses freed memory
        ours = _run(flambeau, x, w, b, (1, 1, 1, 1))
        del junk
        for a, t in zip(ours, _run(torch, x, w, b, (1, 1, 1, 1))):
            close(a, t)


# (input shape, weight shape, stride, padding, output_padding, groups, dilation)
TRANSPOSED = [
    ((16, 100, 1, 1), (100, 64, 4, 4), 1, 0, 0, 1, 1),      # a DCGAN generator's first layer
    ((4, 8, 5, 5), (8, 3, 4, 4), 2, 1, 0, 1, 1),
    ((2, 6, 5, 5), (6, 2, 3, 3), 2, 0, 1, 2, 1),            # output padding beyond the padding
    ((2, 4, 4, 4), (4, 2, 3, 3), 2, 0, 1, 2, 2),            # groups and dilation
    ((2, 3, 7), (3, 4, 5), 3, 1, 2, 1, 1),                  # 1-d
]


@needs_onednn
@pytest.mark.parametrize("xs,ws,s,p,op,g,d", TRANSPOSED)
def test_onednn_transposed_convolution_matches_torch_and_numpy(xs, ws, s, p, op, g, d, monkeypatch, threads):
    threads(2)
    x, w, _ = _case(xs, ws, bias=False)
    b = np.random.default_rng(5).standard_normal(ws[1] * g).astype(np.float32)

    def run(lib):
        f = lib.nn.functional.conv_transpose1d if x.ndim == 3 else lib.nn.functional.conv_transpose2d
        xt, wt, bt = (lib.tensor(a, requires_grad=True) for a in (x, w, b))
        y = f(xt, wt, bt, s, p, op, g, d)
        y.backward(lib.tensor(np.sin(np.arange(y.numel(), dtype=np.float64)).reshape(tuple(y.shape)).astype(np.float32)))
        return [y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()]
    monkeypatch.setattr(mkldnn, "enabled", True)
    plans, real = [], _onednn.conv_plan
    monkeypatch.setattr(_onednn, "conv_plan", lambda *a: plans.append(real(*a)) or plans[-1])
    ours = run(flambeau)
    assert len(plans) == 2 and None not in plans
    monkeypatch.setattr(_onednn, "conv_plan", real)
    theirs = run(torch)
    with mkldnn.flags(enabled=False):
        numpy_path = run(flambeau)
    for a, t, n in zip(ours, theirs, numpy_path):
        close(a, t)
        close(a, n)


@needs_onednn
def test_onednn_plan_cache_is_bounded(monkeypatch):
    """New input sizes make new plans; past the cap the oldest go (and come back when needed)."""
    monkeypatch.setattr(mkldnn, "enabled", True)
    monkeypatch.setattr(_onednn, "_plans", {})
    monkeypatch.setattr(_onednn, "_MAX_PLANS", 2)
    w = _case((1, 3, 1, 1), (4, 3, 3, 3))[1]
    for n in (2, 3, 4, 2):
        x = _case((n, 3, 9, 9), (4, 3, 3, 3), seed=n)[0]
        close(_run(flambeau, x, w, None, (1, 1, 1, 1))[0], _run(torch, x, w, None, (1, 1, 1, 1))[0])
        assert len(_onednn._plans) <= 2
    plan = next(iter(_onednn._plans.values()))
    name = _onednn.impl_name(plan._chunk(plan.x_shape[0]).forward_prims(False)[0])
    assert isinstance(name, str) and name != "?"      # e.g. jit:avx512_core, or a gemm: fallback


@needs_onednn
@pytest.mark.parametrize("transposed", [False, True])
def test_backward_after_disabling_onednn_uses_numpy(transposed, monkeypatch):
    """A forward on oneDNN, then a backward with oneDNN switched off: the NumPy backward makes the
    im2col geometry the oneDNN forward skipped."""
    x, w, b = _case((4, 3, 9, 9), (6, 3, 3, 3))
    if transposed:                                  # (Cin, Cout, k): 6 -> 3 channels
        x, b = _case((4, 6, 9, 9), (6, 3, 3, 3))[0], b[:3].copy()

    def run(lib, between=lambda: None):
        f = lib.nn.functional.conv_transpose2d if transposed else lib.nn.functional.conv2d
        xt, wt, bt = (lib.tensor(a, requires_grad=True) for a in (x, w, b))
        y = f(xt, wt, bt, 2, 1)
        between()
        y.backward(lib.tensor(np.cos(np.arange(y.numel(), dtype=np.float64)).reshape(tuple(y.shape)).astype(np.float32)))
        return [y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()]
    monkeypatch.setattr(mkldnn, "enabled", True)
    ours = run(flambeau, lambda: monkeypatch.setattr(mkldnn, "enabled", False))
    for a, t in zip(ours, run(torch)):
        close(a, t)
