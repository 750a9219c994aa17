"""Random numbers: ``Generator``, ``manual_seed``, ``seed`` and the default generator.

A Generator wraps NumPy's PCG64 bit generator: the same seed gives bit-identical numbers on
every run and platform. Streams are flambeau's own; they do not reproduce PyTorch's numbers.
"""
from __future__ import annotations

import numpy as np


class Generator:
    """``torch.Generator``: a seeded source of random numbers."""

    def __init__(self, device="cpu"):
        self._seed = 67280421310721  # PyTorch's default seed value
        self._rng = np.random.Generator(np.random.PCG64(self._seed))
        self.device = device

    def manual_seed(self, seed):
        seed = int(seed)
        if seed < 0:
            seed += 1 << 64
        self._seed = seed
        self._rng = np.random.Generator(np.random.PCG64(seed))
        return self

    def seed(self):
        s = int(np.random.SeedSequence().entropy) & ((1 << 63) - 1)
        self.manual_seed(s)
        return s

    def initial_seed(self):
        return self._seed

    def get_state(self):
        from ._creation import tensor
        st = self._rng.bit_generator.state
        words = [st["state"]["state"], st["state"]["inc"], st["has_uint32"], st["uinteger"]]
        raw = b"".join(int(w).to_bytes(16, "little") for w in words)
        return tensor(list(raw), dtype=__import__("flambeau").uint8)

    def set_state(self, state):
        raw = bytes(state.numpy().tolist())
        words = [int.from_bytes(raw[i:i + 16], "little") for i in range(0, 64, 16)]
        self._rng.bit_generator.state = {"bit_generator": "PCG64",
                                         "state": {"state": words[0], "inc": words[1]},
                                         "has_uint32": words[2], "uinteger": words[3]}
        return self

    @property
    def rng(self) -> np.random.Generator:
        return self._rng


default_generator = Generator()


def manual_seed(seed):
    """Seed the default generator (``torch.manual_seed``); returns it."""
    return default_generator.manual_seed(seed)


def seed():
    return default_generator.seed()


def initial_seed():
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(state):
    default_generator.set_state(state)


def rng(generator=None) -> np.random.Generator:
    return (generator or default_generator)._rng


def _float_work_dtype(dtype):
    dt = np.dtype(dtype)
    return dt if dt in (np.float32, np.float64) else np.dtype(np.float32)


def uniform(generator, a, b, shape, dtype=np.float32):
    """U(a, b) samples drawn directly in float32/float64 (no float64 detour for float32)."""
    dt = _float_work_dtype(dtype)
    out = rng(generator).random(shape, dtype=dt)
    out *= dt.type(b - a)
    out += dt.type(a)
    return out


def normal(generator, mean, std, shape, dtype=np.float32):
    """N(mean, std²) samples drawn directly in float32/float64."""
    dt = _float_work_dtype(dtype)
    out = rng(generator).standard_normal(shape, dtype=dt)
    if std != 1:
        out *= dt.type(std)
    if mean != 0:
        out += dt.type(mean)
    return out
