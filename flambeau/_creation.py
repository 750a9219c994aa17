"""Tensor creation: ``tensor``, ``zeros``, ``arange``, ``rand`` … and the legacy
``FloatTensor``-style constructors."""
from __future__ import annotations

import builtins

import numpy as np

from . import _dtype as D
from .backend import check_device
from ._tensor import Tensor, _wrap
from .ops._util import shape_arg
from .random import rng


def _finish(arr, requires_grad=False, device=None):
    check_device(device)
    t = _wrap(arr)
    if requires_grad:
        t.requires_grad = True
    return t


def _ragged_message(data):
    """PyTorch's message for nested sequences of unequal lengths."""
    level = [data]
    dim = 0
    while level and builtins.all(isinstance(x, (list, tuple)) for x in level):
        n = len(level[0])
        for x in level:
            if len(x) != n:
                return f"expected sequence of length {n} at dim {dim} (got {len(x)})"
        level = [y for x in level for y in x]
        dim += 1
    return "expected a rectangular nested sequence"


def _infer_np(data, dtype):
    """NumPy array from nested lists/scalars with PyTorch's default dtypes."""
    try:
        return _infer_np_inner(data, dtype)
    except ValueError as e:
        if isinstance(data, (list, tuple)) and "inhomogeneous" in str(e):
            raise ValueError(_ragged_message(data)) from None
        raise


def _infer_np_inner(data, dtype):
    if dtype is not None:
        dt = D.as_dtype(dtype).np
        try:
            return np.array(data, dtype=dt)
        except OverflowError:
            raise RuntimeError(f"value cannot be converted to type {dt.name} without overflow") from None
    arr = np.array(data)
    k = arr.dtype.kind
    if k == "f":
        return arr.astype(D.get_default_dtype().np, copy=False)
    if k in "iu":
        return arr.astype(np.int64, copy=False)
    if k == "b":
        return arr
    if k == "O":
        raise TypeError("could not build a tensor from this data (ragged nested sequences or "
                        "unsupported element types)")
    raise TypeError(f"can't convert data of NumPy dtype {arr.dtype} to a tensor")


def _from_data(data, dtype):
    if isinstance(data, Tensor):
        arr = data._data.copy()
        return arr if dtype is None else arr.astype(D.as_dtype(dtype).np)
    if isinstance(data, np.generic):  # a NumPy scalar keeps its dtype, like a 0-d array
        data = np.asarray(data)
    if isinstance(data, np.ndarray):
        if dtype is None:
            if data.dtype.kind == "O" or data.dtype not in D._FROM_NP:
                raise TypeError(f"can't convert np.ndarray of type {data.dtype}; supported: float64, float32, "
                                "float16, int64, int32, int16, int8, uint8, and bool")
            return data.copy()
        return data.astype(D.as_dtype(dtype).np)
    if isinstance(data, (list, tuple)) and data and builtins.any(isinstance(x, Tensor) for x in _flat_first(data)):
        data = _lists_from_tensors(data)
    return _infer_np(data, dtype)


def _flat_first(data):
    while isinstance(data, (list, tuple)) and data:
        yield from (x for x in data if isinstance(x, Tensor))
        data = data[0]


def _lists_from_tensors(data):
    if isinstance(data, Tensor):
        return data._data
    if isinstance(data, (list, tuple)):
        items = [_lists_from_tensors(x) for x in data]
        if items and builtins.all(isinstance(x, np.ndarray) for x in items):
            return np.stack(items)
        return items
    return data


def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor that owns a copy of ``data`` (``torch.tensor``)."""
    return _finish(_from_data(data, dtype), requires_grad, device)


def as_tensor(data, dtype=None, device=None):
    """Share memory with ``data`` where possible (``torch.as_tensor``)."""
    check_device(device)
    if isinstance(data, Tensor):
        return data if dtype is None or data.dtype is D.as_dtype(dtype) else data.to(dtype)
    if isinstance(data, np.ndarray) and data.dtype in D._FROM_NP:
        if dtype is None or D.as_dtype(dtype).np == data.dtype:
            return _wrap(data)
        return _wrap(data.astype(D.as_dtype(dtype).np))
    return tensor(data, dtype=dtype)


asarray = as_tensor


def from_numpy(ndarray):
    """A tensor sharing ``ndarray``'s memory (``torch.from_numpy``)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    if ndarray.dtype not in D._FROM_NP:
        raise TypeError(f"can't convert np.ndarray of type numpy.{ndarray.dtype}. The only supported types "
                        "are: float64, float32, float16, int64, int32, int16, int8, uint8, and bool.")
    return _wrap(ndarray)


def _dt(dtype, default=None):
    return D.as_dtype(dtype).np if dtype is not None else (default or D.get_default_dtype()).np


def zeros(*size, out=None, dtype=None, device=None, requires_grad=False, layout=None):
    return _finish(np.zeros(shape_arg(size, "zeros"), _dt(dtype)), requires_grad, device)


def ones(*size, out=None, dtype=None, device=None, requires_grad=False, layout=None):
    return _finish(np.ones(shape_arg(size, "ones"), _dt(dtype)), requires_grad, device)


def empty(*size, out=None, dtype=None, device=None, requires_grad=False, layout=None, memory_format=None,
          pin_memory=False):
    return _finish(np.empty(shape_arg(size, "empty"), _dt(dtype)), requires_grad, device)


def full(size, fill_value, *, out=None, dtype=None, device=None, requires_grad=False, layout=None):
    if dtype is None:
        dtype = (D.bool_ if isinstance(fill_value, builtins.bool) else
                 D.int64 if isinstance(fill_value, (builtins.int, np.integer)) else D.get_default_dtype())
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    return _finish(np.full(shape_arg((size,), "full"), fill_value, D.as_dtype(dtype).np), requires_grad, device)


def _like(input, dtype):
    return input._data.dtype if dtype is None else D.as_dtype(dtype).np


def zeros_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None, layout=None):
    return _finish(np.zeros(input._data.shape, _like(input, dtype)), requires_grad, device)


def ones_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None, layout=None):
    return _finish(np.ones(input._data.shape, _like(input, dtype)), requires_grad, device)


def empty_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None, layout=None):
    return _finish(np.empty(input._data.shape, _like(input, dtype)), requires_grad, device)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False, memory_format=None,
              layout=None):
    return _finish(np.full(input._data.shape, fill_value, _like(input, dtype)), requires_grad, device)


def eye(n, m=None, *, out=None, dtype=None, device=None, requires_grad=False, layout=None):
    return _finish(np.eye(n, n if m is None else m, dtype=_dt(dtype)), requires_grad, device)


def arange(start, end=None, step=1, *, out=None, dtype=None, device=None, requires_grad=False, layout=None):
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if dtype is None:
        is_int = builtins.all(isinstance(v, (builtins.int, np.integer)) for v in vals)
        dtype = D.int64 if is_int else D.get_default_dtype()
    dt = D.as_dtype(dtype).np
    start, end, step = vals
    if (step > 0 and start > end) or (step < 0 and start < end):
        raise RuntimeError("upper bound and larger bound inconsistent with step sign")
    # compute in float64 then cast, so float32 ranges have PyTorch's length and values
    n = builtins.max(0, int(np.ceil((end - start) / step)))
    arr = (start + step * np.arange(n, dtype=np.float64)).astype(dt) if dt.kind == "f" else \
        np.arange(start, end, step, dtype=dt)
    return _finish(arr, requires_grad, device)


def range_(start, end, step=1, *, dtype=None, device=None, requires_grad=False):
    return arange(start, end + step / 2 if step > 0 else end - step / 2, step, dtype=dtype,
                  device=device, requires_grad=requires_grad)


def linspace(start, end, steps, *, out=None, dtype=None, device=None, requires_grad=False, layout=None):
    return _finish(np.linspace(start, end, int(steps), dtype=np.float64).astype(_dt(dtype)), requires_grad, device)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False):
    return _finish(np.logspace(start, end, int(steps), base=base).astype(_dt(dtype)), requires_grad, device)


# ---------------------------------------------------------------------------- random
def rand(*size, generator=None, out=None, dtype=None, device=None, requires_grad=False, layout=None):
    return _finish(rng(generator).random(shape_arg(size, "rand"), dtype=np.float64).astype(_dt(dtype))
                   if _dt(dtype) not in (np.float32, np.float64) else
                   rng(generator).random(shape_arg(size, "rand"), dtype=_dt(dtype)), requires_grad, device)


def randn(*size, generator=None, out=None, dtype=None, device=None, requires_grad=False, layout=None):
    dt = _dt(dtype)
    g = rng(generator)
    arr = g.standard_normal(shape_arg(size, "randn"), dtype=dt) if dt in (np.float32, np.float64) else \
        g.standard_normal(shape_arg(size, "randn")).astype(dt)
    return _finish(arr, requires_grad, device)


def randint(low, high=None, size=None, *, generator=None, out=None, dtype=None, device=None, requires_grad=False,
            layout=None):
    if size is None:  # randint(high, size)
        if high is None:
            raise TypeError("randint() missing required argument 'size'")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    return _finish(rng(generator).integers(low, high, size=tuple(size), dtype=np.int64).astype(
        _dt(dtype, D.int64)), requires_grad, device)


def randperm(n, *, generator=None, out=None, dtype=None, device=None, requires_grad=False, layout=None):
    return _finish(rng(generator).permutation(int(n)).astype(_dt(dtype, D.int64)), requires_grad, device)


def rand_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None, layout=None):
    return rand(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def randn_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None, layout=None):
    return randn(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def randint_like(input, low=0, high=None, *, dtype=None, device=None, requires_grad=False):
    if high is None:
        low, high = 0, low
    return randint(low, high, input.shape, dtype=dtype or input.dtype)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, out=None, dtype=None, device=None,
           requires_grad=False):
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        m = mean._data if isinstance(mean, Tensor) else mean
        s = std._data if isinstance(std, Tensor) else std
        shape = np.broadcast_shapes(np.shape(m), np.shape(s))
        dt = (mean if isinstance(mean, Tensor) else std)._data.dtype
        return _wrap((m + s * rng(generator).standard_normal(shape)).astype(dt))
    return _finish((mean + std * rng(generator).standard_normal(tuple(size))).astype(_dt(dtype)), requires_grad,
                   device)


def bernoulli(input, p=None, *, generator=None, out=None):
    probs = input._data if p is None else np.full(input._data.shape, p)
    return _wrap((rng(generator).random(input._data.shape) < probs).astype(input._data.dtype))


def multinomial(input, num_samples, replacement=False, *, generator=None, out=None):
    p = input._data.astype(np.float64)
    if np.any(p < 0) or not np.all(np.isfinite(p)):
        raise RuntimeError("multinomial: probability tensor contains either `inf`, `nan` or element < 0")
    two_d = p.ndim == 2
    p2 = p if two_d else p[None]
    g = rng(generator)
    out = np.empty((p2.shape[0], num_samples), np.int64)
    for r in range(p2.shape[0]):  # rows are independent draws; rows are few in practice
        row = p2[r]
        s = row.sum()
        if s <= 0:
            raise RuntimeError("multinomial: invalid multinomial distribution (sum of probabilities <= 0)")
        if not replacement and num_samples > np.count_nonzero(row):
            raise RuntimeError("multinomial: cannot sample n_sample > prob_dist.size(-1) samples without "
                               "replacement")
        out[r] = g.choice(row.size, size=num_samples, replace=replacement, p=row / s)
    return _wrap(out if two_d else out[0])


def poisson(input, generator=None):
    return _wrap(rng(generator).poisson(input._data).astype(input._data.dtype))


# ---------------------------------------------------------------------------- legacy typed constructors
def _legacy(dt, name):
    def ctor(*args, device=None):
        check_device(device)
        if len(args) == 1 and not isinstance(args[0], (builtins.int, np.integer)):
            data = args[0]
            if isinstance(data, Tensor):
                return _wrap(data._data.astype(dt.np, copy=False))
            return _wrap(_infer_np(data, dt))
        return _wrap(np.zeros(shape_arg(args, name), dt.np))  # FloatTensor(2, 3): a new (2, 3) tensor
    ctor.__name__ = name
    ctor.__doc__ = f"``torch.{name}``: a {dt.name} tensor from data, or of the given size."
    return ctor


FloatTensor = _legacy(D.float32, "FloatTensor")
DoubleTensor = _legacy(D.float64, "DoubleTensor")
HalfTensor = _legacy(D.float16, "HalfTensor")
LongTensor = _legacy(D.int64, "LongTensor")
IntTensor = _legacy(D.int32, "IntTensor")
ShortTensor = _legacy(D.int16, "ShortTensor")
CharTensor = _legacy(D.int8, "CharTensor")
ByteTensor = _legacy(D.uint8, "ByteTensor")
BoolTensor = _legacy(D.bool_, "BoolTensor")

