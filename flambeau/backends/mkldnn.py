"""``torch.backends.mkldnn``: whether float32 convolutions run on oneDNN (see ``flambeau/_onednn.py``).

``enabled`` (default True, as in PyTorch) lets convolutions use oneDNN when it is installed
(``pip install 'flambeau[onednn]'``); set it to False, or use ``with flags(enabled=False):``, to run
flambeau's own NumPy convolution (im2col + GEMM) instead.
"""
from __future__ import annotations

import contextlib
import sys

enabled = True


def is_available() -> bool:
    """Whether oneDNN is installed and loads."""
    from .._onednn import available
    return available()


@contextlib.contextmanager
def flags(enabled=False):
    """``with flags(enabled=...)``: set ``enabled`` inside the block, restore it after."""
    module = sys.modules[__name__]
    old = module.enabled
    module.enabled = bool(enabled)
    try:
        yield
    finally:
        module.enabled = old
