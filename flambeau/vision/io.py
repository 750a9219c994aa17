"""``flambeau.vision.io`` (``torchvision.io``): reading and writing image files as uint8 tensors.

``read_image(path)`` returns a ``C×H×W`` uint8 tensor. PNG files (8-bit grayscale, gray+alpha,
RGB, RGBA or palette, not interlaced) are decoded by flambeau itself with the standard library's
zlib; other formats (JPEG, BMP, GIF, TIFF, WebP, 16-bit or interlaced PNG …) are decoded with
Pillow when it is installed, and raise a RuntimeError naming the missing dependency otherwise.
``write_png``/``encode_png`` write PNG without any dependency.
"""
from __future__ import annotations

import enum
import io as _io
import os
import struct
import zlib

import numpy as np

from .._tensor import Tensor, _wrap

__all__ = ["ImageReadMode", "read_file", "write_file", "decode_image", "decode_png", "decode_jpeg", "read_image",
           "encode_png", "write_png", "encode_jpeg", "write_jpeg"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ImageReadMode(enum.Enum):
    """The channels ``read_image``/``decode_image`` return (torchvision's values)."""
    UNCHANGED = 0
    GRAY = 1
    GRAY_ALPHA = 2
    RGB = 3
    RGB_ALPHA = 4
    RGBA = 4


# ------------------------------------------------------------------------------- raw bytes
def read_file(path) -> Tensor:
    """The bytes of a file as a 1-D uint8 tensor."""
    with open(os.fspath(path), "rb") as f:
        data = f.read()
    return _wrap(np.frombuffer(data, dtype=np.uint8).copy())


def write_file(filename, data) -> None:
    """Write a 1-D uint8 tensor's bytes to ``filename``."""
    arr = _as_array(data)
    if arr.dtype != np.uint8 or arr.ndim != 1:
        raise RuntimeError(f"write_file: expected a 1-D uint8 tensor, got {arr.dtype} of shape {arr.shape}")
    with open(os.fspath(filename), "wb") as f:
        f.write(arr.tobytes())


def _as_array(t):
    return t._data if isinstance(t, Tensor) else np.asarray(t)


def _bytes_of(input):
    if isinstance(input, (bytes, bytearray, memoryview)):
        return bytes(input)
    arr = _as_array(input)
    if arr.dtype != np.uint8 or arr.ndim != 1:
        raise RuntimeError(f"Expected a 1-D uint8 tensor of encoded bytes, got {arr.dtype} of shape {tuple(arr.shape)}")
    return arr.tobytes()


# ------------------------------------------------------------------------------- PNG decoding
class _Unsupported(Exception):
    """A PNG variant the built-in decoder does not handle (Pillow may)."""


def _unfilter(raw, h, stride, bpp):
    """Undo PNG's per-row filters: ``raw`` holds h rows of (1 filter byte + stride bytes)."""
    rows = np.frombuffer(raw, dtype=np.uint8)
    if rows.size != h * (stride + 1):
        raise ValueError(f"corrupt PNG: image data has {rows.size} bytes, expected {h * (stride + 1)}")
    rows = rows.reshape(h, stride + 1)
    out = np.zeros((h, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    w = stride // bpp
    for y in range(h):  # each row depends on the previous one
        ftype, line = rows[y, 0], rows[y, 1:]
        if ftype == 0:
            cur = line.copy()
        elif ftype == 1:  # Sub: running sum of pixels along the row, modulo 256
            cur = np.cumsum(line.reshape(w, bpp), axis=0, dtype=np.uint8).reshape(stride)
        elif ftype == 2:  # Up
            cur = line + prev
        elif ftype == 3 or ftype == 4:  # Average, Paeth: pixel by pixel
            cur = np.zeros(stride, dtype=np.int32)
            line_i, prev_i = line.astype(np.int32), prev.astype(np.int32)
            left = np.zeros(bpp, dtype=np.int32)
            upleft = np.zeros(bpp, dtype=np.int32)
            for x in range(w):
                s = slice(x * bpp, (x + 1) * bpp)
                up = prev_i[s]
                if ftype == 3:
                    val = (line_i[s] + ((left + up) >> 1)) & 0xFF
                else:
                    p = left + up - upleft
                    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upleft)
                    pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
                    val = (line_i[s] + pred) & 0xFF
                cur[s] = val
                left, upleft = val, up
            cur = cur.astype(np.uint8)
        else:
            raise ValueError(f"corrupt PNG: unknown filter type {int(ftype)} in row {y}")
        out[y] = cur
        prev = cur
    return out


def _decode_png_builtin(data):
    """A uint8 array ``H×W×C`` (C = 1, 2, 3 or 4) from PNG bytes; raises _Unsupported for
    16-bit / sub-byte depths and interlaced images."""
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("not a PNG file (bad signature)")
    pos, ihdr, plte, trns, idat = 8, None, None, None, []
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length:
            raise ValueError("corrupt PNG: truncated chunk")
        pos += 12 + length
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            plte = np.frombuffer(body, dtype=np.uint8).reshape(-1, 3)
        elif kind == b"tRNS":
            trns = body
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if ihdr is None or not idat:
        raise ValueError("corrupt PNG: missing IHDR or IDAT")
    w, h, depth, color, _comp, _filt, interlace = ihdr
    if depth != 8 or interlace != 0:
        raise _Unsupported(f"bit depth {depth}, interlace {interlace}")
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(color)
    if channels is None:
        raise ValueError(f"corrupt PNG: unknown color type {color}")
    raw = zlib.decompress(b"".join(idat))
    img = _unfilter(raw, h, w * channels, channels).reshape(h, w, channels)
    if color == 3:  # palette
        if plte is None:
            raise ValueError("corrupt PNG: palette image without PLTE")
        idx = img[:, :, 0]
        rgb = plte[idx]
        if trns is not None:
            alpha = np.full(len(plte), 255, np.uint8)
            t = np.frombuffer(trns, dtype=np.uint8)[:len(plte)]
            alpha[:len(t)] = t
            img = np.concatenate([rgb, alpha[idx][:, :, None]], axis=2)
        else:
            img = rgb
    return img


def _decode_with_pillow(data, what):
    try:
        from PIL import Image
    except ImportError:
        raise RuntimeError(f"{what}: flambeau decodes 8-bit non-interlaced PNG by itself; this image needs Pillow, "
                           "which is not installed (pip install Pillow), or convert it to such a PNG") from None
    img = Image.open(_io.BytesIO(data))
    img.load()
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode in ("1", "I;16", "I;16B", "I;16L", "I", "F"):
        img = img.convert("L")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        img = img.convert("RGB")
    elif mode == "PA":
        img = img.convert("RGBA")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        img = img.convert("RGB")
    arr = np.asarray(img, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


def _to_gray(rgb):
    """ITU-R 601-2 luma, rounded (Pillow's "L" conversion)."""
    r, g, b = (rgb[..., i].astype(np.uint32) for i in range(3))
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)


def _convert(img, mode):
    """``H×W×C`` uint8 -> the channels ``mode`` asks for."""
    mode = ImageReadMode(mode) if not isinstance(mode, ImageReadMode) else mode
    c = img.shape[2]
    if mode == ImageReadMode.UNCHANGED:
        return img
    color, alpha = img[:, :, :c - 1] if c in (2, 4) else img, img[:, :, c - 1:] if c in (2, 4) else None
    if mode in (ImageReadMode.GRAY, ImageReadMode.GRAY_ALPHA):
        gray = color if color.shape[2] == 1 else _to_gray(color)[:, :, None]
        if mode == ImageReadMode.GRAY:
            return gray
        return np.concatenate([gray, alpha if alpha is not None else np.full_like(gray, 255)], axis=2)
    rgb = np.repeat(color, 3, axis=2) if color.shape[2] == 1 else color
    if mode == ImageReadMode.RGB:
        return rgb
    return np.concatenate([rgb, alpha if alpha is not None else np.full_like(rgb[:, :, :1], 255)], axis=2)


def _decode_array(data, mode, what):
    if data.startswith(_PNG_SIGNATURE):
        try:
            img = _decode_png_builtin(data)
        except _Unsupported:
            img = _decode_with_pillow(data, what)
    else:
        img = _decode_with_pillow(data, what)
    return _convert(img, mode)


def _chw(img):
    return _wrap(np.ascontiguousarray(img.transpose(2, 0, 1)))


def decode_image(input, mode=ImageReadMode.UNCHANGED, apply_exif_orientation=False) -> Tensor:
    """Decode encoded image bytes (a 1-D uint8 tensor, or a path) into a ``C×H×W`` uint8 tensor."""
    if isinstance(input, (str, os.PathLike)):
        return read_image(input, mode, apply_exif_orientation)
    return _chw(_decode_array(_bytes_of(input), mode, "decode_image"))


def decode_png(input, mode=ImageReadMode.UNCHANGED, apply_exif_orientation=False) -> Tensor:
    data = _bytes_of(input)
    if not data.startswith(_PNG_SIGNATURE):
        raise RuntimeError("decode_png: the input is not PNG data (bad signature)")
    return _chw(_decode_array(data, mode, "decode_png"))


def decode_jpeg(input, mode=ImageReadMode.UNCHANGED, device="cpu", apply_exif_orientation=False) -> Tensor:
    data = _bytes_of(input)
    if not data.startswith(b"\xff\xd8"):
        raise RuntimeError("decode_jpeg: the input is not JPEG data (bad signature)")
    return _chw(_convert(_decode_with_pillow(data, "decode_jpeg"), mode))


def read_image(path, mode=ImageReadMode.UNCHANGED, apply_exif_orientation=False) -> Tensor:
    """Read a PNG/JPEG/… file into a ``C×H×W`` uint8 tensor (``mode`` selects GRAY, RGB …)."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    return _chw(_decode_array(data, mode, f"read_image({path!r})"))


# ------------------------------------------------------------------------------- encoding
def _hwc(input, what):
    arr = _as_array(input)
    if arr.dtype != np.uint8:
        raise RuntimeError(f"{what}: input tensor dtype should be uint8, got {arr.dtype}")
    if arr.ndim != 3 or arr.shape[0] not in (1, 2, 3, 4):
        raise RuntimeError(f"{what}: input should be a C×H×W tensor with C in 1..4, got shape {tuple(arr.shape)}")
    return np.ascontiguousarray(arr.transpose(1, 2, 0))


def encode_png(input, compression_level=6) -> Tensor:
    """PNG bytes (a 1-D uint8 tensor) of a ``C×H×W`` uint8 tensor (C = 1, 2, 3 or 4)."""
    if not 0 <= compression_level <= 9:
        raise ValueError(f"Compression level should be between 0 and 9, got {compression_level}")
    img = _hwc(input, "encode_png")
    h, w, c = img.shape
    color = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    raw = np.zeros((h, 1 + w * c), np.uint8)
    raw[:, 1:] = img.reshape(h, w * c)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    data = (_PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), compression_level)) + chunk(b"IEND", b""))
    return _wrap(np.frombuffer(data, dtype=np.uint8).copy())


def write_png(input, filename, compression_level=6) -> None:
    write_file(filename, encode_png(input, compression_level))


def encode_jpeg(input, quality=75) -> Tensor:
    """JPEG bytes of a ``C×H×W`` uint8 tensor (C = 1 or 3); needs Pillow."""
    if not 1 <= quality <= 100:
        raise ValueError(f"Image quality should be a positive number between 1 and 100, got {quality}")
    img = _hwc(input, "encode_jpeg")
    if img.shape[2] not in (1, 3):
        raise RuntimeError(f"encode_jpeg: JPEG holds 1 or 3 channels, got {img.shape[2]}")
    try:
        from PIL import Image
    except ImportError:
        raise RuntimeError("encode_jpeg: JPEG encoding needs Pillow, which is not installed (pip install Pillow); "
                           "write_png needs no dependency") from None
    buf = _io.BytesIO()
    Image.fromarray(img[:, :, 0] if img.shape[2] == 1 else img).save(buf, format="JPEG", quality=quality)
    return _wrap(np.frombuffer(buf.getvalue(), dtype=np.uint8).copy())


def write_jpeg(input, filename, quality=75) -> None:
    write_file(filename, encode_jpeg(input, quality))
