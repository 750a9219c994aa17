"""``Digits``: the UCI 8×8 handwritten digits (1,797 images), shipped inside flambeau for offline use.

Source: Optical Recognition of Handwritten Digits, E. Alpaydin and C. Kaynak, UCI Machine Learning
Repository (CC BY 4.0); see ``data/DIGITS_LICENSE.txt``.
"""
from __future__ import annotations

import gzip
import hashlib
import os

import numpy as np

from ..._tensor import _wrap
from .utils import _ImageClassification

DATA_FILE = os.path.join(os.path.dirname(__file__), "data", "digits.csv.gz")
DATA_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
N_SAMPLES = 1797


def load_digits_arrays(path=DATA_FILE):
    """(images uint8 N×8×8 with values 0..16, labels int64 N) from the embedded CSV, validated."""
    with open(path, "rb") as f:
        raw = f.read()
    if hashlib.sha256(raw).hexdigest() != DATA_SHA256:
        raise RuntimeError(f"{path}: checksum mismatch; the embedded digits file is damaged (reinstall flambeau)")
    text = gzip.decompress(raw).decode("ascii")
    table = np.array([[int(v) for v in line.split(",")] for line in text.splitlines() if line.strip()],
                     dtype=np.int64)
    if table.shape != (N_SAMPLES, 65):
        raise RuntimeError(f"{path}: expected {N_SAMPLES} rows of 65 values, got {table.shape}")
    pixels, labels = table[:, :64], table[:, 64]
    if pixels.min() < 0 or pixels.max() > 16 or labels.min() < 0 or labels.max() > 9:
        raise RuntimeError(f"{path}: values out of range (pixels 0..16, labels 0..9)")
    return pixels.reshape(-1, 8, 8).astype(np.uint8), labels


def stratified_split(labels, test_fraction, seed):
    """(train_idx, test_idx), sorted: for each class, ``round(n_c * test_fraction)`` samples drawn
    at random (PCG64 seeded with ``seed``) go to the test set."""
    g = np.random.Generator(np.random.PCG64(seed))
    test = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        k = int(round(len(members) * test_fraction))
        test.append(g.permutation(members)[:k])
    test_idx = np.sort(np.concatenate(test))
    mask = np.ones(len(labels), bool)
    mask[test_idx] = False
    return np.flatnonzero(mask), test_idx


class Digits(_ImageClassification):
    """UCI 8×8 handwritten digits, embedded in the package (no download, no ``root`` needed).

    The 1,797 images are split once, deterministically and stratified by class, into train and test
    (``test_fraction`` of each class, chosen with ``split_seed``; the default gives 1,438 / 359).
    The original pixel counts 0..16 are rescaled to uint8 0..255 (``value * 255 // 16``) so the
    standard transforms apply: ``ToTensor()`` gives float32 1×8×8 in [0, 1].

    Attributes like MNIST: ``data`` (uint8 Tensor N×8×8), ``targets`` (int64 Tensor N),
    ``classes``, ``class_to_idx``; without ``transform`` an image is a NumPy uint8 8×8 array.
    """

    classes = [str(i) for i in range(10)]

    def __init__(self, root=None, train=True, transform=None, target_transform=None, split_seed=0,
                 test_fraction=0.2):
        super().__init__(root, transform=transform, target_transform=target_transform)
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"Digits: test_fraction should be in (0, 1), got {test_fraction}")
        self.train = train
        self.split_seed = split_seed
        self.test_fraction = test_fraction
        images, labels = load_digits_arrays()
        train_idx, test_idx = stratified_split(labels, test_fraction, split_seed)
        idx = train_idx if train else test_idx
        self.indices = idx
        self.data = _wrap((images[idx].astype(np.uint16) * 255 // 16).astype(np.uint8))
        self.targets = _wrap(labels[idx].astype(np.int64))

    def _images_array(self):
        return self.data._data

    def _target(self, index):
        return int(self.targets._data[index])

    def _targets_at(self, idx):
        return self.targets._data[idx]

    def extra_repr(self):
        return (f"Split: {'Train' if self.train is True else 'Test'} (test_fraction={self.test_fraction}, "
                f"split_seed={self.split_seed})")
