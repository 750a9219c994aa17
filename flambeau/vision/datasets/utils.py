"""Dataset helpers: integrity checks, downloads (to a temporary file, verified, then moved into
place atomically), archive extraction, and ``VisionDataset``, the base of the image datasets
(with the batched fetch fast path)."""
from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
import urllib.error
import urllib.request

import numpy as np

from ..._tensor import Tensor, _wrap
from ...utils.data import Dataset
from ...utils.data._collate import CollatedBatch, default_collate

USER_AGENT = "flambeau"


def calculate_md5(fpath, chunk_size=1024 * 1024):
    return _digest(fpath, hashlib.md5(), chunk_size)


def calculate_sha256(fpath, chunk_size=1024 * 1024):
    return _digest(fpath, hashlib.sha256(), chunk_size)


def _digest(fpath, h, chunk_size):
    with open(fpath, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            h.update(chunk)
    return h.hexdigest()


def check_md5(fpath, md5):
    return md5 == calculate_md5(fpath)


def check_integrity(fpath, md5=None):
    """The file exists and (when ``md5`` is given) has that md5."""
    if not os.path.isfile(fpath):
        return False
    if md5 is None:
        return True
    return check_md5(fpath, md5)


def _urlopen(url, timeout=30):
    """Open ``url`` (the single network entry point; tests replace it)."""
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    return urllib.request.urlopen(req, timeout=timeout)


def download_url(url, root, filename=None, md5=None, sha256=None, max_redirect_hops=3):
    """Download ``url`` to ``root/filename``: streamed into a temporary file in ``root``, checked
    against ``md5``/``sha256``, then renamed into place. Nothing is left behind on failure."""
    root = os.path.expanduser(os.fspath(root))
    filename = filename or os.path.basename(url)
    fpath = os.path.join(root, filename)
    if check_integrity(fpath, md5) and (sha256 is None or calculate_sha256(fpath) == sha256):
        return fpath
    os.makedirs(root, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=root)
    try:
        md5h, shah = hashlib.md5(), hashlib.sha256()
        with os.fdopen(fd, "wb") as out, _urlopen(url) as resp:
            while True:
                chunk = resp.read(1024 * 1024)
                if not chunk:
                    break
                md5h.update(chunk)
                shah.update(chunk)
                out.write(chunk)
        if md5 is not None and md5h.hexdigest() != md5:
            raise RuntimeError(f"downloaded file from {url} has md5 {md5h.hexdigest()}, expected {md5}")
        if sha256 is not None and shah.hexdigest() != sha256:
            raise RuntimeError(f"downloaded file from {url} has sha256 {shah.hexdigest()}, expected {sha256}")
        os.replace(tmp, fpath)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return fpath


def download_from_mirrors(mirrors, filename, folder, md5=None, sha256=None):
    """Try each mirror in turn; on total failure raise a RuntimeError naming the missing file and how
    to provide it by hand."""
    errors = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        try:
            return download_url(url, folder, filename, md5=md5, sha256=sha256)
        except (OSError, urllib.error.URLError, RuntimeError, ValueError) as e:
            errors.append(f"{url}: {e}")
    target = os.path.join(folder, filename)
    raise RuntimeError(f"could not download {filename}; tried:\n  " + "\n  ".join(errors) +
                       f"\nWithout network access, copy the file to {target} (from a machine that has it) "
                       "and run again.")


def _safe_members(tar, prefix):
    for m in tar.getmembers():
        name = m.name
        if os.path.isabs(name) or ".." in name.replace("\\", "/").split("/"):
            raise RuntimeError(f"{tar.name}: refusing archive member with unsafe path {name!r}")
        if name.startswith(prefix) and m.isfile():
            yield m


def extract_tar_members(archive, dest, prefix, names=None, required=None):
    """Extract the regular files directly under ``prefix/`` (only ``names`` if given; all of
    ``required`` must be there) from a tar(.gz) into ``dest/prefix`` atomically: written to a
    temporary folder in ``dest`` and renamed into place. Member paths are never trusted."""
    prefix = prefix.rstrip("/")
    final = os.path.join(dest, prefix)
    os.makedirs(dest, exist_ok=True)
    tmpdir = tempfile.mkdtemp(prefix=f".{prefix}.", dir=dest)
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                found = set()
                for m in _safe_members(tar, prefix + "/"):
                    base = m.name[len(prefix) + 1:]
                    if "/" in base or (names is not None and base not in names):
                        continue
                    src = tar.extractfile(m)
                    with open(os.path.join(tmpdir, base), "wb") as out:
                        while True:
                            chunk = src.read(4 * 1024 * 1024)
                            if not chunk:
                                break
                            out.write(chunk)
                    found.add(base)
        except (tarfile.TarError, EOFError, OSError) as e:
            raise RuntimeError(f"{archive}: cannot read the archive ({e}); it is corrupt or truncated") from e
        lacking = set(required if required is not None else (names or ())) - found
        if lacking:
            raise RuntimeError(f"{archive}: the archive lacks {sorted(lacking)} under {prefix}/; it is not the "
                               "expected archive or it is truncated")
        try:
            os.rename(tmpdir, final)
        except OSError:
            if not os.path.isdir(final):  # a concurrent extraction may have won the race
                raise
    finally:
        if os.path.isdir(tmpdir):
            import shutil
            shutil.rmtree(tmpdir, ignore_errors=True)
    return final


def cache_dir():
    """``$FLAMBEAU_HOME`` or ``~/.cache/flambeau`` (a temporary folder if neither is writable)."""
    base = os.environ.get("FLAMBEAU_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "flambeau")
    try:
        os.makedirs(base, exist_ok=True)
        if os.access(base, os.W_OK):
            return base
    except OSError:
        pass
    return os.path.join(tempfile.gettempdir(), f"flambeau-{os.getuid() if hasattr(os, 'getuid') else 'user'}")



class VisionDataset(Dataset):
    """Base class (``torchvision.datasets.VisionDataset``): ``root``, ``transform``,
    ``target_transform`` and torchvision's ``repr``."""

    _repr_indent = 4

    def __init__(self, root=None, transforms=None, transform=None, target_transform=None):
        if isinstance(root, (str, bytes, os.PathLike)):
            root = os.path.expanduser(os.fspath(root))
        self.root = root
        has_transforms = transforms is not None
        has_separate = transform is not None or target_transform is not None
        if has_transforms and has_separate:
            raise ValueError("Only transforms or transform/target_transform can be passed as argument")
        self.transform = transform
        self.target_transform = target_transform
        self.transforms = transforms

    def extra_repr(self):
        return ""

    def __repr__(self):
        head = "Dataset " + type(self).__name__
        body = [f"Number of datapoints: {len(self)}"]
        if self.root is not None:
            body.append(f"Root location: {self.root}")
        body += self.extra_repr().splitlines()
        if self.transform is not None:
            body += _format_transform(repr(self.transform), "Transform: ")
        if self.target_transform is not None:
            body += _format_transform(repr(self.target_transform), "Target transform: ")
        return "\n".join([head] + [" " * self._repr_indent + line for line in body])


def _format_transform(text, head):
    lines = text.splitlines()
    return [f"{head}{lines[0]}"] + ["{}{}".format(" " * len(head), line) for line in lines[1:]]


class _ImageClassification(VisionDataset):
    """In-memory image classification. Subclasses provide ``_images_array()`` (a NumPy uint8 array
    ``N×H×W`` or ``N×H×W×C``, read from the current ``data`` attribute), ``_target(i)`` and
    ``_targets_at(idx)``.

    ``__getitem__`` returns ``(image, target)`` where the image is a NumPy uint8 array (flambeau's
    stand-in for torchvision's PIL image) passed through ``transform``. ``__getitems__`` gathers a
    whole batch with one fancy-index and applies a vectorisable transform (``ToTensor``,
    ``Normalize``, ``Compose`` of such …) to the stack at once; with random or custom transforms it
    falls back to per-sample fetching.
    """

    def __getitem__(self, index):
        img, target = self._images_array()[index].copy(), self._target(index)
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self):
        return len(self._images_array())

    def __getitems__(self, indices):
        from ..transforms.transforms import batched
        images = self._images_array()
        fn = None
        if type(self).__getitem__ is _ImageClassification.__getitem__:
            fn = batched(self.transform, images.ndim - 1)
        if fn is None:
            return [self[i] for i in indices]
        idx = indices._data if isinstance(indices, Tensor) else np.asarray(indices, dtype=np.int64)
        idx = idx.astype(np.int64, copy=False)
        imgs = fn(images[idx])
        if isinstance(imgs, np.ndarray):
            imgs = _wrap(imgs)
        labels = self._targets_at(idx)
        if self.target_transform is None:
            targets = _wrap(labels.astype(np.int64, copy=False))
        else:
            targets = default_collate([self.target_transform(int(t)) for t in labels])
        return CollatedBatch([imgs, targets], idx.tolist(), self.__getitem__)

    @property
    def class_to_idx(self):
        return {c: i for i, c in enumerate(self.classes)}
