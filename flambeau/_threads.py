"""Intra-op threads: ``set_num_threads`` / ``get_num_threads`` and the pool the heavy ops share.

Like PyTorch, flambeau runs its own intra-op threads. A convolution splits its batch into
chunks (a few MiB of im2col columns each) and hands whole chunks to the threads; a large matrix
product splits its rows. Each thread then calls a *single-threaded* BLAS on its share. This is
measured faster than a multi-threaded BLAS on the whole problem: the im2col copies and the
col2im sums around the GEMMs run in parallel too, and the small GEMMs of narrow layers scale
poorly inside the BLAS. It also avoids a trap: a multi-threaded OpenBLAS leaves its workers
spinning after each call, which takes the cores from any other thread for a while.

So once flambeau computes with more than one thread, it sets NumPy's BLAS to one thread for the
whole process, through ``threadpoolctl`` (the ecosystem's standard for this; an optional extra,
included in ``flambeau[train]``). Without threadpoolctl, flambeau can only use its own threads
when the BLAS is already single-threaded (``OPENBLAS_NUM_THREADS=1``); otherwise it leaves the
parallelism to the BLAS, as before.

The split of a convolution, a batch norm or an elementwise op into pieces depends on the sizes
only, and per-chunk partial sums are added in chunk order, so their results are bit-identical
whatever the thread count. A large matrix product is split into one block of rows (or columns)
per thread; its result is bit-identical too as long as the BLAS computes each element the same
way whatever the rows around it (true of OpenBLAS, checked by tests/core/test_threads.py).
"""
from __future__ import annotations

import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_lock = threading.Lock()
_inside = threading.local()     # set while a thread runs its share of a parallel section
_state = {"n": None, "pool": None, "blas_single": None, "controller": None}


def _after_fork_in_child():
    """A forked child has the pool object but none of its threads: start afresh (a new pool on
    first use), with a lock nobody holds."""
    global _lock
    _lock = threading.Lock()
    _state["pool"] = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _controller():
    """threadpoolctl's handle on the loaded BLAS libraries, or None."""
    if _state["controller"] is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _state["controller"] = False
        else:
            _state["controller"] = ThreadpoolController().select(user_api="blas")
    return _state["controller"] or None


def _blas_threads():
    c = _controller()
    if c is not None and c.lib_controllers:
        return int(max(lib.num_threads for lib in c.lib_controllers))
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        v = os.environ.get(var, "")
        if v.isdigit() and int(v) > 0:
            return int(v)
    return None


def get_num_threads() -> int:
    """The number of threads flambeau computes with (``torch.get_num_threads``).

    By default: what the environment gives the BLAS (``OPENBLAS_NUM_THREADS``...), else the
    number of cores."""
    if _state["n"] is None:
        _state["n"] = _blas_threads() or os.cpu_count() or 1
    return _state["n"]


def set_num_threads(n) -> None:
    """Set the number of threads flambeau computes with (``torch.set_num_threads``)."""
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise RuntimeError(f"set_num_threads: expected a positive number of threads, got {n!r}")
    with _lock:
        _state["n"] = n
        if not _state["blas_single"]:
            _state["blas_single"] = None        # look again (the environment may have changed)
    if n == 1 and not _single_blas():
        warnings.warn("flambeau.set_num_threads(1) needs threadpoolctl to make the BLAS single-threaded at run "
                      "time (pip install threadpoolctl); set OPENBLAS_NUM_THREADS=1 before start-up instead.",
                      RuntimeWarning, stacklevel=2)


def _single_blas() -> bool:
    """Make the BLAS single-threaded (once); whether it is (the answer is kept)."""
    if _state["blas_single"] is None:
        c = _controller()
        if c is not None:
            c.limit(limits=1)        # kept for the process: flambeau's threads do the parallel work
            _state["blas_single"] = True
        else:
            _state["blas_single"] = _blas_threads() == 1
    return _state["blas_single"]


def workers() -> int:
    """How many threads a parallel section may use now (1: run it serially)."""
    n = get_num_threads()
    return n if n > 1 and _single_blas() else 1


def _pool():
    """The pool of helper threads: one fewer than ``get_num_threads()`` (the caller is the last)."""
    size = max(1, get_num_threads() - 1)
    with _lock:
        pool = _state["pool"]
        if pool is None or pool._max_workers != size:
            if pool is not None:
                pool.shutdown(wait=False)      # its threads finish what they run, then exit
            pool = _state["pool"] = ThreadPoolExecutor(max_workers=size, thread_name_prefix="flambeau")
        return pool


def in_parallel_section() -> bool:
    """Whether this thread is running its share of a parallel section."""
    return getattr(_inside, "flag", False)


def parallel_for(fn, count, min_items=2):
    """Call ``fn(i)`` for ``i`` in ``range(count)``, the calls shared among the threads.

    Each thread takes a contiguous run of indices; the caller's thread takes the first run.
    ``fn`` must only write to disjoint outputs (or per-index slots). Every share has finished
    when this returns or raises (the first exception is re-raised)."""
    n = workers() if count >= min_items and not in_parallel_section() else 1
    if n <= 1:   # (also inside a parallel section: a nested one runs serially, never waits on the pool)
        for i in range(count):
            fn(i)
        return
    n = min(n, count)
    bounds = [count * t // n for t in range(n + 1)]

    def run(t):
        _inside.flag = True
        try:
            for i in range(bounds[t], bounds[t + 1]):
                fn(i)
        finally:
            _inside.flag = False

    futures = []
    try:
        pool = _pool()
        for t in range(1, n):
            futures.append(pool.submit(run, t))
    except RuntimeError:          # the pool is shutting down (interpreter exit): this thread does the rest
        for t in range(len(futures) + 1, n):
            run(t)
    error = None
    try:
        run(0)
    except BaseException as e:    # noqa: B036 - re-raised below, once every share has stopped
        error = e
    for f in futures:
        try:
            f.result()
        except BaseException as e:  # noqa: B036
            error = error or e
    if error is not None:
        raise error


_BLOCK_ELEMS = 1 << 18     # elementwise work is split into blocks of at least this many elements


def worth_splitting(a) -> bool:
    """Whether array ``a`` is large enough for ``blocks`` of its first axis to be more than one
    (small arrays skip the bookkeeping: one NumPy call is cheaper)."""
    return a.ndim > 0 and a.shape[0] > 1 and a.size >= 2 * _BLOCK_ELEMS


def sum_in_order(parts, shape, dtype):
    """The sum of per-piece partial results of ``shape`` (a convolution's weight gradient per
    chunk), added in piece order whatever thread computed each (into the first: the parts are
    the caller's scratch); zeros when there is no piece (an empty batch)."""
    if not parts:
        return np.zeros(shape, dtype)
    total = parts[0]
    for p in parts[1:]:
        total += p
    return total


def blocks(n, elems_per_item, max_blocks=8):
    """A fixed partition of ``range(n)`` (rows, channels...) into slices for ``parallel_for``:
    as many blocks as there are multiples of 256K elements, at most ``max_blocks``. It depends on
    the sizes only, never on the thread count."""
    k = max(1, min(max_blocks, n, (n * elems_per_item) // _BLOCK_ELEMS))
    edges = [n * i // k for i in range(k + 1)]
    return [slice(edges[i], edges[i + 1]) for i in range(k)]
