"""``nn.utils.rnn`` (pad/pack sequences) and the recurrent layers on PackedSequence input,
against PyTorch: values, lengths, orderings and gradients (float64, helper tolerances
rtol 1e-10 / atol 1e-12 unless stated)."""
import itertools

import numpy as np
import pytest
import torch
import torch.nn.utils.rnn as TR
from helpers import check

import flambeau
from flambeau.nn.utils import rnn as R


def _lib_rnn(lib):
    return R if lib is flambeau else TR


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted, lengths", [(True, [5, 3, 3, 1]), (False, [3, 5, 1, 3])])
def test_pack_then_pad_round_trip(batch_first, enforce_sorted, lengths):
    x = np.random.default_rng(0).standard_normal((4, 5, 2) if batch_first else (5, 4, 2))

    def packed(lib, a):
        p = _lib_rnn(lib).pack_padded_sequence(a, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
        return p.data, p.batch_sizes
    check(packed, x)

    def round_trip(lib, a):
        r = _lib_rnn(lib)
        p = r.pack_padded_sequence(a, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
        return r.pad_packed_sequence(p, batch_first=batch_first, padding_value=-2.0, total_length=7)
    check(round_trip, x)
    p = R.pack_padded_sequence(flambeau.tensor(x), flambeau.tensor(lengths), batch_first=batch_first,
                               enforce_sorted=enforce_sorted)
    assert (p.sorted_indices is None) == enforce_sorted
    assert [s.shape[0] for s in R.unpack_sequence(p)] == lengths


@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence_pack_sequence(side):
    rng = np.random.default_rng(1)
    seqs = [rng.standard_normal((n, 3)) for n in (2, 4, 1)]
    check(lambda lib, a, b, c: _lib_rnn(lib).pad_sequence([a, b, c], batch_first=True, padding_value=0.5,
                                                          padding_side=side), *seqs)
    check(lambda lib, a, b, c: _lib_rnn(lib).pack_sequence([a, b, c], enforce_sorted=False).data, *seqs)
    out = R.unpad_sequence(R.pad_sequence([flambeau.tensor(s) for s in seqs]), [2, 4, 1])
    assert all(np.array_equal(o.numpy(), s) for o, s in zip(out, seqs))


def test_packing_errors():
    x = flambeau.zeros(4, 3, 2)
    for lib in (flambeau, torch):
        a = lib.zeros(4, 3, 2)
        with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
            _lib_rnn(lib).pack_padded_sequence(a, [1, 3, 2])
        with pytest.raises(RuntimeError, match="Length of all samples has to be greater than 0"):
            _lib_rnn(lib).pack_padded_sequence(a, [3, 2, 0])
        with pytest.raises(RuntimeError, match="Cannot pack empty tensors"):
            _lib_rnn(lib).pack_padded_sequence(lib.zeros(3, 0, 2), [])
        mixed = _lib_rnn(lib).pad_sequence([lib.ones(2, dtype=lib.int64), lib.ones(3) / 2])
        assert mixed.dtype == lib.int64 and mixed.tolist() == [[1, 0], [1, 0], [0, 0]]
    p = R.pack_padded_sequence(x, [4, 2, 1])
    with pytest.raises(ValueError, match="Expected total_length to be at least"):
        R.pad_packed_sequence(p, total_length=3)


CASES = list(itertools.product(["RNN", "GRU", "LSTM"], [False, True], [1, 2]))


@pytest.mark.parametrize("mode, bidirectional, num_layers", CASES)
@pytest.mark.parametrize("batch_first, with_hidden", [(False, True), (True, False)])
def test_recurrent_layers_on_packed_sequences(mode, bidirectional, num_layers, batch_first, with_hidden):
    """Unsorted lengths, initial states in the caller's order: outputs (padded back), final
    states and the gradients of input, states and every weight equal PyTorch's."""
    rng = np.random.default_rng(2)
    tm = getattr(torch.nn, mode)(3, 4, num_layers=num_layers, bidirectional=bidirectional,
                                 batch_first=batch_first).double()
    fm = getattr(flambeau.nn, mode)(3, 4, num_layers=num_layers, bidirectional=bidirectional,
                                    batch_first=batch_first).double()
    fm.load_state_dict({k: flambeau.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    lengths = [3, 5, 1, 4]
    x = rng.standard_normal((4, 5, 3) if batch_first else (5, 4, 3))
    states = rng.standard_normal((2, (2 if bidirectional else 1) * num_layers, 4, 4))

    def run(lib, a, h0, c0):
        m = fm if lib is flambeau else tm
        p = _lib_rnn(lib).pack_padded_sequence(a, lengths, batch_first=batch_first, enforce_sorted=False)
        hx = ((h0, c0) if mode == "LSTM" else h0) if with_hidden else None
        out, h = m(p, hx)
        assert type(out).__name__ == "PackedSequence"
        padded, _ = _lib_rnn(lib).pad_packed_sequence(out, batch_first=batch_first)
        return (padded,) + (tuple(h) if mode == "LSTM" else (h,))
    check(run, x, states[0], states[1])
    for (name, p), q in zip(fm.named_parameters(), tm.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_packed_sequence_methods():
    p = R.pack_sequence([flambeau.ones(3, 2), flambeau.ones(1, 2)])
    assert p.double().data.dtype == flambeau.float64 and p.float().data.dtype == flambeau.float32
    assert not p.is_cuda and p.to("cpu") is p
    data, batch_sizes, sorted_indices, unsorted_indices = p
    assert batch_sizes.tolist() == [2, 1, 1] and sorted_indices is None and unsorted_indices is None
