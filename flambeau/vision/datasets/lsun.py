"""``LSUN`` (``torchvision.datasets.LSUN``): the class with torchvision's signature.

LSUN is distributed as LMDB databases (one per category, read through the ``lmdb`` package),
a format flambeau does not read. Constructing the dataset raises a RuntimeError saying so; export
the images to files (``root/<category>/<image>.jpg``) and use :class:`ImageFolder` instead.
"""
from __future__ import annotations

from .utils import VisionDataset

__all__ = ["LSUN", "LSUNClass"]

_CATEGORIES = ["bedroom", "bridge", "church_outdoor", "classroom", "conference_room", "dining_room", "kitchen",
               "living_room", "restaurant", "tower"]

_UNSUPPORTED = ("LSUN is stored as LMDB databases, and flambeau does not read the LMDB format. Export the images to "
                "files (one folder per category, e.g. with LSUN's own export script) and load them with "
                "flambeau.vision.datasets.ImageFolder(root, transform=...)")


def _verify_classes(classes):
    """torchvision's argument check: 'train'/'val'/'test', or a list of '<category>_<train|val>'."""
    dset_opts = ["train", "val", "test"]
    if isinstance(classes, str):
        if classes not in dset_opts:
            raise ValueError(f"Unknown value '{classes}' for argument classes. Valid values are "
                             f"{{{', '.join(repr(o) for o in dset_opts)}}}.")
        return [c + "_" + classes for c in _CATEGORIES] if classes != "test" else ["test"]
    if not isinstance(classes, (list, tuple)):
        raise ValueError(f"Expected type str or Iterable for argument classes, but got type {type(classes)}.")
    out = []
    for c in classes:
        if not isinstance(c, str):
            raise ValueError(f"Expected type str for elements in argument classes, but got type {type(c)}.")
        category, _, split = c.rpartition("_")
        if category not in _CATEGORIES or split not in ("train", "val"):
            raise ValueError(f"Unknown LSUN class {c!r}: expected '<category>_train' or '<category>_val' with a "
                             f"category in {', '.join(_CATEGORIES)}")
        out.append(c)
    return out


class LSUNClass(VisionDataset):
    """One LSUN category database (``root`` is its ``.lmdb`` folder): not readable by flambeau."""

    def __init__(self, root, transform=None, target_transform=None):
        super().__init__(root, transform=transform, target_transform=target_transform)
        raise RuntimeError(f"LSUNClass({root!r}): {_UNSUPPORTED}")


class LSUN(VisionDataset):
    """``LSUN(root, classes='train', transform=None, target_transform=None)``.

    The arguments are checked as torchvision checks them; then construction raises RuntimeError,
    because the LSUN LMDB databases cannot be read by flambeau (use ImageFolder on exported images).
    """

    def __init__(self, root, classes="train", transform=None, target_transform=None):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.classes = _verify_classes(classes)
        raise RuntimeError(f"LSUN({root!r}, classes={classes!r}): {_UNSUPPORTED}")
