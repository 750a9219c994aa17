"""``Parameter``: a Tensor that a :class:`~flambeau.nn.Module` registers as a learnable weight
(``torch.nn.Parameter``)."""
from __future__ import annotations

import numpy as np

from .._tensor import Tensor, _init
from .._tensor_str import tensor_repr


class Parameter(Tensor):
    """``torch.nn.Parameter(data=None, requires_grad=True)``.

    Shares ``data``'s memory (no copy) and is a leaf that requires grad by default. Assigning a
    Parameter as a Module attribute registers it in ``module._parameters``.
    """

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            arr = np.empty((0,), dtype=np.float32)
        elif isinstance(data, Tensor):
            arr = data._data
        else:
            raise TypeError(f"Parameter(): data must be a Tensor or None, got {type(data).__name__}")
        _init(self, arr)
        if isinstance(data, Tensor):
            self._version = data._version  # the same memory: the same version counter
        if requires_grad:
            self.requires_grad = True  # validates: integer tensors cannot require grad

    def __repr__(self):
        return "Parameter containing:\n" + tensor_repr(self)

    __str__ = __repr__

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = Parameter(Tensor._make(self._data.copy()), self._requires_grad)
        if self._grad is not None:
            result._grad = Tensor._make(self._grad._data.copy())
        memo[id(self)] = result
        return result


class Buffer(Tensor):
    """``torch.nn.Buffer(data, persistent=True)``: marks a tensor to be registered as a buffer
    when assigned to a Module attribute."""

    def __init__(self, data, *, persistent=True):
        if not isinstance(data, Tensor):
            raise TypeError(f"Buffer(): data must be a Tensor, got {type(data).__name__}")
        _init(self, data._data)
        self._version = data._version
        self.persistent = persistent


def _np_dtype(dtype):
    from .. import _dtype as D
    if dtype is None:
        return D.get_default_dtype().np
    return dtype if isinstance(dtype, np.dtype) else D.as_dtype(dtype).np


_UNINITIALIZED = ("Attempted to use an uninitialized parameter in {}. This error happens when you are using a "
                  "`LazyModule` or explicitly manipulating `torch.nn.parameter.UninitializedParameter` objects. When "
                  "using LazyModules Call `forward` with a dummy batch to initialize the parameters before calling "
                  "torch functions")


class _Uninitialized:
    """What the placeholders share: ``materialize(shape)`` gives them a shape in place and makes
    them ``cls_to_become``; they cannot be copied before that (as in PyTorch)."""

    __slots__ = ()          # keeps Tensor's layout, so that the class can change in place

    def materialize(self, shape, device=None, dtype=None):
        self._data = np.empty(tuple(shape), self._data.dtype if dtype is None else _np_dtype(dtype))
        self.__class__ = self.cls_to_become

    def __deepcopy__(self, memo):
        raise ValueError(_UNINITIALIZED.format("__deepcopy__"))

    def __repr__(self):
        return f"<{type(self).__name__}>"

    __str__ = __repr__


class UninitializedParameter(_Uninitialized, Parameter):
    """A parameter without a shape yet (the lazy layers' placeholders, ``nn.LazyLinear`` ...)."""

    cls_to_become = Parameter

    def __init__(self, requires_grad=True, device=None, dtype=None):
        super().__init__(None, requires_grad)
        self._data = np.empty((0,), _np_dtype(dtype))


class UninitializedBuffer(_Uninitialized, Tensor):
    """A buffer without a shape yet (a lazy batch norm's running statistics)."""

    __slots__ = ()
    cls_to_become = Tensor

    def __init__(self, requires_grad=False, device=None, dtype=None):
        _init(self, np.empty((0,), _np_dtype(dtype)))


def is_lazy(param) -> bool:
    return isinstance(param, (UninitializedParameter, UninitializedBuffer))
