"""Printing tensors the way PyTorch does (``tensor([[1., 2.]], requires_grad=True)``).

A port of the rules of ``torch/_tensor_str.py``: one width for every element, floats that are
all integral print as ``1.``, 4 decimals otherwise, scientific notation when the magnitudes
span too much, summarisation past ``threshold`` elements, and the dtype/grad suffixes.
"""
from __future__ import annotations

import math

import numpy as np


class _PrintOptions:
    precision = 4
    threshold = 1000
    edgeitems = 3
    linewidth = 80
    sci_mode = None


PRINT_OPTS = _PrintOptions()


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None,
                     sci_mode=None):
    """``torch.set_printoptions``."""
    if profile == "default":
        PRINT_OPTS.precision, PRINT_OPTS.threshold, PRINT_OPTS.edgeitems, PRINT_OPTS.linewidth = 4, 1000, 3, 80
    elif profile == "short":
        PRINT_OPTS.precision, PRINT_OPTS.threshold, PRINT_OPTS.edgeitems, PRINT_OPTS.linewidth = 2, 1000, 2, 80
    elif profile == "full":
        PRINT_OPTS.precision, PRINT_OPTS.threshold, PRINT_OPTS.edgeitems, PRINT_OPTS.linewidth = 4, math.inf, 3, 80
    if precision is not None:
        PRINT_OPTS.precision = precision
    if threshold is not None:
        PRINT_OPTS.threshold = threshold
    if edgeitems is not None:
        PRINT_OPTS.edgeitems = edgeitems
    if linewidth is not None:
        PRINT_OPTS.linewidth = linewidth
    PRINT_OPTS.sci_mode = sci_mode


class _Formatter:
    """One width for every element; int/sci/fixed mode decided on the nonzero finite values."""

    def __init__(self, values: np.ndarray):
        self.floating = values.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        p = PRINT_OPTS.precision
        v = values.reshape(-1)
        if not self.floating:
            if v.size:
                self.max_width = max(1, max(len(_plain(x)) for x in v.tolist()))
            return
        nz = v[np.isfinite(v) & (v != 0)]
        if nz.size == 0:
            return
        vals = nz.tolist()  # Python floats: the exact values, formatted like PyTorch's item()
        a = np.abs(nz.astype(np.float64))
        amin, amax = float(a.min()), float(a.max())
        self.int_mode = bool(np.all(nz == np.ceil(nz)))
        self.sci_mode = (amax / amin > 1000.0 or amax > 1.0e8 or amin < 1.0e-4
                         if PRINT_OPTS.sci_mode is None else PRINT_OPTS.sci_mode)
        if self.sci_mode:
            self.max_width = max(len(f"{x:.{p}e}") for x in vals)
        elif self.int_mode:
            self.max_width = max(len(f"{x:.0f}") + 1 for x in vals)
        else:
            self.max_width = max(len(f"{x:.{p}f}") for x in vals)

    def width(self):
        return self.max_width

    def format(self, x) -> str:
        p = PRINT_OPTS.precision
        if self.floating:
            x = float(x)
            if self.sci_mode:
                s = f"{x:{self.max_width}.{p}e}"
            elif self.int_mode:
                s = f"{x:.0f}"
                if math.isfinite(x):
                    s += "."
            else:
                s = f"{x:.{p}f}"
        else:
            s = _plain(x)
        return " " * (self.max_width - len(s)) + s


def _plain(x):
    return str(bool(x)) if isinstance(x, (bool, np.bool_)) else str(int(x))


def _summarized_values(a: np.ndarray) -> np.ndarray:
    """The elements that will be printed (edges only, once summarising)."""
    e = PRINT_OPTS.edgeitems
    if a.ndim == 0:
        return a.reshape(1)
    if a.shape[0] > 2 * e:
        parts = [_summarized_values(a[i]) for i in list(range(e)) + list(range(a.shape[0] - e, a.shape[0]))]
    else:
        parts = [_summarized_values(a[i]) for i in range(a.shape[0])]
    return np.concatenate(parts) if parts else a.reshape(-1)


def _vector_str(a, indent, fmt, summarize):
    e = PRINT_OPTS.edgeitems
    elem_width = fmt.width() + 2
    per_line = max(math.floor((PRINT_OPTS.linewidth - indent) / elem_width), 1)
    if summarize and not e:
        items = ["..."]
    elif summarize and a.shape[0] > 2 * e:
        items = [fmt.format(x) for x in a[:e].tolist()] + [" ..."] + [fmt.format(x) for x in a[-e:].tolist()]
    else:
        items = [fmt.format(x) for x in a.tolist()]
    lines = [items[i:i + per_line] for i in range(0, len(items), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(", ".join(line) for line in lines) + "]"


def _tensor_str(a, indent, fmt, summarize):
    if a.ndim == 0:
        return fmt.format(a.item())
    if a.ndim == 1:
        return _vector_str(a, indent, fmt, summarize)
    e = PRINT_OPTS.edgeitems
    if summarize and a.shape[0] > 2 * e:
        slices = ([_tensor_str(a[i], indent + 1, fmt, summarize) for i in range(e)] + ["..."] +
                  [_tensor_str(a[i], indent + 1, fmt, summarize) for i in range(a.shape[0] - e, a.shape[0])])
    else:
        slices = [_tensor_str(a[i], indent + 1, fmt, summarize) for i in range(a.shape[0])]
    sep = "," + "\n" * (a.ndim - 1) + " " * (indent + 1)
    return "[" + sep.join(slices) + "]"


def tensor_repr(t, prefix="tensor(") -> str:
    from . import _dtype as D
    a = t._data
    indent = len(prefix)
    suffixes = []
    default_float = D.get_default_dtype().np
    if a.size == 0:
        body = "[]"
        if a.shape != (0,):
            suffixes.append(f"size={tuple(a.shape)}")
        if a.dtype != default_float:
            suffixes.append(f"dtype={D.from_numpy_dtype(a.dtype)!r}")
    else:
        summarize = a.size > PRINT_OPTS.threshold
        vals = _summarized_values(a) if summarize else a
        fmt = _Formatter(vals)
        body = _tensor_str(a, indent, fmt, summarize)
        if a.dtype not in (default_float, np.dtype(np.int64), np.dtype(np.bool_)):
            suffixes.append(f"dtype={D.from_numpy_dtype(a.dtype)!r}")
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t._requires_grad:
        suffixes.append("requires_grad=True")
    # PyTorch's _add_suffixes, including its count of the last line (two more than its length)
    out = prefix + body
    parts = [out]
    last = len(out) - out.rfind("\n") + 1
    for s in suffixes:
        if last + len(s) + 2 > PRINT_OPTS.linewidth:
            parts.append(",\n" + " " * indent + s)
            last = indent + len(s)
        else:
            parts.append(", " + s)
            last += len(s) + 2
    return "".join(parts) + ")"
