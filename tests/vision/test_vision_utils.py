import io
import math
import struct
import zlib

import numpy as np
import pytest
import torch

import flambeau
from flambeau.vision.utils import make_grid, save_image


def _torchvision_make_grid(tensor, nrow=8, padding=2, pad_value=0.0):
    # torchvision's layout loop, with torch ops (no normalisation)
    if tensor.dim() == 4 and tensor.size(1) == 1:
        tensor = torch.cat((tensor, tensor, tensor), 1)
    nmaps = tensor.size(0)
    xmaps = min(nrow, nmaps)
    ymaps = int(math.ceil(float(nmaps) / xmaps))
    height, width = int(tensor.size(2) + padding), int(tensor.size(3) + padding)
    grid = tensor.new_full((tensor.size(1), height * ymaps + padding, width * xmaps + padding), pad_value)
    k = 0
    for y in range(ymaps):
        for x in range(xmaps):
            if k >= nmaps:
                break
            grid.narrow(1, y * height + padding, height - padding).narrow(2, x * width + padding,
                                                                          width - padding).copy_(tensor[k])
            k += 1
    return grid


@pytest.mark.parametrize("b,c,nrow,padding,pad_value", [(5, 3, 2, 1, 0.5), (7, 1, 3, 2, 0.0), (16, 3, 8, 0, 1.0),
                                                        (3, 3, 8, 4, 0.25)])
def test_make_grid_layout_matches_torchvision(b, c, nrow, padding, pad_value):
    x = np.random.default_rng(b).random((b, c, 4, 5)).astype(np.float32)
    out = make_grid(flambeau.tensor(x), nrow=nrow, padding=padding, pad_value=pad_value)
    ref = _torchvision_make_grid(torch.tensor(x), nrow=nrow, padding=padding, pad_value=pad_value)
    assert tuple(out.shape) == tuple(ref.shape)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())


def test_make_grid_known_shape_and_special_cases():
    x = flambeau.ones(3, 1, 2, 2)
    g = make_grid(x, nrow=2, padding=1)
    assert g.shape == (3, 7, 7)
    expected = np.zeros((7, 7), np.float32)
    expected[1:3, 1:3] = expected[1:3, 4:6] = expected[4:6, 1:3] = 1
    np.testing.assert_array_equal(g.numpy()[0], expected)
    single = make_grid(flambeau.ones(1, 3, 4, 4))
    assert single.shape == (3, 4, 4)
    assert make_grid(flambeau.ones(4, 4)).shape == (3, 4, 4)
    lst = make_grid([flambeau.zeros(3, 2, 2), flambeau.ones(3, 2, 2)], padding=0)
    assert lst.shape == (3, 2, 4)
    with pytest.raises(TypeError, match="tensor or list of tensors expected"):
        make_grid(np.zeros((2, 3, 4, 4)))


def test_make_grid_normalize():
    x = np.stack([np.full((1, 2, 2), 2.0), np.full((1, 2, 2), 4.0)]).astype(np.float32)
    x[0, 0, 0, 0] = 0.0
    g = make_grid(flambeau.tensor(x), normalize=True, padding=0)
    np.testing.assert_allclose(g.numpy()[0], [[0.0, 0.5, 1.0, 1.0], [0.5, 0.5, 1.0, 1.0]])
    g = make_grid(flambeau.tensor(x), normalize=True, scale_each=True, padding=0)
    np.testing.assert_allclose(g.numpy()[0][:, 2:], 0.0, atol=0)  # constant image → 0 after its own min
    g = make_grid(flambeau.tensor(x), normalize=True, value_range=(0.0, 8.0), padding=0)
    np.testing.assert_allclose(g.numpy()[0], [[0.0, 0.25, 0.5, 0.5], [0.25, 0.25, 0.5, 0.5]])
    assert x[0, 0, 0, 1] == 2.0  # input untouched
    with pytest.raises(TypeError, match="value_range has to be a tuple"):
        make_grid(flambeau.tensor(x), normalize=True, value_range=[0, 1])


def _read_png(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, ctype = ihdr[:4]
    assert depth == 8 and ctype == 2
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + 3 * w)
    assert (raw[:, 0] == 0).all()
    return raw[:, 1:].reshape(h, w, 3)


def test_save_image_png_roundtrip(tmp_path):
    x = np.random.default_rng(0).random((4, 3, 5, 6)).astype(np.float32)
    path = tmp_path / "grid.png"
    save_image(flambeau.tensor(x), path, nrow=2, padding=1)
    grid = make_grid(flambeau.tensor(x), nrow=2, padding=1).numpy()
    expected = np.clip(grid * 255 + 0.5, 0, 255).transpose(1, 2, 0).astype(np.uint8)
    np.testing.assert_array_equal(_read_png(path.read_bytes()), expected)
    mpimg = pytest.importorskip("matplotlib.image")
    back = mpimg.imread(str(path))
    np.testing.assert_allclose(back[..., :3], expected / 255.0, atol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]  # no temporary file left
    buf = io.BytesIO()
    save_image(flambeau.tensor(x[0]), buf)
    assert _read_png(buf.getvalue()).shape == (5, 6, 3)
    with pytest.raises(ValueError, match="cannot tell the image format"):
        save_image(flambeau.tensor(x), tmp_path / "noext")
