"""flambeau.histogram / Tensor.histogram against torch.histogram."""
import numpy as np
import pytest
import torch

import flambeau as fl


def _cmp(x, bins, exact=True, **kw):
    tb = torch.from_numpy(bins) if isinstance(bins, np.ndarray) else bins
    fb = fl.tensor(bins) if isinstance(bins, np.ndarray) else bins
    w = kw.pop("weight", None)
    t = torch.histogram(torch.from_numpy(x), tb, weight=None if w is None else torch.from_numpy(w), **kw)
    f = fl.histogram(fl.tensor(x), fb, weight=None if w is None else fl.tensor(w), **kw)
    assert f.hist.dtype == f.bin_edges.dtype == fl.tensor(x).dtype
    np.testing.assert_array_equal(f.bin_edges.numpy(), t.bin_edges.numpy())
    if exact:
        np.testing.assert_array_equal(f.hist.numpy(), t.hist.numpy())
    else:
        np.testing.assert_allclose(f.hist.numpy(), t.hist.numpy(), rtol=1e-6)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(6))
def test_histogram_random(dt, seed):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(7, 23)) * 10 ** seed).astype(dt)
    for bins in (1, 5, 17, 64):
        _cmp(x, bins)
        _cmp(x, bins, density=True)
        _cmp(x, bins, range=(-1.0, 2.5))
        _cmp(np.round(x), bins, range=(-3, 3))   # values on bin edges
    edges = np.sort(rng.normal(size=9) * 10 ** seed).astype(dt)
    _cmp(x, edges)
    _cmp(x, edges, density=True)
    w = rng.random(x.shape).astype(dt)
    with _single_thread():
        _cmp(x, 9, weight=w)
        _cmp(x, edges, weight=w, density=True, exact=False)


class _single_thread:
    def __enter__(self):
        self.n = torch.get_num_threads()
        torch.set_num_threads(1)   # torch sums weights per thread chunk: order-dependent rounding

    def __exit__(self, *a):
        torch.set_num_threads(self.n)


def test_histogram_special_cases():
    _cmp(np.array([], np.float32), 3)                     # default range [0, 1]
    _cmp(np.array([2.0, 2.0], np.float32), 3)              # widened to [1.5, 2.5]
    _cmp(np.array([1.0, 2, 3, 4], np.float32), 3, range=(1.0, 1.0))
    _cmp(np.array([1.0, np.nan, 0.5], np.float64), 3, range=(0.0, 2.0))   # NaN ignored
    _cmp(np.array([0.1, 0.7, 1.3, 1.7], np.float32), 7, range=(0.3, 1.7))
    _cmp(np.arange(100, dtype=np.float32) / 10, 33)
    x = fl.tensor([1.0, 2, 2.5, 4])
    h, e = x.histogram(fl.tensor([1.0, 2, 3, 4]), density=True)
    th, te = torch.tensor([1.0, 2, 2.5, 4]).histogram(torch.tensor([1.0, 2, 3, 4]), density=True)
    np.testing.assert_array_equal(h.numpy(), th.numpy())
    np.testing.assert_array_equal(e.numpy(), te.numpy())
    r = fl.histogram(x, 2)
    assert r[0] is r.hist and "return_types.histogram" in repr(r)


def test_histogram_errors():
    x = fl.tensor([1.0, 2, 3])
    cases = [
        (lambda L, t: L.histogram(t([1, 2, 3]), 3), NotImplementedError),
        (lambda L, t: L.histogram(t([1.0, 2]), 0), RuntimeError),
        (lambda L, t: L.histogram(t([1.0, 2]), 3, range=(2.0, 1.0)), RuntimeError),
        (lambda L, t: L.histogram(t([1.0, 2]), 3, range=(0.0, float("inf"))), RuntimeError),
        (lambda L, t: L.histogram(t([1.0, float("nan")]), 3), RuntimeError),
        (lambda L, t: L.histogram(t([1.0, 2]), t([1, 2, 3])), RuntimeError),
        (lambda L, t: L.histogram(t([1.0, 2]), t([[1.0, 2, 3]])), RuntimeError),
        (lambda L, t: L.histogram(t([1.0, 2]), 3, weight=t([1.0])), RuntimeError),
        (lambda L, t: L.histogram(t([1.0, 2]), 3, range=(0.0, 1.0, 2.0)), RuntimeError),
        (lambda L, t: L.histogram(t([1.0, 2]), t([1.0, 2]), range=(0.0, 1.0)), TypeError),
    ]
    for fn, exc in cases:
        with pytest.raises(exc):
            fn(torch, torch.tensor)
        with pytest.raises(exc):
            fn(fl, fl.tensor)
    assert x.histogram(2).hist.numpy().tolist() == [1.0, 2.0]
