"""``Tensor``: an n-d array on the backend, with autograd metadata.

No math lives here: every method forwards to the op functions in :mod:`flambeau.ops`.
The array is ``_data`` (a NumPy array today). Views share that array's memory and the
*version counter* ``_version`` (a one-element list): in-place ops bump it, and backward
refuses to use a saved array whose version moved.
"""
from __future__ import annotations

import builtins

import numpy as np

from . import _dtype as D
from .autograd import grad_mode
from .backend import CPU, check_device, device as _device_cls

_STATE = grad_mode.state


class Size(tuple):
    """``torch.Size``: a tuple of ints that prints like PyTorch."""

    __slots__ = ()

    def __repr__(self):
        return f"flambeau.Size([{', '.join(str(s) for s in self)}])"

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    def __getitem__(self, item):
        r = tuple.__getitem__(self, item)
        return Size(r) if isinstance(item, slice) else r


class Tensor:
    """An n-dimensional array with reverse-mode autograd (``torch.Tensor``)."""

    __slots__ = ("_data", "_requires_grad", "_grad", "_grad_fn", "_output_nr", "_version",
                 "_base", "_view_fn", "_view_version", "_hooks", "_retains_grad", "__weakref__")
    __array_priority__ = 1000  # so that ndarray <op> Tensor defers to Tensor's reflected op

    def __init__(self, *args, dtype=None, device=None, requires_grad=False):
        check_device(device)
        if len(args) == 1 and not isinstance(args[0], (builtins.int, np.integer)):
            data = args[0]
            if isinstance(data, Tensor):
                arr = data._data
            else:
                arr = np.asarray(data, dtype=(D.as_dtype(dtype).np if dtype is not None
                                              else D.get_default_dtype().np))
        else:  # Tensor(2, 3): uninitialised of that shape
            shape = args[0] if len(args) == 1 and isinstance(args[0], tuple) else args
            arr = np.empty(tuple(int(s) for s in shape),
                           dtype=(D.as_dtype(dtype) if dtype is not None else D.get_default_dtype()).np)
        if dtype is not None and arr.dtype != D.as_dtype(dtype).np:
            arr = arr.astype(D.as_dtype(dtype).np)
        _init(self, arr)
        if requires_grad:
            self.requires_grad = True

    @staticmethod
    def _make(arr, version=None):
        """Wrap a backend array (no copy, no checks); ``version`` shares a counter."""
        t = object.__new__(Tensor)
        t._data = arr
        t._requires_grad = False
        t._grad = None
        t._grad_fn = None
        t._output_nr = 0
        t._version = [0] if version is None else version
        t._base = None
        t._view_fn = None
        t._view_version = 0
        t._hooks = None
        t._retains_grad = False
        return t

    # ------------------------------------------------------------------ metadata
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_dim(dim, self._data.ndim, "size")]

    @property
    def dtype(self) -> D.dtype:
        return D.from_numpy_dtype(self._data.dtype)

    @property
    def device(self):
        return CPU

    @property
    def is_cuda(self) -> bool:
        return False

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    ndimension = dim

    def numel(self) -> int:
        return self._data.size

    nelement = numel

    def element_size(self) -> int:
        return self._data.itemsize

    @property
    def itemsize(self) -> int:
        return self._data.itemsize

    @property
    def nbytes(self) -> int:
        return self._data.nbytes

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    def is_complex(self) -> bool:
        return False

    def stride(self, dim=None):
        st = tuple(s // self._data.itemsize for s in self._data.strides)
        return st if dim is None else st[_dim(dim, self._data.ndim, "stride")]

    def is_contiguous(self, memory_format=None) -> bool:
        return self._data.flags.c_contiguous

    def contiguous(self, memory_format=None):
        """This tensor if it is C-contiguous, else a contiguous copy (``Tensor.contiguous``)."""
        return self if self._data.flags.c_contiguous else ops.clone(self)

    def storage_offset(self) -> int:
        root = _root_array(self._data)
        return (self._data.__array_interface__["data"][0] - root.__array_interface__["data"][0]) \
            // self._data.itemsize

    def data_ptr(self) -> int:
        return self._data.__array_interface__["data"][0]

    def storage(self):
        return _Storage(self)

    untyped_storage = storage

    def get_device(self) -> int:
        return -1

    # ------------------------------------------------------------------ autograd state
    @property
    def grad_fn(self):
        """The Node that produced this tensor (None for a leaf).

        A view whose memory was modified in place since its history was recorded (through its
        base or another view) gets a fresh history: the base's current one, then the view."""
        if self._base is not None and self._version[0] != self._view_version:
            _refresh_view(self)
        return self._grad_fn

    @grad_fn.setter
    def grad_fn(self, fn):
        self._grad_fn = fn
        if self._base is not None:
            self._view_version = self._version[0]

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        value = bool(value)
        if self.grad_fn is not None:
            if not value:
                raise RuntimeError("you can only change requires_grad flags of leaf variables. If you "
                                   "want to use a computed variable in a subgraph that doesn't require "
                                   "differentiation use var_no_grad = var.detach().")
            return
        if value and self._data.dtype.kind != "f":
            raise RuntimeError("only Tensors of floating point and complex dtype can require gradients "
                               f"(got {self.dtype})")
        self._requires_grad = value

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def grad(self):
        if self._grad is None and self._grad_fn is not None and not self._retains_grad:
            import warnings
            warnings.warn("The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its "
                          ".grad attribute won't be populated during autograd.backward(). If you indeed want "
                          "the .grad field to be populated for a non-leaf Tensor, use .retain_grad() on the "
                          "non-leaf Tensor.", UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got {type(value).__name__}")
            if value._data.shape != self._data.shape:
                raise RuntimeError(f"assigned grad has data of a different size: got {list(value.shape)}, "
                                   f"expected {list(self.shape)}")
            if value._data.dtype != self._data.dtype:
                raise RuntimeError(f"assigned grad has data of a different type: got {value.dtype}, "
                                   f"expected {self.dtype}")
        self._grad = value

    @grad.deleter
    def grad(self):
        self._grad = None

    @property
    def data(self):
        """The same memory without autograd history (``.data``; no shared version counter)."""
        return Tensor._make(self._data)

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"data must be a Tensor, got {type(value).__name__}")
        self._data = value._data

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    @property
    def _version_value(self) -> int:
        return self._version[0]

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (``Tensor.backward``)."""
        from .autograd import backward
        backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    def detach(self):
        """A tensor sharing this one's memory (and version counter), cut from the graph."""
        t = Tensor._make(self._data, self._version)
        return t

    def detach_(self):
        if self._base is not None and self.grad_fn is not None:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self.grad_fn = None
        self._requires_grad = False
        return self

    def retain_grad(self):
        """Keep ``.grad`` for this non-leaf tensor after backward."""
        if self.grad_fn is None:
            if not self._requires_grad:
                raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
            return
        if self._retains_grad:
            return
        import weakref
        ref = weakref.ref(self)

        def _keep(grad):
            t = ref()
            if t is not None:
                if grad.requires_grad:   # create_graph: keep the gradient's history, as PyTorch
                    t._grad = grad.clone() if t._grad is None else t._grad + grad
                elif t._grad is None:
                    t._grad = Tensor._make(grad._data.copy())
                else:
                    t._grad = Tensor._make(t._grad._data + grad._data)
        _keep._retains_grad = True  # run after the tensor's other hooks, as in PyTorch
        self.grad_fn._add_pre_hook(self._output_nr, _keep)
        self._retains_grad = True

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; it may return a new grad."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            return self.grad_fn._add_pre_hook(self._output_nr, hook)
        if self._hooks is None:
            self._hooks = {}
        key = object()
        self._hooks[key] = hook
        return _DictHandle(self._hooks, key)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` after a backward has accumulated into this leaf's ``.grad`` (an
        optimizer step inside the backward, for instance)."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        from .autograd.engine import PostAccumulateKey
        if self._hooks is None:
            self._hooks = {}
        key = PostAccumulateKey()
        self._hooks[key] = hook
        return _DictHandle(self._hooks, key)

    # ------------------------------------------------------------------ conversion
    def numpy(self, *, force=False):
        if self._requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        return self._data

    def __array__(self, dtype=None, copy=None):
        a = self._data
        return a if dtype is None else a.astype(dtype, copy=False)

    def tolist(self):
        return self._data.tolist()

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        return self._data.reshape(()).item()

    def __float__(self):
        return builtins.float(self.item())

    def __int__(self):
        return builtins.int(self.item())

    def __index__(self):
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return builtins.int(self.item())

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous")
        return builtins.bool(self._data.reshape(()).item())

    def __complex__(self):
        return complex(self.item())

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __hash__(self):
        return id(self)

    def __repr__(self):
        from ._tensor_str import tensor_repr
        return tensor_repr(self)

    __str__ = __repr__

    def __format__(self, spec):
        if self._data.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def __reduce_ex__(self, protocol):
        raise TypeError("flambeau tensors are not picklable; save them with flambeau.save (safetensors)")

    def __deepcopy__(self, memo):
        if self.grad_fn is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support the "
                               "deepcopy protocol at the moment")
        t = type(self).__new__(type(self))
        _init(t, self._data.copy())
        t._requires_grad = self._requires_grad
        if self._grad is not None:
            t._grad = Tensor._make(self._grad._data.copy())
        if hasattr(self, "__dict__"):
            import copy
            for k, v in self.__dict__.items():
                setattr(t, k, copy.deepcopy(v, memo))
        memo[id(self)] = t
        return t

    # dtype / device conversion
    def to(self, *args, **kwargs):
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)``."""
        dtype = kwargs.pop("dtype", None)
        dev = kwargs.pop("device", None)
        copy = kwargs.pop("copy", False)
        kwargs.pop("non_blocking", None)
        kwargs.pop("memory_format", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, (D.dtype, type)) or isinstance(a, np.dtype):
                dtype = a
            elif isinstance(a, (str, _device_cls, builtins.int)):
                dev = a
            elif a is None:
                continue
            else:
                raise TypeError(f"to() received an invalid argument {a!r}")
        check_device(dev)
        if dtype is None or D.as_dtype(dtype).np == self._data.dtype:
            return self.clone() if copy else self
        return ops.to_dtype(self, D.as_dtype(dtype))

    def cpu(self, memory_format=None):
        return self

    def cuda(self, device=None, non_blocking=False):
        check_device("cuda" if device is None else device)

    def type(self, dtype=None, non_blocking=False):
        if dtype is None:
            return _TYPE_NAMES[self._data.dtype]
        if isinstance(dtype, str):
            dtype = _TYPE_FROM_NAME[dtype.split(".")[-1]]
        return self.to(dtype)

    def type_as(self, other):
        return self.to(other.dtype)

    def float(self):
        return self.to(D.float32)

    def double(self):
        return self.to(D.float64)

    def half(self):
        return self.to(D.float16)

    def long(self):
        return self.to(D.int64)

    def int(self):
        return self.to(D.int32)

    def short(self):
        return self.to(D.int16)

    def char(self):
        return self.to(D.int8)

    def byte(self):
        return self.to(D.uint8)

    def bool(self):
        return self.to(D.bool_)

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        from ._creation import tensor
        return tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        from ._creation import zeros
        return zeros(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        from ._creation import ones
        return ones(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        from ._creation import full
        return full(size, fill_value, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        from ._creation import empty
        return empty(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.sub(self, other)

    def __rsub__(self, other):
        return ops.sub(other, self)

    def __mul__(self, other):
        return ops.mul(self, other)

    def __rmul__(self, other):
        return ops.mul(other, self)

    def __truediv__(self, other):
        return ops.div(self, other)

    def __rtruediv__(self, other):
        return ops.div(other, self)

    def __floordiv__(self, other):
        return ops.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return ops.floor_divide(other, self)

    def __mod__(self, other):
        return ops.remainder(self, other)

    def __rmod__(self, other):
        return ops.remainder(other, self)

    def __pow__(self, other):
        return ops.pow(self, other)

    def __rpow__(self, other):
        return ops.pow(other, self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __neg__(self):
        return ops.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return ops.abs(self)

    def __invert__(self):
        return ops.bitwise_not(self)

    def __and__(self, other):
        return ops.bitwise_and(self, other)

    __rand__ = __and__

    def __or__(self, other):
        return ops.bitwise_or(self, other)

    __ror__ = __or__

    def __xor__(self, other):
        return ops.bitwise_xor(self, other)

    __rxor__ = __xor__

    def __eq__(self, other):
        return ops.eq(self, other)

    def __ne__(self, other):
        return ops.ne(self, other)

    def __lt__(self, other):
        return ops.lt(self, other)

    def __le__(self, other):
        return ops.le(self, other)

    def __gt__(self, other):
        return ops.gt(self, other)

    def __ge__(self, other):
        return ops.ge(self, other)

    # in-place dunders
    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def __ifloordiv__(self, other):
        return ops.inplace(self, ops.floor_divide, other)

    def __imod__(self, other):
        return ops.inplace(self, ops.remainder, other)

    def __ipow__(self, other):
        return self.pow_(other)

    def __iand__(self, other):
        return ops.inplace(self, ops.bitwise_and, other)

    def __ior__(self, other):
        return ops.inplace(self, ops.bitwise_or, other)

    def __ixor__(self, other):
        return ops.inplace(self, ops.bitwise_xor, other)

    # indexing
    def __getitem__(self, index):
        return ops.getitem(self, index)

    def __setitem__(self, index, value):
        ops.setitem(self, index, value)

    # ------------------------------------------------------------------ in-place fills
    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        if isinstance(value, Tensor):
            if value._data.ndim != 0:
                raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with "
                                   f"{value._data.ndim} dimensions.")
            if _STATE.enabled and value._requires_grad:
                return ops.inplace(self, lambda old, v: ops.add(ops.mul(old, 0), v), value)
            value = value.item()
        ops.check_inplace(self)
        if _STATE.enabled and self._requires_grad:  # a non-leaf: the filled tensor has zero gradient
            return ops.inplace(self, lambda old: ops.mul(old, 0) + value)
        self._data.fill(value)
        self._version[0] += 1
        return self

    def copy_(self, src, non_blocking=False):
        if not isinstance(src, Tensor):
            src = Tensor._make(np.asarray(src))
        if _STATE.enabled and (src._requires_grad or self._requires_grad):
            return ops.inplace(self, lambda old, s: ops.add(ops.mul(old, 0), s.to(old.dtype)), src)
        ops.check_inplace(self)
        try:
            np.copyto(self._data, np.broadcast_to(src._data, self._data.shape), casting="unsafe")
        except ValueError:
            raise RuntimeError(f"copy_: the size of src {list(src.shape)} does not broadcast to the "
                               f"destination {list(self.shape)}") from None
        self._version[0] += 1
        return self

    def _fill_random(self, arr):
        ops.check_inplace(self)
        self._data[...] = arr
        self._version[0] += 1
        return self

    def uniform_(self, a=0.0, b=1.0, *, generator=None):
        from .random import uniform
        return self._fill_random(uniform(generator, a, b, self._data.shape, self._data.dtype))

    def normal_(self, mean=0.0, std=1.0, *, generator=None):
        from .random import normal
        return self._fill_random(normal(generator, mean, std, self._data.shape, self._data.dtype))

    def bernoulli_(self, p=0.5, *, generator=None):
        from .random import rng
        return self._fill_random(rng(generator).random(self._data.shape) < p)

    def exponential_(self, lambd=1.0, *, generator=None):
        from .random import rng
        return self._fill_random(rng(generator).exponential(1.0 / lambd, self._data.shape))

    def random_(self, from_=0, to=None, *, generator=None):
        from .random import rng
        if to is None:
            from_, to = 0, (from_ if from_ else 2 ** 24)
        return self._fill_random(rng(generator).integers(from_, to, self._data.shape))

    def geometric_(self, p, *, generator=None):
        from .random import rng
        return self._fill_random(rng(generator).geometric(p, self._data.shape))

    def where(self, condition, other):
        return ops.where(condition, self, other)

    def apply_(self, fn):
        ops.check_inplace(self)
        flat = self._data.reshape(-1)
        for i in range(flat.size):
            flat[i] = fn(flat[i].item())
        self._version[0] += 1
        return self

    def map_(self, other, fn):
        ops.check_inplace(self)
        b = np.broadcast_to(other._data, self._data.shape)
        it = np.nditer([self._data, b], flags=["refs_ok"], op_flags=[["readwrite"], ["readonly"]])
        for x, y in it:
            x[...] = fn(x.item(), y.item())
        self._version[0] += 1
        return self

    def sum_to_size(self, *size):
        from .ops._util import shape_arg
        from .autograd.engine import sum_to
        shape = shape_arg(size, "sum_to_size")
        return ops.reshape(ops.sum(self, tuple(i for i in range(self.ndim) if i < self.ndim - len(shape) or
                                               (shape[i - self.ndim + len(shape)] == 1 and self.shape[i] != 1)),
                                   keepdim=True), shape) if shape != tuple(self.shape) else self

    def unfold(self, dimension, size, step):
        return ops.unfold_dim(self, dimension, size, step)

    def share_memory_(self):
        return self

    def is_shared(self) -> bool:
        return False

    def pin_memory(self):
        return self

    def is_pinned(self) -> bool:
        return False

    @property
    def is_sparse(self) -> bool:
        return False

    @property
    def is_quantized(self) -> bool:
        return False

    @property
    def is_meta(self) -> bool:
        return False

    @property
    def layout(self):
        return "strided"

    @property
    def names(self):
        return (None,) * self._data.ndim

    # ------------------------------------------------------------------ shape helpers
    @property
    def T(self):
        return ops.permute(self, tuple(range(self._data.ndim - 1, -1, -1)))

    @property
    def mT(self):
        if self._data.ndim < 2:
            raise RuntimeError(f"tensor.mT is only supported on matrices or batches of matrices. "
                               f"Got {self._data.ndim}-D tensor.")
        return ops.transpose(self, -2, -1)

    @property
    def H(self):
        return self.T

    @property
    def mH(self):
        return self.mT


def _init(t, arr):
    t._data = arr
    t._requires_grad = False
    t._grad = None
    t._grad_fn = None
    t._output_nr = 0
    t._version = [0]
    t._base = None
    t._view_fn = None
    t._view_version = 0
    t._hooks = None
    t._retains_grad = False


def _wrap(arr, ctx=None, nr=0):
    """Wrap an op's output array; with ``ctx`` the tensor becomes that node's output ``nr``."""
    if type(arr) is not np.ndarray:
        arr = np.asarray(arr)
    t = object.__new__(Tensor)
    t._data = arr
    t._grad = None
    t._output_nr = nr
    t._version = [0]
    t._base = None
    t._view_fn = None
    t._view_version = 0
    t._hooks = None
    t._retains_grad = False
    if ctx is None:
        t._requires_grad = False
        t._grad_fn = None
    else:
        t._requires_grad = True
        t._grad_fn = ctx
    return t


from .autograd import function as _function  # noqa: E402

_function.Tensor = Tensor
_function._wrap = _wrap


def _refresh_view(v):
    """Re-derive a stale view's history from its base's current one (PyTorch regenerates the
    ``grad_fn`` of a view after an in-place op on its base or on another view of it)."""
    v._view_version = v._version[0]
    base = v._base
    if not base._requires_grad or not (v._requires_grad or base._grad_fn is not None):
        return
    from .ops.shape import ViewOf
    prev = _STATE.enabled
    _STATE.enabled = True  # the view's history exists whatever the current grad mode
    try:
        r = ViewOf.apply(base, v._data, v._view_fn)
    finally:
        _STATE.enabled = prev
    if r._grad_fn is not None:
        v._grad_fn = r._grad_fn
        v._output_nr = 0
        v._requires_grad = True


def _dim(dim, ndim, op):
    n = builtins.max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {dim})")
    return dim % n


def _root_array(a):
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


class _Storage:
    """Enough of ``torch.UntypedStorage`` to compare storages: ``data_ptr()`` and ``size()``."""

    __slots__ = ("_root",)

    def __init__(self, t):
        self._root = _root_array(t._data)

    def data_ptr(self) -> int:
        return self._root.__array_interface__["data"][0]

    def nbytes(self) -> int:
        return self._root.nbytes

    def size(self) -> int:
        return self._root.size

    def __len__(self):
        return self._root.size


class _DictHandle:
    __slots__ = ("_d", "_k")

    def __init__(self, d, k):
        self._d, self._k = d, k

    def remove(self):
        self._d.pop(self._k, None)


_TYPE_NAMES = {np.dtype(np.float32): "flambeau.FloatTensor", np.dtype(np.float64): "flambeau.DoubleTensor",
               np.dtype(np.float16): "flambeau.HalfTensor", np.dtype(np.int64): "flambeau.LongTensor",
               np.dtype(np.int32): "flambeau.IntTensor", np.dtype(np.int16): "flambeau.ShortTensor",
               np.dtype(np.int8): "flambeau.CharTensor", np.dtype(np.uint8): "flambeau.ByteTensor",
               np.dtype(np.bool_): "flambeau.BoolTensor"}
_TYPE_FROM_NAME = {v.split(".")[-1]: D.from_numpy_dtype(k) for k, v in _TYPE_NAMES.items()}

# The op functions; imported last because they import Tensor from this module.
from . import ops  # noqa: E402
from ._tensor_methods import install as _install  # noqa: E402

_install(Tensor)
