"""Recording: while a profiler records, every autograd Function call (an op's forward) and every
backward node the engine runs is timed.

Zero cost when off: nothing on the op path checks a flag. Starting a recording installs timing
wrappers around the three entry points every op goes through -- ``Function.apply``,
``ArrayFunction.apply`` and the engine's ``_call_node`` -- and stopping puts the originals back.
Events nest per thread (a ``record_function`` range around ops, an op calling another op); each
event's *self* time is its duration minus its children's, worked out when the recording ends.
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
    """The events of one recording. While recording, an event is only timed (start, end, thread);
    which event lies inside which, and so the self times, are worked out afterwards from the
    time intervals (:meth:`finish`), as PyTorch does: ranges may then close in any order (a
    ``record_function`` around ``prof.step()``) and any thread may close them."""

    def __init__(self, record_shapes=False, profile_memory=False, with_stack=False, with_flops=False):
        self.record_shapes, self.profile_memory = record_shapes, profile_memory
        self.with_stack, self.with_flops = with_stack, with_flops
        self.events = EventList()
        self._ids = itertools.count()

    def open(self, name, args=(), user=False):
        """Start an event; returns the frame to pass to :meth:`close`."""
        ev = FunctionEvent(next(self._ids), name, threading.get_ident(), 0.0,
                           _shapes(args) if self.record_shapes else None,
                           _user_stack() if self.with_stack else None, user)
        return [ev, time.perf_counter_ns()]         # the clock starts after the bookkeeping

    def close(self, frame, out=None, fn=None, args=()):
        end = time.perf_counter_ns()
        ev, start = frame
        ev._ns = (start, end)
        ev.time_range = type(ev.time_range)(start / 1e3, end / 1e3)
        if self.profile_memory and out is not None:
            ev.self_cpu_memory_usage = _new_bytes(out, args)
        if self.with_flops and fn is not None:
            ev.flops = _flops(fn, args, out)
        self.events.append(ev)

    def finish(self):
        """Nest the events (per thread, an event's parent is the innermost event whose interval
        holds it), then self time = duration - the time its children cover, and memory totals."""
        by_thread = {}
        for ev in self.events:
            by_thread.setdefault(ev.thread, []).append(ev)
        for evs in by_thread.values():
            evs.sort(key=lambda e: (e._ns[0], -e._ns[1], e.id))
            open_ = []
            for ev in evs:
                while open_ and open_[-1]._ns[1] < ev._ns[1]:
                    open_.pop()
                ev.cpu_parent = open_[-1] if open_ else None
                ev.cpu_children = []
                if ev.cpu_parent is not None:
                    ev.cpu_parent.cpu_children.append(ev)
                open_.append(ev)
            for ev in reversed(evs):                # children before their parents
                ev.self_cpu_time_total = (ev._ns[1] - ev._ns[0] - _covered_ns(ev.cpu_children)) / 1e3
                ev.cpu_memory_usage = ev.self_cpu_memory_usage + sum(c.cpu_memory_usage for c in ev.cpu_children)
        self.events.sort(key=lambda e: (e._ns[0], e.id))
        return self.events


def _covered_ns(children):
    """The time covered by the children's intervals (ordered by start), overlaps counted once:
    ranges that close out of order (a step range and a ``record_function``) may overlap."""
    total, cur = 0, None
    for c in children:
        s, e = c._ns
        if cur is None or s > cur[1]:
            if cur is not None:
                total += cur[1] - cur[0]
            cur = [s, e]
        else:
            cur[1] = max(cur[1], e)
    return total + (cur[1] - cur[0] if cur is not None else 0)


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
    frame = rec.open(node.name(), grads)   # (input shapes: the gradients the node receives)
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


def _new_bytes(out, args):
    """Bytes of the arrays an op returned, views of its inputs not counted (they allocate nothing)."""
    if isinstance(out, (tuple, list)):
        return sum(_new_bytes(o, args) for o in out)
    arr = out._data if isinstance(out, Tensor) else out
    if not isinstance(arr, np.ndarray):
        return 0
    for a in args:
        a = a._data if isinstance(a, Tensor) else a
        if isinstance(a, np.ndarray) and np.may_share_memory(arr, a):
            return 0
    return arr.nbytes


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
