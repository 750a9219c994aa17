"""The per-axis weight matrices of ``interpolate`` (and of the image transforms' resize).

Every interpolating mode is separable: along one spatial axis, output sample ``o`` is a weighted
sum of a few input samples, so the whole axis is one ``(n_out, n_in)`` matrix and resampling is
one GEMM per axis (``pool.Separable``); its backward is the same GEMM with the transpose. The
weights follow PyTorch's CPU kernels (``UpSample.h``): source coordinates, border clamping and
the filters' constants are PyTorch's, so outputs agree to float rounding.
"""
from __future__ import annotations

import numpy as np


def source_scale(n_in, n_out, scale, align_corners):
    """PyTorch's ``area_pixel_compute_scale``: input pixels per output pixel."""
    if align_corners:
        return (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    return 1.0 / scale if scale else n_in / n_out


def linear_matrix(n_in, n_out, scale, align_corners, dtype):
    """Linear interpolation: two taps, the source coordinate clamped at 0."""
    t = np.dtype(dtype).type
    o = np.arange(n_out).astype(dtype)
    m = np.zeros((n_out, n_in), dtype)
    if n_in == n_out:
        m[np.arange(n_out), np.arange(n_out)] = 1
        return m
    ratio = t(source_scale(n_in, n_out, scale, align_corners))
    src = ratio * o if align_corners else np.maximum(ratio * (o + t(0.5)) - t(0.5), t(0))
    i0 = np.minimum(src.astype(np.int64), n_in - 1)
    l1 = np.clip(src - i0.astype(dtype), t(0), t(1))
    i1 = i0 + (i0 < n_in - 1)
    rows = np.arange(n_out)
    np.add.at(m, (rows, i0), t(1) - l1)   # a tiny (n_out, n_in) matrix, not a batch scatter
    np.add.at(m, (rows, i1), l1)
    return m


def _cubic1(x, a):          # |x| <= 1 piece of Keys' cubic convolution kernel
    return ((a + 2) * x - (a + 3)) * x * x + 1


def _cubic2(x, a):          # 1 < |x| < 2 piece
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a


def cubic_matrix(n_in, n_out, scale, align_corners, dtype):
    """Bicubic's per-axis weights: Keys' kernel with a = -0.75 over four taps around
    ``floor(src)``; unlike linear, the source coordinate is not clamped at 0 and the taps beyond
    the border read the border sample (PyTorch's ``upsample_get_value_bounded``)."""
    t = np.dtype(dtype).type
    a = t(-0.75)
    o = np.arange(n_out).astype(dtype)
    ratio = t(source_scale(n_in, n_out, scale, align_corners))
    src = ratio * o if align_corners else ratio * (o + t(0.5)) - t(0.5)
    i0 = np.floor(src)
    x = src - i0
    coeffs = (_cubic2(x + t(1), a), _cubic1(x, a), _cubic1(t(1) - x, a), _cubic2(t(2) - x, a))
    m = np.zeros((n_out, n_in), dtype)
    rows = np.arange(n_out)
    for k, c in enumerate(coeffs):
        cols = np.clip(i0.astype(np.int64) - 1 + k, 0, n_in - 1)
        np.add.at(m, (rows, cols), c)      # clamped taps can land on one border column
    return m


def _triangle(x):
    return np.maximum(1.0 - np.abs(x), 0.0)


def _cubic_aa(x):           # Keys' kernel with a = -0.5, as PIL and PyTorch's antialiased bicubic
    x = np.abs(x)
    return np.where(x < 1, _cubic1(x, -0.5), np.where(x < 2, _cubic2(x, -0.5), 0.0))


def _lanczos3(x):
    return np.where(np.abs(x) < 3, np.sinc(x) * np.sinc(x / 3), 0.0)


# filter and its support (in output pixels when upsampling) for each antialiased mode
_AA_FILTERS = {"bilinear": (_triangle, 1.0), "bicubic": (_cubic_aa, 2.0), "lanczos": (_lanczos3, 3.0)}


def antialias_matrix(n_in, n_out, scale, align_corners, mode, dtype):
    """Antialiased resampling (PIL's and PyTorch's ``antialias=True``): when downsampling by
    ``s`` the filter is stretched ``s`` times, so each output sample averages every input sample
    it covers instead of sampling a few and aliasing; the taps that fall outside the image are
    dropped and the rest renormalised to sum to 1."""
    kernel, half = _AA_FILTERS[mode]
    s = source_scale(n_in, n_out, scale, align_corners)
    support = half * s if s >= 1.0 else half
    inv = 1.0 / s if s >= 1.0 else 1.0
    center = s * (np.arange(n_out) + 0.5)
    lo = np.maximum((center - support + 0.5).astype(np.int64), 0)      # C's truncating casts
    hi = np.minimum((center + support + 0.5).astype(np.int64), n_in)
    j = np.arange(n_in)
    w = kernel((j[None, :] - center[:, None] + 0.5) * inv)
    w = np.where((j[None, :] >= lo[:, None]) & (j[None, :] < hi[:, None]), w, 0.0)
    total = w.sum(axis=1, keepdims=True)
    w = np.divide(w, total, out=np.zeros_like(w), where=total != 0)
    return w.astype(dtype)
