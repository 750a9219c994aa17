"""vision.io (read_image, decode_image, write_png …) and datasets.ImageFolder / DatasetFolder / LSUN."""
from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import pytest

import flambeau
from flambeau.utils.data import DataLoader
from flambeau.vision import datasets, transforms
from flambeau.vision.io import (ImageReadMode, decode_image, decode_jpeg, decode_png, encode_png, read_file,
                                read_image, write_file, write_png)
from flambeau.vision.utils import save_image



def _img(h, w, c, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


def _png_with_filters(img, filters):
    """A PNG whose rows use the given filter types (encoded here, independently of the decoder)."""
    h, w, c = img.shape
    color = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    bpp, rows, prev = c, [], np.zeros(w * c, np.int32)
    for y in range(h):
        line = img[y].reshape(-1).astype(np.int32)
        left = np.concatenate([np.zeros(bpp, np.int32), line[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, np.int32), prev[:-bpp]])
        ft = filters[y % len(filters)]
        if ft == 0:
            enc = line
        elif ft == 1:
            enc = line - left
        elif ft == 2:
            enc = line - prev
        elif ft == 3:
            enc = line - (left + prev) // 2
        else:
            p = left + prev - upleft
            pa, pb, pc = np.abs(p - left), np.abs(p - prev), np.abs(p - upleft)
            enc = line - np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upleft))
        rows.append(bytes([ft]) + (enc & 0xFF).astype(np.uint8).tobytes())
        prev = line

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


@pytest.mark.parametrize("c", [1, 2, 3, 4])
def test_png_filters_decode_exactly(tmp_path, c):
    img = _img(7, 9, c, seed=c)
    path = tmp_path / "f.png"
    path.write_bytes(_png_with_filters(img, [0, 1, 2, 3, 4]))
    t = read_image(path)
    assert t.dtype == flambeau.uint8 and tuple(t.shape) == (c, 7, 9)
    assert np.array_equal(t.numpy(), img.transpose(2, 0, 1))


@pytest.mark.parametrize("c", [1, 3, 4])
def test_png_agrees_with_pillow(tmp_path, c):
    Image = pytest.importorskip("PIL.Image")
    img = _img(13, 6, c, seed=10 + c)
    path = str(tmp_path / "p.png")
    Image.fromarray(img[:, :, 0] if c == 1 else img).save(path, optimize=True)
    assert np.array_equal(read_image(path).numpy(), img.transpose(2, 0, 1))


def test_palette_png_via_pillow_file(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    img = _img(5, 4, 3)
    pal = Image.fromarray(img).convert("P", palette=Image.ADAPTIVE, colors=8)
    path = str(tmp_path / "pal.png")
    pal.save(path)
    expected = np.asarray(pal.convert("RGB")).transpose(2, 0, 1)
    assert np.array_equal(read_image(path).numpy(), expected)


def test_read_modes(tmp_path):
    img = _img(4, 5, 4)
    path = tmp_path / "rgba.png"
    write_png(flambeau.from_numpy(img.transpose(2, 0, 1).copy()), path)
    assert tuple(read_image(path, ImageReadMode.RGB).shape) == (3, 4, 5)
    assert np.array_equal(read_image(path, ImageReadMode.RGB).numpy(), img[:, :, :3].transpose(2, 0, 1))
    gray = read_image(path, ImageReadMode.GRAY).numpy()[0]
    r, g, b = (img[:, :, i].astype(np.float64) for i in range(3))
    assert np.abs(gray - (0.299 * r + 0.587 * g + 0.114 * b)).max() <= 1.0
    ga = read_image(path, ImageReadMode.GRAY_ALPHA).numpy()
    assert np.array_equal(ga[1], img[:, :, 3])
    gpath = tmp_path / "g.png"
    write_png(flambeau.from_numpy(img[None, :, :, 0].copy()), gpath)
    rgba = read_image(gpath, ImageReadMode.RGB_ALPHA).numpy()
    assert np.array_equal(rgba[0], img[:, :, 0]) and np.array_equal(rgba[2], img[:, :, 0])
    assert (rgba[3] == 255).all()


def test_encode_decode_file_round_trip(tmp_path):
    t = flambeau.from_numpy(_img(3, 8, 3).transpose(2, 0, 1).copy())
    data = encode_png(t, compression_level=9)
    assert data.dtype == flambeau.uint8 and data.dim() == 1
    assert np.array_equal(decode_png(data).numpy(), t.numpy())
    assert np.array_equal(decode_image(data).numpy(), t.numpy())
    write_file(tmp_path / "x.png", data)
    assert np.array_equal(read_file(tmp_path / "x.png").numpy(), data.numpy())
    with pytest.raises(RuntimeError, match="dtype should be uint8"):
        encode_png(t.float())
    with pytest.raises(ValueError, match="Compression level"):
        encode_png(t, compression_level=10)
    with pytest.raises(RuntimeError, match="not PNG data"):
        decode_png(flambeau.zeros(10, dtype=flambeau.uint8))


def test_jpeg_through_pillow(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    img = np.full((16, 16, 3), 120, np.uint8)
    img[:8] = 200
    path = str(tmp_path / "a.jpg")
    Image.fromarray(img).save(path, quality=95)
    t = read_image(path)
    assert tuple(t.shape) == (3, 16, 16) and t.dtype == flambeau.uint8
    assert np.abs(t.numpy().astype(int) - img.transpose(2, 0, 1)).max() <= 6
    assert tuple(decode_jpeg(read_file(path)).shape) == (3, 16, 16)


def test_non_png_without_pillow_says_what_is_missing(tmp_path, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_pil(name, *args, **kwargs):
        if name == "PIL" or name.startswith("PIL."):
            raise ImportError("No module named 'PIL'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pil)
    path = tmp_path / "a.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 20)
    with pytest.raises(RuntimeError, match="needs Pillow"):
        read_image(path)


# ------------------------------------------------------------------------------ ImageFolder
def _make_folder(root):
    """root/{cat,dog,zebra}/*.png with distinct pixel values; a non-image file is ignored."""
    images = {}
    for ci, cls in enumerate(["dog", "cat", "zebra"]):  # created unsorted on purpose
        os.makedirs(root / cls)
        for k in range(ci + 1):
            arr = np.random.default_rng(10 * ci + k).random((3, 6, 5)).astype(np.float32)
            path = root / cls / f"img{k}.png"
            save_image(flambeau.from_numpy(arr), str(path))
            images[str(path)] = np.clip(arr * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    (root / "cat" / "notes.txt").write_text("not an image")
    return images


def test_image_folder_classes_samples_targets_pixels(tmp_path):
    images = _make_folder(tmp_path)
    ds = datasets.ImageFolder(str(tmp_path))
    assert ds.classes == ["cat", "dog", "zebra"]
    assert ds.class_to_idx == {"cat": 0, "dog": 1, "zebra": 2}
    assert len(ds) == 6
    assert ds.targets == [0, 0, 1, 2, 2, 2]
    assert [os.path.relpath(p, tmp_path) for p, _ in ds.samples] == [
        os.path.join("cat", "img0.png"), os.path.join("cat", "img1.png"), os.path.join("dog", "img0.png"),
        os.path.join("zebra", "img0.png"), os.path.join("zebra", "img1.png"), os.path.join("zebra", "img2.png")]
    assert ds.imgs is ds.samples
    for i, (path, target) in enumerate(ds.samples):
        img, t = ds[i]
        assert t == target
        assert img.dtype == np.uint8 and img.shape == (6, 5, 3)
        assert np.array_equal(img, images[path])
    assert "Number of datapoints: 6" in repr(ds)


def test_image_folder_with_transforms_and_dataloader(tmp_path):
    images = _make_folder(tmp_path)
    ds = datasets.ImageFolder(tmp_path, transform=transforms.ToTensor(), target_transform=lambda y: y * 10)
    x, y = ds[2]
    assert isinstance(x, flambeau.Tensor) and tuple(x.shape) == (3, 6, 5) and y == 10
    np.testing.assert_allclose(x.numpy(), images[ds.samples[2][0]].transpose(2, 0, 1) / 255.0, atol=1e-6)
    loader = DataLoader(ds, batch_size=4, shuffle=False)
    batches = list(loader)
    assert [tuple(b[0].shape) for b in batches] == [(4, 3, 6, 5), (2, 3, 6, 5)]
    assert batches[0][1].tolist() == [0, 0, 10, 20] and batches[1][1].tolist() == [20, 20]


def test_dataset_folder_custom_loader_and_filters(tmp_path):
    _make_folder(tmp_path)
    ds = datasets.DatasetFolder(str(tmp_path), loader=lambda p: os.path.basename(p), extensions=(".txt",),
                                allow_empty=True)
    assert ds.samples == [(os.path.join(str(tmp_path), "cat", "notes.txt"), 0)]
    assert ds[0] == ("notes.txt", 0)
    with pytest.raises(FileNotFoundError, match="Found no valid file for the classes dog, zebra"):
        datasets.DatasetFolder(str(tmp_path), loader=open, extensions=".txt")
    ds = datasets.ImageFolder(str(tmp_path), is_valid_file=lambda p: p.endswith("img0.png"))
    assert ds.targets == [0, 1, 2]
    with pytest.raises(ValueError, match="cannot be None or not None"):
        datasets.DatasetFolder(str(tmp_path), loader=open)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="Couldn't find any class folder"):
        datasets.ImageFolder(str(empty))


def test_lsun_signature_and_clear_error(tmp_path):
    import inspect
    params = list(inspect.signature(datasets.LSUN).parameters)
    assert params == ["root", "classes", "transform", "target_transform"]
    with pytest.raises(RuntimeError, match="does not read the LMDB format.*ImageFolder"):
        datasets.LSUN(str(tmp_path), classes=["bedroom_train"])
    with pytest.raises(ValueError, match="Unknown value 'foo'"):
        datasets.LSUN(str(tmp_path), classes="foo")
