"""Keep freed memory for the next training step (glibc's allocator settings).

A training step allocates the same large arrays every iteration: activations, their gradients,
masks and indices of a few MiB each. By default glibc serves blocks above a *dynamic* threshold
(128 KiB at start, rising as big blocks are freed, up to 32 MiB) straight from the kernel with
``mmap`` and gives them back on free, and it returns the top of its heap to the kernel whenever
more than twice that threshold is free there. Memory that went back to the kernel comes back
as fresh pages, each paying a page fault (and the kernel zeroing it) on first touch. Which
arrays take that path depends on the order of earlier frees, so a step flips between a fast and
a slow regime: a Reseau2 step measured 62 ms or 82 ms, in phases, on the same machine.

:func:`retain_freed_memory` fixes the thresholds instead: blocks up to 32 MiB come from the
heap, freed memory is kept until 512 MiB of it lies unused at the top, and the heap grows 64 MiB
at a time. The steady state then reuses the same memory every step (Reseau2: 57 ms, no phases;
benchmarks/RESULTS.md). But 32 MiB is the largest threshold glibc accepts, and blocks above it
(an activation of a wide layer at batch 1024 takes 256 MiB) were still mapped fresh, and zeroed
by the kernel, at every allocation: 6 % of an airbench step's CPU time went to clearing their
pages. So ``mmap`` is also switched off for blocks (``M_MMAP_MAX = 0``): every block comes from
the heap (threads other than the main one still map blocks larger than their 64 MiB
arenas). The cost is memory kept after a peak rather than returned: a freed block goes back to
the kernel only when it lies at the top of the heap.

flambeau applies it at import on Linux with glibc, for the whole process (the settings are
glibc's, not per library). ``FLAMBEAU_RETAIN_MEMORY=0`` in the environment leaves the allocator
alone, and so do settings of the user's own (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``,
``MALLOC_TOP_PAD_``, ``MALLOC_MMAP_MAX_``, or ``glibc.malloc`` tunables in ``GLIBC_TUNABLES``); on other C libraries
(macOS, musl, Windows) nothing is done.
"""
from __future__ import annotations

import ctypes
import os
import sys

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -2, -3, -4

MMAP_THRESHOLD = 32 << 20     # glibc's largest allowed value on 64-bit
TRIM_THRESHOLD = 512 << 20
TOP_PAD = 64 << 20
MMAP_MAX = 0                  # no block is served by mmap

_applied = None


_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")


def retain_freed_memory():
    """Set glibc's thresholds as described above; True if they were set (once per process)."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    env = os.environ
    if (not sys.platform.startswith("linux") or env.get("FLAMBEAU_RETAIN_MEMORY", "1") == "0"
            or any(v in env for v in _USER_SETTINGS) or "glibc.malloc" in env.get("GLIBC_TUNABLES", "")):
        return False
    try:
        libc = ctypes.CDLL(None)             # the C library the process runs on, no search
        libc.gnu_get_libc_version            # glibc only (musl has no mallopt parameters to match)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    results = [mallopt(p, v) == 1 for p, v in ((M_MMAP_THRESHOLD, MMAP_THRESHOLD),
                                               (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
                                               (M_TOP_PAD, TOP_PAD),
                                               (M_MMAP_MAX, MMAP_MAX))]
    _applied = all(results)
    return _applied
