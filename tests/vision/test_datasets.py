import gzip
import hashlib
import io
import os
import shutil
import tarfile
import time
import urllib.error

import numpy as np
import pytest
from conftest import dataset_root

import flambeau
from flambeau.utils.data import DataLoader
from flambeau.utils.data._collate import CollatedBatch
from flambeau.vision import datasets, transforms as T
from flambeau.vision.datasets import utils as dutils

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _idx_bytes(arr, magic):
    head = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return head + arr.astype(np.uint8).tobytes()


@pytest.fixture(scope="module")
def mnist_train():
    return datasets.MNIST(dataset_root("mnist"), train=True)


def test_mnist_train_content(mnist_train):
    ds = mnist_train
    assert len(ds) == 60000
    assert ds.data.shape == (60000, 28, 28) and ds.data.dtype == flambeau.uint8
    assert ds.targets.dtype == flambeau.int64
    assert np.bincount(ds.targets.numpy(), minlength=10).tolist() == MNIST_TRAIN_COUNTS
    # the decoded content reproduces the official decompressed files (published md5)
    assert hashlib.md5(_idx_bytes(ds.data.numpy(), 2051)).hexdigest() == "6bbc9ace898e44ae57da46a324031adb"
    assert hashlib.md5(_idx_bytes(ds.targets.numpy(), 2049)).hexdigest() == "a25bea736e30d166cdddb491f175f624"
    assert abs(ds.data.numpy().mean() / 255 - 0.1307) < 5e-4
    img, target = ds[0]
    assert isinstance(img, np.ndarray) and img.shape == (28, 28) and img.dtype == np.uint8 and target == 5
    assert hashlib.sha256(img.tobytes()).hexdigest() == hashlib.sha256(ds.data.numpy()[0].tobytes()).hexdigest()
    assert ds.classes[0] == "0 - zero" and ds.class_to_idx["9 - nine"] == 9
    assert "Split: Train" in repr(ds)


def test_mnist_test_split_and_layouts(tmp_path):
    root = dataset_root("mnist")
    ds = datasets.MNIST(root, train=False)
    assert len(ds) == 10000 and np.bincount(ds.targets.numpy()).tolist() == MNIST_TEST_COUNTS
    assert hashlib.md5(_idx_bytes(ds.data.numpy(), 2051)).hexdigest() == "2646ac647ad5339dbf082846283269ea"
    # torchvision layout root/MNIST/raw with uncompressed files
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for base in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / base).write_bytes(gzip.decompress(open(os.path.join(root, base + ".gz"), "rb").read()))
    ds2 = datasets.MNIST(str(tmp_path), train=False)
    np.testing.assert_array_equal(ds2.data.numpy(), ds.data.numpy())
    with pytest.raises(RuntimeError, match="train-images-idx3-ubyte"):
        datasets.MNIST(str(tmp_path), train=True)


def test_fashion_mnist():
    root = dataset_root("fashion-mnist")
    ds = datasets.FashionMNIST(root, train=False)
    assert len(ds) == 10000 and ds.data.shape == (10000, 28, 28)
    assert np.bincount(ds.targets.numpy()).tolist() == [1000] * 10
    assert hashlib.md5(_idx_bytes(ds.data.numpy(), 2051)).hexdigest() == "8181f5470baa50b63fa0f6fddb340f0a"
    assert ds.classes[9] == "Ankle boot"
    tr = datasets.FashionMNIST(root, train=True)
    assert np.bincount(tr.targets.numpy()).tolist() == [6000] * 10
    assert abs(tr.data.numpy().mean() / 255 - 0.2860) < 5e-4


def _copy_mnist_test(tmp_path, images=None, labels=None):
    root = dataset_root("mnist")
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    img = gzip.decompress(open(os.path.join(root, "t10k-images-idx3-ubyte.gz"), "rb").read())
    lbl = gzip.decompress(open(os.path.join(root, "t10k-labels-idx1-ubyte.gz"), "rb").read())
    (raw / "t10k-images-idx3-ubyte").write_bytes(images(img) if images else img)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(labels(lbl) if labels else lbl)
    return raw


@pytest.mark.parametrize("images,labels,file,match", [
    (lambda b: b[:-100], None, "t10k-images-idx3-ubyte", "truncated"),
    (lambda b: b + b"\0", None, "t10k-images-idx3-ubyte", "left over"),
    (lambda b: b"\0\0\x08\x01" + b[4:], None, "t10k-images-idx3-ubyte", "magic number is 2049, expected 2051"),
    (None, lambda b: b[:8] + b"\x0a" + b[9:], "t10k-labels-idx1-ubyte", "label 10 is out of range"),
    (None, lambda b: b[:4] + (9999).to_bytes(4, "big") + b[8:-1], "t10k-labels-idx1-ubyte", "9999 labels for 10000"),
    (lambda b: b"PK\x03\x04" + b[4:], None, "t10k-images-idx3-ubyte", "not an IDX file"),
])
def test_mnist_corrupt_files_name_the_file(tmp_path, images, labels, file, match):
    raw = _copy_mnist_test(tmp_path, images, labels)
    with pytest.raises(ValueError, match=match) as e:
        datasets.MNIST(str(tmp_path), train=False)
    assert str(raw / file) in str(e.value)


def test_mnist_truncated_gzip(tmp_path):
    raw = _copy_mnist_test(tmp_path)
    data = gzip.compress((raw / "t10k-images-idx3-ubyte").read_bytes(), compresslevel=1)
    (raw / "t10k-images-idx3-ubyte").unlink()
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz"):
        datasets.MNIST(str(tmp_path), train=False)


def test_download_offline_gives_clear_message(tmp_path, monkeypatch):
    def offline(url, timeout=30):
        raise urllib.error.URLError("network is unreachable")
    monkeypatch.setattr(dutils, "_urlopen", offline)
    with pytest.raises(RuntimeError) as e:
        datasets.MNIST(str(tmp_path), download=True)
    msg = str(e.value)
    assert "train-images-idx3-ubyte.gz" in msg and os.path.join(str(tmp_path), "MNIST", "raw") in msg
    assert "copy the file" in msg
    assert os.listdir(tmp_path / "MNIST" / "raw") == []  # nothing partial left behind
    with pytest.raises(RuntimeError, match="download=True"):
        datasets.MNIST(str(tmp_path / "elsewhere"))


def test_download_verifies_md5_and_is_atomic(tmp_path, monkeypatch):
    src = dataset_root("mnist")
    calls = []

    def fake(url, timeout=30):
        calls.append(url)
        return open(os.path.join(src, url.rsplit("/", 1)[1]), "rb")
    monkeypatch.setattr(dutils, "_urlopen", fake)
    # the shared train-images.gz was re-compressed: its md5 differs from the official one → rejected
    with pytest.raises(RuntimeError, match="md5") as e:
        datasets.MNIST(str(tmp_path), train=False, download=True)
    assert "train-images-idx3-ubyte.gz" in str(e.value)
    raw = tmp_path / "MNIST" / "raw"
    assert sorted(os.listdir(raw)) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
                                       "train-labels-idx1-ubyte.gz"]
    # the files whose .gz is the official one were accepted; provide the last by hand as the message says
    shutil.copy(os.path.join(src, "train-images-idx3-ubyte.gz"), raw)
    n = len(calls)
    ds = datasets.MNIST(str(tmp_path), train=False, download=True)
    assert len(ds) == 10000 and len(calls) == n  # nothing fetched again


@pytest.fixture(scope="module")
def cifar_test():
    return datasets.CIFAR10(dataset_root("cifar10"), train=False)


def _cifar_records(ds, start, stop):
    data = ds.data[start:stop].transpose(0, 3, 1, 2).reshape(stop - start, -1)
    return np.concatenate([np.asarray(ds.targets[start:stop], np.uint8)[:, None], data], 1).tobytes()


def test_cifar10_test_split(cifar_test):
    ds = cifar_test
    assert len(ds) == 10000 and ds.data.shape == (10000, 32, 32, 3) and ds.data.dtype == np.uint8
    assert isinstance(ds.data, np.ndarray) and isinstance(ds.targets, list) and isinstance(ds.targets[0], int)
    assert np.bincount(ds.targets).tolist() == [1000] * 10
    assert hashlib.sha256(_cifar_records(ds, 0, 10000)).hexdigest() == \
        "27510dceb090e887f9424124a1302375eea207f1debd1501081084547e6b732a"
    assert ds.classes == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    assert ds.class_to_idx["truck"] == 9
    img, t = ds[0]
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8 and t == ds.targets[0]
    np.testing.assert_allclose(ds.data.reshape(-1, 3).mean(0) / 255, (0.4941, 0.4851, 0.4504), atol=6e-4)
    # a root whose mode is read-only is never written to (even by a superuser): the cache is used
    root = dataset_root("cifar10")
    if not os.stat(root).st_mode & 0o200:
        assert not ds.folder.startswith(root) and not os.path.exists(os.path.join(root, "cifar-10-batches-bin"))


def test_cifar10_train_split():
    t0 = time.perf_counter()
    ds = datasets.CIFAR10(dataset_root("cifar10"), train=True)
    assert len(ds) == 50000 and np.bincount(ds.targets).tolist() == [5000] * 10
    assert hashlib.sha256(_cifar_records(ds, 0, 10000)).hexdigest() == \
        "95bc40a96c189b4ae973b8e377256610c0b0865f59a76bf2e7b5f5d3b6a9cd51"
    assert time.perf_counter() - t0 < 30


def _cifar_folder_copy(tmp_path, cifar_test, mutate_test=None):
    dst = tmp_path / "cifar-10-batches-bin"
    dst.mkdir()
    for name in os.listdir(cifar_test.folder):
        if name != "test_batch.bin":
            os.symlink(os.path.join(cifar_test.folder, name), dst / name)
    data = open(os.path.join(cifar_test.folder, "test_batch.bin"), "rb").read()
    (dst / "test_batch.bin").write_bytes(mutate_test(data) if mutate_test else data)
    return dst


def test_cifar10_extracted_layout_and_corruption(tmp_path, cifar_test):
    (tmp_path / "ok").mkdir()
    dst = _cifar_folder_copy(tmp_path / "ok", cifar_test)
    ds = datasets.CIFAR10(str(tmp_path / "ok"), train=False)
    assert ds.folder == str(dst) and np.array_equal(ds.data, cifar_test.data)
    (tmp_path / "short").mkdir()
    bad = _cifar_folder_copy(tmp_path / "short", cifar_test, lambda b: b[:3073 * 500 + 7])
    with pytest.raises(ValueError, match="truncated") as e:
        datasets.CIFAR10(str(tmp_path / "short"), train=False)
    assert str(bad / "test_batch.bin") in str(e.value)
    (tmp_path / "label").mkdir()
    bad = _cifar_folder_copy(tmp_path / "label", cifar_test, lambda b: b[:3073 * 3] + b"\xc8" + b[3073 * 3 + 1:])
    with pytest.raises(ValueError, match="record 3 has label 200") as e:
        datasets.CIFAR10(str(tmp_path / "label"), train=False)
    assert str(bad / "test_batch.bin") in str(e.value)


def test_cifar10_archive_extraction_and_corrupt_archive(tmp_path):
    # a small synthetic archive in the binary layout (labels cycle 0..9, pixels = label)
    rec = np.zeros((10000, 3073), np.uint8)
    rec[:, 0] = np.arange(10000) % 10
    rec[:, 1:] = rec[:, :1]
    payload = rec.tobytes()
    archive = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
            info = tarfile.TarInfo("cifar-10-batches-bin/" + name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    ds = datasets.CIFAR10(str(tmp_path), train=False)
    assert ds.folder == str(tmp_path / "cifar-10-batches-bin")  # writable root: extracted there
    assert ds.targets[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1] and int(ds.data[3].max()) == 3
    assert sorted(p for p in os.listdir(tmp_path) if p.startswith(".")) == []
    # a truncated archive is reported with its name
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "cifar-10-binary.tar.gz").write_bytes(archive.read_bytes()[:20000])
    with pytest.raises(RuntimeError, match="cifar-10-binary.tar.gz"):
        datasets.CIFAR10(str(broken), train=False)
    assert os.listdir(broken) == ["cifar-10-binary.tar.gz"]


def test_digits_embedded():
    tr, te = datasets.Digits(train=True), datasets.Digits(train=False)
    assert len(tr) + len(te) == 1797 and (len(tr), len(te)) == (1438, 359)
    assert tr.data.shape == (1438, 8, 8) and tr.data.dtype == flambeau.uint8
    assert int(tr.data.max()) == 255 and int(tr.data.min()) == 0
    assert set(np.unique(tr.data.numpy() % 1).tolist()) == {0}
    all_counts = np.bincount(np.concatenate([tr.targets.numpy(), te.targets.numpy()]))
    assert all_counts.tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    te_counts = np.bincount(te.targets.numpy(), minlength=10)
    np.testing.assert_array_equal(te_counts, np.round(all_counts * 0.2).astype(int))  # stratified
    assert not set(tr.indices.tolist()) & set(te.indices.tolist())
    again = datasets.Digits(train=False)
    np.testing.assert_array_equal(again.indices, te.indices)
    other = datasets.Digits(train=False, split_seed=1)
    assert not np.array_equal(other.indices, te.indices)
    img, t = te[0]
    assert img.shape == (8, 8) and img.dtype == np.uint8 and isinstance(t, int)
    x = T.ToTensor()(img)
    assert x.shape == (1, 8, 8) and float(x.max()) <= 1.0
    assert datasets.Digits(test_fraction=0.5).data.shape[0] in (898, 899, 900)
    with pytest.raises(ValueError, match="test_fraction"):
        datasets.Digits(test_fraction=1.5)


def test_fakedata_deterministic():
    ds = datasets.FakeData(size=10, image_size=(3, 8, 6), num_classes=4)
    a, ta = ds[3]
    b, tb = ds[3]
    assert a.shape == (8, 6, 3) and a.dtype == np.uint8 and np.array_equal(a, b) and ta == tb and 0 <= ta < 4
    assert not np.array_equal(ds[4][0], a)
    g = datasets.FakeData(size=5, image_size=(1, 4, 4), transform=T.ToTensor())
    assert g[0][0].shape == (1, 4, 4)
    with pytest.raises(IndexError):
        ds[10]
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch[0].shape == (4, 8, 6, 3)


def test_batched_fetch_equals_per_sample_and_fallback():
    tf = T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))])
    ds = datasets.Digits(transform=tf)
    idx = [5, 0, 17, 5]
    b = ds.__getitems__(idx)
    assert isinstance(b, CollatedBatch)
    xs, ys = b.collated
    np.testing.assert_array_equal(xs.numpy(), np.stack([ds[i][0].numpy() for i in idx]))
    assert ys.tolist() == [ds[i][1] for i in idx] and ys.dtype == flambeau.int64
    assert len(b) == 4 and b[2][1] == ds[17][1]
    raw = datasets.Digits().__getitems__([1, 2]).collated
    assert raw[0].dtype == flambeau.uint8 and raw[0].shape == (2, 8, 8)
    tt = datasets.Digits(target_transform=lambda t: t * 10).__getitems__([0, 1]).collated[1]
    assert tt.tolist() == [datasets.Digits()[0][1] * 10, datasets.Digits()[1][1] * 10]
    rnd = datasets.Digits(transform=T.Compose([T.RandomHorizontalFlip(), T.ToTensor()]))
    assert isinstance(rnd.__getitems__([0, 1]), list)


def test_mnist_dataloader_epoch_fast(mnist_train):
    tf = T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))])
    ds = datasets.MNIST(dataset_root("mnist"), train=True, transform=tf)
    dl = DataLoader(ds, batch_size=64, shuffle=True)
    t0 = time.perf_counter()
    n, seen = 0, np.zeros(10, np.int64)
    for x, y in dl:
        n += x.shape[0]
        seen += np.bincount(y.numpy(), minlength=10)
    elapsed = time.perf_counter() - t0
    assert n == 60000 and seen.tolist() == MNIST_TRAIN_COUNTS
    assert x.dtype == flambeau.float32 and tuple(x.shape[1:]) == (1, 28, 28)
    assert elapsed < 5.0, elapsed
    # same values as the per-sample pipeline
    xb, yb = next(iter(DataLoader(ds, batch_size=8)))
    ref = np.stack([tf(mnist_train.data.numpy()[i]).numpy() for i in range(8)])
    np.testing.assert_array_equal(xb.numpy(), ref)
