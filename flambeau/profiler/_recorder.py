"""Recording: while a profiler records, every autograd Function call (an op's forward) and every
backward node the engine runs is timed.

Zero cost when off: nothing on the op path checks a flag. Starting a recording installs timing
wrappers around the three entry points every op goes through -- ``Function.apply``,
``ArrayFunction.apply`` and the engine's ``_call_node`` -- and stopping puts the originals back.
Events nest per thread (a ``record_function`` range around ops, an op calling another op), so
each event's *self* time is its duration minus its children's.
"""
from __future__ import annotations

import itertools
import os
import sys
import threading
import time

import numpy as np

from ..autograd import engine
from ..autograd.function import ArrayFunction, Function
from .._tensor import Tensor
from ._events import EventList, FunctionEvent

active = None   # the Recorder of the profile now recording, or None

_ORIGINALS = {"Function.apply": Function.__dict__["apply"],
              "ArrayFunction.apply": ArrayFunction.__dict__["apply"],
              "engine._call_node": engine._call_node}
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class Recorder:
    """The events of one recording, and each thread's stack of the events still open."""

    def __init__(self, record_shapes=False, profile_memory=False, with_stack=False, with_flops=False):
        self.record_shapes, self.profile_memory = record_shapes, profile_memory
        self.with_stack, self.with_flops = with_stack, with_flops
        self.events = EventList()
        self._ids = itertools.count()
        self._local = threading.local()

    def open(self, name, args=(), user=False):
        """Start an event; returns the frame to pass to :meth:`close`."""
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        ev = FunctionEvent(next(self._ids), name, threading.get_ident(), 0.0,
                           _shapes(args) if self.record_shapes else None,
                           _user_stack() if self.with_stack else None, user)
        if stack:
            ev.cpu_parent = stack[-1][0]
            stack[-1][0].cpu_children.append(ev)
        frame = [ev, 0.0, 0]              # the event, its children's time and memory
        stack.append(frame)
        frame.append(time.perf_counter_ns())
        return frame

    def close(self, frame, out=None, fn=None, args=()):
        end = time.perf_counter_ns()
        ev, child_time, child_mem, start = frame
        stack = self._local.stack
        stack.pop()
        ev.time_range = type(ev.time_range)(start / 1e3, end / 1e3)
        dur = (end - start) / 1e3
        ev.self_cpu_time_total = dur - child_time
        if self.profile_memory and out is not None:
            ev.self_cpu_memory_usage = _nbytes(out)
        ev.cpu_memory_usage = ev.self_cpu_memory_usage + child_mem
        if self.with_flops and fn is not None:
            ev.flops = _flops(fn, args, out)
        if stack:
            stack[-1][1] += dur
            stack[-1][2] += ev.cpu_memory_usage
        self.events.append(ev)


def start(rec):
    """Make ``rec`` the recording one and install the timing wrappers."""
    global active
    if active is not None:
        raise RuntimeError("flambeau.profiler: a profiler is already recording (profilers do not nest; "
                           "use record_function to label parts of one recording)")
    active = rec
    Function.apply = _timed_apply(_ORIGINALS["Function.apply"].__func__)
    ArrayFunction.apply = _timed_apply(_ORIGINALS["ArrayFunction.apply"].__func__)
    engine._call_node = _timed_call_node


def stop(rec):
    """Put the original entry points back."""
    global active
    if active is not rec:
        return
    Function.apply = _ORIGINALS["Function.apply"]
    ArrayFunction.apply = _ORIGINALS["ArrayFunction.apply"]
    engine._call_node = _ORIGINALS["engine._call_node"]
    active = None


def _timed_apply(apply):
    def timed(cls, *args, **kwargs):
        rec = active
        if rec is None:      # a call that began before stop() put the original back
            return apply(cls, *args, **kwargs)
        frame = rec.open(cls.__name__, args)
        out = None
        try:
            out = apply(cls, *args, **kwargs)
            return out
        finally:
            rec.close(frame, out, cls, args)
    return classmethod(timed)


def _timed_call_node(node, grads):
    rec = active
    call = _ORIGINALS["engine._call_node"]
    if rec is None:
        return call(node, grads)
    frame = rec.open(node.name(), grads)
    out = None
    try:
        out = call(node, grads)
        return out
    finally:
        rec.close(frame, out)


def _shapes(args):
    """Input shapes, PyTorch's way: a list per argument, ``[]`` for a non-tensor."""
    res = []
    for a in args:
        if isinstance(a, Tensor):
            res.append(list(a._data.shape))
        elif isinstance(a, np.ndarray):
            res.append(list(a.shape))
        else:
            res.append([])
    return res


def _nbytes(out):
    if isinstance(out, Tensor):
        return out._data.nbytes
    if isinstance(out, np.ndarray):
        return out.nbytes
    if isinstance(out, (tuple, list)):
        return sum(_nbytes(o) for o in out)
    return 0


def _user_stack(limit=8):
    """``file(line): function`` of the innermost frames outside flambeau, innermost first."""
    res = []
    f = sys._getframe(2)
    while f is not None and len(res) < limit:
        name = f.f_code.co_filename
        if not os.path.abspath(name).startswith(_PACKAGE):
            res.append(f"{name}({f.f_lineno}): {f.f_code.co_name}")
        f = f.f_back
    return res


def _flops(fn, args, out):
    """Floating-point operations of the contractions (2 per multiply-add), as PyTorch counts
    them with ``with_flops``: matmul/linear and convolution forwards; 0 for other ops."""
    name = fn.__name__
    shapes = [a._data.shape if isinstance(a, Tensor) else None for a in args]
    if name in ("Matmul", "Linear") and shapes and shapes[0] is not None and shapes[1] is not None:
        k = shapes[0][-1]
        n_out = int(np.prod(out._data.shape)) if isinstance(out, Tensor) else 0
        return 2 * n_out * k
    if name == "ConvNd" and shapes[0] is not None and shapes[1] is not None and isinstance(out, Tensor):
        w = shapes[1]
        return 2 * int(np.prod(out._data.shape)) * int(np.prod(w[1:]))
    return 0
