"""``flambeau.utils``: data loading (``flambeau.utils.data``)."""
from . import data  # noqa: F401
