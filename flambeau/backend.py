"""The array backend seam.

Every op computes on backend arrays. Today the backend is NumPy; a CuPy backend plugs in
here: ops call NumPy ufuncs and array methods (which CuPy arrays dispatch through
``__array_ufunc__``/``__array_function__``) and create new arrays only through
:func:`get_array_module`, so no op file needs to change.
"""
from __future__ import annotations

import numpy as np


def get_array_module(*arrays):
    """The array module (``numpy`` or, later, ``cupy``) that owns ``arrays``."""
    return np


class device:
    """``torch.device``: a device type and an optional index (``'cpu'``, ``'cuda:0'``)."""

    __slots__ = ("type", "index")

    def __init__(self, type, index=None):  # noqa: A002 - PyTorch's argument name
        if isinstance(type, device):
            self.type, self.index = type.type, type.index
            return
        if not isinstance(type, str):
            raise TypeError(f"device(): expected a string or device, got {type!r}")
        if ":" in type:
            type, idx = type.split(":", 1)
            if index is not None:
                raise ValueError("device(): index given twice")
            index = int(idx)
        if type not in ("cpu", "cuda", "mps", "meta"):
            raise RuntimeError(f"Expected one of cpu, cuda, mps, meta device type at start of device string: {type}")
        self.type = type
        self.index = index

    def __repr__(self):
        return f"device(type='{self.type}')" if self.index is None else \
            f"device(type='{self.type}', index={self.index})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and self.type == other.type and self.index == other.index

    def __hash__(self):
        return hash((self.type, self.index))


CPU = device("cpu")


def check_device(dev) -> device:
    """Validate a ``device=`` argument; only the CPU backend exists in this build."""
    if dev is None:
        return CPU
    d = dev if isinstance(dev, device) else device(dev) if isinstance(dev, str) else None
    if d is None:
        if isinstance(dev, int):
            d = device("cuda", dev)
        else:
            raise TypeError(f"expected a device, got {dev!r}")
    if d.type != "cpu":
        raise RuntimeError(
            f"flambeau: device '{d}' is not available: this build has only the NumPy CPU backend "
            "(flambeau.cuda.is_available() is False). Use device='cpu'.")
    return CPU
