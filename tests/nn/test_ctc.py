"""``F.ctc_loss`` / ``nn.CTCLoss`` against PyTorch: losses and the gradient of the logits that a
log_softmax turned into log-probabilities (PyTorch's CTC backward is that gradient), over
reductions, blanks, repeated labels, padded and concatenated targets, unequal input lengths,
impossible alignments (inf loss, NaN gradient, or 0 with zero_infinity) and unbatched input;
float64 helper tolerances, float32 rtol 1e-5 / atol 1e-6 (log-space sums in another order)."""
import numpy as np
import pytest
from helpers import check, gradcheck

import flambeau

T, N, C = 12, 4, 6
RNG = np.random.default_rng(0)
LOGITS = RNG.standard_normal((T, N, C))
TARGETS = RNG.integers(1, C, (N, 5))
TARGETS[1, 1] = TARGETS[1, 0]                   # a repeated label needs a blank between
IL, TL = np.array([12, 10, 7, 12]), np.array([5, 3, 2, 0])


def _ctc(lib, x, targets, il, tl, **kw):
    return lib.nn.functional.ctc_loss(x.log_softmax(2), lib.tensor(targets), lib.tensor(il), lib.tensor(tl), **kw)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", [{}, {"reduction": "sum"}, {"reduction": "none"}, {"zero_infinity": True}])
def test_ctc_loss_matches_torch(dtype, kw):
    check(lambda lib, x: _ctc(lib, x, TARGETS, IL, TL, **kw), LOGITS.astype(dtype))


def test_concatenated_targets_other_blank_and_the_module():
    flat = np.concatenate([TARGETS[n, :TL[n]] for n in range(N)]) - 1
    check(lambda lib, x: _ctc(lib, x, flat, IL, TL, blank=C - 1), LOGITS)
    check(lambda lib, x: lib.nn.CTCLoss(blank=C - 1, reduction="sum")(
        x.log_softmax(2), lib.tensor(flat), lib.tensor(IL), lib.tensor(TL)), LOGITS)
    # unbatched: (T, C) log-probabilities, one target sequence
    check(lambda lib, x: lib.nn.functional.ctc_loss(x.log_softmax(1), lib.tensor(TARGETS[0]), lib.tensor([12]),
                                                    lib.tensor([5])), LOGITS[:, 0])


@pytest.mark.parametrize("zero_infinity", [False, True])
def test_impossible_alignments(zero_infinity):
    il = np.array([2, 10, 7, 12])                 # 5 labels cannot fit 2 frames
    check(lambda lib, x: _ctc(lib, x, TARGETS, il, TL, reduction="none", zero_infinity=zero_infinity), LOGITS)


def test_gradcheck_through_log_softmax():
    assert gradcheck(lambda lib, x: _ctc(lib, x, TARGETS[:2, :3], [6, 5], [3, 2]), LOGITS[:6, :2] * 0.5)


def test_errors():
    lp = flambeau.zeros(5, 2, 3).log_softmax(2)
    with pytest.raises(RuntimeError, match="input_lengths must be of size batch_size"):
        flambeau.nn.functional.ctc_loss(lp, flambeau.ones(2, 2, dtype=flambeau.int64), [5], [2, 2])
    with pytest.raises(RuntimeError, match="Expected input_lengths to have value at most 5"):
        flambeau.nn.functional.ctc_loss(lp, flambeau.ones(2, 2, dtype=flambeau.int64), [6, 5], [2, 2])
    with pytest.raises(RuntimeError, match=r"target labels must be in \[0, 3\)"):
        flambeau.nn.functional.ctc_loss(lp, flambeau.full((2, 2), 3, dtype=flambeau.int64), [5, 5], [2, 2])


def test_ctc_learns_to_transcribe():
    """Frames showing each label for 2-3 noisy frames (a blank frame between repeats); a per-frame
    linear layer trained with CTC transcribes unseen sequences by greedy decoding."""
    flambeau.manual_seed(0)
    rng = np.random.default_rng(0)
    labels = 5

    def batch(n):
        seqs = rng.integers(1, labels, (n, 3))
        x = np.zeros((12, n, labels), np.float32)
        for i in range(n):                        # building the synthetic data, not the model
            t = 0
            for k, lab in enumerate(seqs[i]):
                if k and lab == seqs[i, k - 1]:
                    t += 1                        # a blank frame separates a repeat
                d = rng.integers(2, 4)
                x[t:t + d, i, lab] = 1
                t += d
        return x + 0.1 * rng.standard_normal(x.shape).astype(np.float32), seqs
    model = flambeau.nn.Linear(labels, labels)
    opt = flambeau.optim.Adam(model.parameters(), lr=0.05)
    loss_fn = flambeau.nn.CTCLoss()
    for _ in range(200):
        x, seqs = batch(32)
        loss = loss_fn(model(flambeau.tensor(x)).log_softmax(2), flambeau.tensor(seqs),
                       flambeau.full((32,), 12, dtype=flambeau.int64), flambeau.full((32,), 3, dtype=flambeau.int64))
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, seqs = batch(200)
    best = model(flambeau.tensor(x)).argmax(2).numpy().T          # (n, T)
    decoded = [[c for j, c in enumerate(row) if c != 0 and (j == 0 or c != row[j - 1])] for row in best]
    exact = np.mean([d == list(s) for d, s in zip(decoded, seqs)])
    assert exact > 0.9, exact


GRADCHECK_CASES = {
    "ctc.CtcLoss": (lambda lib, x: _ctc(lib, x, TARGETS[:2, :2], [4, 3], [2, 1]), (LOGITS[:4, :2] * 0.5,)),
}


def test_padding_past_the_target_lengths_is_not_read():
    padded = TARGETS.copy()
    padded[1, 3:] = -100                          # target_lengths[1] is 3
    padded[2, 2:] = C + 7
    check(lambda lib, x: _ctc(lib, x, padded, IL, TL), LOGITS)
