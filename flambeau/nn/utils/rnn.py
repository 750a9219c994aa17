"""``torch.nn.utils.rnn``: batches of sequences of different lengths.

A :class:`PackedSequence` stores a batch time step by time step, each step holding only the
sequences still running: ``data`` is (sum of lengths, *), ``batch_sizes[t]`` the number of
sequences at step t (non-increasing, because the batch is sorted by decreasing length;
``sorted_indices`` / ``unsorted_indices`` map to and from the caller's order). The recurrent
layers take it and skip the padding entirely: step t updates the first ``batch_sizes[t]`` rows.

Packing and padding are index gathers/scatters of flambeau ops, so gradients flow through them.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from ... import _creation, ops
from ..._dtype import float32, float64, int64
from ..._tensor import Tensor
from .. import functional as F

__all__ = ["PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence", "pack_sequence",
           "unpad_sequence", "unpack_sequence"]


class PackedSequence(namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """(data, batch_sizes, sorted_indices, unsorted_indices); build it with
    :func:`pack_padded_sequence` or :func:`pack_sequence`, not by hand."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = _invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        data = self.data.to(*args, **kwargs)
        return self if data is self.data else type(self)(data, self.batch_sizes, self.sorted_indices,
                                                         self.unsorted_indices)

    def cpu(self):
        return self

    def double(self):
        return self.to(dtype=float64)

    def float(self):
        return self.to(dtype=float32)

    @property
    def is_cuda(self):
        return False

    def is_pinned(self):
        return False


def _invert_permutation(perm):
    if perm is None:
        return None
    p = perm.numpy() if isinstance(perm, Tensor) else np.asarray(perm)
    inv = np.empty_like(p)
    inv[p] = np.arange(len(p))
    return _creation.tensor(inv, dtype=int64)


def _lengths_array(lengths):
    if isinstance(lengths, Tensor):
        if lengths.dim() != 1:
            raise RuntimeError(f"'lengths' argument should be a 1D CPU int64 tensor, but got {lengths.dim()}D tensor")
        return lengths.numpy().astype(np.int64)
    return np.asarray(lengths, dtype=np.int64).reshape(-1)


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch (T, B, *) ((B, T, *) with ``batch_first``) of sequences of the given
    ``lengths``; ``enforce_sorted=False`` accepts any order (the batch is sorted internally)."""
    lengths = _lengths_array(lengths)
    batch_dim = 0 if batch_first else 1
    if input.numel() == 0:
        raise RuntimeError("Cannot pack empty tensors.")
    if len(lengths) != input.size(batch_dim):
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got {len(lengths)} "
                           f"(batch_size={input.size(batch_dim)})")
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
                               "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence "
                               "to sidestep this requirement if you do not need ONNX exportability.")
        sorted_indices = None
        order = np.arange(len(lengths))
    else:
        order = np.argsort(-lengths, kind="stable")
        sorted_indices = _creation.tensor(order, dtype=int64)
    lengths = lengths[order]
    if len(lengths) and lengths[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' "
                           "that is <= 0")
    x = input.transpose(0, 1) if batch_first else input               # (T, B, *)
    steps, batch = x.size(0), x.size(1)
    if len(lengths) and lengths[0] > steps:
        raise RuntimeError(f"Expected sequence length to be larger than or equal to the longest length, "
                           f"got {steps} and {lengths[0]}")
    batch_sizes = (lengths[None, :] > np.arange(int(lengths[0]) if len(lengths) else 0)[:, None]).sum(1)
    # row t * B + order[b] of the (T * B, *) view, for every running (t, b), time-major
    rows = np.concatenate([t * batch + order[:n] for t, n in enumerate(batch_sizes)]) if len(batch_sizes) \
        else np.zeros(0, np.int64)
    data = x.reshape((steps * batch,) + tuple(x.shape[2:]))[_creation.tensor(rows, dtype=int64)]
    return PackedSequence(data, _creation.tensor(batch_sizes.astype(np.int64), dtype=int64), sorted_indices,
                          _invert_permutation(sorted_indices))


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The inverse of :func:`pack_padded_sequence`: (padded batch, lengths), in the caller's
    original batch order, padded with ``padding_value`` to ``total_length`` steps if given."""
    batch_sizes = sequence.batch_sizes.numpy()
    steps, batch = len(batch_sizes), int(batch_sizes[0]) if len(batch_sizes) else 0
    if total_length is not None:
        if total_length < steps:
            raise ValueError(f"Expected total_length to be at least the length of the longest sequence in input, "
                             f"but got total_length={total_length} and max sequence length being {steps}")
        steps_out = total_length
    else:
        steps_out = steps
    data = sequence.data
    rows = np.concatenate([t * batch + np.arange(n) for t, n in enumerate(batch_sizes)]) if steps \
        else np.zeros(0, np.int64)
    flat = _creation.full((steps_out * batch,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype)
    flat = ops.index_put(flat, (_creation.tensor(rows, dtype=int64),), data)
    padded = flat.reshape((steps_out, batch) + tuple(data.shape[1:]))
    lengths = (batch_sizes[None, :] > np.arange(batch)[:, None]).sum(1) if steps else np.zeros(0, np.int64)
    if sequence.unsorted_indices is not None:
        padded = padded.index_select(1, sequence.unsorted_indices)
        lengths = lengths[sequence.unsorted_indices.numpy()]
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, _creation.tensor(lengths.astype(np.int64), dtype=int64)


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack sequences (L_i, *) into one (T, B, *) ((B, T, *) with ``batch_first``), T the longest
    length, the shorter ones padded on ``padding_side`` with ``padding_value``."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    longest = max(s.size(0) for s in sequences)
    padded = []
    dtype = sequences[0].dtype          # PyTorch's result takes the first sequence's dtype
    for s in sequences:
        s = s if s.dtype == dtype else s.to(dtype)
        extra = longest - s.size(0)
        widths = [0, 0] * (s.dim() - 1) + ([0, extra] if padding_side == "right" else [extra, 0])
        padded.append(F.pad(s, tuple(widths), value=padding_value) if extra else s)
    return ops.stack(padded, 0 if batch_first else 1)


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of sequences (L_i, *) of decreasing lengths (any order with
    ``enforce_sorted=False``)."""
    lengths = [s.size(0) for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences that :func:`pad_sequence` stacked."""
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [x[i, :int(n)] for i, n in enumerate(_lengths_array(lengths))]


def unpack_sequence(packed_sequences):
    """The list of sequences that :func:`pack_sequence` packed, in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
