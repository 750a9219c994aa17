"""Intra-op threads: set_num_threads/get_num_threads, and results independent of the thread count."""
import numpy as np
import pytest

import flambeau
import flambeau.nn.functional as F
from flambeau import _threads

threadpoolctl = pytest.importorskip("threadpoolctl", reason="threadpoolctl (flambeau[threads]) not installed")


@pytest.fixture
def restore_threads():
    before = flambeau.get_num_threads()
    yield
    flambeau.set_num_threads(before)


def _blas_threads():
    return {i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}


def test_set_num_threads(restore_threads):
    for n in (1, 2, 3):
        flambeau.set_num_threads(n)
        assert flambeau.get_num_threads() == n
        assert _threads.workers() == n
        assert _blas_threads() == {1}       # flambeau's threads share the work; the BLAS runs single-threaded


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2"])
def test_set_num_threads_rejects_non_positive_integers(bad):
    with pytest.raises(RuntimeError, match="expected a positive number of threads"):
        flambeau.set_num_threads(bad)


def test_parallel_for_covers_every_index_once_and_raises(restore_threads):
    flambeau.set_num_threads(3)
    seen = []
    _threads.parallel_for(seen.append, 10)
    assert sorted(seen) == list(range(10))

    def boom(i):
        if i == 7:
            raise ValueError("chunk 7")
    with pytest.raises(ValueError, match="chunk 7"):
        _threads.parallel_for(boom, 10)

    # a parallel section inside another runs serially in its thread (no waiting on a busy pool)
    flambeau.set_num_threads(2)
    inner = []
    _threads.parallel_for(lambda i: _threads.parallel_for(lambda j: inner.append((i, j)), 3), 4)
    assert sorted(inner) == [(i, j) for i in range(4) for j in range(3)]


def _run_ops(seed):
    """Forward and backward of the threaded ops on inputs large enough to be split."""
    rng = np.random.default_rng(seed)

    def t(*shape):
        return flambeau.from_numpy(rng.standard_normal(shape).astype(np.float32)).requires_grad_()
    x, w, b = t(48, 8, 20, 20), t(16, 8, 3, 3), t(16)
    xs, ws = t(48, 8, 20, 20), t(8, 8, 3, 3)          # O <= C, stride 1: grad_input as a convolution
    xt, wt = t(48, 8, 10, 10), t(8, 4, 4, 4)          # transposed convolution
    a, m, lw, lb = t(600, 300), t(300, 400), t(200, 300), t(200)
    bn_w, bn_b, rm, rv = t(8), t(8), flambeau.zeros(8), flambeau.ones(8)
    r1, r2 = t(64, 16, 32, 32), t(64, 16, 32, 32)     # a residual's size: add/sub/mul in row blocks
    outs = [r1 + r2 * r1 - r2, F.max_pool2d(F.relu(F.batch_norm(xs, rm, rv, bn_w, bn_b, training=True)), 2),
            F.max_pool2d(x, 3, stride=2, padding=1),
            F.conv2d(x, w, b, stride=2, padding=1), F.conv2d(xs, ws, padding=1),
            F.conv_transpose2d(xt, wt, stride=2, padding=1), a @ m, F.linear(a, lw, lb),
            flambeau.matmul(t(8, 256, 128), t(128, 300))]   # ~157 MFLOP: split too
    loss = sum((o * o).mean() for o in outs)
    loss.backward()
    leaves = [x, w, b, xs, ws, xt, wt, a, m, lw, lb, bn_w, bn_b, r1, r2]
    return [o.detach().numpy() for o in outs] + [v.grad.numpy() for v in leaves] + [rm.numpy(), rv.numpy()]


def test_results_are_bit_identical_for_any_thread_count(restore_threads, monkeypatch):
    from flambeau.ops import conv
    monkeypatch.setattr(flambeau.backends.mkldnn, "enabled", False)   # flambeau's own convolutions
    monkeypatch.setattr(conv, "_CHUNK_BYTES", 64 << 10)    # several batch chunks per convolution
    calls = []
    parallel_for = _threads.parallel_for
    monkeypatch.setattr(conv, "parallel_for", lambda fn, n: (calls.append(n), parallel_for(fn, n)))
    flambeau.set_num_threads(1)
    serial = _run_ops(0)
    for n in (2, 3):
        flambeau.set_num_threads(n)
        threaded = _run_ops(0)
        for s, p in zip(serial, threaded):
            assert s.dtype == p.dtype == np.float32
            np.testing.assert_array_equal(s, p)
    assert min(calls) >= 4          # every convolution pass was cut into chunks


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_gets_a_working_pool(restore_threads):
    import multiprocessing as mp
    flambeau.set_num_threads(2)
    _threads.parallel_for(lambda i: None, 4)          # the parent's pool is running
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child_conv, args=(q,))
    p.start()
    p.join(30)
    if p.is_alive():                                  # deadlocked on the parent's dead pool
        p.kill()
        p.join()
    assert p.exitcode == 0 and q.get(timeout=5) == (4, 8, 6, 6)


def _child_conv(q):
    x = flambeau.randn(64, 4, 6, 6)
    from flambeau.ops import conv
    conv._CHUNK_BYTES = 4096                          # several chunks: the pool is used
    q.put(tuple(F.conv2d(x[:4], flambeau.randn(8, 4, 3, 3), padding=1).shape))


def test_without_threadpoolctl_the_blas_keeps_its_threads(restore_threads, monkeypatch):
    """Without threadpoolctl flambeau cannot make the BLAS single-threaded: it then runs its
    parallel sections serially and leaves the parallelism to the BLAS (unless that is already
    single-threaded by the environment)."""
    monkeypatch.setitem(_threads._state, "controller", False)
    monkeypatch.setitem(_threads._state, "blas_single", None)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    flambeau.set_num_threads(2)
    assert _threads.workers() == 1
    with pytest.warns(RuntimeWarning, match="needs threadpoolctl"):
        flambeau.set_num_threads(1)
    monkeypatch.setitem(_threads._state, "blas_single", None)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    flambeau.set_num_threads(2)
    assert _threads.workers() == 2


OPTIMIZERS = [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)),
              ("SGD", dict(lr=0.1, maximize=True)),
              ("Adam", dict(lr=1e-2, weight_decay=1e-3, amsgrad=True)),
              ("AdamW", dict(lr=1e-2)),
              ("Adadelta", dict(lr=1.0, weight_decay=1e-3)),
              ("RMSprop", dict(lr=1e-2, momentum=0.9, centered=True)),
              ("Adagrad", dict(lr=1e-2, lr_decay=1e-3))]


@pytest.mark.parametrize("name,kw", OPTIMIZERS)
def test_optimizer_updates_split_by_rows_are_bit_identical_and_match_torch(restore_threads, monkeypatch, name, kw):
    """A parameter big enough for its update to be cut into row blocks (several blocks, shared by
    two threads): the same bits as one block, and PyTorch's values."""
    import torch
    from flambeau.optim import optimizer as opt_mod
    calls = []
    parallel_for = opt_mod.parallel_for
    monkeypatch.setattr(opt_mod, "parallel_for", lambda fn, n: (calls.append(n), parallel_for(fn, n)))
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((1024, 600)).astype(np.float32)
    grads = [rng.standard_normal(w0.shape).astype(np.float32) for _ in range(3)]

    def run(lib, threads):
        if lib is flambeau:
            flambeau.set_num_threads(threads)
        p = lib.nn.Parameter(lib.from_numpy(w0.copy()))
        opt = getattr(lib.optim, name)([p], **kw)
        for g in grads:
            p.grad = lib.from_numpy(g.copy())
            opt.step()
        return p.detach().numpy().copy()

    one, two = run(flambeau, 1), run(flambeau, 2)
    assert calls and min(calls) >= 2                    # the row blocks were used
    np.testing.assert_array_equal(one, two)
    np.testing.assert_allclose(two, run(torch, 1), rtol=1e-5, atol=1e-6)
