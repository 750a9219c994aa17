import collections

import numpy as np
import pytest
import torch

import flambeau
from flambeau.utils import data as fdata
from torch.utils import data as tdata


def _np(x):
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def _same_batches(fb, tb):
    assert len(fb) == len(tb)
    for a, b in zip(fb, tb):
        if isinstance(b, (list, tuple)):
            _same_batches(a, b)
        else:
            np.testing.assert_array_equal(_np(a), _np(b))
            assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1]


@pytest.mark.parametrize("n,bs,drop_last", [(10, 3, False), (10, 3, True), (9, 3, False), (9, 3, True),
                                            (5, 8, False), (5, 8, True), (1, 1, False)])
def test_sequential_batches_match_torch(n, bs, drop_last):
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    y = np.arange(n)
    fl = fdata.DataLoader(fdata.TensorDataset(flambeau.tensor(x), flambeau.tensor(y)), batch_size=bs,
                          drop_last=drop_last)
    tl = tdata.DataLoader(tdata.TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=bs, drop_last=drop_last)
    assert len(fl) == len(tl)
    fb, tb = list(fl), list(tl)
    assert [b[0].shape[0] for b in fb] == [b[0].shape[0] for b in tb]
    _same_batches(fb, tb)


def test_batch_size_none_and_custom_samplers_match_torch():
    data = list(range(7))
    for kw in [dict(batch_size=None), dict(batch_size=2, sampler=[6, 5, 4, 3, 2, 1, 0]),
               dict(batch_sampler=[[0, 1, 2], [6], [3, 4]]), dict(batch_size=3, sampler=[1, 1, 2], drop_last=True)]:
        fb = list(fdata.DataLoader(data, **kw))
        tb = list(tdata.DataLoader(data, **kw))
        assert len(fb) == len(tb)
        for a, b in zip(fb, tb):
            np.testing.assert_array_equal(_np(a), _np(b))
            assert type(a).__name__ == type(b).__name__ or isinstance(b, torch.Tensor)
        assert len(fdata.DataLoader(data, **kw)) == len(tdata.DataLoader(data, **kw))


def test_batch_sampler_class_matches_torch():
    for bs, dl in [(3, False), (3, True), (4, True), (10, False)]:
        f = fdata.BatchSampler(fdata.SequentialSampler(range(10)), bs, dl)
        t = tdata.BatchSampler(tdata.SequentialSampler(range(10)), bs, dl)
        assert list(f) == list(t) and len(f) == len(t)


@pytest.mark.parametrize("kwargs,match", [
    (dict(num_workers=-1), "num_workers option should be non-negative"),
    (dict(timeout=-1), "timeout option should be non-negative"),
    (dict(prefetch_factor=2), "prefetch_factor option could only be specified"),
    (dict(persistent_workers=True), "persistent_workers option needs num_workers > 0"),
    (dict(shuffle=True, sampler=[0, 1]), "sampler option is mutually exclusive with shuffle"),
    (dict(batch_sampler=[[0]], batch_size=2), "batch_sampler option is mutually exclusive"),
    (dict(batch_sampler=[[0]], drop_last=True), "batch_sampler option is mutually exclusive"),
    (dict(batch_size=None, drop_last=True), "batch_size=None option disables auto-batching"),
    (dict(batch_size=0), "batch_size should be a positive integer value"),
    (dict(multiprocessing_context="spawn"), "multiprocessing_context can only be used"),
])
def test_argument_errors_like_torch(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fdata.DataLoader(list(range(4)), **kwargs)
    with pytest.raises(ValueError, match=match):
        tdata.DataLoader(list(range(4)), **kwargs)


def test_attributes_locked_after_init():
    dl = fdata.DataLoader(list(range(4)), batch_size=2)
    with pytest.raises(ValueError, match="batch_size attribute should not be set"):
        dl.batch_size = 3
    dl.num_workers = 0  # allowed, as in torch


def test_workers_pin_memory_persistent_accepted_in_process():
    x = flambeau.arange(20)
    dl = fdata.DataLoader(fdata.TensorDataset(x), batch_size=4, num_workers=2, pin_memory=True,
                          persistent_workers=True, prefetch_factor=4, multiprocessing_context="spawn",
                          worker_init_fn=lambda i: None)
    assert dl.prefetch_factor == 4
    assert [b[0].tolist() for b in dl] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15],
                                           [16, 17, 18, 19]]
    assert fdata.get_worker_info() is None


def test_shuffle_each_sample_once_and_reproducible():
    n = 103
    ds = fdata.TensorDataset(flambeau.arange(n))
    dl = fdata.DataLoader(ds, batch_size=10, shuffle=True)
    flambeau.manual_seed(123)
    e1 = np.concatenate([b[0].numpy() for b in dl])
    e2 = np.concatenate([b[0].numpy() for b in dl])
    assert sorted(e1.tolist()) == list(range(n)) and sorted(e2.tolist()) == list(range(n))
    assert not np.array_equal(e1, e2)  # a new order each epoch
    assert not np.array_equal(e1, np.arange(n))
    flambeau.manual_seed(123)
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in dl]), e1)
    g = flambeau.Generator().manual_seed(5)
    a = [b[0].tolist() for b in fdata.DataLoader(ds, batch_size=7, shuffle=True, generator=g)]
    g.manual_seed(5)
    assert a == [b[0].tolist() for b in fdata.DataLoader(ds, batch_size=7, shuffle=True, generator=g)]


def test_drop_last_shuffled_lengths():
    ds = fdata.TensorDataset(flambeau.arange(10))
    dl = fdata.DataLoader(ds, batch_size=4, shuffle=True, drop_last=True)
    sizes = [b[0].shape[0] for b in dl]
    assert sizes == [4, 4] and len(dl) == 2


class CountingDataset(fdata.TensorDataset):
    def __init__(self, *t):
        super().__init__(*t)
        self.getitem_calls = 0
        self.getitems_calls = 0

    def __getitem__(self, i):
        self.getitem_calls += 1
        return super().__getitem__(i)

    def __getitems__(self, idx):
        self.getitems_calls += 1
        return super().__getitems__(idx)


def test_tensordataset_batches_gathered_with_one_fancy_index():
    x = flambeau.randn(50, 3)
    y = flambeau.arange(50)
    ds = CountingDataset(x, y)
    dl = fdata.DataLoader(ds, batch_size=8, shuffle=True)
    seen = []
    for xb, yb in dl:
        np.testing.assert_array_equal(xb.numpy(), x.numpy()[yb.numpy()])
        seen += yb.tolist()
    assert ds.getitem_calls == 0 and ds.getitems_calls == len(dl) == 7
    assert sorted(seen) == list(range(50))
    # a custom collate_fn still receives samples, exactly dataset[i]
    batches = list(fdata.DataLoader(ds, batch_size=4, collate_fn=lambda b: b))
    assert len(batches[0]) == 4 and batches[0][1][1].item() == 1
    np.testing.assert_array_equal(batches[0][2][0].numpy(), x.numpy()[2])
    # Subset keeps the batched path
    sub = fdata.Subset(ds, list(range(10, 20)))
    ds.getitem_calls = 0
    got = [yb.tolist() for _, yb in fdata.DataLoader(sub, batch_size=5)]
    assert got == [list(range(10, 15)), list(range(15, 20))] and ds.getitem_calls == 0


def test_plain_dataset_uses_getitem():
    class Sq(fdata.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return {"x": np.full(2, i, np.float32), "i": i, "name": f"s{i}"}

    b = next(iter(fdata.DataLoader(Sq(), batch_size=3)))
    assert b["x"].dtype == flambeau.float32 and b["x"].shape == (3, 2)
    assert b["i"].tolist() == [0, 1, 2] and b["i"].dtype == flambeau.int64
    assert b["name"] == ["s0", "s1", "s2"]


def test_default_collate_matches_torch_on_nested_structures():
    Point = collections.namedtuple("Point", "x y")
    samples = [
        {"a": (np.ones((2, 2), np.uint8) * i, 1.5 * i), "b": [i, True], "c": "s", "p": Point(i, float(i))}
        for i in range(3)
    ]
    f = fdata.default_collate(samples)
    t = tdata.default_collate(samples)
    assert set(f) == set(t)
    _same_batches(f["a"], t["a"])
    _same_batches(f["b"], t["b"])
    assert f["c"] == t["c"] == ["s", "s", "s"]
    assert type(f["p"]) is Point
    _same_batches(list(f["p"]), list(t["p"]))
    assert f["b"][1].dtype == flambeau.bool
    assert f["a"][1].dtype == flambeau.float64
    # tensors are stacked; tuples become lists
    out = fdata.default_collate([(flambeau.ones(2), 1), (flambeau.zeros(2), 2)])
    assert isinstance(out, list) and out[0].shape == (2, 2) and out[1].tolist() == [1, 2]
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        fdata.default_collate([[1, 2], [1]])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        fdata.default_collate([object(), object()])
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        fdata.default_collate([flambeau.ones(2), flambeau.ones(3)])
    conv = fdata.default_convert({"a": np.arange(3), "b": (np.zeros(2), "x")})
    assert isinstance(conv["a"], flambeau.Tensor) and isinstance(conv["b"][0], flambeau.Tensor)


def test_tensordataset_errors_and_indexing():
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        fdata.TensorDataset(flambeau.ones(3), flambeau.ones(4))
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        tdata.TensorDataset(torch.ones(3), torch.ones(4))
    ds = fdata.TensorDataset(flambeau.arange(5), flambeau.arange(5) * 2)
    assert len(ds) == 5 and ds[-1][1].item() == 8
    with pytest.raises(IndexError):
        ds.__getitems__([5])


def test_concat_subset_and_add():
    a = fdata.TensorDataset(flambeau.arange(3))
    b = fdata.TensorDataset(flambeau.arange(10, 14))
    c = a + b
    assert isinstance(c, fdata.ConcatDataset) and len(c) == 7 and c.cumulative_sizes == [3, 7]
    assert [c[i][0].item() for i in range(7)] == [0, 1, 2, 10, 11, 12, 13]
    assert c[-1][0].item() == 13
    with pytest.raises(IndexError):
        c[7]
    with pytest.raises(AssertionError, match="empty iterable"):
        fdata.ConcatDataset([])
    assert [x[0].item() for x in fdata.Subset(b, [3, 0])] == [13, 10]


def test_random_split_like_torch():
    ds = list(range(10))
    parts = fdata.random_split(ds, [3, 7], generator=flambeau.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(parts[0].indices + parts[1].indices) == list(range(10))
    again = fdata.random_split(ds, [3, 7], generator=flambeau.Generator().manual_seed(0))
    assert again[0].indices == parts[0].indices
    for fr in ([0.3, 0.3, 0.4], [0.5, 0.5], [0.33, 0.33, 0.34]):
        assert [len(p) for p in fdata.random_split(list(range(11)), fr)] == \
               [len(p) for p in tdata.random_split(list(range(11)), fr)]
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        fdata.random_split(ds, [3, 3])


def test_samplers():
    ds = list(range(20))
    flambeau.manual_seed(0)
    r = list(fdata.RandomSampler(ds))
    assert sorted(r) == ds
    rr = list(fdata.RandomSampler(ds, replacement=True, num_samples=50))
    assert len(rr) == 50 and all(0 <= i < 20 for i in rr)
    over = list(fdata.RandomSampler(ds, num_samples=45))
    assert len(over) == 45 and sorted(over[:20]) == ds and sorted(over[20:40]) == ds
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        fdata.RandomSampler(ds, num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean"):
        fdata.RandomSampler(ds, replacement=1)
    s = list(fdata.SubsetRandomSampler([5, 6, 7]))
    assert sorted(s) == [5, 6, 7]
    w = fdata.WeightedRandomSampler([0.0, 0.0, 1.0, 3.0], 2000)
    idx = np.array(list(w))
    assert len(w) == 2000 and set(idx.tolist()) <= {2, 3}
    assert 0.70 < (idx == 3).mean() < 0.80
    assert sorted(fdata.WeightedRandomSampler([1, 1, 1, 1], 4, replacement=False)) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="weights should be a 1d sequence"):
        fdata.WeightedRandomSampler([[1.0]], 1)
    g = flambeau.Generator().manual_seed(3)
    a = list(fdata.RandomSampler(ds, generator=g))
    g.manual_seed(3)
    assert a == list(fdata.RandomSampler(ds, generator=g))


def test_iterable_dataset():
    class Count(fdata.IterableDataset):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(self.n))

        def __len__(self):
            return self.n

    assert [b.tolist() for b in fdata.DataLoader(Count(7), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [b.tolist() for b in fdata.DataLoader(Count(7), batch_size=3, drop_last=True)] == [[0, 1, 2], [3, 4, 5]]
    assert len(fdata.DataLoader(Count(7), batch_size=3)) == 3
    assert [int(b) for b in fdata.DataLoader(Count(3), batch_size=None)] == [0, 1, 2]
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        fdata.DataLoader(Count(3), shuffle=True)
    with pytest.raises(ValueError, match="expected unspecified sampler option"):
        fdata.DataLoader(Count(3), sampler=[0])
    chained = Count(2) + Count(3)
    assert list(chained) == [0, 1, 0, 1, 2] and len(chained) == 5
