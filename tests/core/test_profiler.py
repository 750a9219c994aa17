"""flambeau.profiler / flambeau.autograd.profiler: what is recorded, self vs total time,
shapes/memory/flops/stacks, the schedule (against torch.profiler.schedule), the table's columns
(against PyTorch's), chrome traces, and that profiling leaves no trace when it stops."""
import gzip
import json
import os
import re
import time
import warnings

import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn as nn
import flambeau.nn.functional as F
from flambeau.autograd import ArrayFunction, Function
from flambeau.autograd import engine
from flambeau.profiler import ProfilerAction, ProfilerActivity, profile, record_function, schedule


def _step(model, opt, x, y):
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()


def _small():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8 * 8 * 8, 16), nn.ReLU(), nn.Linear(16, 10))
    opt = flambeau.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, opt, flambeau.randn(4, 3, 8, 8), flambeau.randint(0, 10, (4,))


class _Sleepy(Function):
    """An op that takes a known time forward (20 ms) and backward (10 ms)."""

    @staticmethod
    def forward(ctx, x):
        time.sleep(0.02)
        return x * 2

    @staticmethod
    def backward(ctx, g):
        time.sleep(0.01)
        return g * 2


def _by_name(events):
    res = {}
    for e in events:
        res.setdefault(e.name, []).append(e)
    return res


def test_training_step_records_forward_ops_backward_nodes_and_optimizer():
    model, opt, x, y = _small()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        with record_function("train_step"):
            _step(model, opt, x, y)
    names = _by_name(prof.events())
    for name in ("train_step", "ConvNd", "BatchNorm", "Relu", "Linear", "ConvolutionBackward0",
                 "NativeBatchNormBackward0", "AddmmBackward0", "Optimizer.step#SGD.step",
                 "Optimizer.zero_grad#SGD.zero_grad"):
        assert name in names, (name, sorted(names))
    assert len(names["Linear"]) == 2 and len(names["Relu"]) == 2 and len(names["AddmmBackward0"]) == 2
    avg = {a.key: a for a in prof.key_averages()}
    assert avg["Linear"].count == 2
    assert avg["Linear"].cpu_time_total == pytest.approx(sum(e.cpu_time_total for e in names["Linear"]))


def test_times_are_attributed_to_the_op_that_spent_them():
    x = flambeau.ones(3, requires_grad=True)
    with profile() as prof:
        with record_function("outer"):
            _Sleepy.apply(x).sum().backward()
    names = _by_name(prof.events())
    fwd, = names["_Sleepy"]
    bwd, = names["_SleepyBackward"]
    outer, = names["outer"]
    assert 0.02e6 <= fwd.self_cpu_time_total <= fwd.cpu_time_total   # (x * 2 inside is a child)
    assert [c.name for c in fwd.cpu_children] == ["Mul"]
    assert 0.01e6 <= bwd.self_cpu_time_total <= bwd.cpu_time_total
    # the range's self time excludes its children; totals nest
    children = sum(c.cpu_time_total for c in outer.cpu_children)
    assert outer.self_cpu_time_total == pytest.approx(outer.cpu_time_total - children)
    assert outer.self_cpu_time_total < 0.5 * (fwd.cpu_time_total + bwd.cpu_time_total)
    assert fwd.cpu_parent is outer and bwd.cpu_parent is outer
    # every microsecond counted once: the self times add up to the outermost ranges' totals
    top = [e for e in prof.events() if e.cpu_parent is None]
    assert sum(e.self_cpu_time_total for e in prof.events()) == pytest.approx(sum(e.cpu_time_total for e in top))


def test_shapes_memory_flops_and_stack():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    lin = nn.Linear(12, 5)
    with profile(record_shapes=True, profile_memory=True, with_flops=True, with_stack=True) as prof:
        conv(flambeau.randn(2, 3, 6, 6))
        lin(flambeau.randn(7, 12))
        lin(flambeau.randn(3, 12))
        flambeau.relu(flambeau.randn(10, 10))
        flambeau.randn(1, 1000).expand(1000, 1000)
    names = _by_name(prof.events())
    c, = names["ConvNd"]
    assert c.input_shapes[:3] == [[2, 3, 6, 6], [8, 3, 3, 3], [8]]
    assert c.flops == 2 * (2 * 8 * 6 * 6) * (3 * 3 * 3)
    assert c.self_cpu_memory_usage == 2 * 8 * 6 * 6 * 4
    l1, l2 = names["Linear"]
    assert l1.flops == 2 * 7 * 12 * 5 and l2.flops == 2 * 3 * 12 * 5
    r, = names["Relu"]
    assert r.self_cpu_memory_usage == 400 and r.flops == 0
    e, = names["Expand"]
    assert e.self_cpu_memory_usage == 0          # a view allocates nothing
    assert os.path.basename(__file__) in l1.stack[0]
    by_shape = prof.key_averages(group_by_input_shape=True)
    assert sorted(a.input_shapes[0] for a in by_shape if a.key == "Linear") == [[3, 12], [7, 12]]
    assert [a.count for a in prof.key_averages() if a.key == "Linear"] == [2]
    table = by_shape.table(sort_by="flops")
    assert "Total MFLOPs" in table and "Input Shapes" in table and "Self CPU Mem" in table
    assert "Source Location" in prof.key_averages(group_by_stack_n=1).table()


def test_profiling_off_leaves_the_op_path_untouched():
    originals = (Function.__dict__["apply"], ArrayFunction.__dict__["apply"], engine._call_node)
    with profile() as prof:
        assert ArrayFunction.__dict__["apply"] is not originals[1]
        with pytest.raises(RuntimeError, match="already recording"):
            with profile():
                pass
    assert (Function.__dict__["apply"], ArrayFunction.__dict__["apply"], engine._call_node) == originals
    n = len(prof.events())
    flambeau.randn(3).relu()
    assert len(prof.events()) == n
    with record_function("nothing recording"):   # harmless without a profiler
        flambeau.randn(2) + 1


def test_errors_keep_the_recording_consistent_and_the_op_path_restored():
    originals = (Function.__dict__["apply"], ArrayFunction.__dict__["apply"], engine._call_node)
    with profile(record_shapes=True) as prof:
        with record_function("outer"):
            with pytest.raises(RuntimeError):
                F.linear(flambeau.randn(2, 3), flambeau.randn(4, 5))
            flambeau.relu(flambeau.randn(3))
    relu, = _by_name(prof.events())["Relu"]
    assert relu.cpu_parent.name == "outer" and relu.cpu_children == []
    with pytest.raises(ValueError, match="inside"):
        with profile():
            flambeau.relu(flambeau.randn(3))
            raise ValueError("inside")
    assert (Function.__dict__["apply"], ArrayFunction.__dict__["apply"], engine._call_node) == originals
    with profile():                          # and a new recording can start
        pass


def test_ranges_closing_out_of_order_nest_by_time():
    """A record_function around prof.step() closes after the step range it began in."""
    with profile(schedule=schedule(wait=0, warmup=1, active=10)) as prof:    # saved when it stops
        with record_function("train"):
            for i in range(4):
                with record_function(f"iter{i}"):
                    flambeau.relu(flambeau.randn(50))
                    prof.step()
    evs = prof.events()
    names = [e.trace_name for e in evs]
    assert {"train", "iter1", "iter2", "iter3", "ProfilerStep#1", "ProfilerStep#2", "ProfilerStep#3",
            "ProfilerStep#4"} <= set(names)
    steps = [e for e in evs if e.trace_name in ("ProfilerStep#1", "ProfilerStep#2", "ProfilerStep#3")]
    assert [s.cpu_parent.name for s in steps] == ["train"] * 3      # (#4 ends at stop(), after "train")
    for e in evs:                            # every event within its parent; self times add up
        if e.cpu_parent is not None:
            assert e.cpu_parent.time_range.start <= e.time_range.start <= e.time_range.end <= e.cpu_parent.time_range.end
        assert 0 <= e.self_cpu_time_total <= e.cpu_time_total + 1e-6   # overlapping children counted once


@pytest.mark.parametrize("kw", [dict(wait=1, warmup=1, active=2), dict(wait=0, warmup=0, active=1, repeat=3),
                                dict(wait=2, warmup=1, active=3, repeat=2, skip_first=3)])
def test_schedule_matches_torch(kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # both warn when warmup is 0
        ours, theirs = schedule(**kw), torch.profiler.schedule(**kw)
    assert [ours(i).name for i in range(30)] == [theirs(i).name for i in range(30)]


def test_schedule_records_only_active_steps_and_hands_each_cycle_over():
    model, opt, x, y = _small()
    cycles = []
    with profile(schedule=schedule(wait=1, warmup=1, active=2, repeat=2),
                 on_trace_ready=lambda p: cycles.append(sorted({e.trace_name for e in p.events()
                                                                 if e.name == "ProfilerStep*"}))) as prof:
        for _ in range(10):
            _step(model, opt, x, y)
            prof.step()
    assert cycles == [["ProfilerStep#2", "ProfilerStep#3"], ["ProfilerStep#6", "ProfilerStep#7"]]
    assert sum(e.name == "Optimizer.step#SGD.step" for e in prof.events()) == 2
    steps = [a for a in prof.key_averages() if a.key.startswith("ProfilerStep")]
    assert [(a.key, a.count) for a in steps] == [("ProfilerStep*", 2)]
    assert prof.current_action is ProfilerAction.NONE


def test_table_columns_match_pytorch():
    def header(text):
        line = text.splitlines()[1]  # (the line after the first rule)
        return re.split(r"\s{2,}", line.strip())

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as tp:
        torch.relu(torch.randn(3))
    with profile(activities=[ProfilerActivity.CPU]) as fp:
        flambeau.relu(flambeau.randn(3))
    assert header(fp.key_averages().table()) == header(tp.key_averages().table())
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True) as tp:
        torch.relu(torch.randn(3))
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as fp:
        flambeau.relu(flambeau.randn(3))
    assert (header(fp.key_averages(group_by_input_shape=True).table())
            == header(tp.key_averages(group_by_input_shape=True).table()))


def test_table_sorting_limits_and_errors():
    x = flambeau.ones(3, requires_grad=True)
    with profile() as prof:
        _Sleepy.apply(x).sum().backward()
        flambeau.relu(x)
    rows = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=2).splitlines()
    assert rows[3].split()[0] == "_Sleepy" and rows[4].split()[0] == "_SleepyBackward"
    assert len(rows) == 7 and rows[-1].startswith("Self CPU time total:")
    prof.key_averages().table(sort_by="cuda_time_total")      # a GPU key reads as zero, as on a CPU build
    with pytest.raises(ValueError, match="cannot sort by 'speed'"):
        prof.key_averages().table(sort_by="speed")
    with pytest.raises(RuntimeError, match="record_shapes"):
        prof.key_averages(group_by_input_shape=True)


@pytest.mark.parametrize("name", ["trace.json", "trace.json.gz"])
def test_chrome_trace(tmp_path, name):
    model, opt, x, y = _small()
    with profile(record_shapes=True) as prof:
        _step(model, opt, x, y)
    path = tmp_path / name
    prof.export_chrome_trace(str(path))
    raw = path.read_bytes()
    trace = json.loads(gzip.decompress(raw) if name.endswith(".gz") else raw)
    evs = trace["traceEvents"]
    assert len(evs) == len(prof.events())
    conv = next(e for e in evs if e["name"] == "ConvNd")
    assert conv["ph"] == "X" and conv["dur"] > 0 and conv["args"]["Input Dims"][0] == [4, 3, 8, 8]
    assert os.listdir(tmp_path) == [name]          # written atomically: no temporary left
    with pytest.raises(ValueError, match="recorded events"):
        prof.key_averages().export_chrome_trace(str(tmp_path / "x.json"))


def test_tensorboard_trace_handler_writes_one_file_per_cycle(tmp_path):
    with pytest.warns(UserWarning, match="warmup"):
        sched = schedule(wait=0, warmup=0, active=1, repeat=2)
    with profile(schedule=sched,
                 on_trace_ready=flambeau.profiler.tensorboard_trace_handler(str(tmp_path), "w0")) as prof:
        for _ in range(4):
            flambeau.randn(4).relu()
            prof.step()
    files = sorted(os.listdir(tmp_path))
    assert len(files) == 2 and all(re.fullmatch(r"w0\.\d+\.pt\.trace\.json", f) for f in files)


def test_autograd_profiler_legacy_api():
    x = flambeau.ones(3, requires_grad=True)
    with flambeau.autograd.profiler.profile(record_shapes=True) as prof:
        (x * 2).sum().backward()
    names = {e.name for e in prof.function_events}
    assert {"Mul", "MulBackward0", "SumBackward0"} <= names, names
    assert "Self CPU time total" in prof.table(sort_by="self_cpu_time_total")
    assert prof.self_cpu_time_total > 0 and prof.total_average().count == len(prof.function_events)
    with flambeau.autograd.profiler.profile(enabled=False) as off:
        (x * 2).sum()
    assert len(off.function_events) == 0


def test_non_cpu_activities_warn_and_bad_options_raise():
    with pytest.warns(UserWarning, match="only CPU activity"):
        profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA])
    with pytest.raises(RuntimeError, match="CPU only"):
        profile(use_cuda=True)
    with pytest.raises(TypeError, match="ProfilerActivity"):
        profile(activities=["cpu"])
    with pytest.raises(ValueError, match="active"):
        schedule(wait=1, warmup=0, active=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with profile(activities=[ProfilerActivity.CPU]):
            pass
    assert flambeau.profiler.supported_activities() == {ProfilerActivity.CPU}


def test_profiled_results_are_the_same_numbers():
    """Recording changes nothing that is computed."""
    flambeau.manual_seed(0)
    model, opt, x, y = _small()
    _step(model, opt, x, y)
    ref = [p.detach().numpy().copy() for p in model.parameters()]
    flambeau.manual_seed(0)
    model, opt, x, y = _small()
    with profile(record_shapes=True, profile_memory=True, with_flops=True, with_stack=True):
        _step(model, opt, x, y)
    for a, p in zip(ref, model.parameters()):
        np.testing.assert_array_equal(a, p.detach().numpy())


def test_data_loading_is_recorded_under_pytorchs_name():
    from flambeau.utils.data import DataLoader, TensorDataset
    loader = DataLoader(TensorDataset(flambeau.randn(100, 3), flambeau.arange(100)), batch_size=10)
    with profile() as prof:
        for x, _ in loader:
            x.relu()
    counts = {a.key: a.count for a in prof.key_averages()}
    assert counts["enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__"] == 11   # 10 batches + the end
    assert counts["Relu"] == 10
