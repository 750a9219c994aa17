"""MNIST, Fashion-MNIST and KMNIST from their IDX files (gzip-compressed or plain).

Files are looked up in ``root/<ClassName>/raw/`` (torchvision's layout) and then in ``root``
itself (a folder holding the four files, e.g. a shared read-only copy). Each file is validated:
IDX magic number, header dimensions against the file size, label range, image/label counts.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np

from ..._tensor import _wrap
from .utils import _ImageClassification, download_from_mirrors

_IDX_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049


def _open(path):
    with open(path, "rb") as f:
        head = f.read(2)
    return gzip.open(path, "rb") if head == b"\x1f\x8b" else open(path, "rb")


def read_idx(path, expected_magic=None):
    """Read an IDX file (optionally gzip-compressed) into a NumPy array, validating its structure.
    Errors name the file."""
    path = os.fspath(path)
    try:
        with _open(path) as f:
            head = f.read(4)
            if len(head) < 4 or head[:2] != b"\x00\x00":
                raise ValueError(f"{path}: not an IDX file (bad magic number {head.hex() or 'empty file'})")
            code, ndim = head[2], head[3]
            magic = int.from_bytes(head, "big")
            if expected_magic is not None and magic != expected_magic:
                raise ValueError(f"{path}: IDX magic number is {magic}, expected {expected_magic} "
                                 f"({'images' if expected_magic == IMAGES_MAGIC else 'labels'} file)")
            if code not in _IDX_TYPES:
                raise ValueError(f"{path}: unknown IDX data type code 0x{code:02x}")
            dims_raw = f.read(4 * ndim)
            if len(dims_raw) != 4 * ndim:
                raise ValueError(f"{path}: truncated IDX header")
            dims = struct.unpack(f">{ndim}I", dims_raw)
            dt = _IDX_TYPES[code]
            out = np.empty(dims, dtype=dt)
            buf = memoryview(out.reshape(-1).view(np.uint8))
            got = 0
            while got < len(buf):
                n = f.readinto(buf[got:])
                if not n:
                    break
                got += n
            if got != len(buf):
                raise ValueError(f"{path}: truncated: the header announces {tuple(dims)} "
                                 f"({4 + 4 * ndim + len(buf)} bytes of data) but the file holds only "
                                 f"{4 + 4 * ndim + got} bytes")
            if f.read(1):
                raise ValueError(f"{path}: corrupt: bytes left over after the {tuple(dims)} items the header "
                                 "announces")
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise ValueError(f"{path}: corrupt or truncated gzip data ({e})") from e
    return out.astype(dt.newbyteorder("="), copy=False) if dt.byteorder == ">" else out


class MNIST(_ImageClassification):
    """`MNIST <http://yann.lecun.com/exdb/mnist/>`_ handwritten digits (torchvision signature).

    Attributes: ``data`` (uint8 Tensor N×28×28), ``targets`` (int64 Tensor N), ``classes``,
    ``class_to_idx``. ``dataset[i]`` is ``(image, target)``; without ``transform`` the image is a
    NumPy uint8 array 28×28 (where torchvision gives a PIL image); ``transforms.ToTensor()`` turns
    it into a float32 1×28×28 tensor in [0, 1].

    ``download=True`` fetches missing files from the official mirrors (verified against the
    published md5, written atomically). Offline, copy the files into ``root/MNIST/raw/``.
    """

    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]
    resources = [("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                 ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
                 ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
                 ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c")]
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
               "8 - eight", "9 - nine"]
    image_size = (28, 28)

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        if download:
            self.download()
        self.data, self.targets = self._load_data()

    @property
    def raw_folder(self):
        return os.path.join(self.root, type(self).__name__, "raw")

    def _base_names(self, train=None):
        prefix = "train" if (self.train if train is None else train) else "t10k"
        return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"

    def _find(self, base):
        for folder in (self.raw_folder, self.root):
            for name in (base, base + ".gz"):
                p = os.path.join(folder, name)
                if os.path.isfile(p):
                    return p
        return None

    def _check_exists(self):
        return all(self._find(b) is not None for b in self._base_names())

    def download(self):
        """Fetch every missing file of both splits into ``raw_folder``."""
        missing = [(f, md5) for f, md5 in self.resources if self._find(f[:-3] if f.endswith(".gz") else f) is None]
        if not missing:
            return
        os.makedirs(self.raw_folder, exist_ok=True)
        errors = []
        for filename, md5 in missing:  # fetch what can be fetched, then report every failure
            try:
                download_from_mirrors(self.mirrors, filename, self.raw_folder, md5=md5)
            except RuntimeError as e:
                errors.append(str(e))
        if errors:
            raise RuntimeError("\n".join(errors))

    def _load_data(self):
        img_base, lbl_base = self._base_names()
        img_path, lbl_path = self._find(img_base), self._find(lbl_base)
        if img_path is None or lbl_path is None:
            missing = [b for b, p in ((img_base, img_path), (lbl_base, lbl_path)) if p is None]
            raise RuntimeError(
                f"Dataset not found: {type(self).__name__} needs {' and '.join(m + '(.gz)' for m in missing)} in "
                f"{self.raw_folder} (or directly in {self.root}). You can use download=True to download it, "
                "or copy the files there by hand.")
        images = read_idx(img_path, IMAGES_MAGIC)
        labels = read_idx(lbl_path, LABELS_MAGIC)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(f"{img_path}: expected uint8 images N×H×W, got {images.dtype} {images.shape}")
        if images.shape[1:] != self.image_size:
            raise ValueError(f"{img_path}: expected {self.image_size[0]}×{self.image_size[1]} images, got "
                             f"{images.shape[1]}×{images.shape[2]}")
        if labels.ndim != 1:
            raise ValueError(f"{lbl_path}: expected a 1-d label file, got shape {labels.shape}")
        if len(labels) != len(images):
            raise ValueError(f"{lbl_path}: {len(labels)} labels for {len(images)} images in {img_path}")
        if labels.size and int(labels.max()) >= len(self.classes):
            raise ValueError(f"{lbl_path}: label {int(labels.max())} is out of range 0..{len(self.classes) - 1}")
        return _wrap(images), _wrap(labels.astype(np.int64))

    # torchvision's deprecated names
    @property
    def train_labels(self):
        return self.targets

    @property
    def test_labels(self):
        return self.targets

    @property
    def train_data(self):
        return self.data

    @property
    def test_data(self):
        return self.data

    def _images_array(self):
        return self.data._data

    def _target(self, index):
        return int(self.targets._data[index])

    def _targets_at(self, idx):
        return self.targets._data[idx]

    def extra_repr(self):
        return f"Split: {'Train' if self.train is True else 'Test'}"


class FashionMNIST(MNIST):
    """`Fashion-MNIST <https://github.com/zalandoresearch/fashion-mnist>`_ (same format as MNIST);
    files in ``root/FashionMNIST/raw/`` or ``root``."""

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                 ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
                 ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
                 ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310")]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]


class KMNIST(MNIST):
    """`Kuzushiji-MNIST <https://github.com/rois-codh/kmnist>`_; files in ``root/KMNIST/raw/`` or ``root``."""

    mirrors = ["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"]
    resources = [("train-images-idx3-ubyte.gz", "bdb82020997e1d708af4cf47b453dcf7"),
                 ("train-labels-idx1-ubyte.gz", "e144d726b3acfaa3e44228e80efcd344"),
                 ("t10k-images-idx3-ubyte.gz", "5c965bf0a639b31b8f53240b1b52f4d7"),
                 ("t10k-labels-idx1-ubyte.gz", "7320c461ea6c1c855c0b718fb2a4b134")]
    classes = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
