"""flambeau/_malloc.py: after ``import flambeau`` a freed multi-MiB array's memory is reused by
the next one (no fresh page faults), unless FLAMBEAU_RETAIN_MEMORY=0."""
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
faults = []
for i in range(6):            # a "step": four 16 MiB arrays alive together, then all freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    arrays = [np.empty(4 << 20, np.float32) for _ in range(4)]
    for a in arrays:
        a.fill(1.0)
    del arrays, a
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(_malloc._applied, min(faults[2:]))
"""
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator settings: Linux only")


def _run(env_value):
    env = dict(os.environ)
    if env_value is None:
        env.pop("FLAMBEAU_RETAIN_MEMORY", None)
    else:
        env["FLAMBEAU_RETAIN_MEMORY"] = env_value
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    applied, faults = out.stdout.split()
    return applied, int(faults)


def test_freed_memory_is_reused_after_import_and_not_with_the_opt_out():
    applied, faults = _run(None)
    if applied != "True":
        pytest.skip("not glibc: nothing to set")
    applied_out, faults_out = _run("0")
    assert applied_out == "False"
    assert faults < 400                      # 4 x 16 MiB = 16384 pages: reused, not faulted in again
    assert faults_out > 4 * max(faults, 100)  # glibc's default gave memory back and faulted it in again


def test_user_allocator_settings_win():
    env = dict(os.environ, MALLOC_TRIM_THRESHOLD_="1000000")
    env.pop("FLAMBEAU_RETAIN_MEMORY", None)
    out = subprocess.run([sys.executable, "-c", "import flambeau; print(flambeau._malloc._applied)"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr
