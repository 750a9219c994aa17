"""``y ← a·x + b·y`` in one pass: the BLAS level-1 updates (axpy, axpby) of the BLAS NumPy loaded.

An optimizer's update ``p.add_(buf, alpha=-lr)`` costs NumPy two passes over memory and a
temporary (``tmp = buf * -lr``, then ``p += tmp``), and a momentum update ``buf.mul_(m).add_(g)``
two passes more. The BLAS has them as single fused loops: ``axpy`` (``y += a·x``) and ``axpby``
(``y = a·x + b·y``). On a 784×256 weight (200K float32, one thread) SGD with momentum's update
takes 55 µs through them against 109 µs through NumPy. They also round as PyTorch does: ``axpy``
multiplies and adds with one rounding (a fused multiply-add, like ATen's ``add_`` with ``alpha``),
so SGD's parameters come out bitwise PyTorch's (tests/optim/test_blas_updates.py). A call costs
a few microseconds, so arrays below ``MIN_SIZE`` elements stay with NumPy.

NumPy does not expose these routines, so they are called through ``ctypes`` in the library
NumPy itself loaded, which ``threadpoolctl`` (the ``flambeau[train]`` extra, already used to
manage the BLAS's threads) locates. Only OpenBLAS builds whose symbols carry the ``64_`` suffix
of a 64-bit-integer interface are used (NumPy 2's wheels: ``scipy_cblas_saxpy64_``; the same
names without ``scipy_`` are tried too), so the integer arguments' width is known, and a small exact
self-test runs once before first use. Anywhere else (no threadpoolctl, another BLAS) the helpers
answer False and callers use NumPy: the same values, up to the last bit of the rounding.
"""
from __future__ import annotations

import ctypes

import numpy as np

_fns = None        # {(routine, dtype): foreign function}, {} when unavailable


def _candidates():
    from ._threads import _controller
    c = _controller()
    if c is None:
        return []
    return [lib.filepath for lib in c.lib_controllers if lib.internal_api == "openblas"]


def _load():
    global _fns
    _fns = {}
    try:
        paths = _candidates()
    except Exception:       # noqa: BLE001 - any trouble locating the library: NumPy does the work
        return
    i64, vp = ctypes.c_int64, ctypes.c_void_p
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_cblas_", "cblas_"):
            fns = {}
            for t, ct, dt in (("s", ctypes.c_float, np.float32), ("d", ctypes.c_double, np.float64)):
                try:
                    axpy = getattr(lib, f"{prefix}{t}axpy64_")
                    axpby = getattr(lib, f"{prefix}{t}axpby64_")
                except AttributeError:
                    break
                axpy.argtypes, axpy.restype = (i64, ct, vp, i64, vp, i64), None
                axpby.argtypes, axpby.restype = (i64, ct, vp, i64, ct, vp, i64), None
                fns["axpy", np.dtype(dt)] = axpy
                fns["axpby", np.dtype(dt)] = axpby
            if len(fns) == 4 and _self_test(fns):
                _fns = fns
                return


def _self_test(fns):
    """Small integers, whose sums and products are exact whatever the rounding."""
    for dt in (np.float32, np.float64):
        x = np.arange(1, 12, dtype=dt)
        y = np.arange(3, 14, dtype=dt)
        fns["axpy", np.dtype(dt)](11, 2.0, x.ctypes.data, 1, y.ctypes.data, 1)
        if not np.array_equal(y, 2 * np.arange(1, 12) + np.arange(3, 14)):
            return False
        fns["axpby", np.dtype(dt)](11, 3.0, x.ctypes.data, 1, -1.0, y.ctypes.data, 1)
        if not np.array_equal(y, 3 * np.arange(1, 12) - (2 * np.arange(1, 12) + np.arange(3, 14))):
            return False
    return True


# A foreign call costs ~3 us with its argument checks; SGD's update of 32K float32 takes as long
# either way (12 us), of 64K 16 us against NumPy's 22, of 200K 55 against 108:
# below 64K elements NumPy does it (rounding twice instead of once)
MIN_SIZE = 1 << 16


def _usable(y, x):
    return y.dtype == x.dtype and y.shape == x.shape and y.flags.c_contiguous and y.flags.writeable \
        and x.flags.c_contiguous


def available() -> bool:
    """Whether the fused updates run through the BLAS (else the callers use NumPy)."""
    if _fns is None:
        _load()
    return bool(_fns)


def _routine(name, y, x):
    """The foreign function for ``name`` on these arrays, or None (then NumPy does the work).
    The size test comes first: it is the common refusal, on every small parameter's update."""
    if y.size < MIN_SIZE or not available():
        return None
    f = _fns.get((name, y.dtype))
    return f if f is not None and _usable(y, x) else None


def axpy_(y, alpha, x) -> bool:
    """``y += alpha * x`` in place, one rounding per element; False (nothing done) when the
    BLAS cannot take these arrays (the caller then uses NumPy)."""
    f = _routine("axpy", y, x)
    if f is None:
        return False
    f(y.size, alpha, x.ctypes.data, 1, y.ctypes.data, 1)
    return True


def axpby_(y, beta, alpha, x) -> bool:
    """``y = alpha * x + beta * y`` in place (what ``y.mul_(beta).add_(x, alpha=alpha)`` gives);
    False (nothing done) when the BLAS cannot take these arrays."""
    f = _routine("axpby", y, x)
    if f is None:
        return False
    f(y.size, alpha, x.ctypes.data, 1, beta, y.ctypes.data, 1)
    return True
