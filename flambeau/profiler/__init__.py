"""``flambeau.profiler``: where a program's time goes, op by op (``torch.profiler``'s API).

    from flambeau.profiler import profile, record_function, ProfilerActivity

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        with record_function("train_step"):
            loss = F.cross_entropy(model(x), y)
            loss.backward()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))
    prof.export_chrome_trace("trace.json")        # chrome://tracing or ui.perfetto.dev

Recorded: every op's forward (named by its autograd Function: ``ConvNd``, ``BatchNorm``,
``Relu`` ...), every backward node the engine runs (``ConvolutionBackward0`` ...), optimizer
``step``/``zero_grad`` and ``record_function`` ranges. Each event has a total and a *self* time
(minus the events nested in it). ``record_shapes``: input shapes; ``profile_memory``: bytes of
the arrays each op returned; ``with_stack``: the caller's file and line; ``with_flops``: the
floating-point operations of matmul, linear and convolution forwards.

``schedule`` + ``prof.step()`` profile a few steps of a long loop (skip/wait, warm up, record,
repeat) and hand each recorded cycle to ``on_trace_ready`` (e.g. ``tensorboard_trace_handler``).
flambeau computes on the CPU: only ``ProfilerActivity.CPU`` can be recorded.
"""
from __future__ import annotations

import enum
import os
import socket
import time
import warnings

from . import _recorder
from ._events import EventList, FunctionEvent, FunctionEventAvg  # noqa: F401

__all__ = ["profile", "record_function", "schedule", "ProfilerAction", "ProfilerActivity",
           "tensorboard_trace_handler", "supported_activities"]


class ProfilerActivity(enum.Enum):
    CPU = 0
    CUDA = 1
    XPU = 2
    MTIA = 3
    HPU = 4
    PrivateUse1 = 5


def supported_activities():
    """The activities flambeau can record: the CPU's."""
    return {ProfilerActivity.CPU}


class ProfilerAction(enum.Enum):
    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3


def schedule(*, wait, warmup, active, repeat=0, skip_first=0, skip_first_wait=0):
    """The action for each step number: ``skip_first`` steps of nothing, then cycles of ``wait``
    steps idle, ``warmup`` steps warming up (not kept), ``active`` steps recorded, the last of
    which saves the cycle (``on_trace_ready``); ``repeat`` cycles (0: until the loop ends).
    ``skip_first_wait``: the first cycle starts without its wait."""
    if wait < 0 or warmup < 0 or active <= 0 or repeat < 0 or skip_first < 0:
        raise ValueError(f"schedule: expected wait, warmup, repeat, skip_first >= 0 and active > 0, got "
                         f"wait={wait}, warmup={warmup}, active={active}, repeat={repeat}, skip_first={skip_first}")
    if warmup == 0:
        warnings.warn("Profiler won't be using warmup, this can skew profiler results", stacklevel=2)

    def schedule_fn(step):
        if step < skip_first:
            return ProfilerAction.NONE
        step -= skip_first
        if skip_first_wait:
            step += wait
        cycle = wait + warmup + active
        if repeat > 0 and step // cycle >= repeat:
            return ProfilerAction.NONE
        pos = step % cycle
        if pos < wait:
            return ProfilerAction.NONE
        if pos < wait + warmup:
            return ProfilerAction.WARMUP
        return ProfilerAction.RECORD if pos < cycle - 1 else ProfilerAction.RECORD_AND_SAVE
    return schedule_fn


def _always_record(step):
    return ProfilerAction.RECORD


class record_function:
    """A labelled range in the recording (``with record_function("forward"): ...``, or as a
    decorator); nothing happens when no profiler records."""

    def __init__(self, name, args=None):
        self.name, self.args = name, args
        self._frame = self._rec = None

    def __enter__(self):
        rec = _recorder.active
        if rec is not None:
            self._rec, self._frame = rec, rec.open(self.name, user=True)
        return self

    def __exit__(self, *exc):
        if self._frame is not None:
            self._rec.close(self._frame)
            self._frame = self._rec = None
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with record_function(self.name, self.args):
                return fn(*args, **kwargs)
        return wrapped


class profile:
    """``torch.profiler.profile``: record the ops run inside ``with profile(...) as prof:``.

    ``activities``: a subset of :class:`ProfilerActivity` (only CPU is recorded; a CUDA request
    warns). ``schedule``/``on_trace_ready``: see the module docstring; without a schedule every
    step is recorded and ``on_trace_ready`` runs once, at the end. ``acc_events``: keep the
    events of every saved cycle, not only the last one's.
    """

    def __init__(self, *, activities=None, schedule=None, on_trace_ready=None, record_shapes=False,
                 profile_memory=False, with_stack=False, with_flops=False, with_modules=False,
                 experimental_config=None, execution_trace_observer=None, acc_events=False,
                 use_cuda=None, custom_trace_id_callback=None):
        if use_cuda:
            raise RuntimeError("profile: use_cuda=True, but flambeau computes on the CPU only (no CUDA events)")
        for name, value in (("experimental_config", experimental_config),
                            ("execution_trace_observer", execution_trace_observer),
                            ("custom_trace_id_callback", custom_trace_id_callback)):
            if value is not None:
                raise ValueError(f"profile: {name} is a Kineto option that flambeau does not have; pass None")
        acts = set(supported_activities() if activities is None else activities)
        bad = [a for a in acts if not isinstance(a, ProfilerActivity)]
        if bad:
            raise TypeError(f"profile: activities must be ProfilerActivity members, got {bad!r}")
        if acts - {ProfilerActivity.CPU}:
            warnings.warn(f"profile: flambeau computes on the CPU; only CPU activity is recorded, not "
                          f"{sorted(a.name for a in acts - {ProfilerActivity.CPU})}", stacklevel=2)
        self.activities = acts
        self._record_cpu = ProfilerActivity.CPU in acts
        self.schedule = schedule if schedule is not None else _always_record
        self.record_steps = schedule is not None      # ProfilerStep#N ranges, as PyTorch: with a schedule
        self.on_trace_ready = on_trace_ready
        self.record_shapes, self.profile_memory = bool(record_shapes), bool(profile_memory)
        self.with_stack, self.with_flops = bool(with_stack), bool(with_flops)
        self.with_modules = bool(with_modules)   # TorchScript module names in PyTorch; no TorchScript here
        self.acc_events = bool(acc_events)
        self.step_num = 0
        self.current_action = ProfilerAction.NONE
        self._rec = None          # the Recorder of the cycle being recorded
        self._saved = EventList()  # the events handed to on_trace_ready (last cycle, or all)
        self._step_frame = None
        self._running = False

    # -- lifetime
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        self.step_num = 0
        self.current_action = self.schedule(self.step_num)
        self._enter_action(ProfilerAction.NONE, self.current_action)
        self._running = True

    def stop(self):
        if not self._running:
            return
        self._running = False
        prev, self.current_action = self.current_action, ProfilerAction.NONE
        try:
            self._close_step_range()
            if prev in (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE):
                self._finish_cycle()
        finally:
            self._drop_cycle()      # whatever happened above, the op path is put back

    def step(self):
        """Mark the end of a step (of a training loop): moves along the schedule."""
        if not self._running:
            return
        self._close_step_range()
        prev = self.current_action
        self.step_num += 1
        self.current_action = self.schedule(self.step_num)
        action = self.current_action
        if prev is ProfilerAction.RECORD_AND_SAVE or (
                prev is ProfilerAction.RECORD and action in (ProfilerAction.NONE, ProfilerAction.WARMUP)):
            self._finish_cycle()           # a cycle ends (a schedule of its own may end it early)
            prev = ProfilerAction.NONE
        elif prev is ProfilerAction.WARMUP and action is ProfilerAction.NONE:
            self._drop_cycle()
            prev = ProfilerAction.NONE
        self._enter_action(prev, action)

    # -- results
    def events(self):
        """The recorded events (of the last saved cycle, or of every cycle with ``acc_events``)."""
        return self._saved

    def key_averages(self, group_by_input_shape=False, group_by_stack_n=0, group_by_overload_name=False):
        if group_by_input_shape and not self.record_shapes:
            raise RuntimeError("key_averages(group_by_input_shape=True) needs profile(record_shapes=True)")
        if group_by_stack_n and not self.with_stack:
            raise RuntimeError("key_averages(group_by_stack_n=...) needs profile(with_stack=True)")
        return self._saved.key_averages(group_by_input_shape, group_by_stack_n, group_by_overload_name)

    def export_chrome_trace(self, path):
        self._saved.export_chrome_trace(path)

    @property
    def self_cpu_time_total(self):
        return self._saved.self_cpu_time_total

    # -- the schedule's state machine
    def _enter_action(self, prev, action):
        recording = (ProfilerAction.WARMUP, ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE)
        if action in recording and prev not in recording and self._record_cpu:
            self._rec = _recorder.Recorder(self.record_shapes, self.profile_memory, self.with_stack,
                                           self.with_flops)
            _recorder.start(self._rec)
        if action in (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE) and prev is ProfilerAction.WARMUP:
            self._rec.events.clear()          # warm-up steps are not kept
        if action in recording and self._rec is not None and self.record_steps:
            self._step_frame = self._rec.open(f"ProfilerStep#{self.step_num}", user=True)

    def _close_step_range(self):
        if self._step_frame is not None and self._rec is not None:
            self._rec.close(self._step_frame)
        self._step_frame = None

    def _finish_cycle(self):
        rec, self._rec = self._rec, None
        if rec is None:
            return
        _recorder.stop(rec)
        events = rec.finish()
        if self.acc_events:
            self._saved.extend(events)
        else:
            self._saved = EventList(events)
        if self.on_trace_ready is not None:
            self.on_trace_ready(self)

    def _drop_cycle(self):
        rec, self._rec = self._rec, None
        if rec is not None:
            _recorder.stop(rec)


def tensorboard_trace_handler(dir_name, worker_name=None, use_gzip=False):
    """An ``on_trace_ready`` that writes each saved cycle to
    ``dir_name/<worker>.<time in ns>.pt.trace.json[.gz]`` (TensorBoard's profiler plugin and
    Perfetto read these Chrome traces)."""
    if not worker_name:
        worker_name = f"{socket.gethostname()}_{os.getpid()}"

    def handler(prof):
        os.makedirs(dir_name, exist_ok=True)
        name = f"{worker_name}.{time.time_ns()}.pt.trace.json" + (".gz" if use_gzip else "")   # ns: no clash
        prof.export_chrome_trace(os.path.join(dir_name, name))
    return handler
