"""CIFAR-10 from the official *binary* version (``cifar-10-batches-bin/*.bin``); never pickle.

Each ``.bin`` file holds records of 3,073 bytes (10,000 per file in the official release): one
label byte (0–9), then 1,024 red, 1,024 green and 1,024 blue bytes (32×32 planes, row-major).
Lookup order:

1. ``root/cifar-10-batches-bin/`` already extracted;
2. ``root/cifar-10-binary.tar.gz``: extracted once into ``root`` when it is writable, otherwise
   into a cache folder (``$FLAMBEAU_HOME`` or ``~/.cache/flambeau``, else a temporary folder), so a
   read-only shared copy works;
3. ``download=True``: fetched from the official site (md5 checked), then as in 2.
"""
from __future__ import annotations

import hashlib
import os
import stat
import tempfile

import numpy as np

from .utils import _ImageClassification, cache_dir, download_from_mirrors, extract_tar_members

RECORD = 3073
RECORDS_PER_FILE = 10000


def _writable(folder):
    """Whether we may create files in ``folder``: its mode grants writing (honoured even for a
    superuser, so a folder marked read-only stays untouched) and a probe file can be created."""
    try:
        if not os.path.isdir(folder) or not (os.stat(folder).st_mode & stat.S_IWUSR):
            return False
        fd, probe = tempfile.mkstemp(prefix=".flambeau-probe.", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


class CIFAR10(_ImageClassification):
    """`CIFAR-10 <https://www.cs.toronto.edu/~kriz/cifar.html>`_ (torchvision signature).

    Attributes as torchvision: ``data`` a NumPy uint8 array N×32×32×3 (RGB), ``targets`` a list of
    ints, ``classes``, ``class_to_idx``. ``dataset[i]`` is ``(image, target)``; without
    ``transform`` the image is a NumPy uint8 array 32×32×3 (where torchvision gives a PIL image).
    """

    base_folder = "cifar-10-batches-bin"
    archive = "cifar-10-binary.tar.gz"
    mirrors = ["https://www.cs.toronto.edu/~kriz/"]
    tgz_md5 = "c32a1d4ab5d03f1284b67883e8d87530"
    train_list = [f"data_batch_{i}.bin" for i in range(1, 6)]
    test_list = ["test_batch.bin"]
    meta_file = "batches.meta.txt"
    default_classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        folder = self._locate(download)
        self.folder = folder
        self.data, self.targets = self._load(folder)
        self.classes = self._load_meta(folder)

    # ------------------------------------------------------------------ locating the files
    def _complete(self, folder):
        return all(os.path.isfile(os.path.join(folder, f)) for f in self.train_list + self.test_list)

    def _cache_folder(self, archive):
        st = os.stat(archive)
        key = hashlib.sha256(f"{os.path.realpath(archive)}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
        return os.path.join(cache_dir(), "datasets", f"cifar10-{key}")

    def _extract(self, archive):
        dest = self.root if _writable(self.root) else self._cache_folder(archive)
        target = os.path.join(dest, self.base_folder)
        if self._complete(target):
            return target
        names = self.train_list + self.test_list + [self.meta_file]
        return extract_tar_members(archive, dest, self.base_folder, names=names,
                                   required=self.train_list + self.test_list)

    def _locate(self, download):
        direct = os.path.join(self.root, self.base_folder)
        if self._complete(direct):
            return direct
        archive = os.path.join(self.root, self.archive)
        if os.path.isfile(archive):
            cached = os.path.join(self._cache_folder(archive), self.base_folder)
            if not _writable(self.root) and self._complete(cached):
                return cached
            return self._extract(archive)
        if download:
            os.makedirs(self.root, exist_ok=True)
            download_from_mirrors(self.mirrors, self.archive, self.root, md5=self.tgz_md5)
            return self._extract(archive)
        raise RuntimeError(
            f"Dataset not found or corrupted: CIFAR10 needs {direct}/ with "
            f"{', '.join(self.train_list + self.test_list)}, "
            f"or the archive {archive}. You can use download=True to download it, or copy "
            f"{self.archive} (the binary version) into {self.root} by hand.")

    # ------------------------------------------------------------------ reading
    def _load(self, folder):
        """Read the split's files. The format has no header: a file is a whole number of 3,073-byte
        records (10,000 in the official release; a subset file written the same way is read too)."""
        files = self.train_list if self.train else self.test_list
        parts = []
        for name in files:
            path = os.path.join(folder, name)
            size = os.path.getsize(path)
            if size == 0 or size % RECORD:
                what = "empty" if size == 0 else "truncated"
                raise ValueError(f"{path}: {what}: {size} bytes is not a whole number of {RECORD}-byte records "
                                 f"(the official files hold {RECORDS_PER_FILE} records = "
                                 f"{RECORD * RECORDS_PER_FILE} bytes)")
            part = np.empty((size // RECORD, RECORD), np.uint8)
            with open(path, "rb") as f:
                if f.readinto(memoryview(part.reshape(-1))) != part.size:
                    raise ValueError(f"{path}: truncated while reading")
            bad = part[:, 0] >= len(self.default_classes)
            if bad.any():
                r = int(np.argmax(bad))
                raise ValueError(f"{path}: record {r} has label {int(part[r, 0])}, outside 0..9; the file is corrupt")
            parts.append(part)
        records = parts[0] if len(parts) == 1 else np.concatenate(parts)
        labels = records[:, 0]
        data = np.ascontiguousarray(records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        return data, labels.astype(np.int64).tolist()

    def _load_meta(self, folder):
        path = os.path.join(folder, self.meta_file)
        if not os.path.isfile(path):
            return list(self.default_classes)
        with open(path, encoding="utf-8", errors="replace") as f:
            names = [line.strip() for line in f if line.strip()]
        if len(names) != len(self.default_classes):
            raise ValueError(f"{path}: expected {len(self.default_classes)} class names, found {len(names)}")
        return names

    def _images_array(self):
        return self.data

    def _target(self, index):
        return int(self.targets[index])

    def _targets_at(self, idx):
        t = self.targets
        return np.array([t[i] for i in idx.tolist()], dtype=np.int64)

    def extra_repr(self):
        return f"Split: {'Train' if self.train is True else 'Test'}"
