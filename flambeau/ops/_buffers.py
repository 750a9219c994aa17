"""A small per-thread cache of scratch arrays for the hot fused ops (convolution).

A training step calls the same layers with the same shapes every iteration; taking fresh
memory for their temporaries each time costs page faults (the OS hands out zeroed pages one
fault at a time), which measured as a large share of a small convolution. A scratch array is
private to the op that asked for it and never escapes it (it is never returned or saved for
backward), so reusing it on the next call is safe.

``zeroed=True`` buffers start as zeros, and their users rely on a *stable* zero region: e.g. the
border of a padded copy of the input, which is never written, so it is still zero the next
time. The key includes ``tag`` so that buffers with different zero regions are never shared;
callers put every geometry that decides the zero region into the tag.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

_MAX_BYTES = 128 << 20   # total kept per thread; least recently used buffers go first
_local = threading.local()


def scratch(tag, shape, dtype, zeroed=False):
    """A reusable array of ``shape`` and ``dtype`` (contents: see the module docstring)."""
    cache = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = OrderedDict()
        _local.nbytes = 0
    key = (tag, tuple(shape), np.dtype(dtype).str, zeroed)
    buf = cache.get(key)
    if buf is not None:
        cache.move_to_end(key)
        return buf
    buf = (np.zeros if zeroed else np.empty)(shape, dtype)
    if buf.nbytes > _MAX_BYTES // 4:       # too big to keep: the caller's one-off
        return buf
    cache[key] = buf
    _local.nbytes += buf.nbytes
    while _local.nbytes > _MAX_BYTES:
        _, old = cache.popitem(last=False)
        _local.nbytes -= old.nbytes
    return buf


def clear():
    """Drop this thread's cached buffers."""
    _local.cache = OrderedDict()
    _local.nbytes = 0
