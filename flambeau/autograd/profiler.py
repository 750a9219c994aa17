"""``flambeau.autograd.profiler``: the older profiler API (``torch.autograd.profiler``).

    with flambeau.autograd.profiler.profile(record_shapes=True) as prof:
        model(x).sum().backward()
    print(prof.key_averages().table(sort_by="self_cpu_time_total"))

The same recording as :class:`flambeau.profiler.profile` (see there), without a schedule.
"""
from __future__ import annotations

from ..profiler import profile as _profile, record_function  # noqa: F401
from ..profiler._events import EventList, FunctionEvent, FunctionEventAvg  # noqa: F401

__all__ = ["profile", "record_function", "EventList", "FunctionEvent", "FunctionEventAvg"]


class profile(_profile):
    """``torch.autograd.profiler.profile(enabled=True, *, use_cuda=False, record_shapes=False,
    with_flops=False, profile_memory=False, with_stack=False, ...)``; ``enabled=False`` records
    nothing. Results: ``function_events``, ``key_averages()``, ``table()``, ``total_average()``,
    ``self_cpu_time_total``, ``export_chrome_trace(path)``."""

    def __init__(self, enabled=True, *, use_cuda=False, use_device=None, record_shapes=False, with_flops=False,
                 profile_memory=False, with_stack=False, with_modules=False, use_kineto=False, use_cpu=True,
                 experimental_config=None, acc_events=False, custom_trace_id_callback=None):
        if use_device not in (None, "cpu"):
            raise RuntimeError(f"profile: use_device={use_device!r}, but flambeau computes on the CPU only")
        super().__init__(record_shapes=record_shapes, profile_memory=profile_memory, with_stack=with_stack,
                         with_flops=with_flops, with_modules=with_modules, experimental_config=experimental_config,
                         acc_events=acc_events, use_cuda=use_cuda, custom_trace_id_callback=custom_trace_id_callback)
        self.enabled = bool(enabled) and bool(use_cpu)

    def start(self):
        if self.enabled:
            super().start()

    @property
    def function_events(self):
        return self.events()

    def table(self, sort_by=None, row_limit=100, max_src_column_width=75, max_name_column_width=55,
              max_shapes_column_width=80, header=None, top_level_events_only=False):
        return self.events().table(sort_by, row_limit, max_src_column_width, max_name_column_width,
                                   max_shapes_column_width, header, top_level_events_only)

    def total_average(self):
        return self.events().total_average()

    def __str__(self):
        return self.table()
