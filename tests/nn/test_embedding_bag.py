"""``F.embedding_bag`` / ``nn.EmbeddingBag`` against PyTorch: every mode, 2-D bags and 1-D input
with offsets (include_last_offset, empty bags), per_sample_weights, padding_idx; values and the
weight gradient (float64 helper tolerances; float32 rtol 1e-5 / atol 1e-6)."""
import numpy as np
import pytest
import torch
from helpers import check

import flambeau

W = np.random.default_rng(0).standard_normal((10, 3))
FLAT = np.array([1, 2, 4, 5, 4, 3, 2, 9, 0, 0])
OFFSETS = np.array([0, 3, 3, 6])                  # bag 1 is empty


def _eb(lib, w, flat, offsets=None, **kw):
    return lib.nn.functional.embedding_bag(lib.tensor(flat), w, None if offsets is None else lib.tensor(offsets),
                                           **kw)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_matches_torch(dtype, mode):
    w = W.astype(dtype)
    check(lambda lib, t: _eb(lib, t, FLAT, OFFSETS, mode=mode), w)
    check(lambda lib, t: _eb(lib, t, FLAT.reshape(2, 5), mode=mode), w)
    check(lambda lib, t: _eb(lib, t, FLAT, np.append(OFFSETS, 10), mode=mode, include_last_offset=True), w)
    check(lambda lib, t: _eb(lib, t, FLAT, OFFSETS, mode=mode, padding_idx=2), w)


def test_per_sample_weights_and_the_module():
    psw = np.random.default_rng(1).standard_normal(len(FLAT))
    check(lambda lib, t, p: lib.nn.functional.embedding_bag(lib.tensor(FLAT), t, lib.tensor(OFFSETS), mode="sum",
                                                            per_sample_weights=p), W, psw)
    m = flambeau.nn.EmbeddingBag(10, 3, mode="max", padding_idx=0)
    assert repr(m) == repr(torch.nn.EmbeddingBag(10, 3, mode="max", padding_idx=0))
    assert np.all(m.weight.detach().numpy()[0] == 0)
    with pytest.raises(NotImplementedError, match="per_sample_weights is only supported for mode='sum'"):
        flambeau.nn.functional.embedding_bag(flambeau.tensor(FLAT), flambeau.tensor(W), flambeau.tensor(OFFSETS),
                                             per_sample_weights=flambeau.ones(10, dtype=flambeau.float64))


def test_edge_cases_follow_torch():
    # include_last_offset: the last bag runs to the end of the input, as PyTorch's does
    for mode in ("sum", "mean", "max"):
        check(lambda lib, t: _eb(lib, t, np.array([1, 2, 3, 4, 5]), np.array([0, 2, 3]), mode=mode,
                                 include_last_offset=True), W)
    w = flambeau.tensor(W, requires_grad=True)
    out = flambeau.nn.functional.embedding_bag(flambeau.tensor([], dtype=flambeau.int64), w, flambeau.tensor([0, 0]))
    out.sum().backward()                                   # empty bags: zeros, and a zero gradient
    assert tuple(out.shape) == (2, 3) and not out.detach().numpy().any() and not w.grad.numpy().any()
    assert tuple(flambeau.nn.functional.embedding_bag(flambeau.tensor([1, 2]), w,
                                                      flambeau.tensor([], dtype=flambeau.int64)).shape) == (0, 3)
    with pytest.raises(ValueError, match="offsets\\[0\\] has to be 0"):
        flambeau.nn.functional.embedding_bag(flambeau.tensor([1, 2]), w, flambeau.tensor([1]))
    e = flambeau.nn.Embedding(10, 3)
    e(flambeau.tensor([], dtype=flambeau.int64)).sum().backward()
    assert not e.weight.grad.numpy().any()
