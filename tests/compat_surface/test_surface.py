"""Every PyTorch name in ``pytorch-surface.txt`` resolves to a flambeau object.

A name is mapped through ``flambeau.compat._target`` (``torch`` -> ``flambeau``, ``torchvision`` ->
``flambeau.vision``); the longest importable module prefix is imported and the rest is looked up
with ``getattr``.
"""
from __future__ import annotations

import importlib
import os

import pytest

from flambeau.compat import _target

SURFACE = os.path.join(os.path.dirname(__file__), "pytorch-surface.txt")


def _entries():
    out = []
    with open(SURFACE, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            count, kind, name = line.split()
            out.append((kind, name))
    return out


def resolve(torch_name):
    """The flambeau object named ``torch_name``; raises LookupError when it does not exist."""
    real = _target(torch_name)
    if real is None:
        raise LookupError(f"{torch_name}: not a torch/torchvision name")
    parts = real.split(".")
    module, rest = None, None
    for i in range(len(parts), 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError as e:
            name = ".".join(parts[:i])
            if e.name and (e.name == name or name.startswith(e.name + ".")):
                continue  # no such module: try a shorter prefix
            raise
        rest = parts[i:]
        break
    if module is None:
        raise LookupError(f"{torch_name}: no flambeau module for {real}")
    obj = module
    for j, attr in enumerate(rest):
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            raise LookupError(f"{torch_name}: {'.'.join(parts[:len(parts) - len(rest) + j])} "
                              f"has no attribute {attr!r}") from None
    return obj


ENTRIES = _entries()


def test_surface_file_is_read():
    assert len(ENTRIES) > 100
    assert ("module", "torch") in ENTRIES


@pytest.mark.parametrize("kind,name", ENTRIES, ids=[n for _, n in ENTRIES])
def test_name_exists(kind, name):
    obj = resolve(name)
    if kind == "module":
        assert type(obj).__name__ == "module", f"{name} should be a module, got {type(obj)}"
    elif kind == "class":
        assert isinstance(obj, type) or callable(obj), f"{name} should be a class, got {obj!r}"
    elif kind == "function":
        assert callable(obj), f"{name} should be callable, got {obj!r}"


def test_resolver_rejects_missing_names():
    with pytest.raises(LookupError):
        resolve("torch.nn.NoSuchLayerAnywhere")
    with pytest.raises(LookupError):
        resolve("torchvision.no_such_module.thing")
    with pytest.raises(LookupError):
        resolve("numpy.zeros")
    assert resolve("torch.nn.Linear").__module__.startswith("flambeau")
    assert resolve("torchvision.datasets.MNIST").__name__ == "MNIST"


# ------------------------------------------------------------- flambeau.multiprocessing at work
_CHILD = '''
import numpy as np
import flambeau


def work(q, n):
    t = flambeau.arange(n, dtype=flambeau.float32).reshape(2, -1)
    t.requires_grad_(True)
    (t * t).sum().backward()
    q.put(t.grad.numpy())
'''


def _fork_child(q, t):
    q.put((t * 2).numpy())


def test_multiprocessing_reexports_python_api():
    import multiprocessing

    import flambeau.multiprocessing as mp
    for name in ("Process", "Queue", "Pool", "Pipe", "Lock", "Event", "Manager", "set_start_method",
                 "get_start_method", "get_context", "cpu_count", "current_process"):
        assert getattr(mp, name) is getattr(multiprocessing, name), name
    assert mp.cpu_count() >= 1


def test_multiprocessing_fork_process_receives_a_tensor():
    import flambeau
    import flambeau.multiprocessing as mp
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork start method on this platform")
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    t = flambeau.tensor([[1.0, 2.0], [3.0, 4.0]])
    p = ctx.Process(target=_fork_child, args=(q, t))
    p.start()
    out = q.get(timeout=30)
    p.join(30)
    assert p.exitcode == 0
    assert out.tolist() == [[2.0, 4.0], [6.0, 8.0]]


def test_multiprocessing_set_start_method_spawn_runs_a_process(tmp_path, monkeypatch):
    import sys

    import flambeau.multiprocessing as mp
    (tmp_path / "flambeau_mp_child.py").write_text(_CHILD)
    monkeypatch.syspath_prepend(str(tmp_path))
    import flambeau_mp_child
    previous = mp.get_start_method(allow_none=True)
    try:
        mp.set_start_method("spawn", force=True)
        assert mp.get_start_method() == "spawn"
        q = mp.Queue()
        p = mp.Process(target=flambeau_mp_child.work, args=(q, 6))
        p.start()
        grad = q.get(timeout=60)
        p.join(60)
        assert p.exitcode == 0
        assert grad.tolist() == [[0.0, 2.0, 4.0], [6.0, 8.0, 10.0]]
        with pytest.raises(RuntimeError, match="context has already been set"):
            mp.set_start_method("fork")
    finally:
        mp.set_start_method(previous, force=True)
        sys.modules.pop("flambeau_mp_child", None)


def _spawn_fn(i, q):
    q.put(i * 10)


def _spawn_fail(i):
    if i == 1:
        raise ValueError("child one failed")


def test_multiprocessing_spawn_helper_and_error_propagation():
    import flambeau.multiprocessing as mp
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork start method on this platform")
    q = mp.get_context("fork").SimpleQueue()
    assert mp.spawn(_spawn_fn, args=(q,), nprocs=2, start_method="fork") is None
    assert sorted([q.get(), q.get()]) == [0, 10]
    with pytest.raises(mp.ProcessRaisedException, match="child one failed"):
        mp.spawn(_spawn_fail, nprocs=2, start_method="fork")


def test_tensors_refuse_pickling_through_queues():
    """Queues pickle what they carry; a tensor says how to send it instead (as a NumPy array)."""
    import pickle

    import flambeau
    with pytest.raises(TypeError, match="not picklable"):
        pickle.dumps(flambeau.zeros(2))
