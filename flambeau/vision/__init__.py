"""``flambeau.vision`` plays torchvision's role: ``datasets``, ``transforms``, ``utils``, ``models``.

flambeau has no PIL dependency: datasets return NumPy uint8 images (``H×W`` or ``H×W×C``) and the
transforms work on those and on ``[..., C, H, W]`` tensors.
"""
import importlib

from . import datasets, io, transforms, utils  # noqa: F401

__all__ = ["datasets", "io", "models", "transforms", "utils"]


def __getattr__(name):
    if name == "models":
        return importlib.import_module(".models", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
