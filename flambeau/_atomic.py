"""Atomic file writes: the bytes go to a temporary file in the destination's folder, which is
then renamed over the destination, so a reader never sees a half-written file and an error
leaves the old file (or nothing) in place, never a partial one."""
from __future__ import annotations

import os
import tempfile


def write_bytes(path, data, prefix=".tmp-", suffix=".part", make_dirs=False):
    """Write ``data`` to ``path`` atomically; ``make_dirs``: create the folder if missing."""
    folder = os.path.dirname(os.path.abspath(path))
    if make_dirs:
        os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
