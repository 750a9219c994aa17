"""``flambeau.utils``: data loading (``flambeau.utils.data``), activation checkpointing."""
from . import data, checkpoint  # noqa: F401
