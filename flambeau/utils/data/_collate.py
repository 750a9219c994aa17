"""``default_collate`` / ``default_convert`` (``torch.utils.data.default_collate``) and the
pre-collated batch that datasets return from ``__getitems__`` when they can gather a whole batch
with array operations."""
from __future__ import annotations

import collections.abc
import re

import numpy as np

from ..._tensor import Tensor, _wrap

default_collate_err_msg_format = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}")

_np_str_obj_array_pattern = re.compile(r"[SaUO]")


class CollatedBatch(collections.abc.Sequence):
    """A batch fetched in one go by a dataset's ``__getitems__``.

    It is a sequence of samples, as ``__getitems__`` promises (``batch[k]`` is exactly
    ``dataset[indices[k]]``, computed on first access), and it also carries ``collated``: the
    value ``default_collate`` would build from those samples, already assembled with one
    fancy-index per field. ``default_collate`` returns that value directly, so a DataLoader over an
    in-memory dataset does no per-sample Python work; a custom ``collate_fn`` still sees ordinary
    samples.
    """

    __slots__ = ("collated", "_fetch", "_indices", "_items")

    def __init__(self, collated, indices, fetch):
        self.collated = collated
        self._indices = list(indices)
        self._fetch = fetch
        self._items = None

    def _materialise(self):
        if self._items is None:
            self._items = [self._fetch(i) for i in self._indices]
        return self._items

    def __len__(self):
        return len(self._indices)

    def __getitem__(self, k):
        return self._materialise()[k]

    def __iter__(self):
        return iter(self._materialise())

    def __eq__(self, other):
        if isinstance(other, (list, tuple, CollatedBatch)):
            return list(self) == list(other)
        return NotImplemented

    def __repr__(self):
        return f"CollatedBatch(size={len(self)})"


def _as_tensor_np(arr):
    from ..._creation import as_tensor
    return as_tensor(arr)


def _stack(tensors):
    if any(t._requires_grad for t in tensors):
        from ...ops import stack
        return stack(tensors, 0)
    shape = tensors[0]._data.shape
    for i, t in enumerate(tensors):
        if t._data.shape != shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 "
                               f"and {list(t._data.shape)} at entry {i}")
    return _wrap(np.stack([t._data for t in tensors]))


def default_collate(batch):
    """Merge a list of samples into a batch, like ``torch.utils.data.default_collate``.

    Tensors are stacked along a new first dimension; NumPy arrays become tensors and are stacked;
    Python ints become an int64 tensor, floats a float64 tensor, bools a bool tensor; strings and
    bytes stay a list; dicts, namedtuples, tuples and lists are collated field by field (a tuple of
    fields gives a list, as in PyTorch).
    """
    if type(batch) is CollatedBatch:
        return batch.collated
    batch = list(batch) if not isinstance(batch, (list, tuple)) else batch
    if len(batch) == 0:
        raise IndexError("default_collate: the batch is empty")
    elem = batch[0]
    elem_type = type(elem)
    if isinstance(elem, Tensor):
        return _stack(batch)
    if elem_type.__module__ == "numpy" and elem_type.__name__ not in ("str_", "bytes_"):
        if elem_type.__name__ in ("ndarray", "memmap"):
            if _np_str_obj_array_pattern.search(elem.dtype.str) is not None:
                raise TypeError(default_collate_err_msg_format.format(elem.dtype))
            return default_collate([_as_tensor_np(np.asarray(b)) for b in batch])
        if elem.shape == ():  # NumPy scalar
            return _as_tensor_np(np.asarray(batch))
    if isinstance(elem, bool):
        from ..._creation import tensor
        return tensor(batch)
    if isinstance(elem, float):
        from ..._creation import tensor
        from ... import _dtype as D
        return tensor(batch, dtype=D.float64)
    if isinstance(elem, int):
        from ..._creation import tensor
        from ... import _dtype as D
        return tensor(batch, dtype=D.int64)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                clone = elem.copy() if hasattr(elem, "copy") else dict(elem)
                clone.update({key: default_collate([d[key] for d in batch]) for key in elem})
                return clone
            return elem_type({key: default_collate([d[key] for d in batch]) for key in elem})
        except TypeError:
            return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(default_collate(samples) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        it = iter(batch)
        elem_size = len(next(it))
        if not all(len(e) == elem_size for e in it):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))
        if isinstance(elem, tuple):
            return [default_collate(samples) for samples in transposed]
        try:
            return elem_type([default_collate(samples) for samples in transposed])
        except TypeError:
            return [default_collate(samples) for samples in transposed]
    raise TypeError(default_collate_err_msg_format.format(elem_type))


def default_convert(data):
    """Convert NumPy arrays (also inside dicts/lists/tuples) to tensors; everything else unchanged.
    The collate function of a DataLoader with ``batch_size=None``."""
    elem_type = type(data)
    if isinstance(data, Tensor):
        return data
    if elem_type.__module__ == "numpy" and elem_type.__name__ not in ("str_", "bytes_"):
        if elem_type.__name__ == "ndarray" and _np_str_obj_array_pattern.search(data.dtype.str) is not None:
            return data
        return _as_tensor_np(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        try:
            return elem_type({key: default_convert(data[key]) for key in data})
        except TypeError:
            return {key: default_convert(data[key]) for key in data}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return elem_type(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            return elem_type([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data
