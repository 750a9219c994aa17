"""Connectionist temporal classification (``F.ctc_loss``, Graves et al. 2006).

The loss of an (unsegmented) target sequence l given per-frame log-probabilities is
-log sum over every alignment of l: label l_k may last several frames and blanks may sit
between labels. The forward variables alpha run over the extended target
l' = (blank, l1, blank, l2, ..., blank) of 2S + 1 positions:

    alpha_t(s) = lp_t(l'_s) + logsumexp(alpha_(t-1)(s), alpha_(t-1)(s-1), alpha_(t-1)(s-2))

(the s-2 jump only onto a label different from the one two positions back), in log space. One
time step is one vectorised update of every sequence and position of the batch; beta runs the
same recursion backwards, and alpha * beta gives each frame's label occupancy, hence the
gradient.
"""
from __future__ import annotations

import numpy as np

from ..autograd.function import ArrayFunction
from .loss import _reduction
from ..amp._state import fp32_op as _fp32_op

__all__ = ["ctc_loss"]

_NEG = -np.inf


def _lse(*arrays):
    """Elementwise logsumexp of same-shape arrays, -inf when all are -inf."""
    m = np.maximum.reduce(arrays)
    safe = np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):
        return np.log(sum(np.exp(a - safe) for a in arrays)) + safe


def _shift(a, k):
    """a[..., s - k] along the last axis, -inf where s < k."""
    out = np.full_like(a, _NEG)
    out[..., k:] = a[..., :-k]
    return out


class CtcLoss(ArrayFunction):
    """Per-sequence negative log-likelihoods (N,). Backward returns PyTorch's gradient for
    ``log_probs``: exp(lp) - occupancy / p, the gradient with respect to the logits of a
    log_softmax that produced them (log_softmax's own backward then leaves it unchanged)."""

    _node_name = "CtcLossBackward0"

    @staticmethod
    def forward(ctx, lp, ext, input_lengths, ext_lengths, blank, zero_infinity):
        T, N, _ = lp.shape
        L = ext.shape[1]
        rows = np.arange(N)[:, None]
        pos = np.arange(L)[None, :]
        valid = pos < ext_lengths[:, None]                      # (N, L)
        # s - 2 allowed onto a label that differs from the one two positions back
        skip = np.zeros((N, L), bool)
        skip[:, 2:] = (ext[:, 2:] != ext[:, :-2]) & (ext[:, 2:] != blank)
        emit = lp[:, rows, ext]                                  # (T, N, L): lp_t(l'_s)
        emit = np.where(valid[None], emit, _NEG)
        alpha = np.full((T, N, L), _NEG, lp.dtype)
        alpha[0, :, :2] = emit[0, :, :2]
        for t in range(1, T):
            prev = alpha[t - 1]
            alpha[t] = _lse(prev, _shift(prev, 1), np.where(skip, _shift(prev, 2), _NEG)) + emit[t]
        last = np.maximum(input_lengths - 1, 0)
        a_end = alpha[last, np.arange(N)]                        # (N, L) at each sequence's last frame
        e = ext_lengths
        ll = _lse(a_end[np.arange(N), e - 1], np.where(e >= 2, a_end[np.arange(N), np.maximum(e - 2, 0)], _NEG))
        nll = -ll
        nll = np.where(input_lengths == 0, np.where(e <= 1, 0.0, np.inf), nll).astype(lp.dtype)
        ctx.save_for_backward(lp)
        ctx.meta = (ext, input_lengths, ext_lengths, alpha, emit, skip, nll, zero_infinity)
        if zero_infinity:
            return np.where(np.isinf(nll), lp.dtype.type(0), nll)
        return nll

    @staticmethod
    def backward(ctx, g):
        (lp,) = ctx.saved_tensors
        ext, input_lengths, ext_lengths, alpha, emit, skip, nll, zero_infinity = ctx.meta
        T, N, C = lp.shape
        L = ext.shape[1]
        beta = np.full((T, N, L), _NEG, lp.dtype)
        n_idx = np.arange(N)
        last = np.maximum(input_lengths - 1, 0)
        e = ext_lengths
        # beta at each sequence's last frame: the two final positions
        init = np.full((N, L), _NEG, lp.dtype)
        init[n_idx, e - 1] = emit[last, n_idx, e - 1]
        has2 = e >= 2
        init[n_idx[has2], e[has2] - 2] = emit[last[has2], n_idx[has2], e[has2] - 2]
        skip_back = np.zeros((N, L), bool)       # s + 2 allowed when the jump s -> s + 2 was
        skip_back[:, :-2] = skip[:, 2:]
        for t in range(T - 1, -1, -1):
            at_end = (t == last)[:, None]
            after = t > last
            if t == T - 1:
                nxt = np.full((N, L), _NEG, lp.dtype)
            else:
                nb = beta[t + 1]
                up1 = np.full_like(nb, _NEG)
                up1[:, :-1] = nb[:, 1:]
                up2 = np.full_like(nb, _NEG)
                up2[:, :-2] = nb[:, 2:]
                nxt = _lse(nb, up1, np.where(skip_back, up2, _NEG)) + emit[t]
            beta[t] = np.where(at_end, init, np.where(after[:, None], _NEG, nxt))
        # occupancy of class c at frame t: logsumexp over the positions s with l'_s = c of
        # alpha_t(s) + beta_t(s) - lp_t(c) (both include frame t's emission)
        ab = alpha + beta                                        # (T, N, L)
        occ = np.full((T, N, C), _NEG, lp.dtype)
        np.logaddexp.at(occ, (np.arange(T)[:, None, None], n_idx[None, :, None], ext[None, :, :]), ab)
        with np.errstate(over="ignore", invalid="ignore"):
            grad = np.exp(lp) - np.exp(occ + nll[None, :, None] - lp)
        infinite = np.isinf(nll).reshape(1, N, 1)               # no alignment fits the input
        grad = np.where(infinite, np.nan, grad)                  # as PyTorch, unless zero_infinity
        frames = np.arange(T)[:, None] < input_lengths[None, :]
        grad = np.where(frames[:, :, None], grad, 0) * np.asarray(g, lp.dtype).reshape(1, N, 1)
        if zero_infinity:
            grad = np.where(infinite, 0, grad)
        return grad.astype(lp.dtype, copy=False), None, None, None, None, None


@_fp32_op
def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    """``F.ctc_loss``: log_probs (T, N, C) (or unbatched (T, C)) from log_softmax; targets (N, S)
    padded or 1-D concatenated; 'mean' divides each loss by its target length, then averages."""
    from .._tensor import Tensor
    reduction = _reduction(reduction, None, None)
    lp = log_probs._data
    unbatched = lp.ndim == 2
    if unbatched:
        lp = lp[:, None, :]
    if lp.ndim != 3:
        raise RuntimeError(f"ctc_loss: log_probs must be 3-D (T, N, C) or 2-D (T, C), got shape {list(lp.shape)}")
    T, N, C = lp.shape
    tgt = np.asarray(targets._data if isinstance(targets, Tensor) else targets, np.int64)
    il = np.asarray(input_lengths._data if isinstance(input_lengths, Tensor) else input_lengths, np.int64).reshape(-1)
    tl = np.asarray(target_lengths._data if isinstance(target_lengths, Tensor) else target_lengths,
                    np.int64).reshape(-1)
    if unbatched and tgt.ndim == 1 and tl.size == 1 and tgt.shape[0] >= tl[0]:
        tgt = tgt[None, :]
    if il.shape[0] != N:
        raise RuntimeError(f"ctc_loss: input_lengths must be of size batch_size ({N}), got {il.shape[0]}")
    if tl.shape[0] != N:
        raise RuntimeError(f"ctc_loss: target_lengths must be of size batch_size ({N}), got {tl.shape[0]}")
    if (il > T).any():
        raise RuntimeError(f"ctc_loss: Expected input_lengths to have value at most {T}, but got value {il.max()}")
    if not 0 <= blank < C:
        raise RuntimeError(f"ctc_loss: blank must be in label range [0, {C}), got {blank}")
    if tgt.ndim == 1:                            # concatenated targets
        if tgt.shape[0] < tl.sum():
            raise RuntimeError("ctc_loss: the 1-D targets are shorter than the sum of target_lengths")
        starts = np.concatenate([[0], np.cumsum(tl)[:-1]])
        j = np.arange(int(tl.max()) if N else 0)[None, :]
        inside = j < tl[:, None]
        src = np.minimum(starts[:, None] + j, max(tgt.shape[0] - 1, 0))
        padded = np.where(inside, tgt[src] if tgt.size else blank, blank)
    else:
        if (tl > tgt.shape[1]).any():
            raise RuntimeError(f"ctc_loss: Expected tensor to have size at least {tl.max()} at dimension 1, but "
                               f"got size {tgt.shape[1]}")
        # the padding past each target length may hold anything (-100, C ...): it is not read
        padded = np.where(np.arange(tgt.shape[1])[None, :] < tl[:, None], tgt, blank)
    used = padded[np.arange(padded.shape[1])[None, :] < tl[:, None]] if padded.size else padded
    if used.size and (used.min() < 0 or used.max() >= C):
        raise RuntimeError(f"ctc_loss: target labels must be in [0, {C}) (log_probs has {C} classes), got "
                           f"{used.min() if used.min() < 0 else used.max()}")
    S = padded.shape[1]
    ext = np.full((N, 2 * S + 1), blank, np.int64)
    ext[:, 1::2] = padded
    ext_lengths = 2 * tl + 1
    lp_t = log_probs if not unbatched else log_probs.unsqueeze(1)
    nll = CtcLoss.apply(lp_t, ext, il, ext_lengths, int(blank), bool(zero_infinity))
    if unbatched:
        nll = nll.squeeze(0)
    if reduction == "none":
        return nll
    if reduction == "sum":
        return nll.sum()
    per = nll / Tensor._make(np.maximum(tl, 1).astype(lp.dtype).reshape(nll.shape))
    return per.mean()
