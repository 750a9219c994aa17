"""What the profiler records, and its summaries (``torch.autograd.profiler_util``'s names).

* :class:`FunctionEvent`: one timed call (an op's forward, a backward node, a
  ``record_function`` range), with its *self* time: its duration minus the time spent in the
  events nested inside it on the same thread.
* :class:`FunctionEventAvg`: the calls of one name (and, if asked, input shapes), summed.
* :class:`EventList`: a list of either, with ``table()``, ``key_averages()`` and
  ``export_chrome_trace()``.

Times are microseconds; memory is bytes (of the arrays an op returned).
"""
from __future__ import annotations

import gzip
import json
import os
from collections import namedtuple

from .._atomic import write_bytes

__all__ = ["FunctionEvent", "FunctionEventAvg", "EventList", "Interval"]

Interval = namedtuple("Interval", ["start", "end"])
Interval.elapsed_us = lambda self: self.end - self.start

# sort keys that exist on a GPU build; here there is no device time, so they read as zero
_DEVICE_KEYS = {"cuda_time_total", "self_cuda_time_total", "cuda_time", "device_time_total",
                "self_device_time_total", "device_time", "xpu_time_total", "self_xpu_time_total",
                "cuda_memory_usage", "self_cuda_memory_usage", "device_memory_usage",
                "self_device_memory_usage"}
_SORT_KEYS = ("cpu_time_total", "self_cpu_time_total", "cpu_time", "count", "cpu_memory_usage",
              "self_cpu_memory_usage", "flops")


class FunctionEvent:
    """One recorded call: ``name``, ``time_range`` (start, end in us), ``thread``,
    ``input_shapes``, ``stack``, ``cpu_time_total`` and ``self_cpu_time_total`` (us),
    ``cpu_memory_usage`` and ``self_cpu_memory_usage`` (bytes), ``flops``."""

    __slots__ = ("id", "name", "trace_name", "thread", "time_range", "input_shapes", "stack",
                 "self_cpu_time_total", "cpu_memory_usage", "self_cpu_memory_usage", "flops",
                 "is_user_annotation", "cpu_parent", "cpu_children", "_ns")
    count = 1
    device_type = "CPU"
    # no accelerator here: device times and memory are zero, as on a CPU-only PyTorch
    device_time_total = self_device_time_total = device_time = 0.0
    device_memory_usage = self_device_memory_usage = 0

    def __init__(self, id, name, thread, start, input_shapes=None, stack=None, is_user_annotation=False):
        # a schedule's step ranges are all named ProfilerStep* (their number stays in trace_name)
        self.trace_name = name
        if name.startswith("ProfilerStep#"):
            name = "ProfilerStep*"
        self.id, self.name, self.thread = id, name, thread
        self._ns = (0, 0)
        self.time_range = Interval(start, start)
        self.input_shapes = input_shapes if input_shapes is not None else []
        self.stack = stack if stack is not None else []
        self.self_cpu_time_total = 0.0
        self.cpu_memory_usage = self.self_cpu_memory_usage = 0
        self.flops = 0
        self.is_user_annotation = is_user_annotation
        self.cpu_parent = None
        self.cpu_children = []

    key = property(lambda self: self.name)
    cpu_time_total = property(lambda self: (self._ns[1] - self._ns[0]) / 1e3)   # from the integer clock
    cpu_time = cpu_time_total

    def __repr__(self):
        return (f"<FunctionEvent id={self.id} name={self.name} thread={self.thread} "
                f"cpu_time={_format_time(self.cpu_time_total)} self_cpu_time={_format_time(self.self_cpu_time_total)} "
                f"input_shapes={self.input_shapes}>")


class FunctionEventAvg:
    """The calls of one ``key`` summed: ``count``, ``cpu_time_total``, ``self_cpu_time_total``,
    ``cpu_time`` (mean per call), memory and flops totals."""

    device_type = "CPU"
    device_time_total = self_device_time_total = device_time = 0.0
    device_memory_usage = self_device_memory_usage = 0

    def __init__(self, key, input_shapes=None, stack=None, is_user_annotation=False):
        self.key = key
        self.input_shapes = input_shapes
        self.stack = stack
        self.is_user_annotation = is_user_annotation
        self.count = 0
        self.cpu_time_total = self.self_cpu_time_total = 0.0
        self.cpu_memory_usage = self.self_cpu_memory_usage = 0
        self.flops = 0

    def add(self, ev):
        self.count += ev.count
        self.cpu_time_total += ev.cpu_time_total
        self.self_cpu_time_total += ev.self_cpu_time_total
        self.cpu_memory_usage += ev.cpu_memory_usage
        self.self_cpu_memory_usage += ev.self_cpu_memory_usage
        self.flops += ev.flops
        return self

    __iadd__ = add
    cpu_time = property(lambda self: self.cpu_time_total / self.count if self.count else 0.0)

    def __repr__(self):
        return (f"<FunctionEventAvg key={self.key} self_cpu_time={_format_time(self.self_cpu_time_total)} "
                f"cpu_time={_format_time(self.cpu_time)} count={self.count} input_shapes={self.input_shapes}>")


def _format_time(us, unit=None):
    if unit == "s" or (unit is None and us >= 1e6):
        return f"{us / 1e6:.3f}s"
    if unit == "ms" or (unit is None and us >= 1e3):
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


def _format_memory(nbytes):
    for unit, size in (("Gb", 1 << 30), ("Mb", 1 << 20), ("Kb", 1 << 10)):
        if abs(nbytes) >= size:
            return f"{nbytes / size:.2f} {unit}"
    return f"{nbytes} b"


def _sort_value(sort_by):
    if sort_by in _DEVICE_KEYS:
        return lambda e: 0
    if sort_by not in _SORT_KEYS:
        raise ValueError(f"table: cannot sort by {sort_by!r}; expected one of {', '.join(_SORT_KEYS)} "
                         f"(or None for the recorded order)")
    return lambda e: getattr(e, sort_by)


class EventList(list):
    """A list of :class:`FunctionEvent` or :class:`FunctionEventAvg`."""

    @property
    def self_cpu_time_total(self):
        return sum(e.self_cpu_time_total for e in self)

    def key_averages(self, group_by_input_shapes=False, group_by_stack_n=0, group_by_overload_name=False):
        """One :class:`FunctionEventAvg` per name (per name and input shapes, per name and the
        ``group_by_stack_n`` innermost stack frames), in order of first appearance. (flambeau's
        ops have no overloads: ``group_by_overload_name`` changes nothing.)"""
        groups = {}
        for ev in self:
            key = ev.key
            shapes = str(ev.input_shapes) if group_by_input_shapes else None
            stack = tuple(ev.stack[:group_by_stack_n]) if group_by_stack_n > 0 else None
            avg = groups.get((key, shapes, stack))
            if avg is None:
                avg = groups[(key, shapes, stack)] = FunctionEventAvg(
                    key, ev.input_shapes if group_by_input_shapes else None,
                    list(stack) if stack is not None else None, ev.is_user_annotation)
            avg.add(ev)
        return EventList(groups.values())

    def total_average(self):
        total = FunctionEventAvg("Total")
        for ev in self:
            total.add(ev)
        return total

    def table(self, sort_by=None, row_limit=100, max_src_column_width=75, max_name_column_width=55,
              max_shapes_column_width=80, header=None, top_level_events_only=False, time_unit=None):
        """The events as a text table, PyTorch's columns: Name, Self CPU %, Self CPU, CPU total %,
        CPU total, CPU time avg, [CPU Mem, Self CPU Mem,] # of Calls, [Total MFLOPs,] [Input
        Shapes,] [Source Location]. Percentages are of the total self time; ``time_unit``
        ("s", "ms" or "us") fixes the unit of every time (default: each its own)."""
        if time_unit not in (None, "s", "ms", "us"):
            raise ValueError(f"table: time_unit must be 's', 'ms' or 'us', got {time_unit!r}")
        ftime = lambda us: _format_time(us, time_unit)
        rows = list(self)
        if top_level_events_only:
            rows = [e for e in rows if getattr(e, "cpu_parent", None) is None]
        if sort_by is not None:
            key = _sort_value(sort_by)
            rows.sort(key=key, reverse=True)
        total_self = sum(e.self_cpu_time_total for e in self) or 1.0
        rows = rows[:row_limit] if row_limit is not None and row_limit >= 0 else rows
        mem = any(e.cpu_memory_usage for e in self)
        flops = any(e.flops for e in self)
        shapes = any(e.input_shapes for e in self)
        stacks = any(e.stack for e in self)

        name_w = min(max(len("Name"), *(len(e.key) for e in rows)) if rows else 4, max_name_column_width)
        cols = [("Name", name_w, lambda e: _clip(e.key, name_w))]
        cols += [("Self CPU %", 12, lambda e: f"{100 * e.self_cpu_time_total / total_self:.2f}%"),
                 ("Self CPU", 12, lambda e: ftime(e.self_cpu_time_total)),
                 ("CPU total %", 12, lambda e: f"{100 * e.cpu_time_total / total_self:.2f}%"),
                 ("CPU total", 12, lambda e: ftime(e.cpu_time_total)),
                 ("CPU time avg", 12, lambda e: ftime(e.cpu_time_total / max(e.count, 1)))]
        if mem:
            cols += [("CPU Mem", 12, lambda e: _format_memory(e.cpu_memory_usage)),
                     ("Self CPU Mem", 12, lambda e: _format_memory(e.self_cpu_memory_usage))]
        cols.append(("# of Calls", 12, lambda e: str(e.count)))
        if flops:
            cols.append(("Total MFLOPs", 12, lambda e: f"{e.flops / 1e6:.3f}" if e.flops else "--"))
        if shapes:
            cols.append(("Input Shapes", max_shapes_column_width,
                         lambda e: _clip(str(e.input_shapes or []), max_shapes_column_width)))
        if stacks:
            cols.append(("Source Location", max_src_column_width,
                         lambda e: _clip((e.stack or [""])[0], max_src_column_width)))
        rule = "  ".join("-" * w for _, w, _ in cols)
        fmt = lambda cells: "  ".join(c.ljust(w) if cols[i][0] in ("Input Shapes", "Source Location")
                                      else c.rjust(w) for i, (c, (_, w, _)) in enumerate(zip(cells, cols)))
        lines = ([header] if header else []) + [rule, fmt([c[0] for c in cols]), rule]
        lines += [fmt([f(e) for _, _, f in cols]) for e in rows]
        lines += [rule, f"Self CPU time total: {ftime(sum(e.self_cpu_time_total for e in self))}"]
        return "\n".join(line.rstrip() for line in lines) + "\n"

    def export_chrome_trace(self, path):
        """Write the events in the Chrome trace format (chrome://tracing, Perfetto), atomically;
        gzip-compressed when ``path`` ends in ``.gz``."""
        events = [e for e in self if isinstance(e, FunctionEvent)]
        if len(events) != len(self):
            raise ValueError("export_chrome_trace: needs the recorded events, not key_averages()")
        pid = os.getpid()
        trace = {"traceEvents": [
            {"ph": "X", "cat": "user_annotation" if e.is_user_annotation else "cpu_op", "name": e.trace_name,
             "pid": pid, "tid": e.thread, "ts": e.time_range.start, "dur": e.cpu_time_total,
             "args": {k: v for k, v in (("Input Dims", e.input_shapes), ("Call stack", ";".join(e.stack)),
                                        ("Bytes", e.cpu_memory_usage), ("FLOPs", e.flops)) if v}}
            for e in events], "displayTimeUnit": "ms"}
        data = json.dumps(trace).encode()
        if str(path).endswith(".gz"):
            data = gzip.compress(data)
        write_bytes(os.fspath(path), data, prefix=".trace-", make_dirs=True)


def _clip(s, width):
    return s if len(s) <= width else s[:width - 3] + "..."
