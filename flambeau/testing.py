"""``flambeau.testing`` (``torch.testing``): ``assert_close`` and ``make_tensor``.

``assert_close`` compares Tensors, Python scalars, and (nested) sequences and mappings of them
with PyTorch's default tolerances per dtype, and fails with PyTorch's messages ("Tensor-likes
are not close!", the mismatch count, the greatest absolute and relative differences).
"""
from __future__ import annotations

import collections.abc
import math
import numbers

import numpy as np

from . import _dtype as D
from . import random as _random
from ._tensor import Tensor

__all__ = ["assert_close", "make_tensor"]

# (rtol, atol) per dtype, as torch.testing._comparison._DTYPE_PRECISIONS
_DTYPE_PRECISIONS = {np.dtype(np.float16): (0.001, 1e-5), np.dtype(np.float32): (1.3e-6, 1e-5),
                     np.dtype(np.float64): (1e-7, 1e-7), np.dtype(np.complex64): (1.3e-6, 1e-5),
                     np.dtype(np.complex128): (1e-7, 1e-7)}


class _Fail(Exception):
    def __init__(self, type_, msg, id_=()):
        super().__init__(msg)
        self.type, self.msg, self.id = type_, msg, id_

    def to_error(self, user_msg):
        msg = self.msg
        if self.id:
            msg += f"\n\nThe failure occurred for item {''.join(f'[{i!r}]' for i in self.id)}"
        if isinstance(user_msg, str):
            msg = user_msg
        elif callable(user_msg):
            msg = user_msg(msg)
        return self.type(msg)


def _tolerances(*dtypes, rtol, atol):
    if (rtol is None) ^ (atol is None):
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got no "
                         f"{'rtol' if rtol is None else 'atol'}.")
    if rtol is not None:
        return rtol, atol
    rtols, atols = zip(*(_DTYPE_PRECISIONS.get(np.dtype(d), (0.0, 0.0)) for d in dtypes))
    return max(rtols), max(atols)


def _fl_dtype(dt):
    return D.from_numpy_dtype(dt)


def _make_mismatch_msg(*, identifier, extra, abs_diff, abs_diff_idx, atol, rel_diff, rel_diff_idx, rtol):
    equality = rtol == 0 and atol == 0

    def diff_msg(kind, diff, idx, tol):
        msg = f"{kind.title()} difference: {diff}" if idx is None else \
            f"Greatest {kind} difference: {diff} at index {idx}"
        if not equality:
            msg += f" (up to {tol} allowed)"
        return msg + "\n"
    msg = f"{identifier} are not {'equal' if equality else 'close'}!\n\n"
    if extra:
        msg += f"{extra.strip()}\n"
    msg += diff_msg("absolute", abs_diff, abs_diff_idx, atol)
    msg += diff_msg("relative", rel_diff, rel_diff_idx, rtol)
    return msg.strip()


def _isclose(a, e, rtol, atol, equal_nan):
    if a.dtype == np.bool_ or a.dtype.kind in "iu" and rtol == 0 and atol == 0:
        return a == e
    with np.errstate(all="ignore"):
        close = (a == e) | (np.isfinite(a) & np.isfinite(e) & (np.abs(a - e) <= atol + rtol * np.abs(e)))
    if equal_nan:
        close |= np.isnan(a) & np.isnan(e)
    return close


def _compare_scalars(actual, expected, rtol, atol, equal_nan):
    if type(actual) is not type(expected):
        raise _Fail(AssertionError, f"The (d)types do not match: {type(actual)} != {type(expected)}.")
    dtype = {bool: np.bool_, int: np.int64, float: np.float64, complex: np.complex128}.get(type(actual),
                                                                                            np.float64)
    rtol, atol = _tolerances(dtype, rtol=rtol, atol=atol)
    a, e = np.asarray(actual, dtype), np.asarray(expected, dtype)
    if bool(_isclose(a, e, rtol, atol, equal_nan)):
        return
    abs_diff = abs(actual - expected)
    rel_diff = float("inf") if expected == 0 else abs_diff / abs(expected)
    raise _Fail(AssertionError, _make_mismatch_msg(
        identifier="Scalars", extra=f"Expected {expected} but got {actual}.", abs_diff=abs_diff, abs_diff_idx=None,
        atol=atol, rel_diff=rel_diff, rel_diff_idx=None, rtol=rtol))


def _compare_tensors(actual, expected, rtol, atol, equal_nan, check_dtype, check_stride):
    a, e = actual._data, expected._data
    if a.shape != e.shape:
        raise _Fail(AssertionError, f"The values for attribute 'shape' do not match: {actual.shape} != "
                                    f"{expected.shape}.")
    if check_dtype and a.dtype != e.dtype:
        raise _Fail(AssertionError, f"The values for attribute 'dtype' do not match: {actual.dtype} != "
                                    f"{expected.dtype}.")
    if check_stride and actual.stride() != expected.stride():
        raise _Fail(AssertionError, f"The values for attribute 'stride()' do not match: {actual.stride()} != "
                                    f"{expected.stride()}.")
    rtol, atol = _tolerances(a.dtype, e.dtype, rtol=rtol, atol=atol)
    if a.dtype != e.dtype:
        common = D.promote_types(actual.dtype, expected.dtype).np
        a, e = a.astype(common), e.astype(common)
    matches = _isclose(a, e, rtol, atol, equal_nan)
    if matches.all():
        return
    if a.ndim == 0:
        raise _Fail(AssertionError, _scalar_msg(a.item(), e.item(), rtol, atol))
    n = matches.size
    bad = n - int(matches.sum())
    extra = f"Mismatched elements: {bad} / {n} ({bad / n:.1%})"
    af, ef, mf = a.reshape(-1), e.reshape(-1), matches.reshape(-1)
    if a.dtype.kind not in "fc":
        af, ef = af.astype(np.int64), ef.astype(np.int64)
    with np.errstate(all="ignore"):
        abs_diff = np.abs(af - ef)
        abs_diff[mf] = 0
        rel_diff = abs_diff / np.abs(ef)
        if a.dtype.kind not in "fc":
            rel_diff = rel_diff.astype(D.get_default_dtype().np)
    rel_diff[mf] = 0
    ia, ir = _argmax_nan(abs_diff), _argmax_nan(rel_diff)
    raise _Fail(AssertionError, _make_mismatch_msg(
        identifier="Tensor-likes", extra=extra, abs_diff=abs_diff[ia].item(),
        abs_diff_idx=tuple(int(i) for i in np.unravel_index(ia, a.shape)), atol=atol,
        rel_diff=rel_diff[ir].item(), rel_diff_idx=tuple(int(i) for i in np.unravel_index(ir, a.shape)), rtol=rtol))


def _argmax_nan(x):
    """torch.max semantics: a NaN is the maximum (the first one)."""
    nan = np.isnan(x) if x.dtype.kind in "fc" else None
    if nan is not None and nan.any():
        return int(np.argmax(nan))
    return int(np.argmax(x))


def _scalar_msg(actual, expected, rtol, atol):
    abs_diff = abs(actual - expected)
    rel_diff = float("inf") if expected == 0 else abs_diff / abs(expected)
    return _make_mismatch_msg(identifier="Scalars", extra=f"Expected {expected} but got {actual}.",
                              abs_diff=abs_diff, abs_diff_idx=None, atol=atol, rel_diff=rel_diff, rel_diff_idx=None,
                              rtol=rtol)


def _is_scalar(x):
    return isinstance(x, (bool, numbers.Number)) and not isinstance(x, np.ndarray)


def _compare(actual, expected, id_, opts):
    # NumPy arrays compare as tensors, as PyTorch's assert_close does (a pair of arrays, or an
    # array against a tensor)
    if isinstance(actual, np.ndarray) and isinstance(expected, (np.ndarray, Tensor)):
        actual = Tensor._make(actual)
    if isinstance(expected, np.ndarray) and isinstance(actual, Tensor):
        expected = Tensor._make(expected)
    try:
        if isinstance(actual, Tensor) and isinstance(expected, Tensor):
            _compare_tensors(actual, expected, opts["rtol"], opts["atol"], opts["equal_nan"], opts["check_dtype"],
                             opts["check_stride"])
            return
        if _is_scalar(actual) and _is_scalar(expected):
            _compare_scalars(actual, expected, opts["rtol"], opts["atol"], opts["equal_nan"])
            return
    except _Fail as f:
        f.id = id_
        raise
    seq = collections.abc.Sequence
    if isinstance(actual, seq) and isinstance(expected, seq) and not isinstance(actual, str) \
            and not isinstance(expected, str):
        if len(actual) != len(expected):
            raise _Fail(AssertionError, f"The length of the sequences mismatch: {len(actual)} != {len(expected)}",
                        id_)
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, id_ + (i,), opts)
        return
    mapping = collections.abc.Mapping
    if isinstance(actual, mapping) and isinstance(expected, mapping):
        ka, ke = set(actual.keys()), set(expected.keys())
        if ka != ke:
            missing, extra = ke - ka, ka - ke
            raise _Fail(AssertionError, f"The keys of the mappings do not match:\nMissing keys in the actual "
                                        f"mapping: {sorted(missing, key=str)}\nExtra keys in the actual mapping: "
                                        f"{sorted(extra, key=str)}", id_)
        for k in expected.keys():
            _compare(actual[k], expected[k], id_ + (k,), opts)
        return
    raise _Fail(TypeError, f"No comparison pair was able to handle inputs of type {type(actual)} and "
                           f"{type(expected)}.", id_)


def assert_close(actual, expected, *, allow_subclasses=True, rtol=None, atol=None, equal_nan=False,
                 check_device=True, check_dtype=True, check_layout=True, check_stride=False, msg=None):
    """``torch.testing.assert_close``: raise AssertionError unless ``|actual - expected| <= atol +
    rtol * |expected|`` elementwise (defaults per dtype: float32 1.3e-6 / 1e-5, float64 1e-7 / 1e-7,
    float16 1e-3 / 1e-5, integers and bool exact). ``msg`` replaces the message (a callable gets
    the generated one). Device and layout are always cpu / strided here."""
    if (rtol is None) ^ (atol is None):
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got no "
                         f"{'rtol' if rtol is None else 'atol'}.")
    opts = dict(rtol=rtol, atol=atol, equal_nan=equal_nan, check_dtype=check_dtype, check_stride=check_stride)
    try:
        _compare(actual, expected, (), opts)
    except _Fail as f:
        raise f.to_error(msg) from None


def make_tensor(*shape, dtype, device=None, low=None, high=None, requires_grad=False, noncontiguous=False,
                exclude_zero=False, memory_format=None):
    """``torch.testing.make_tensor``: a tensor of random values from flambeau's generator, uniform
    in [low, high) (floats default [-9, 9]; integers [-9, 10) or [0, 10) when unsigned; bool
    random)."""
    if len(shape) == 1 and isinstance(shape[0], collections.abc.Sequence):
        shape = tuple(shape[0])
    shape = tuple(int(s) for s in shape)
    dt = D.as_dtype(dtype)
    npdt = dt.np
    if requires_grad and npdt.kind not in "fc":
        raise ValueError(f"`requires_grad=True` is not supported for boolean and integral dtypes, but got "
                         f"dtype={dt}")
    gen = _random.rng()
    if npdt == np.bool_:
        arr = gen.integers(0, 2, shape).astype(np.bool_)
    else:
        if npdt.kind in "iu":
            info = np.iinfo(npdt)
            lo_default, hi_default = (0 if npdt.kind == "u" else -9), 10
            lo_bound, hi_bound = info.min, info.max
        else:
            info = np.finfo(npdt)
            lo_default, hi_default = -9, 9
            lo_bound, hi_bound = float(info.min), float(info.max)
        low = lo_default if low is None else low
        high = hi_default if high is None else high
        if (isinstance(low, float) and math.isnan(low)) or (isinstance(high, float) and math.isnan(high)):
            raise ValueError(f"`low` and `high` cannot be NaN, but got low={low} and high={high}")
        if npdt.kind in "iu" or low != high:
            if low >= high if npdt.kind in "iu" else low > high:
                raise ValueError(f"`low` must be less than `high`, but got {low} >= {high}")
        low, high = max(low, lo_bound), min(high, hi_bound)
        if npdt.kind in "iu":
            arr = gen.integers(math.ceil(low), math.ceil(high), shape).astype(npdt)
        elif low == high:
            arr = np.full(shape, low, npdt)
        else:
            work = _random._float_work_dtype(npdt)
            arr = (gen.random(shape, dtype=work) * work.type(high - low) + work.type(low)).astype(npdt)
        if exclude_zero:
            eps = np.finfo(npdt).tiny if npdt.kind == "f" else 1
            arr = np.where(arr == 0, npdt.type(eps if npdt.kind == "f" else 1), arr).astype(npdt)
    t = Tensor._make(np.ascontiguousarray(arr))
    if noncontiguous and t.numel() > 1:
        t = Tensor._make(np.repeat(arr, 2, axis=-1)[..., ::2])
    if requires_grad:
        t.requires_grad_(True)
    return t
