"""``DataLoader`` (``torch.utils.data.DataLoader``).

Loading always runs in the calling process. ``num_workers``, ``prefetch_factor``,
``persistent_workers``, ``pin_memory``, ``timeout`` and ``multiprocessing_context`` are validated
like PyTorch's and then accepted as hints: batches are produced in order, in-process, so
``worker_init_fn`` is never called and ``get_worker_info()`` returns ``None`` (as in PyTorch's main
process). In-memory datasets do not need workers: a dataset with ``__getitems__`` (``TensorDataset``,
the vision datasets without per-sample random transforms, ``Subset`` of those) hands over each batch
gathered with a single fancy-index.
"""
from __future__ import annotations

import itertools
import multiprocessing as _mp
import warnings

from ...profiler import _recorder as _profiler
from ._collate import default_collate, default_convert
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler


def get_worker_info():
    """``None``: flambeau loads data in the calling process (PyTorch's answer outside workers)."""
    return None


class _InfiniteConstantSampler(Sampler):
    def __iter__(self):
        while True:
            yield None


_LOCKED = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")


class DataLoader:
    """Combines a dataset and a sampler and iterates over batches (``torch.utils.data.DataLoader``)."""

    __initialized = False

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None,
                 persistent_workers=False, pin_memory_device="", in_order=True):
        if not isinstance(num_workers, int) or isinstance(num_workers, bool):
            raise TypeError(f"num_workers should be an int, but got num_workers={num_workers!r}")
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                             "multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing.let "
                             "num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None.")
        elif num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if multiprocessing_context is not None:
            if num_workers == 0:
                raise ValueError("multiprocessing_context can only be used with multi-process loading "
                                 f"(num_workers > 0), but got num_workers={num_workers}")
            if isinstance(multiprocessing_context, str):
                valid = _mp.get_all_start_methods()
                if multiprocessing_context not in valid:
                    raise ValueError(f"multiprocessing_context option should specify a valid start method in "
                                     f"{valid!r}, but got multiprocessing_context={multiprocessing_context!r}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"collate_fn should be callable, but got {type(collate_fn).__name__}")

        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order

        if isinstance(dataset, IterableDataset):
            self._dataset_kind = 1
            if shuffle not in {False, None}:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, "
                                 f"but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler option, "
                                 f"but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified batch_sampler option, "
                                 f"but got batch_sampler={batch_sampler}")
        else:
            shuffle = bool(shuffle)
            self._dataset_kind = 0

        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")

        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, "
                                 "sampler, and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None:
            if drop_last:
                raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive "
                                 "with drop_last")

        if sampler is None:
            if self._dataset_kind == 1:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)

        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers
        self.__initialized = True
        self._IterableDataset_len_called = None

    def __setattr__(self, attr, val):
        if self.__initialized and attr in _LOCKED:
            raise ValueError(f"{attr} attribute should not be set after {type(self).__name__} is initialized")
        super().__setattr__(attr, val)

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __iter__(self):
        return _DataLoaderIter(self)

    def __len__(self):
        if self._dataset_kind == 1:
            length = self._IterableDataset_len_called = len(self.dataset)
            if self.batch_size is not None:
                from math import ceil
                length = length // self.batch_size if self.drop_last else ceil(length / self.batch_size)
            return length
        return len(self._index_sampler)

    def check_worker_number_rationality(self):
        """Workers run in-process in flambeau; nothing to check."""


class _DataLoaderIter:
    """Iterates one epoch. Batches are fetched and collated in the calling process."""

    def __init__(self, loader):
        self._loader = loader
        self._dataset = loader.dataset
        self._kind = loader._dataset_kind
        self._auto = loader._auto_collation
        self._collate = loader.collate_fn
        self._drop_last = loader.drop_last
        self._batch_size = loader.batch_size
        self._num_yielded = 0
        if self._kind == 1:
            self._dataset_iter = iter(self._dataset)
            self._ended = False
        else:
            self._sampler_iter = iter(loader._index_sampler)
            getitems = getattr(self._dataset, "__getitems__", None)
            self._getitems = getitems if callable(getitems) else None

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._loader)

    def _next_map(self):
        index = next(self._sampler_iter)
        if not self._auto:
            return self._collate(self._dataset[index])
        if self._getitems is not None:
            data = self._getitems(index)
        else:
            dataset = self._dataset
            data = [dataset[i] for i in index]
        return self._collate(data)

    def _next_iterable(self):
        if self._ended:
            raise StopIteration
        if not self._auto:
            return self._collate(next(self._dataset_iter))
        data = list(itertools.islice(self._dataset_iter, self._batch_size))
        if len(data) < self._batch_size:
            self._ended = True
            if not data or self._drop_last:
                raise StopIteration
        return self._collate(data)

    def __next__(self):
        rec = _profiler.active
        if rec is None:
            data = self._next_map() if self._kind == 0 else self._next_iterable()
        else:   # a recording profiler sees the batch loading, under PyTorch's name for it
            frame = rec.open("enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__", user=True)
            try:
                data = self._next_map() if self._kind == 0 else self._next_iterable()
            finally:
                rec.close(frame)
        self._num_yielded += 1
        loader = self._loader
        if (self._kind == 1 and loader._IterableDataset_len_called is not None
                and self._num_yielded > loader._IterableDataset_len_called):
            warnings.warn(f"Length of IterableDataset {self._dataset} was reported to be "
                          f"{loader._IterableDataset_len_called} (when accessing len(dataloader)), but "
                          f"{self._num_yielded} samples have been fetched.")
        return data
