"""Image functions (``torchvision.transforms.functional``) on NumPy arrays and flambeau tensors.

Image types (flambeau has no PIL dependency):

* a NumPy array ``H×W`` or ``H×W×C`` — what the flambeau vision datasets return, like a PIL image;
* a flambeau ``Tensor`` ``[..., C, H, W]`` (leading batch dimensions allowed) or ``H×W``;
* a PIL image, when Pillow happens to be installed: read as a NumPy ``H×W(×C)`` array.

Each function returns the type it was given (a PIL image comes back as a NumPy array).
Integer images are interpolated in float32 and rounded back. Results are plain data: they do not
record autograd history.
"""
from __future__ import annotations

import enum
import math
import numbers

import numpy as np

from ..._tensor import Tensor, _wrap
from ... import _dtype as D
from ...ops import _resample


class InterpolationMode(enum.Enum):
    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


_SUPPORTED_INTERP = (InterpolationMode.NEAREST, InterpolationMode.BILINEAR)
# resizing is separable (one weight matrix per axis) and takes bicubic too; rotations and affine
# warps sample a grid, which torchvision limits to nearest and bilinear
_RESIZE_INTERP = _SUPPORTED_INTERP + (InterpolationMode.BICUBIC,)


def _interp(mode, where, supported=_SUPPORTED_INTERP):
    if isinstance(mode, str):
        try:
            mode = InterpolationMode(mode)
        except ValueError:
            raise ValueError(f"{where}: unknown interpolation {mode!r}") from None
    if isinstance(mode, int) and not isinstance(mode, InterpolationMode):  # PIL constants
        mode = {0: InterpolationMode.NEAREST, 2: InterpolationMode.BILINEAR, 3: InterpolationMode.BICUBIC}.get(mode, mode)
    if mode not in supported:
        raise ValueError(f"{where}: interpolation {mode} is not supported; flambeau implements "
                         + ", ".join(f"InterpolationMode.{m.name}" for m in supported))
    return mode


# ---------------------------------------------------------------------------- image plumbing
def _is_pil(img):
    return hasattr(img, "mode") and hasattr(img, "size") and hasattr(img, "__array_interface__")


def _is_image(img):
    return isinstance(img, (np.ndarray, Tensor)) or _is_pil(img)


def _chw(img, where="transforms"):
    """(array [..., C, H, W], restore) for any supported image type."""
    if isinstance(img, Tensor):
        arr = img._data
        if arr.ndim < 2:
            raise TypeError(f"{where}: tensor is not an image; expected [..., C, H, W] or [H, W], "
                            f"got shape {tuple(arr.shape)}")
        if arr.ndim == 2:
            return arr[None], lambda a: _wrap(np.ascontiguousarray(a[0]))
        return arr, lambda a: _wrap(np.ascontiguousarray(a))
    if _is_pil(img):
        img = np.asarray(img)
    if isinstance(img, np.ndarray):
        if img.ndim == 2:
            return img[None], lambda a: np.ascontiguousarray(a[0])
        if img.ndim == 3:
            return np.moveaxis(img, -1, 0), lambda a: np.ascontiguousarray(np.moveaxis(a, 0, -1))
        raise ValueError(f"{where}: a NumPy image should be H×W or H×W×C, got {img.ndim} dimensions")
    raise TypeError(f"{where}: img should be a NumPy array (H×W or H×W×C) or a flambeau Tensor "
                    f"([..., C, H, W]); got {type(img).__name__}")


def get_dimensions(img):
    """``[channels, height, width]`` of an image."""
    arr, _ = _chw(img, "get_dimensions")
    return [int(arr.shape[-3]), int(arr.shape[-2]), int(arr.shape[-1])]


def get_image_size(img):
    """``[width, height]`` (torchvision's order)."""
    _, h, w = get_dimensions(img)
    return [w, h]


def get_image_num_channels(img):
    return get_dimensions(img)[0]


def _max_value(dt):
    if dt.kind == "f":
        return 1.0
    if dt.kind == "b":
        return 1
    return np.iinfo(dt).max


def _float_work_dtype(dt):
    return dt if dt.kind == "f" else np.dtype(np.float32)


def _cast_back(arr, dt, round_=True):
    if dt.kind == "f":
        return arr.astype(dt, copy=False)
    if round_:
        arr = np.round(arr)
    info = np.iinfo(dt) if dt.kind in "iu" else None
    if info is not None:
        arr = np.clip(arr, info.min, info.max)
    return arr.astype(dt)


def _size_pair(size, where):
    if isinstance(size, numbers.Number):
        return int(size), int(size)
    if isinstance(size, (list, tuple)) and len(size) == 1:
        return int(size[0]), int(size[0])
    if isinstance(size, (list, tuple)) and len(size) == 2:
        return int(size[0]), int(size[1])
    raise ValueError(f"{where}: please provide only two dimensions (h, w) for size; got {size!r}")


# ---------------------------------------------------------------------------- conversion
def to_tensor(pic):
    """NumPy ``H×W`` / ``H×W×C`` array (or PIL image) → ``C×H×W`` tensor; uint8 is scaled to [0, 1]
    in the default float dtype (float32), other dtypes keep their values and dtype."""
    if _is_pil(pic):
        pic = np.asarray(pic)
    if not isinstance(pic, np.ndarray):
        raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
    if pic.ndim not in (2, 3):
        raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
    if pic.ndim == 2:
        pic = pic[:, :, None]
    arr = np.ascontiguousarray(pic.transpose(2, 0, 1))
    if arr.dtype == np.uint8:
        ft = D.get_default_dtype().np
        return _wrap(np.divide(arr, ft.type(255), dtype=ft))
    if arr.dtype == np.bool_:
        return _wrap(arr.astype(np.uint8))
    if arr.dtype not in D._FROM_NP:
        arr = arr.astype(np.float32 if arr.dtype.kind == "f" else np.int64)
    return _wrap(arr)


def _to_tensor_batch(batch, sample_ndim):
    """``to_tensor`` on a stack of images ``N×H×W`` / ``N×H×W×C`` in one array operation."""
    if sample_ndim == 2:
        batch = batch[:, None]
    else:
        batch = batch.transpose(0, 3, 1, 2)
    arr = np.ascontiguousarray(batch)
    if arr.dtype == np.uint8:
        ft = D.get_default_dtype().np
        return _wrap(np.divide(arr, ft.type(255), dtype=ft))
    return to_tensor(arr[0]) if arr.shape[0] == 0 else _wrap(arr)


def pil_to_tensor(pic):
    """NumPy ``H×W(×C)`` array (or PIL image) → ``C×H×W`` tensor with the same dtype and values."""
    if _is_pil(pic):
        pic = np.asarray(pic)
    if not isinstance(pic, np.ndarray):
        raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
    if pic.ndim not in (2, 3):
        raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
    if pic.ndim == 2:
        pic = pic[:, :, None]
    return _wrap(np.ascontiguousarray(pic.transpose(2, 0, 1)))


def _pil_to_tensor_batch(batch, sample_ndim):
    batch = batch[:, None] if sample_ndim == 2 else batch.transpose(0, 3, 1, 2)
    return _wrap(np.ascontiguousarray(batch))


def convert_image_dtype(image, dtype=None):
    """Convert a tensor image's dtype, rescaling values (``torchvision``'s ``convert_image_dtype``)."""
    if not isinstance(image, Tensor):
        raise TypeError(f"Input img should be Tensor Image, got {type(image).__name__}")
    dtype = D.float32 if dtype is None else D.as_dtype(dtype)
    src, dst = image._data.dtype, dtype.np
    arr = image._data
    if src == dst:
        return image
    if src.kind == "f":
        if dst.kind == "f":
            return _wrap(arr.astype(dst))
        if (src == np.float32 and dst in (np.int32, np.int64)) or (src == np.float64 and dst == np.int64):
            raise RuntimeError(f"The cast from {image.dtype} to {dtype} cannot be performed safely.")
        eps = 1e-3
        max_val = float(_max_value(dst))
        return _wrap((arr * src.type(max_val + 1.0 - eps)).astype(dst))
    in_max = int(_max_value(src))
    if dst.kind == "f":
        return _wrap(arr.astype(dst) / dst.type(in_max))
    out_max = int(_max_value(dst))
    if in_max > out_max:
        factor = (in_max + 1) // (out_max + 1)
        return _wrap((arr // factor).astype(dst))
    factor = (out_max + 1) // (in_max + 1)
    return _wrap(arr.astype(dst) * dst.type(factor))


def normalize(tensor, mean, std, inplace=False):
    """``(tensor - mean) / std`` per channel of a float ``[..., C, H, W]`` tensor."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"img should be Tensor Image. Got {type(tensor)}")
    if not tensor.is_floating_point():
        raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
    if tensor.ndim < 3:
        raise ValueError("Expected tensor to be a tensor image of size (..., C, H, W). Got tensor.size() = "
                         f"{tuple(tensor.shape)}")
    dt = tensor._data.dtype
    m = np.asarray(mean._data if isinstance(mean, Tensor) else mean, dtype=dt)
    s = np.asarray(std._data if isinstance(std, Tensor) else std, dtype=dt)
    if (s == 0).any():
        raise ValueError(f"std evaluated to zero after conversion to {tensor.dtype}, leading to division by zero.")
    if m.ndim == 1:
        m = m.reshape(-1, 1, 1)
    if s.ndim == 1:
        s = s.reshape(-1, 1, 1)
    if tensor._requires_grad:
        out = (tensor - _wrap(m)) / _wrap(s)
        if inplace:
            return tensor.copy_(out)
        return out
    if inplace:
        from ...ops import check_inplace
        check_inplace(tensor)
        np.subtract(tensor._data, m, out=tensor._data)
        np.divide(tensor._data, s, out=tensor._data)
        tensor._version[0] += 1
        return tensor
    return _wrap((tensor._data - m) / s)


# ---------------------------------------------------------------------------- geometry
_PAD_MODES = ("constant", "edge", "reflect", "symmetric")


def _parse_padding(padding):
    if isinstance(padding, numbers.Number):
        p = int(padding)
        return p, p, p, p
    if not isinstance(padding, (list, tuple)):
        raise TypeError(f"Got inappropriate padding arg: {padding!r}")
    if len(padding) == 1:
        p = int(padding[0])
        return p, p, p, p
    if len(padding) == 2:
        return int(padding[0]), int(padding[1]), int(padding[0]), int(padding[1])
    if len(padding) == 4:
        return tuple(int(p) for p in padding)
    raise ValueError(f"Padding must be an int or a 1, 2, or 4 element tuple, not a {len(padding)} element tuple")


def _fill_array(fill, arr):
    if fill is None:
        fill = 0
    f = np.asarray(fill, dtype=np.float64)
    if f.ndim == 0 or f.size == 1:
        return np.asarray(f.reshape(()), dtype=arr.dtype) if arr.dtype.kind != "f" else arr.dtype.type(f.reshape(()))
    if f.ndim != 1 or f.size != arr.shape[-3]:
        raise ValueError(f"fill has {f.size} values but the image has {arr.shape[-3]} channels")
    return f.astype(arr.dtype).reshape(-1, 1, 1)


def _pad_arr(arr, left, top, right, bottom, fill=0, padding_mode="constant"):
    # negative padding crops
    h, w = arr.shape[-2:]
    arr = arr[..., max(-top, 0): h - max(-bottom, 0), max(-left, 0): w - max(-right, 0)]
    left, top, right, bottom = max(left, 0), max(top, 0), max(right, 0), max(bottom, 0)
    if not (left or top or right or bottom):
        return arr
    if padding_mode == "constant":
        h, w = arr.shape[-2:]
        out = np.empty(arr.shape[:-2] + (h + top + bottom, w + left + right), arr.dtype)
        out[...] = _fill_array(fill, arr)
        out[..., top:top + h, left:left + w] = arr
        return out
    h, w = arr.shape[-2:]
    if padding_mode == "reflect" and (max(top, bottom) >= h or max(left, right) >= w):
        raise ValueError(f"pad: reflect padding ({left}, {top}, {right}, {bottom}) must be smaller than the "
                         f"image size {h}×{w}")
    widths = [(0, 0)] * (arr.ndim - 2) + [(top, bottom), (left, right)]
    return np.pad(arr, widths, mode=padding_mode)


def pad(img, padding, fill=0, padding_mode="constant"):
    """Pad the borders: ``padding`` is an int, (left/right, top/bottom) or (left, top, right, bottom)."""
    if not isinstance(fill, (numbers.Number, tuple, list)) and fill is not None:
        raise TypeError("Got inappropriate fill arg")
    if padding_mode not in _PAD_MODES:
        raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
    left, top, right, bottom = _parse_padding(padding)
    arr, back = _chw(img, "pad")
    return back(_pad_arr(arr, left, top, right, bottom, fill, padding_mode))


def _crop_arr(arr, top, left, height, width):
    h, w = arr.shape[-2:]
    right, bottom = left + width, top + height
    if left < 0 or top < 0 or right > w or bottom > h:
        pl = max(-left + min(0, right), 0)
        pt = max(-top + min(0, bottom), 0)
        pr = max(right - max(w, left), 0)
        pb = max(bottom - max(h, top), 0)
        return _pad_arr(arr[..., max(top, 0):bottom, max(left, 0):right], pl, pt, pr, pb, 0)
    return arr[..., top:bottom, left:right]


def crop(img, top, left, height, width):
    """The ``height × width`` window at (``top``, ``left``); zero-padded where it leaves the image."""
    arr, back = _chw(img, "crop")
    return back(_crop_arr(arr, int(top), int(left), int(height), int(width)))


def center_crop(img, output_size):
    th, tw = _size_pair(output_size, "center_crop")
    arr, back = _chw(img, "center_crop")
    h, w = arr.shape[-2:]
    if tw > w or th > h:
        pl = (tw - w) // 2 if tw > w else 0
        pt = (th - h) // 2 if th > h else 0
        pr = (tw - w + 1) // 2 if tw > w else 0
        pb = (th - h + 1) // 2 if th > h else 0
        arr = _pad_arr(arr, pl, pt, pr, pb, 0)
        h, w = arr.shape[-2:]
        if tw == w and th == h:
            return back(arr)
    top = int(round((h - th) / 2.0))
    left = int(round((w - tw) / 2.0))
    return back(_crop_arr(arr, top, left, th, tw))


def hflip(img):
    arr, back = _chw(img, "hflip")
    return back(arr[..., ::-1])


def vflip(img):
    arr, back = _chw(img, "vflip")
    return back(arr[..., ::-1, :])


def _resize_output_size(h, w, size, max_size):
    if isinstance(size, numbers.Number) or (isinstance(size, (list, tuple)) and len(size) == 1):
        s = int(size if isinstance(size, numbers.Number) else size[0])
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = s, int(s * long / short)
        if max_size is not None:
            if max_size <= s:
                raise ValueError(f"max_size = {max_size} must be strictly greater than the requested size for "
                                 f"the smaller edge size = {size}")
            if new_long > max_size:
                new_short, new_long = int(max_size * new_short / new_long), max_size
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
        return new_h, new_w
    if size is None and max_size is not None:
        scale = max_size / max(h, w)
        return int(round(h * scale)), int(round(w * scale))
    if isinstance(size, (list, tuple)) and len(size) == 2:
        if max_size is not None:
            raise ValueError("max_size should only be passed if size specifies the length of the smaller edge, "
                             "i.e. size should be an int or a sequence of length 1 in torchscript mode.")
        return int(size[0]), int(size[1])
    raise TypeError(f"Size should be int or sequence. Got {type(size)}")


def _nearest_index(in_size, out_size):
    if in_size == out_size:
        return np.arange(out_size)
    scale = np.float32(in_size) / np.float32(out_size)
    idx = np.floor(np.arange(out_size, dtype=np.float32) * scale).astype(np.int64)
    return np.minimum(idx, in_size - 1)


def _resize_arr(arr, oh, ow, interpolation, antialias=True):
    h, w = arr.shape[-2:]
    if (oh, ow) == (h, w):
        return arr
    if interpolation is InterpolationMode.NEAREST:
        return arr[..., _nearest_index(h, oh)[:, None], _nearest_index(w, ow)[None, :]]
    dt = arr.dtype
    wd = _float_work_dtype(dt)
    x = arr.astype(wd, copy=False)
    mode = interpolation.value

    def weights(n, o):      # torch.nn.functional.interpolate's, with align_corners=False
        if antialias:
            return _resample.antialias_matrix(n, o, None, False, mode, wd)
        make = _resample.cubic_matrix if mode == "bicubic" else _resample.linear_matrix
        return make(n, o, None, False, wd)
    if ow != w:
        x = x @ weights(w, ow).T
    if oh != h:
        x = np.swapaxes(np.swapaxes(x, -1, -2) @ weights(h, oh).T, -1, -2)
    return _cast_back(np.ascontiguousarray(x), dt)     # rounds and clips bicubic's overshoot


def resize(img, size, interpolation=InterpolationMode.BILINEAR, max_size=None, antialias=True):
    """Resize to ``size`` ((h, w), or the smaller edge for an int) with nearest, bilinear or
    bicubic interpolation (``antialias``: torchvision's default, filtered when downsampling)."""
    interpolation = _interp(interpolation, "resize", _RESIZE_INTERP)
    arr, back = _chw(img, "resize")
    h, w = arr.shape[-2:]
    oh, ow = _resize_output_size(h, w, size, max_size)
    if oh <= 0 or ow <= 0:
        raise ValueError(f"resize: output size {(oh, ow)} must be positive")
    return back(_resize_arr(arr, oh, ow, interpolation, antialias))


def resized_crop(img, top, left, height, width, size, interpolation=InterpolationMode.BILINEAR, antialias=True):
    return resize(crop(img, top, left, height, width), size, interpolation, antialias=antialias)


def _get_inverse_affine_matrix(center, angle, translate, scale, shear, inverted=True):
    rot = math.radians(angle)
    sx, sy = math.radians(shear[0]), math.radians(shear[1])
    cx, cy = center
    tx, ty = translate
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    if inverted:
        matrix = [d, -b, 0.0, -c, a, 0.0]
        matrix = [x / scale for x in matrix]
        matrix[2] += matrix[0] * (-cx - tx) + matrix[1] * (-cy - ty)
        matrix[5] += matrix[3] * (-cx - tx) + matrix[4] * (-cy - ty)
        matrix[2] += cx
        matrix[5] += cy
    else:
        matrix = [a, b, 0.0, c, d, 0.0]
        matrix = [x * scale for x in matrix]
        matrix[2] += matrix[0] * (-cx) + matrix[1] * (-cy)
        matrix[5] += matrix[3] * (-cx) + matrix[4] * (-cy)
        matrix[2] += cx + tx
        matrix[5] += cy + ty
    return matrix


def _affine_output_size(matrix, w, h):
    pts = np.array([[-0.5 * w, -0.5 * h, 1.0], [-0.5 * w, 0.5 * h, 1.0],
                    [0.5 * w, 0.5 * h, 1.0], [0.5 * w, -0.5 * h, 1.0]], np.float32)
    theta = np.asarray(matrix, np.float32).reshape(2, 3)
    new_pts = pts @ theta.T
    mn = new_pts.min(axis=0) + np.array([w * 0.5, h * 0.5], np.float32)
    mx = new_pts.max(axis=0) + np.array([w * 0.5, h * 0.5], np.float32)
    tol = np.float32(1e-4)
    cmax = np.ceil(np.trunc(mx / tol) * tol)
    cmin = np.floor(np.trunc(mn / tol) * tol)
    size = cmax - cmin
    return int(size[0]), int(size[1])


def _affine_grid(matrix, w, h, ow, oh):
    """Input pixel coordinates (x, y) sampled by each output pixel, as float32 (oh, ow) arrays,
    following torchvision's grid construction + ``grid_sample(align_corners=False)``."""
    f32 = np.float32
    theta = np.asarray(matrix, f32).reshape(2, 3)
    xs = np.linspace(-ow * 0.5 + 0.5, ow * 0.5 + 0.5 - 1, ow, dtype=f32)
    ys = np.linspace(-oh * 0.5 + 0.5, oh * 0.5 + 0.5 - 1, oh, dtype=f32)
    rescaled = theta.T / np.array([0.5 * w, 0.5 * h], f32)  # (3, 2)
    gx = xs[None, :] * rescaled[0, 0] + ys[:, None] * rescaled[1, 0] + rescaled[2, 0]
    gy = xs[None, :] * rescaled[0, 1] + ys[:, None] * rescaled[1, 1] + rescaled[2, 1]
    ix = ((gx + f32(1)) * f32(w) - f32(1)) / f32(2)
    iy = ((gy + f32(1)) * f32(h) - f32(1)) / f32(2)
    return ix, iy


def _grid_sample(arr, ix, iy, mode, fill):
    """Sample ``arr`` [..., C, H, W] at pixel coordinates (zeros outside), then blend ``fill`` in
    where the sample left the image (torchvision's mask trick)."""
    h, w = arr.shape[-2:]
    dt = arr.dtype
    x = arr.astype(_float_work_dtype(dt), copy=False)
    if mode is InterpolationMode.NEAREST:
        xr, yr = np.rint(ix).astype(np.int64), np.rint(iy).astype(np.int64)
        valid = (xr >= 0) & (xr < w) & (yr >= 0) & (yr < h)
        out = x[..., np.clip(yr, 0, h - 1), np.clip(xr, 0, w - 1)] * valid
        if fill is not None:
            out = np.where(valid, out, _fill_array(fill, out))
        return _cast_back(out, dt)
    x0, y0 = np.floor(ix), np.floor(iy)
    wx1, wy1 = ix - x0, iy - y0
    wx0, wy0 = 1 - wx1, 1 - wy1
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    out = 0
    mask = 0
    for xx, wx in ((x0, wx0), (x0 + 1, wx1)):
        for yy, wy in ((y0, wy0), (y0 + 1, wy1)):
            valid = (xx >= 0) & (xx < w) & (yy >= 0) & (yy < h)
            wgt = (wx * wy * valid).astype(x.dtype)
            out = out + x[..., np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)] * wgt
            mask = mask + wgt
    if fill is not None:
        out = out * mask + (1 - mask) * _fill_array(fill, out)
    return _cast_back(out, dt)


def affine(img, angle, translate, scale, shear, interpolation=InterpolationMode.NEAREST, fill=None, center=None):
    """Affine transform keeping the image centre fixed (``angle`` clockwise in degrees, ``translate``
    in pixels, ``shear`` in degrees: a number (x) or (x, y))."""
    interpolation = _interp(interpolation, "affine")
    if not isinstance(angle, (int, float)):
        raise TypeError("Argument angle should be int or float")
    if not isinstance(translate, (list, tuple)) or len(translate) != 2:
        raise ValueError("Argument translate should be a sequence of length 2")
    if scale <= 0.0:
        raise ValueError("Argument scale should be positive")
    if isinstance(shear, numbers.Number):
        shear = [shear, 0.0]
    if isinstance(shear, (list, tuple)) and len(shear) == 1:
        shear = [shear[0], shear[0]]
    if len(shear) != 2:
        raise ValueError(f"Shear should be a sequence containing two values. Got {shear}")
    arr, back = _chw(img, "affine")
    h, w = arr.shape[-2:]
    center_f = [0.0, 0.0]
    if center is not None:
        center_f = [1.0 * (c - s * 0.5) for c, s in zip(center, [w, h])]
    matrix = _get_inverse_affine_matrix(center_f, float(angle), [float(t) for t in translate], float(scale),
                                        [float(s) for s in shear])
    ix, iy = _affine_grid(matrix, w, h, w, h)
    return back(_grid_sample(arr, ix, iy, interpolation, fill))


def rotate(img, angle, interpolation=InterpolationMode.NEAREST, expand=False, center=None, fill=None):
    """Rotate by ``angle`` degrees counter-clockwise about the centre (or ``center`` (x, y))."""
    interpolation = _interp(interpolation, "rotate")
    if not isinstance(angle, (int, float)):
        raise TypeError("Argument angle should be int or float")
    arr, back = _chw(img, "rotate")
    h, w = arr.shape[-2:]
    center_f = [0.0, 0.0]
    if center is not None:
        center_f = [1.0 * (c - s * 0.5) for c, s in zip(center, [w, h])]
    matrix = _get_inverse_affine_matrix(center_f, -float(angle), [0.0, 0.0], 1.0, [0.0, 0.0])
    ow, oh = _affine_output_size(matrix, w, h) if expand else (w, h)
    ix, iy = _affine_grid(matrix, w, h, ow, oh)
    return back(_grid_sample(arr, ix, iy, interpolation, fill))


# ---------------------------------------------------------------------------- colour
def _gray_arr(arr):
    if arr.shape[-3] == 1:
        return arr.copy()
    if arr.shape[-3] != 3:
        raise TypeError(f"Input image should have 1 or 3 channels, got {arr.shape[-3]}")
    f = arr.astype(_float_work_dtype(arr.dtype), copy=False)
    r, g, b = f[..., 0, :, :], f[..., 1, :, :], f[..., 2, :, :]
    t = f.dtype.type
    l_img = (t(0.2989) * r + t(0.587) * g + t(0.114) * b)
    return l_img.astype(arr.dtype)[..., None, :, :]


def rgb_to_grayscale(img, num_output_channels=1):
    """ITU-R 601-2 luma (0.2989 R + 0.587 G + 0.114 B), 1 or 3 identical channels."""
    if num_output_channels not in (1, 3):
        raise ValueError("num_output_channels should be either 1 or 3")
    arr, back = _chw(img, "rgb_to_grayscale")
    g = _gray_arr(arr)
    if num_output_channels == 3:
        g = np.broadcast_to(g, g.shape[:-3] + (3,) + g.shape[-2:])
    return back(g)


def _blend(a, b, ratio):
    dt = a.dtype
    t = _float_work_dtype(dt).type
    out = t(ratio) * a.astype(t, copy=False) + t(1.0 - ratio) * np.asarray(b).astype(t, copy=False)
    out = np.clip(out, 0, _max_value(dt))
    return out.astype(dt)


def adjust_brightness(img, brightness_factor):
    if brightness_factor < 0:
        raise ValueError(f"brightness_factor ({brightness_factor}) is not non-negative.")
    arr, back = _chw(img, "adjust_brightness")
    return back(_blend(arr, np.zeros((), arr.dtype), brightness_factor))


def adjust_contrast(img, contrast_factor):
    if contrast_factor < 0:
        raise ValueError(f"contrast_factor ({contrast_factor}) is not non-negative.")
    arr, back = _chw(img, "adjust_contrast")
    wd = _float_work_dtype(arr.dtype)
    mean = _gray_arr(arr).astype(wd).mean(axis=(-3, -2, -1), keepdims=True)
    return back(_blend(arr, mean, contrast_factor))


def adjust_saturation(img, saturation_factor):
    if saturation_factor < 0:
        raise ValueError(f"saturation_factor ({saturation_factor}) is not non-negative.")
    arr, back = _chw(img, "adjust_saturation")
    if arr.shape[-3] == 1:
        return back(arr)
    return back(_blend(arr, _gray_arr(arr), saturation_factor))


def _rgb2hsv(img):
    r, g, b = img[..., 0, :, :], img[..., 1, :, :], img[..., 2, :, :]
    maxc, minc = img.max(axis=-3), img.min(axis=-3)
    eqc = maxc == minc
    cr = maxc - minc
    ones = np.ones_like(maxc)
    s = cr / np.where(eqc, ones, maxc)
    crd = np.where(eqc, ones, cr)
    rc, gc, bc = (maxc - r) / crd, (maxc - g) / crd, (maxc - b) / crd
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    h = np.fmod((hr + hg + hb) / 6.0 + 1.0, 1.0)
    return np.stack((h, s, maxc), axis=-3).astype(img.dtype)


def _hsv2rgb(img):
    h, s, v = img[..., 0, :, :], img[..., 1, :, :], img[..., 2, :, :]
    i = np.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.astype(np.int32) % 6
    p = np.clip(v * (1.0 - s), 0.0, 1.0)
    q = np.clip(v * (1.0 - s * f), 0.0, 1.0)
    t = np.clip(v * (1.0 - s * (1.0 - f)), 0.0, 1.0)
    r = np.choose(i, (v, q, p, p, t, v))
    g = np.choose(i, (t, v, v, q, p, p))
    b = np.choose(i, (p, p, t, v, v, q))
    return np.stack((r, g, b), axis=-3).astype(img.dtype)


def adjust_hue(img, hue_factor):
    if not (-0.5 <= hue_factor <= 0.5):
        raise ValueError(f"hue_factor ({hue_factor}) is not in [-0.5, 0.5].")
    arr, back = _chw(img, "adjust_hue")
    if arr.shape[-3] == 1:
        return back(arr)
    dt = arr.dtype
    f = arr.astype(np.float32) / np.float32(_max_value(dt)) if dt.kind != "f" else arr
    hsv = _rgb2hsv(f)
    hsv[..., 0, :, :] = (hsv[..., 0, :, :] + f.dtype.type(hue_factor)) % f.dtype.type(1.0)
    rgb = _hsv2rgb(hsv)
    if dt.kind != "f":
        rgb = (rgb * np.float32(_max_value(dt) + 1.0 - 1e-3)).astype(dt)
    return back(rgb)


# ---------------------------------------------------------------------------- filters / erasing
def _gaussian_kernel1d(ksize, sigma, dt):
    half = (ksize - 1) * 0.5
    x = np.linspace(-half, half, ksize).astype(dt)
    pdf = np.exp(-0.5 * (x / dt.type(sigma)) ** 2)
    return pdf / pdf.sum()


def gaussian_blur(img, kernel_size, sigma=None):
    """Gaussian blur with reflect padding; ``kernel_size`` (kx, ky) odd, ``sigma`` (sx, sy)."""
    if isinstance(kernel_size, numbers.Number):
        kernel_size = [int(kernel_size), int(kernel_size)]
    kernel_size = list(kernel_size)
    if len(kernel_size) == 1:
        kernel_size = kernel_size * 2
    if len(kernel_size) != 2:
        raise ValueError(f"If kernel_size is a sequence its length should be 2. Got {len(kernel_size)}")
    for ks in kernel_size:
        if ks % 2 == 0 or ks < 0:
            raise ValueError(f"kernel_size should have odd and positive integers. Got {kernel_size}")
    if sigma is None:
        sigma = [ksize * 0.15 + 0.35 for ksize in kernel_size]
    if isinstance(sigma, numbers.Number):
        sigma = [float(sigma), float(sigma)]
    sigma = list(sigma)
    if len(sigma) == 1:
        sigma = sigma * 2
    if len(sigma) != 2:
        raise ValueError(f"If sigma is a sequence, its length should be 2. Got {len(sigma)}")
    for s in sigma:
        if s <= 0.0:
            raise ValueError(f"sigma should have positive values. Got {sigma}")
    arr, back = _chw(img, "gaussian_blur")
    dt = arr.dtype
    wd = _float_work_dtype(dt)
    kx = _gaussian_kernel1d(kernel_size[0], sigma[0], wd)
    ky = _gaussian_kernel1d(kernel_size[1], sigma[1], wd)
    kern = ky[:, None] * kx[None, :]
    px, py = kernel_size[0] // 2, kernel_size[1] // 2
    h, w = arr.shape[-2:]
    if px >= w or py >= h:
        raise ValueError(f"gaussian_blur: kernel size {kernel_size} is too large for a {h}×{w} image "
                         "(reflect padding must be smaller than the image)")
    x = _pad_arr(arr.astype(wd), px, py, px, py, padding_mode="reflect")
    out = np.zeros(arr.shape, wd)
    for a in range(kern.shape[0]):
        for b in range(kern.shape[1]):
            out += kern[a, b] * x[..., a:a + h, b:b + w]
    return back(_cast_back(out, dt))


def erase(img, i, j, h, w, v, inplace=False):
    """Set the ``h × w`` window at (``i``, ``j``) of a ``[..., C, H, W]`` image to ``v``."""
    if isinstance(img, Tensor):
        v_arr = v._data if isinstance(v, Tensor) else np.asarray(v)
        if inplace:
            from ...ops import check_inplace
            check_inplace(img)
            img._data[..., i:i + h, j:j + w] = v_arr
            img._version[0] += 1
            return img
        out = img._data.copy()
        out[..., i:i + h, j:j + w] = v_arr
        return _wrap(out)
    arr, back = _chw(img, "erase")
    out = arr.copy()
    out[..., i:i + h, j:j + w] = v._data if isinstance(v, Tensor) else np.asarray(v)
    return back(out)
