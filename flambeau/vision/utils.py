"""``make_grid`` and ``save_image`` (``torchvision.utils``)."""
from __future__ import annotations

import io
import math
import os
import struct
import zlib

import numpy as np

from .._atomic import write_bytes
from .._tensor import Tensor, _wrap


def make_grid(tensor, nrow=8, padding=2, normalize=False, value_range=None, scale_each=False, pad_value=0.0,
              **kwargs):
    """Tile a batch ``B×C×H×W`` (or a list of ``C×H×W`` tensors) into one ``C×H'×W'`` image with
    ``nrow`` images per row, exactly as torchvision lays it out (1-channel images become 3-channel;
    ``normalize`` shifts to [0, 1] using ``value_range`` or the min/max)."""
    if "range" in kwargs:
        raise TypeError("make_grid: 'range' was renamed to 'value_range'")
    if not isinstance(tensor, Tensor):
        if isinstance(tensor, list):
            for t in tensor:
                if not isinstance(t, Tensor):
                    raise TypeError(f"tensor or list of tensors expected, got a list containing {type(t)}")
        else:
            raise TypeError(f"tensor or list of tensors expected, got {type(tensor)}")
    arr = np.stack([t._data for t in tensor]) if isinstance(tensor, list) else tensor._data
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim == 3:
        if arr.shape[0] == 1:
            arr = np.concatenate((arr, arr, arr), 0)
        arr = arr[None]
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = np.concatenate((arr, arr, arr), 1)
    if arr.ndim != 4:
        raise ValueError(f"make_grid: expected a B×C×H×W tensor, got shape {tuple(arr.shape)}")
    if normalize is True:
        arr = arr.copy()
        if value_range is not None and not isinstance(value_range, tuple):
            raise TypeError("value_range has to be a tuple (min, max) if specified. min and max are numbers")

        def norm_ip(img, low, high):
            np.clip(img, low, high, out=img)
            img -= img.dtype.type(low)
            img /= img.dtype.type(max(high - low, 1e-5))

        def norm_range(t):
            if value_range is not None:
                norm_ip(t, value_range[0], value_range[1])
            else:
                norm_ip(t, float(t.min()), float(t.max()))

        if scale_each is True:
            for t in arr:
                norm_range(t)
        else:
            norm_range(arr)
    if arr.shape[0] == 1:
        return _wrap(np.ascontiguousarray(arr[0]))
    nmaps = arr.shape[0]
    xmaps = min(nrow, nmaps)
    ymaps = int(math.ceil(float(nmaps) / xmaps))
    height, width = int(arr.shape[2] + padding), int(arr.shape[3] + padding)
    grid = np.full((arr.shape[1], height * ymaps + padding, width * xmaps + padding), pad_value, dtype=arr.dtype)
    k = 0
    for y in range(ymaps):
        for x in range(xmaps):
            if k >= nmaps:
                break
            grid[:, y * height + padding: (y + 1) * height, x * width + padding: (x + 1) * width] = arr[k]
            k += 1
    return _wrap(grid)


def _png_bytes(img):
    """PNG file bytes for a uint8 ``H×W`` (gray) or ``H×W×3`` (RGB) / ``H×W×4`` (RGBA) array."""
    if img.ndim == 2:
        color_type, img = 0, img[:, :, None]
    else:
        color_type = {1: 0, 3: 2, 4: 6}[img.shape[2]]
    h, w, c = img.shape
    raw = np.zeros((h, 1 + w * c), np.uint8)  # filter type 0 per row
    raw[:, 1:] = img.reshape(h, w * c)

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + chunk(b"IEND", b""))


def _encode(ndarr, fmt):
    fmt = (fmt or "png").lower()
    if fmt == "png":
        return _png_bytes(ndarr)
    try:
        from PIL import Image
    except ImportError:
        Image = None
    if Image is not None:
        buf = io.BytesIO()
        Image.fromarray(ndarr).save(buf, format=fmt.upper() if fmt != "jpg" else "JPEG")
        return buf.getvalue()
    try:
        import matplotlib.image as mpimg
    except ImportError:
        raise ValueError(f"save_image: format {fmt!r} needs Pillow or matplotlib; PNG works without them") from None
    buf = io.BytesIO()
    mpimg.imsave(buf, ndarr, format=fmt)
    return buf.getvalue()


def save_image(tensor, fp, format=None, **kwargs):
    """Save a tensor (or list of tensors) as an image file, through ``make_grid(tensor, **kwargs)``.

    PNG is written by flambeau itself (standard library zlib, 8-bit gray/RGB); other formats use
    Pillow, or matplotlib, when installed. A path is written atomically (temporary file + rename);
    ``fp`` may also be a binary file object.
    """
    grid = make_grid(tensor, **kwargs)
    arr = grid._data.astype(np.float32) * np.float32(255) + np.float32(0.5)
    ndarr = np.clip(arr, 0, 255).transpose(1, 2, 0).astype(np.uint8)
    if isinstance(fp, (str, bytes, os.PathLike)):
        path = os.fspath(fp)
        path = path.decode() if isinstance(path, bytes) else path
        fmt = format or (os.path.splitext(path)[1][1:] or None)
        if fmt is None:
            raise ValueError(f"save_image: cannot tell the image format of {path!r} (no extension); pass format=")
        write_bytes(path, _encode(ndarr, fmt), prefix=".save_image.")
    else:
        fp.write(_encode(ndarr, format or "png"))
