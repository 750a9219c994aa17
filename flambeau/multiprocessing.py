"""``flambeau.multiprocessing`` (``torch.multiprocessing``): Python's :mod:`multiprocessing` API.

flambeau tensors live in ordinary NumPy memory on the CPU, so the standard library's processes,
queues, pools and start methods work with them as they are: ``Process``, ``Queue``, ``Pool``,
``set_start_method``, ``get_context``, ``cpu_count`` … are Python's own objects, re-exported here
so that ``import torch.multiprocessing as mp`` programs run unchanged.

Data sent to another process (``Process`` arguments under the ``spawn`` and ``forkserver`` start
methods, anything put on a ``Queue`` or ``Pipe`` or passed to a ``Pool``) is serialised by Python's
multiprocessing machinery with the standard library's pickle protocol. flambeau tensors refuse to
be pickled (flambeau's own files, ``flambeau.save``/``load``, are safetensors): send ``t.numpy()``,
a NumPy array, and rebuild the tensor on the other side with ``flambeau.from_numpy``. Under the
``fork`` start method a ``Process`` inherits its arguments, tensors included, without any
serialisation. Unlike PyTorch, flambeau does not move tensors into shared memory: what a child
receives is a copy, and its in-place changes are not seen by its parent; send results back through
a ``Queue`` or ``Pipe``, or share a buffer with ``multiprocessing.shared_memory`` and wrap it with
``flambeau.from_numpy``.
"""
from __future__ import annotations

import multiprocessing as _mp
from multiprocessing import (  # noqa: F401
    Array, Barrier, BoundedSemaphore, Condition, Event, JoinableQueue, Lock, Manager, Pipe, Pool, Process,
    Queue, RLock, Semaphore, SimpleQueue, Value, active_children, current_process, parent_process,
    cpu_count, freeze_support, get_all_start_methods, get_context, get_start_method, set_start_method,
    AuthenticationError, BufferTooShort, ProcessError, TimeoutError,
)

__all__ = [
    "Array", "Barrier", "BoundedSemaphore", "Condition", "Event", "JoinableQueue", "Lock", "Manager", "Pipe",
    "Pool", "Process", "Queue", "RLock", "Semaphore", "SimpleQueue", "Value", "active_children",
    "current_process", "parent_process", "cpu_count", "freeze_support", "get_all_start_methods",
    "get_context", "get_start_method", "set_start_method", "AuthenticationError", "BufferTooShort",
    "ProcessError", "TimeoutError", "get_sharing_strategy", "set_sharing_strategy",
    "get_all_sharing_strategies", "spawn", "ProcessContext", "ProcessRaisedException", "ProcessExitedException",
]

_SHARING_STRATEGIES = {"file_system"}
_sharing_strategy = "file_system"


def get_all_sharing_strategies():
    """The tensor-sharing strategies flambeau knows: tensors travel as copies of their arrays."""
    return set(_SHARING_STRATEGIES)


def get_sharing_strategy():
    return _sharing_strategy


def set_sharing_strategy(new_strategy):
    """Accepts PyTorch's ``'file_system'`` and ``'file_descriptor'`` (both mean "copy through the
    multiprocessing channel" in flambeau); anything else raises ValueError."""
    global _sharing_strategy
    if new_strategy not in ("file_system", "file_descriptor"):
        raise ValueError(f"unknown sharing strategy {new_strategy!r}: choose 'file_system' or 'file_descriptor'")
    _sharing_strategy = "file_system"


class ProcessException(Exception):
    def __init__(self, msg, error_index, pid):
        super().__init__(msg)
        self.msg = msg
        self.error_index = error_index
        self.pid = pid


class ProcessRaisedException(ProcessException):
    """A process started by :func:`spawn` raised an exception (its traceback is in the message)."""


class ProcessExitedException(ProcessException):
    """A process started by :func:`spawn` exited with a non-zero code."""

    def __init__(self, msg, error_index, pid, exit_code):
        super().__init__(msg, error_index, pid)
        self.exit_code = exit_code


def _wrap(fn, i, args, error_queue):
    import traceback
    try:
        fn(i, *args)
    except KeyboardInterrupt:
        pass
    except Exception:
        error_queue.put(traceback.format_exc())
        raise SystemExit(1)


class ProcessContext:
    """The processes started by :func:`spawn`; ``join()`` waits for them and re-raises a failure."""

    def __init__(self, processes, error_queues):
        self.processes = processes
        self.error_queues = error_queues

    def pids(self):
        return [p.pid for p in self.processes]

    def join(self, timeout=None):
        """Wait for every process; True when all finished. The first failure terminates the others
        and raises ProcessRaisedException (with the child's traceback) or ProcessExitedException."""
        for i, p in enumerate(self.processes):
            p.join(timeout)
            if p.exitcode is None:
                return False
            if p.exitcode != 0:
                for other in self.processes:
                    if other.is_alive():
                        other.terminate()
                    other.join()
                q = self.error_queues[i]
                if not q.empty():
                    tb = q.get()
                    raise ProcessRaisedException(f"\n\n-- Process {i} terminated with the following error:\n{tb}",
                                                 i, p.pid)
                raise ProcessExitedException(f"process {i} terminated with exit code {p.exitcode}", i, p.pid,
                                             p.exitcode)
        return True


def start_processes(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    ctx = _mp.get_context(start_method)
    processes, error_queues = [], []
    for i in range(nprocs):
        q = ctx.SimpleQueue()
        p = ctx.Process(target=_wrap, args=(fn, i, tuple(args), q), daemon=daemon)
        p.start()
        processes.append(p)
        error_queues.append(q)
    context = ProcessContext(processes, error_queues)
    if not join:
        return context
    while not context.join():
        pass
    return None


def spawn(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """``torch.multiprocessing.spawn``: run ``fn(i, *args)`` in ``nprocs`` new processes."""
    return start_processes(fn, args, nprocs, join, daemon, start_method)
