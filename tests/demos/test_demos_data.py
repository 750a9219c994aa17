"""The image demos (`flambeau demo NAME --fast`) on the real datasets: figures written, numbers right.

They need $FLAMBEAU_DATASETS (skipped otherwise). The tests share one output folder, so that
``robustness`` reuses the network ``mnist-cnn`` saved there, as it does for a user.
"""
import json
import os

import numpy as np
import pytest

from flambeau.demos import DEMOS, run
from realdata import dataset_root


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return str(tmp_path_factory.mktemp("demos"))


def _has(out, name, *files):
    folder = os.path.join(out, name)
    missing = [f for f in ("metrics.json",) + files if not os.path.isfile(os.path.join(folder, f))]
    assert not missing, f"{name}: missing {missing}"
    for f in files:
        assert os.path.getsize(os.path.join(folder, f)) > 1000, f"{name}/{f} is (nearly) empty"


def test_registered():
    for name in ("mnist-linear", "mnist-cnn", "robustness", "gan", "regularisation", "vanishing-gradients",
                 "cifar10"):
        assert name in DEMOS


def test_missing_data_names_the_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz") as e:
        run("mnist-linear", out=str(tmp_path), fast=True, data_root=str(tmp_path / "nowhere"))
    assert "FLAMBEAU_DATA" in str(e.value)
    with pytest.raises(FileNotFoundError, match="cifar-10-binary.tar.gz"):
        run("cifar10", out=str(tmp_path), fast=True, data_root=str(tmp_path / "nowhere"))


def test_mnist_linear(out):
    m = run("mnist-linear", out=out, fast=True, data_root=dataset_root("mnist"))
    assert m["test_accuracy"] > 0.85                      # Reseau1: ~0.89 after 300 steps, ~0.91 after an epoch
    cm = np.array(m["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == m["test_images"]
    assert np.trace(cm) / cm.sum() == pytest.approx(m["test_accuracy"], abs=1e-6)
    assert 0.5 < m["worst_mistake_confidence"] <= 1.0
    assert m["epoch_time_s"] > 0
    _has(out, "mnist-linear", "curves.png", "confusion.png", "mistakes.png")


def test_mnist_cnn(out):
    m = run("mnist-cnn", out=out, fast=True, data_root=dataset_root("mnist"))
    assert m["test_accuracy"] > 0.8                       # Reseau2 after only 40 Adadelta steps
    assert m["final_loss"] < 1.0
    _has(out, "mnist-cnn", "curves.png", "confusion.png", "mistakes.png", "reseau2.safetensors")


def test_robustness(out):
    # reuses mnist-cnn's checkpoint when the test above ran (trains its own otherwise)
    m = run("robustness", out=out, fast=True, data_root=dataset_root("mnist"))
    clean = m["clean_accuracy"]
    assert clean > 0.8
    fgsm = [m["fgsm_accuracy"][k] for k in sorted(m["fgsm_accuracy"], key=float)]
    assert fgsm[0] == pytest.approx(clean)
    assert all(b <= a + 1e-9 for a, b in zip(fgsm, fgsm[1:])), fgsm    # accuracy falls as ε grows
    assert fgsm[-1] < clean - 0.5                                       # ε = 0.3 breaks the network
    corr = m["corruption_accuracy"]
    assert min(corr.values()) < clean - 0.1                             # some slight corruption hurts a lot
    assert all(a <= clean + 0.02 for a in corr.values())
    fool = m["fooling"]
    assert fool["predicted"] == list(range(10))
    assert fool["min_confidence"] > 0.99                                # each digit seen with > 99 %
    assert fool["mean_abs_change_from_noise"] < 0.5                     # still noise-like images
    _has(out, "robustness", "corruptions.png", "fgsm.png", "fooling.png")


def test_gan_trains_then_samples_from_its_checkpoint(out, tmp_path):
    with pytest.raises(FileNotFoundError, match="gan.safetensors"):
        run("gan", out=str(tmp_path), fast=True, sample=True)
    m = run("gan", out=out, fast=True, data_root=dataset_root("mnist"))
    assert np.isfinite([m["final_loss_D"], m["final_loss_G"]]).all()
    assert m["final_D_x"] > m["final_D_G_z"]              # D tells real digits from generated ones
    _has(out, "gan", "epoch_1.png", "epoch_2.png", "progress.png", "losses.png", "gan.safetensors")
    s = run("gan", out=out, fast=True, sample=True)        # no training: the saved generator
    assert s["steps"] == m["steps"]                        # the training numbers are kept
    # the sample uses the noise of the training grids: the reloaded generator draws the same images
    assert s["sample"]["pixel_mean"] == pytest.approx(m["generated_pixel_mean"], abs=1e-6)
    _has(out, "gan", "samples.png")
    with open(os.path.join(out, "gan", "metrics.json")) as f:
        assert json.load(f)["sample"]["n"] == 64


def test_regularisation_cures_over_fitting(out):
    m = run("regularisation", out=out, fast=True, data_root=dataset_root("mnist"))
    r = m["results"]
    assert r["none"]["train_accuracy"] > 0.97 and r["none"]["gap"] > 0.08      # learned by heart
    assert r["weight decay"]["gap"] < r["none"]["gap"]
    assert r["dropout"]["gap"] < r["none"]["gap"]
    assert r["augmentation"]["gap"] < r["none"]["gap"] - 0.04
    assert r["augmentation"]["test_accuracy"] > r["none"]["test_accuracy"]
    _has(out, "regularisation", "regularisation.png")


def test_vanishing_gradients(out):
    m = run("vanishing-gradients", out=out, fast=True, data_root=dataset_root("mnist"))
    ratio = m["ratio_first_last_init"]
    assert ratio["sigmoid"] < 1e-4                        # the first layers get almost nothing
    for k in ("relu+kaiming", "relu+batchnorm", "relu+layernorm"):
        assert ratio[k] > 0.1, (k, ratio[k])
    assert ratio["sigmoid"] < 1e-3 * ratio["relu+batchnorm"]
    assert ratio["sigmoid"] < ratio["relu"] < ratio["relu+batchnorm"]
    res = m["results"]
    assert res["relu+batchnorm"]["final_loss"] < res["sigmoid"]["final_loss"] - 0.5   # and it learns
    assert len(res["sigmoid"]["grad_norms_init"]) == m["depth"]
    _has(out, "vanishing-gradients", "gradient_norms.png")


def test_cifar10(out):
    m = run("cifar10", out=out, fast=True, data_root=dataset_root("cifar10"))
    for name, acc in m["test_accuracy"].items():
        assert acc > 0.2, (name, acc)                    # chance is 0.1 (fast: a few hundred steps)
    cm = np.array(m["results"]["cnn"]["confusion_matrix"])
    assert cm.sum() == m["test_images"]
    _has(out, "cifar10", "curves.png", "confusion.png", "mistakes.png")
