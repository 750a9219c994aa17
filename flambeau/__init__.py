"""flambeau: a deep-learning framework on NumPy with PyTorch's API.

``import flambeau as torch`` gives tensors with reverse-mode autograd, ``nn``, ``optim``,
``utils.data`` and ``vision`` (torchvision's role).
"""
from __future__ import annotations

__version__ = "0.1.0"

from ._malloc import retain_freed_memory as _retain_freed_memory
_retain_freed_memory()   # reuse freed memory across training steps (see flambeau/_malloc.py)

from ._dtype import (dtype, float32, float64, float16, int64, int32, int16, int8, uint8,  # noqa: F401
                     float, double, half, long, int, short, get_default_dtype, set_default_dtype,
                     promote_types, result_type as _result_type)
from ._dtype import bool_ as bool  # noqa: F401,A001  (torch.bool)
from .backend import device  # noqa: F401
from ._tensor import Tensor, Size  # noqa: F401
from ._tensor_str import set_printoptions  # noqa: F401
from ._creation import (tensor, as_tensor, asarray, from_numpy, zeros, ones, empty, full,  # noqa: F401
                        zeros_like, ones_like, empty_like, full_like, eye, arange, linspace, logspace, rand,
                        randn, randint, randperm, rand_like, randn_like, randint_like, normal, bernoulli,
                        multinomial, poisson, FloatTensor, DoubleTensor, HalfTensor, LongTensor,
                        IntTensor, ShortTensor, CharTensor, ByteTensor, BoolTensor)
from .random import Generator, manual_seed, seed, initial_seed, get_rng_state, set_rng_state  # noqa: F401
from .random import default_generator  # noqa: F401
from .autograd import no_grad, enable_grad, set_grad_enabled, inference_mode, is_grad_enabled  # noqa: F401
from .autograd.anomaly_mode import is_anomaly_enabled, is_anomaly_check_nan_enabled  # noqa: F401,E402
from .ops import (  # noqa: F401
    add, sub, subtract, mul, multiply, div, divide, true_divide, floor_divide, remainder, fmod, pow, neg,
    negative, abs, absolute, exp, exp2, log, log2, log10, log1p, expm1, sqrt, rsqrt, sin, cos, tan, tanh,
    sigmoid, asin, acos, atan, arcsin, arccos, arctan, sinh, cosh, erf, reciprocal, square, relu, sign,
    floor, ceil, trunc, fix, round, frac, clamp, clip, clamp_min, clamp_max, maximum, minimum, fmax, fmin,
    where, lerp, eq, ne, lt, le, gt, ge, greater, greater_equal, less, less_equal, not_equal, equal,
    logical_and, logical_or, logical_xor, logical_not, bitwise_and, bitwise_or, bitwise_xor, bitwise_not,
    isnan, isinf, isfinite, isclose, allclose, nan_to_num, clone,
    sum, mean, nansum, prod, max, min, amax, amin, argmax, argmin, var, std, var_mean, std_mean, norm,
    logsumexp, softmax, log_softmax, cumsum, cumprod, all, any, count_nonzero, median,
    reshape, flatten, ravel, unflatten, permute, transpose, swapaxes, swapdims, t, movedim, moveaxis,
    broadcast_to, broadcast_tensors, squeeze, unsqueeze, narrow, select, split, chunk, tensor_split, unbind,
    diagonal, cat, concat, concatenate, stack, hstack, vstack, repeat_interleave, tile, flip, fliplr, flipud,
    roll, tril, triu, sort, argsort, topk, kthvalue,
    gather, scatter, scatter_add, scatter_reduce, index_select, take, take_along_dim, masked_fill, masked_select, nonzero,
    argwhere, index_add, index_fill, index_put,
    matmul, mm, bmm, mv, dot, inner, vdot, outer, ger, addmm, einsum, tensordot,
    diag, diag_embed, diagflat, trace, tril_indices, triu_indices, kron, cdist, cartesian_prod, block_diag,
    cummax, cummin, logcumsumexp, histc, histogram, bincount, bucketize, searchsorted, unique, unique_consecutive,
    meshgrid, vander, atleast_1d, atleast_2d, atleast_3d, baddbmm, addbmm, addmv, addr, chain_matmul,
    cosine_similarity, pdist, dist, renorm, cross, lgamma, digamma, polygamma, erfinv, erfc, logit, xlogy,
    ctc_loss,
)
from .serialization import save, load  # noqa: F401
from . import autograd, backends, cuda, accelerator, mps, ops  # noqa: F401,E402
from . import linalg  # noqa: E402  (torch.linalg)
from .linalg import TOPLEVEL as _LINALG_TOPLEVEL  # noqa: E402
globals().update(_LINALG_TOPLEVEL)         # torch.det, torch.inverse, torch.svd, torch.logdet ...
linalg.install_methods(Tensor)
from . import nn, optim, utils  # noqa: F401,E402  (torch.nn, torch.optim, torch.utils after `import torch`)
from . import multiprocessing  # noqa: F401,E402
from . import profiler  # noqa: F401,E402  (torch.profiler)
from . import onnx  # noqa: F401,E402  (torch.onnx; the onnx package itself is imported only by export)
from . import distributions  # noqa: F401,E402  (torch.distributions)
from . import special, testing, func  # noqa: F401,E402  (torch.special, torch.testing, torch.func)
from .func import vmap  # noqa: F401,E402  (torch.vmap)
from .autograd import profiler as _autograd_profiler  # noqa: F401,E402  (torch.autograd.profiler)

is_tensor = lambda obj: isinstance(obj, Tensor)  # noqa: E731


def is_floating_point(input) -> bool:
    return input.is_floating_point()


def numel(input) -> int:
    return input.numel()


def result_type(tensor1, tensor2):
    return _result_type(tensor1, tensor2)


def is_grad_enabled_():  # pragma: no cover - kept private
    return is_grad_enabled()


def set_default_device(device_):
    from .backend import check_device
    check_device(device_)


from ._threads import get_num_threads, set_num_threads  # noqa: E402


def use_deterministic_algorithms(mode, *, warn_only=False) -> None:
    """Accepted for compatibility: every flambeau op is deterministic."""


_FLOAT32_MATMUL_PRECISION = ["highest"]


def set_float32_matmul_precision(precision) -> None:
    """``torch.set_float32_matmul_precision``: 'highest', 'high' or 'medium' allow PyTorch to use
    faster, less precise float32 products on hardware that has them (TF32, bfloat16 passes).
    NumPy's BLAS computes every float32 product in full float32 precision, whatever the setting."""
    if precision not in ("highest", "high", "medium"):
        import warnings
        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
                      "set_float32_matmul_precision call has no effect.", UserWarning, stacklevel=2)
        return
    _FLOAT32_MATMUL_PRECISION[0] = precision


def get_float32_matmul_precision() -> str:
    return _FLOAT32_MATMUL_PRECISION[0]


def compile(model=None, **kwargs):
    """``torch.compile``: flambeau runs eagerly; the model is returned unchanged."""
    if model is None:
        return lambda m: m
    return model


def _inplace_function(name):
    def fn(input, *args, **kwargs):
        return getattr(input, name)(*args, **kwargs)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``torch.{name}(input, ...)``: ``input.{name}(...)``, in place."
    return fn


# torch.relu_(x), torch.sigmoid_(x) ...: the functional spelling of the in-place Tensor methods
for _name in ("abs_", "addmv_", "ceil_", "clamp_", "clamp_max_", "clamp_min_", "clip_", "cos_", "detach_", "erf_",
              "erfc_", "exp2_", "exp_", "expm1_", "fill_", "floor_", "index_put_", "log10_", "log1p_", "log2_",
              "log_", "logit_", "neg_", "reciprocal_", "relu_", "round_", "rsqrt_", "sigmoid_", "sin_", "sqrt_",
              "square_", "tanh_", "trunc_", "xlogy_", "zero_"):
    globals()[_name] = _inplace_function(_name)
del _name


# ---------------------------------------------------------------------------- mixed precision (torch.amp)
from . import amp, cpu  # noqa: F401,E402  (torch.amp, torch.cpu)
from .cuda import amp as _cuda_amp  # noqa: F401,E402  (torch.cuda.amp)
from .amp.autocast_mode import (  # noqa: F401,E402
    autocast, is_autocast_enabled, set_autocast_enabled, get_autocast_dtype, set_autocast_dtype,
    is_autocast_cpu_enabled, set_autocast_cpu_enabled, get_autocast_cpu_dtype, set_autocast_cpu_dtype,
    get_autocast_gpu_dtype, set_autocast_gpu_dtype, is_autocast_cache_enabled, set_autocast_cache_enabled,
    clear_autocast_cache, autocast_increment_nesting, autocast_decrement_nesting)


def __getattr__(name):
    if name == "bfloat16":
        raise AttributeError("module 'flambeau' has no attribute 'bfloat16': flambeau has no bfloat16 dtype. "
                             "Mixed precision runs in float16: torch.autocast('cpu', dtype=torch.float16).")
    raise AttributeError(f"module 'flambeau' has no attribute {name!r}")
