"""flambeau/_malloc.py: after ``import flambeau`` a freed multi-MiB array's memory is reused by
the next one (no fresh page faults), unless FLAMBEAU_RETAIN_MEMORY=0; also for blocks above
glibc's largest mmap threshold (32 MiB), and in threads other than the main one."""
import os
import subprocess
import sys

import pytest

CHILD = r"""
import resource, sys
import numpy as np
core = getattr(np, "_core", None) or np.core
core.multiarray._set_madvise_hugepage(False)   # 4 KiB pages: the fault counts below are comparable
import flambeau
from flambeau import _malloc
MIB = int(sys.argv[1])
faults = []
for i in range(6):            # a "step": four MIB-MiB arrays alive together, then all freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    arrays = [np.empty(MIB << 18, np.float32) for _ in range(4)]
    for a in arrays:
        a.fill(1.0)
    del arrays, a
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(_malloc._applied, min(faults[2:]))
"""
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator settings: Linux only")


def _run(env_value, mib=16):
    env = dict(os.environ)
    if env_value is None:
        env.pop("FLAMBEAU_RETAIN_MEMORY", None)
    else:
        env["FLAMBEAU_RETAIN_MEMORY"] = env_value
    out = subprocess.run([sys.executable, "-c", CHILD, str(mib)], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    applied, faults = out.stdout.split()
    return applied, int(faults)


@pytest.mark.parametrize("mib", [16, 64])
def test_freed_memory_is_reused_after_import_and_not_with_the_opt_out(mib):
    applied, faults = _run(None, mib)
    if applied != "True":
        pytest.skip("not glibc: nothing to set")
    applied_out, faults_out = _run("0", mib)
    assert applied_out == "False"
    assert faults < 400                      # 4 x 16 MiB = 16384 pages: reused, not faulted in again
    assert faults_out > 4 * max(faults, 100)  # glibc's default gave memory back and faulted it in again


def test_blocks_larger_than_a_thread_arena_still_allocate():
    # with mmap off for the heap, a worker thread's block above its 64 MiB arena must still come
    # from somewhere (glibc maps it): no MemoryError, the right contents
    code = (
        "import threading, numpy as np, flambeau\n"
        "out = {}\n"
        "def work():\n"
        "    a = np.ones(200 << 20, np.uint8)\n"
        "    out['sum'] = int(a.sum(dtype=np.int64))\n"
        "t = threading.Thread(target=work); t.start(); t.join()\n"
        "print(flambeau._malloc._applied, out['sum'])\n")
    env = dict(os.environ)
    env.pop("FLAMBEAU_RETAIN_MEMORY", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[1] == str(200 << 20)


@pytest.mark.parametrize("name, value", [("MALLOC_TRIM_THRESHOLD_", "1000000"), ("MALLOC_MMAP_MAX_", "65536")])
def test_user_allocator_settings_win(name, value):
    env = dict(os.environ, **{name: value})
    env.pop("FLAMBEAU_RETAIN_MEMORY", None)
    out = subprocess.run([sys.executable, "-c", "import flambeau; print(flambeau._malloc._applied)"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr
