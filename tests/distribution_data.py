"""Random parameters and values for the distribution tests, drawn from a generator reseeded for
every test from its name (tests/distributions/conftest.py): each test sees the same numbers
whatever runs before it."""
import numpy as np


class _Rng:
    """The current generator; ``reseed`` replaces it (modules keep one reference to ``R``)."""

    def __init__(self):
        self._g = np.random.default_rng(0)

    def reseed(self, name):
        self._g = np.random.default_rng(sum(map(ord, name)) * 7919)

    def __getattr__(self, attr):
        return getattr(self._g, attr)


R = _Rng()


def pos(*s, lo=0.5, hi=2.5):
    return R.uniform(lo, hi, s)


def real(*s):
    return R.standard_normal(s)
