"""dtypes and PyTorch's type-promotion rules.

A flambeau dtype wraps a NumPy dtype. Promotion follows PyTorch, not NumPy:

* categories rank bool < integer < floating;
* a dimensioned tensor outranks a 0-d tensor, which outranks a Python scalar,
  *within the same category*: ``float32_tensor * 2.5`` stays float32 and
  ``int64_tensor * 2.5`` becomes the default float dtype (float32), where NumPy would
  give float64.
"""
from __future__ import annotations

import numpy as np


class dtype:
    """A tensor element type (``torch.dtype``)."""

    __slots__ = ("name", "np", "is_floating_point", "is_signed", "itemsize", "_cat")

    def __init__(self, name: str, np_dtype, category: int):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = category == 2
        self.is_signed = self.np.kind in "fi"
        self.itemsize = self.np.itemsize
        self._cat = category  # 0 bool, 1 integer, 2 floating

    @property
    def is_complex(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"flambeau.{self.name}"

    def __reduce__(self):  # dtypes are singletons, also through copy.deepcopy
        return (_by_name, (self.name,))

    def to_real(self):
        return self


float32 = dtype("float32", np.float32, 2)
float64 = dtype("float64", np.float64, 2)
float16 = dtype("float16", np.float16, 2)
int64 = dtype("int64", np.int64, 1)
int32 = dtype("int32", np.int32, 1)
int16 = dtype("int16", np.int16, 1)
int8 = dtype("int8", np.int8, 1)
uint8 = dtype("uint8", np.uint8, 1)
bool_ = dtype("bool", np.bool_, 0)

# PyTorch's aliases
float = float32  # noqa: A001 - torch.float
double = float64
half = float16
long = int64
int = int32  # noqa: A001 - torch.int
short = int16

ALL = (float32, float64, float16, int64, int32, int16, int8, uint8, bool_)
_FROM_NP = {d.np: d for d in ALL}
_NAMES = {d.name: d for d in ALL}


def _by_name(name: str) -> dtype:
    return _NAMES[name]


_default_float = float32


def get_default_dtype() -> dtype:
    return _default_float


def set_default_dtype(d: dtype) -> None:
    global _default_float
    d = as_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"set_default_dtype: only floating-point types are supported as the default type, got {d}")
    _default_float = d


def from_numpy_dtype(np_dtype) -> dtype:
    try:
        return _FROM_NP[np_dtype]
    except KeyError:
        d = _FROM_NP.get(np.dtype(np_dtype))
        if d is None:
            raise TypeError(f"flambeau has no dtype for NumPy dtype {np.dtype(np_dtype)}; "
                            "supported: float16/32/64, int8/16/32/64, uint8, bool") from None
        return d


def as_dtype(d) -> dtype:
    """Accept a flambeau dtype, a NumPy dtype/type, or Python's float/int/bool."""
    if isinstance(d, dtype):
        return d
    if d is None:
        raise TypeError("dtype must not be None here")
    import builtins
    if d is builtins.float:  # torch maps Python's float to float64
        return float64
    if d is builtins.int:
        return int64
    if d is builtins.bool:
        return bool_
    return from_numpy_dtype(np.dtype(d))


def result_type(*operands) -> dtype:
    """The dtype PyTorch gives to an elementwise op over ``operands``.

    Operands are Tensors or Python/NumPy scalars.
    """
    from ._tensor import Tensor  # local: _tensor imports this module

    # best (category, dtype) seen at each priority level: 2 dimensioned, 1 zero-dim, 0 scalar
    dim_d = zero_d = None
    scal_cat = -1
    for op in operands:
        if isinstance(op, Tensor):
            d = from_numpy_dtype(op._data.dtype)
            if op._data.ndim:
                dim_d = d if dim_d is None else _promote(dim_d, d)
            else:
                zero_d = d if zero_d is None else _promote(zero_d, d)
        else:
            c = _scalar_category(op)
            if c > scal_cat:
                scal_cat = c
    best = dim_d
    if zero_d is not None and (best is None or zero_d._cat > best._cat):
        best = zero_d  # a 0-d tensor counts only when its category is higher
    if best is None:
        return {0: bool_, 1: int64, 2: _default_float}[scal_cat]
    if scal_cat > best._cat:
        return {1: int64, 2: _default_float}[scal_cat]
    return best


def _scalar_category(x) -> int:
    if isinstance(x, (bool, np.bool_)):
        return 0
    import builtins
    if isinstance(x, (builtins.int, np.integer)):
        return 1
    if isinstance(x, (builtins.float, np.floating)):
        return 2
    if isinstance(x, np.ndarray):
        return from_numpy_dtype(x.dtype)._cat
    raise TypeError(f"unsupported operand type {type(x).__name__}")


def _promote(a: dtype, b: dtype) -> dtype:
    if a is b:
        return a
    if a._cat != b._cat:
        return a if a._cat > b._cat else b
    # uint8 with a signed int promotes like PyTorch: uint8+int8 -> int16
    return from_numpy_dtype(np.promote_types(a.np, b.np))


def promote_types(a, b) -> dtype:
    """``torch.promote_types``."""
    return _promote(as_dtype(a), as_dtype(b))
