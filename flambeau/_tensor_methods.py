"""The Tensor methods that are op functions with the tensor as first argument.

``x.exp()`` is ``flambeau.exp(x)``; listing them here keeps ``_tensor.py`` free of math and
every method's implementation in one place: the op function of the same name.
"""
from __future__ import annotations

import numpy as np

from . import ops
from .autograd.grad_mode import state as _STATE

# method name -> op function (same name unless given)
_SAME = """
add sub mul div true_divide floor_divide remainder fmod pow neg negative abs absolute exp exp2 log log2
log10 log1p expm1 sqrt rsqrt sin cos tan tanh sigmoid asin acos atan sinh cosh erf reciprocal square
relu sign floor ceil trunc fix round frac clamp clip clamp_min clamp_max maximum minimum fmax fmin lerp
eq ne lt le gt ge greater greater_equal less less_equal not_equal equal logical_and logical_or logical_xor
logical_not bitwise_and bitwise_or bitwise_xor bitwise_not isnan isinf isfinite isclose allclose
nan_to_num clone sum mean nansum prod max min amax amin argmax argmin var std norm logsumexp softmax
log_softmax cumsum cumprod all any count_nonzero median view view_as reshape reshape_as flatten ravel
unflatten permute transpose swapaxes swapdims t movedim moveaxis expand expand_as broadcast_to squeeze
unsqueeze narrow select split chunk tensor_split unbind diagonal repeat tile repeat_interleave flip
fliplr flipud roll tril triu sort argsort topk kthvalue gather scatter scatter_add scatter_reduce index_select take
take_along_dim masked_fill masked_select nonzero argwhere index_add index_fill index_put matmul mm bmm mv
dot inner outer ger addmm diag diag_embed diagflat trace kron cummax cummin logcumsumexp histc histogram bincount unique
unique_consecutive baddbmm addbmm addmv addr dist renorm cross lgamma digamma erfinv erfc logit xlogy
""".split()

_ALIASES = {"subtract": "sub", "multiply": "mul", "divide": "div", "arccos": "acos", "arcsin": "asin",
            "arctan": "atan"}

# in-place method -> out-of-place op whose result is written back into the tensor
_INPLACE = """
floor_divide remainder fmod pow neg abs exp log log1p expm1 sqrt rsqrt sin cos tanh sigmoid reciprocal
square relu sign floor ceil trunc round clamp clip clamp_min clamp_max lerp masked_fill scatter
scatter_add scatter_reduce index_fill index_add index_put tril triu exp2 log2 log10 erf baddbmm addbmm addmv addr
renorm lgamma digamma erfinv erfc logit xlogy
""".split()

_UFUNCS = {"add_": (np.add, "add"), "sub_": (np.subtract, "sub"), "mul_": (np.multiply, "mul"),
           "div_": (np.true_divide, "div")}


def _method(fn):
    def m(self, *args, **kwargs):
        return fn(self, *args, **kwargs)
    m.__name__ = fn.__name__
    m.__doc__ = fn.__doc__
    return m


def _inplace_method(name, fn):
    def m(self, *args, **kwargs):
        return ops.inplace(self, fn, *args, **kwargs)
    m.__name__ = name
    m.__doc__ = f"In-place ``{fn.__name__}``: writes the result into this tensor and returns it."
    return m


def _ufunc_method(name, ufunc, opname):
    fn = getattr(ops, opname)

    def m(self, other, *, alpha=1, rounding_mode=None):
        if alpha != 1:
            other = ops.mul(other, alpha)
        if rounding_mode is not None:
            return ops.inplace(self, fn, other, rounding_mode=rounding_mode)
        if _STATE.enabled and (self._requires_grad or getattr(other, "_requires_grad", False)):
            return ops.inplace(self, fn, other)
        # nothing to record: one NumPy ufunc writes straight into our memory
        ops.check_inplace(self)
        return ops.ufunc_inplace(self, ufunc, other, name)
    m.__name__ = name
    m.__doc__ = f"In-place ``{opname}``."
    return m


def install(Tensor):
    for name in _SAME:
        if not hasattr(Tensor, name):
            setattr(Tensor, name, _method(getattr(ops, name)))
    for name, target in _ALIASES.items():
        setattr(Tensor, name, _method(getattr(ops, target)))
    for name in _INPLACE:
        setattr(Tensor, name + "_", _inplace_method(name + "_", getattr(ops, name)))
    for name, (uf, opname) in _UFUNCS.items():
        setattr(Tensor, name, _ufunc_method(name, uf, opname))
    # x.polygamma(n) is polygamma(n, x): the tensor is the second argument
    Tensor.polygamma = lambda self, n: ops.polygamma(n, self)
    Tensor.polygamma_ = lambda self, n: ops.inplace(self, lambda t: ops.polygamma(n, t))
