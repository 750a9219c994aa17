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
    def __init__(self, values: np.ndarray):
        self.kind = values.dtype.kind
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        p = PRINT_OPTS.precision
        v = values.reshape(-1)
        if self.kind == "b":
            self.max_width = max((len(str(bool(x))) for x in v), default=1)
            return
        if self.kind in "iu":
            self.max_width = max((len(str(int(x))) for x in v), default=1)
            return
        v = v.astype(np.float64)
        finite = v[np.isfinite(v)]
        if finite.size == 0:
            self.max_width = max((len(_special(x)) for x in v), default=1)
            return
        nonzero = np.abs(finite[finite != 0])
        if np.all(finite == np.ceil(finite)):
            self.int_mode = True
            if nonzero.size and (nonzero.max() / nonzero.min() > 1000.0 or nonzero.max() > 1e8):
                self.sci_mode = True
                fmts = [f"{x:.{p}e}" for x in finite]
            else:
                fmts = [f"{x:.0f}." for x in finite]
        else:
            self.int_mode = False
            if nonzero.size and (nonzero.max() / nonzero.min() > 1000.0 or nonzero.max() > 1e8
                                 or nonzero.min() < 1e-4):
                self.sci_mode = True
                fmts = [f"{x:.{p}e}" for x in finite]
            else:
                fmts = [f"{x:.{p}f}" for x in finite]
        if PRINT_OPTS.sci_mode is not None:
            self.sci_mode = PRINT_OPTS.sci_mode
            fmts = [self._fmt(x) for x in finite]
        self.max_width = max(len(s) for s in fmts)
        if finite.size != v.size:
            self.max_width = max(self.max_width, max(len(_special(x)) for x in v[~np.isfinite(v)]))

    def _fmt(self, x):
        p = PRINT_OPTS.precision
        if self.sci_mode:
            return f"{x:.{p}e}"
        if self.int_mode:
            return f"{x:.0f}."
        return f"{x:.{p}f}"

    def width(self):
        return self.max_width

    def format(self, x) -> str:
        if self.kind == "b":
            s = str(bool(x))
        elif self.kind in "iu":
            s = str(int(x))
        else:
            x = float(x)
            s = self._fmt(x) if math.isfinite(x) else _special(x)
        return " " * (self.max_width - len(s)) + s


def _special(x):
    if math.isnan(x):
        return "nan"
    return "inf" if x > 0 else "-inf"


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
    if summarize and a.shape[0] > 2 * e:
        items = [fmt.format(x) for x in a[:e]] + [" ..."] + [fmt.format(x) for x in a[-e:]]
    else:
        items = [fmt.format(x) for x in a]
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
    out = prefix + body
    for s in suffixes:
        if len(out.split("\n")[-1]) + len(s) + 2 > PRINT_OPTS.linewidth:
            out += ",\n" + " " * indent + s
        else:
            out += ", " + s
    return out + ")"
