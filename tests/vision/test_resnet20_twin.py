"""`benchmarks/resnet20_epochs.py` answers "how many epochs does flambeau's ResNet-20 recipe
need?" by training a PyTorch twin. Its answer is only worth something if the twin is
flambeau's network with flambeau's weights, and if its augmentation is the recipe's: these
tests check both, and run the script's training loop for a few steps."""
from __future__ import annotations

import os
import sys
import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import flambeau  # noqa: E402
from flambeau.vision import models  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks"))
import resnet20_epochs  # noqa: E402
from train_step import resnet20 as resnet20_twin  # noqa: E402


def _twin_with_flambeau_weights(seed=0):
    flambeau.manual_seed(seed)
    ours = models.resnet20()
    twin = resnet20_twin(torch)
    twin.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    return ours, twin


def test_twin_is_flambeau_resnet20_forward_and_backward():
    """Same weights, same batch, training mode: the same logits, loss gradients and batch-norm
    running statistics (float32; tolerances from 20 layers of float32 arithmetic)."""
    ours, twin = _twin_with_flambeau_weights()
    x = np.random.default_rng(1).standard_normal((6, 3, 32, 32)).astype(np.float32)
    y = np.array([0, 1, 2, 3, 4, 9])
    ours.train()
    twin.train()
    out = ours(flambeau.from_numpy(x))
    flambeau.nn.functional.cross_entropy(out, flambeau.from_numpy(y), label_smoothing=0.1).backward()
    tout = twin(torch.from_numpy(x))
    torch.nn.functional.cross_entropy(tout, torch.from_numpy(y), label_smoothing=0.1).backward()
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-4, atol=1e-4)
    theirs = dict(twin.named_parameters())
    names = [name for name, _ in ours.named_parameters()]
    assert names == list(theirs)
    for name, p in ours.named_parameters():
        g = theirs[name].grad.numpy()
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-3, atol=1e-4 * np.abs(g).max(), err_msg=name)
    buffers = dict(twin.named_buffers())
    for name, b in ours.named_buffers():
        np.testing.assert_allclose(b.numpy(), buffers[name].numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


def test_crop_flip_keeps_one_padded_window_per_image():
    """Every augmented image is one of the 9×9 windows of the image padded by 4 pixels of
    ``fill`` (the normalised black pixel, as `flambeau train` pads), mirrored or not; and both
    mirrored and plain images occur."""
    torch.manual_seed(0)
    n = 32
    x = torch.randn(n, 3, 32, 32)
    fill = torch.tensor([-1.0, -2.0, -3.0]).reshape(1, 3, 1, 1)
    out = resnet20_epochs.crop_flip(x, fill)
    assert out.shape == x.shape and out.dtype == x.dtype
    padded = fill.expand(n, 3, 40, 40).clone()
    padded[:, :, 4:36, 4:36] = x
    flipped = 0
    for i in range(n):
        found = None
        for r in range(9):
            for c in range(9):
                window = padded[i, :, r:r + 32, c:c + 32]
                if torch.equal(out[i], window):
                    found = "plain"
                elif torch.equal(out[i], window.flip(2)):
                    found = "mirrored"
        assert found is not None, f"image {i} is no window of its padded image"
        flipped += found == "mirrored"
    assert 0 < flipped < n


def test_training_loop_runs_the_recipe_on_a_few_batches():
    """The script's loop: a short run on random data evaluates after each epoch and records the
    options it ran with."""
    rng = np.random.default_rng(0)
    x_train = torch.from_numpy(rng.standard_normal((96, 3, 32, 32)).astype(np.float32))
    y_train = torch.from_numpy(rng.integers(0, 10, 96))
    x_test = torch.from_numpy(rng.standard_normal((40, 3, 32, 32)).astype(np.float32))
    y_test = torch.from_numpy(rng.integers(0, 10, 40))
    fill = torch.zeros(1, 3, 1, 1)
    args = types.SimpleNamespace(seed=0, lr=0.05, batch_size=32, eval_every=1)
    result = resnet20_epochs.train(2, args, (x_train, y_train, x_test, y_test, fill), torch.device("cpu"))
    assert result["epochs"] == 2 and result["batch_size"] == 32 and result["lr"] == 0.05
    assert [e for e, _ in result["curve"]] == [1, 2]
    assert 0.0 <= result["final"] <= 1.0 and result["final"] == result["curve"][-1][1]
