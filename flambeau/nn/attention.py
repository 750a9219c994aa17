"""Attention (``torch.nn.functional``): ``scaled_dot_product_attention`` and
``multi_head_attention_forward``.

Both are composed from differentiable flambeau ops (``matmul``/``bmm``/``baddbmm``, ``softmax``,
``masked_fill``, ``F.linear``, ``F.dropout``), so autograd differentiates them like any other
composite. The semantics are PyTorch 2.x's:

* ``scaled_dot_product_attention``: a boolean ``attn_mask`` marks the positions that *take part*
  (True = keep); a float mask is added to the scores; ``is_causal`` is the upper-left aligned
  lower-triangular mask; ``enable_gqa`` repeats the key/value heads (``repeat_interleave`` on dim
  -3). Like PyTorch's math kernel (``_safe_softmax``), a row whose scores are all -inf gives
  zero weights, not NaN.
* ``multi_head_attention_forward``: PyTorch's reference path of ``nn.MultiheadAttention``
  (sequence-first layout, packed or separate input projections, ``bias_k``/``bias_v``,
  ``add_zero_attn``, key-padding and attention masks where True = masked out). With
  ``need_weights=True`` the weights go through a plain softmax (a fully masked row is NaN, as in
  PyTorch); with ``need_weights=False`` the heads go through ``scaled_dot_product_attention``.
"""
from __future__ import annotations

import contextlib
import enum
import math
import warnings

import numpy as np

from .. import _creation
from .. import _dtype as D
from ..amp import _state as _amp
from .._tensor import Tensor
from ..ops import baddbmm, bmm, cat, matmul, softmax
from . import functional as F

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward", "SDPBackend", "sdpa_kernel"]


class SDPBackend(enum.IntEnum):
    """``torch.nn.attention.SDPBackend``: the kernels PyTorch can pick for attention. flambeau
    has one, the math formulation (MATH)."""
    ERROR = -1
    MATH = 0
    FLASH_ATTENTION = 1
    EFFICIENT_ATTENTION = 2
    CUDNN_ATTENTION = 3
    OVERRIDEABLE = 4


_ALLOWED = [None]       # the backends allowed by the innermost sdpa_kernel() (None: all)


@contextlib.contextmanager
def sdpa_kernel(backends, set_priority=False):
    """``torch.nn.attention.sdpa_kernel``: restrict attention to ``backends`` inside the block.
    flambeau computes attention with the math kernel only, so a set without MATH leaves no
    kernel and attention raises, as PyTorch does when none of the allowed kernels applies."""
    backends = [backends] if isinstance(backends, SDPBackend) else list(backends)
    for b in backends:
        if not isinstance(b, SDPBackend):
            raise AssertionError("Backend must be an instance of SDPBackend")
    previous = _ALLOWED[0]
    _ALLOWED[0] = set(backends)
    try:
        yield
    finally:
        _ALLOWED[0] = previous


# PyTorch's C++ names of the scalar types, as its error messages print them
_CPP_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half", "bfloat16": "c10::BFloat16",
              "int64": "long int", "int32": "int", "int16": "short int", "int8": "signed char",
              "uint8": "unsigned char", "bool": "bool"}


def _cpp_name(dtype):
    name = str(dtype).rsplit(".", 1)[-1]
    return _CPP_NAMES.get(name, name)


def _is_bool(t):
    return t._data.dtype == np.bool_


def _is_float(t):
    return t._data.dtype.kind == "f"


def _neg_inf_where(cond, dtype):
    """A float tensor of ``dtype``: -inf where ``cond`` (a bool Tensor) is True, 0 elsewhere."""
    return _creation.zeros(*cond.shape, dtype=dtype).masked_fill(cond, float("-inf"))


# ---------------------------------------------------------------------------- scaled dot product
def _safe_softmax(scores):
    """Softmax over the last dim, with rows whose entries are all -inf mapped to zeros (PyTorch's
    ``_safe_softmax``). The fully masked rows are set to 0 before the softmax, so neither the value
    nor the gradient sees a NaN; their gradient is zero."""
    full = np.all(np.isneginf(scores._data), axis=-1, keepdims=True)
    if not full.any():
        return softmax(scores, dim=-1)
    m = Tensor._make(full)
    return softmax(scores.masked_fill(m, 0.0), dim=-1).masked_fill(m, 0.0)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """``F.scaled_dot_product_attention``: softmax(Q K^T * scale + bias) V.

    query (N, ..., Hq, L, E), key (N, ..., H, S, E), value (N, ..., H, S, Ev) -> (N, ..., Hq, L, Ev).
    ``attn_mask`` broadcastable to (N, ..., Hq, L, S): bool (True = take part) or float (added).
    ``scale`` defaults to 1 / sqrt(E). ``dropout_p`` > 0 drops attention weights (always: the
    caller passes 0 in eval mode, as with PyTorch).
    """
    if _amp.active:             # autocast: runs in float16
        query, key, value, attn_mask = _amp.lower(query, key, value, attn_mask)
    if _ALLOWED[0] is not None and SDPBackend.MATH not in _ALLOWED[0]:
        raise RuntimeError("No available kernel. Aborting execution. (flambeau computes attention with the "
                           "math kernel only: SDPBackend.MATH)")
    if not (query.dtype == key.dtype == value.dtype):
        raise RuntimeError("Expected query, key, and value to have the same dtype, but got query.dtype: "
                           f"{_cpp_name(query.dtype)} key.dtype: {_cpp_name(key.dtype)} and value.dtype: "
                           f"{_cpp_name(value.dtype)} instead.")
    if not _is_float(query):
        raise RuntimeError(f"scaled_dot_product_attention: expected floating-point query, key and value, got "
                           f"{query.dtype}")
    if attn_mask is not None and not (_is_bool(attn_mask) or attn_mask.dtype == query.dtype):
        raise RuntimeError("Expected attn_mask dtype to be bool or float or to match query dtype, but got "
                           f"attn_mask.dtype: {_cpp_name(attn_mask.dtype)} and  query.dtype: "
                           f"{_cpp_name(query.dtype)} instead.")
    if dropout_p < 0.0 or dropout_p > 1.0:
        raise RuntimeError(f"dropout probability has to be between 0 and 1, but got {dropout_p}")
    if key.dim() < 1 or query.dim() < 1 or key.size(-1) != query.size(-1):
        raise RuntimeError(f"scaled_dot_product_attention: query's last dim ({query.size(-1)}) and key's "
                           f"({key.size(-1)}) must match")
    L, S = query.size(-2) if query.dim() > 1 else 1, key.size(-2) if key.dim() > 1 else 1
    scale_factor = 1.0 / math.sqrt(query.size(-1)) if scale is None else float(scale)

    bias = None
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when "
                               "is_causal=True")
        keep = _creation.ones(L, S, dtype=D.bool_).tril()
        bias = _neg_inf_where(keep.logical_not(), query.dtype)
    elif attn_mask is not None:
        bias = _neg_inf_where(attn_mask.logical_not(), query.dtype) if _is_bool(attn_mask) else attn_mask

    if enable_gqa and query.dim() >= 3 and key.dim() >= 3:
        hq, hk, hv = query.size(-3), key.size(-3), value.size(-3)
        if hq % hk != 0 or hk != hv:
            raise RuntimeError("Number of heads in key and value must divide the number of heads in query")
        if hq != hk:
            key = key.repeat_interleave(hq // hk, -3)
            value = value.repeat_interleave(hq // hv, -3)

    # q and k^T each scaled by sqrt(scale), as PyTorch's math kernel does (negative scales: on q)
    root = math.sqrt(abs(scale_factor))
    q = query * (-root if scale_factor < 0 else root)
    scores = matmul(q, key.transpose(-2, -1) * root)
    if bias is not None:
        try:
            out_shape = np.broadcast_shapes(tuple(scores.shape), tuple(bias.shape))
        except ValueError:
            out_shape = None
        if out_shape != tuple(scores.shape):
            raise RuntimeError(f"scaled_dot_product_attention: attn_mask of shape {list(bias.shape)} does not "
                               f"broadcast to the attention scores' shape {list(scores.shape)}")
        scores = scores + bias
    attn = _safe_softmax(scores)
    if dropout_p > 0.0:
        attn = F.dropout(attn, dropout_p, training=True)
    return matmul(attn, value)


# ---------------------------------------------------------------------------- multi-head attention
def _none_or_dtype(input):
    if input is None:
        return None
    if isinstance(input, Tensor):
        return input.dtype
    raise RuntimeError("input to _none_or_dtype() must be None or torch.Tensor")


def _canonical_mask(mask, mask_name, other_type, other_name, target_type, check_other=True):
    """A bool mask (True = masked out) as a float mask of ``target_type`` (-inf where True); a float
    mask is returned unchanged; other dtypes are an AssertionError (PyTorch's ``_canonical_mask``)."""
    if mask is None:
        return None
    if not _is_bool(mask) and not _is_float(mask):
        raise AssertionError(f"only bool and floating types of {mask_name} are supported")
    if check_other and other_type is not None and mask.dtype != other_type:
        warnings.warn(f"Support for mismatched {mask_name} and {other_name} is deprecated. Use same type for "
                      "both instead.", stacklevel=2)
    if _is_bool(mask):
        return _neg_inf_where(mask, target_type)
    return mask


def _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads):
    """Whether the input is batched (3-D query) or not (2-D); AssertionErrors as PyTorch's."""
    if query.dim() == 3:
        if key.dim() != 3 or value.dim() != 3:
            raise AssertionError("For batched (3-D) `query`, expected `key` and `value` to be 3-D but found "
                                 f"{key.dim()}-D and {value.dim()}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.dim() != 2:
            raise AssertionError("For batched (3-D) `query`, expected `key_padding_mask` to be `None` or 2-D but "
                                 f"found {key_padding_mask.dim()}-D tensor instead")
        if attn_mask is not None and attn_mask.dim() not in (2, 3):
            raise AssertionError("For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D but "
                                 f"found {attn_mask.dim()}-D tensor instead")
        return True
    if query.dim() == 2:
        if key.dim() != 2 or value.dim() != 2:
            raise AssertionError("For unbatched (2-D) `query`, expected `key` and `value` to be 2-D but found "
                                 f"{key.dim()}-D and {value.dim()}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.dim() != 1:
            raise AssertionError("For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` or 1-D "
                                 f"but found {key_padding_mask.dim()}-D tensor instead")
        if attn_mask is not None:
            if attn_mask.dim() not in (2, 3):
                raise AssertionError("For unbatched (2-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D "
                                     f"but found {attn_mask.dim()}-D tensor instead")
            if attn_mask.dim() == 3:
                expected = (num_heads, query.shape[0], key.shape[0])
                if tuple(attn_mask.shape) != expected:
                    raise AssertionError(f"Expected `attn_mask` shape to be {expected} but got "
                                         f"{attn_mask.shape}")
        return False
    raise AssertionError(f"query should be unbatched 2D or batched 3D tensor but received {query.dim()}-D query "
                         "tensor")


def _in_projection_packed(q, k, v, w, b=None):
    """q, k, v projected by the packed (3E, E) weight ``w`` (rows: q, k, v) and bias ``b``."""
    E = q.size(-1)
    if k is v:
        if q is k:                                  # self-attention: one matmul
            return tuple(F.linear(q, w, b).chunk(3, -1))
        w_q, w_kv = w.split([E, E * 2])
        b_q, b_kv = (None, None) if b is None else b.split([E, E * 2])
        k_proj, v_proj = F.linear(k, w_kv, b_kv).chunk(2, -1)
        return F.linear(q, w_q, b_q), k_proj, v_proj
    w_q, w_k, w_v = w.chunk(3)
    b_q, b_k, b_v = (None, None, None) if b is None else b.chunk(3)
    return F.linear(q, w_q, b_q), F.linear(k, w_k, b_k), F.linear(v, w_v, b_v)


def _in_projection(q, k, v, w_q, w_k, w_v, b_q=None, b_k=None, b_v=None):
    Eq, Ek, Ev = q.size(-1), k.size(-1), v.size(-1)
    checks = [(w_q, (Eq, Eq), "query weights"), (w_k, (Eq, Ek), "key weights"), (w_v, (Eq, Ev), "value weights"),
              (b_q, (Eq,), "query bias"), (b_k, (Eq,), "key bias"), (b_v, (Eq,), "value bias")]
    for t, shape, what in checks:
        if t is not None and tuple(t.shape) != shape:
            raise AssertionError(f"expecting {what} shape of {shape}, but got {tuple(t.shape)}")
    return F.linear(q, w_q, b_q), F.linear(k, w_k, b_k), F.linear(v, w_v, b_v)


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias,
                                 bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias,
                                 training=True, key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
                                 v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """``F.multi_head_attention_forward``: the computation of ``nn.MultiheadAttention``.

    query (L, N, E) or (L, E); key (S, N, Ek) / value (S, N, Ev) or unbatched. ``key_padding_mask``
    (N, S) or (S): True (or -inf) = ignore that key. ``attn_mask`` (L, S) or (N * num_heads, L, S):
    True = not allowed to attend; float = added. Returns (attn_output (L, N, E), weights): weights
    (N, L, S) averaged over heads, or (N, num_heads, L, S), or None when ``need_weights`` is False.
    """
    is_batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not is_batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)

    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]

    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", _none_or_dtype(attn_mask),
                                       "attn_mask", query.dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                           "method `generate_square_subsequent_mask` to create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        # the mask is dropped in favour of scaled_dot_product_attention's own causal mask
        attn_mask = None
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype, check_other=False)
        if key_padding_mask is not None:
            is_causal = False

    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise AssertionError(f"key's sequence and batch dims {tuple(key.shape[:2])} do not match value's "
                                 f"{tuple(value.shape[:2])}")
    elif tuple(key.shape) != tuple(value.shape):
        raise AssertionError(f"key shape {key.shape} does not match value shape {value.shape}")

    # input projections
    if not use_separate_proj_weight:
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        q, k, v = _in_projection_packed(query, key, value, in_proj_weight, in_proj_bias)
    else:
        for w, name in ((q_proj_weight, "q_proj_weight"), (k_proj_weight, "k_proj_weight"),
                        (v_proj_weight, "v_proj_weight")):
            if w is None:
                raise AssertionError(f"use_separate_proj_weight is True but {name} is None")
        b_q, b_k, b_v = (None, None, None) if in_proj_bias is None else in_proj_bias.chunk(3)
        q, k, v = _in_projection(query, key, value, q_proj_weight, k_proj_weight, v_proj_weight, b_q, b_k, b_v)

    # attention mask shape
    if attn_mask is not None:
        if attn_mask.dim() == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(f"The shape of the 2D attn_mask is {attn_mask.shape}, but should be "
                                   f"{(tgt_len, src_len)}.")
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.dim() == 3:
            if tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
                raise RuntimeError(f"The shape of the 3D attn_mask is {attn_mask.shape}, but should be "
                                   f"{(bsz * num_heads, tgt_len, src_len)}.")
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.dim()} is not supported")

    # bias_k / bias_v: one more key/value position
    if bias_k is not None and bias_v is not None:
        if static_k is not None:
            raise AssertionError("bias cannot be added to static key.")
        if static_v is not None:
            raise AssertionError("bias cannot be added to static value.")
        k = cat([k, bias_k.repeat(1, bsz, 1)])
        v = cat([v, bias_v.repeat(1, bsz, 1)])
        if attn_mask is not None:
            attn_mask = F.pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = F.pad(key_padding_mask, (0, 1))
    elif bias_k is not None:
        raise AssertionError("bias_k is set but bias_v is None")
    elif bias_v is not None:
        raise AssertionError("bias_v is set but bias_k is None")

    # (seq, batch, E) -> (batch * heads, seq, head_dim)
    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)

    def heads(t, static, name):
        if static is None:
            return t.reshape(t.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
        if static.size(0) != bsz * num_heads:
            raise AssertionError(f"expecting {name}.size(0) of {bsz * num_heads}, but got {static.size(0)}")
        if static.size(2) != head_dim:
            raise AssertionError(f"expecting {name}.size(2) of {head_dim}, but got {static.size(2)}")
        return static
    k = heads(k, static_k, "static_k")
    v = heads(v, static_v, "static_v")

    # add_zero_attn: one more all-zero key/value position
    if add_zero_attn:
        zshape = (bsz * num_heads, 1, head_dim)
        k = cat([k, _creation.zeros(*zshape, dtype=k.dtype)], dim=1)
        v = cat([v, _creation.zeros(*zshape, dtype=v.dtype)], dim=1)
        if attn_mask is not None:
            attn_mask = F.pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = F.pad(key_padding_mask, (0, 1))

    src_len = k.size(1)

    # merge the key padding mask into the attention mask
    if key_padding_mask is not None:
        if key_padding_mask.shape[0] != bsz:
            raise AssertionError(f"Expected key_padded_mask.shape[0] to be {bsz}, but got "
                                 f"{key_padding_mask.shape[0]}")
        if key_padding_mask.shape[1] != src_len:
            raise AssertionError(f"Expected key_padded_mask.shape[1] to be {src_len}, but got "
                                 f"{key_padding_mask.shape[1]}")
        key_padding_mask = (key_padding_mask.reshape(bsz, 1, 1, src_len).expand(-1, num_heads, -1, -1)
                            .reshape(bsz * num_heads, 1, src_len))
        attn_mask = key_padding_mask if attn_mask is None else attn_mask + key_padding_mask

    if not training:
        dropout_p = 0.0

    if need_weights:
        E = q.shape[-1]
        q_scaled = q * math.sqrt(1.0 / float(E))
        if is_causal and attn_mask is None:
            raise AssertionError("FIXME: is_causal not implemented for need_weights")
        if attn_mask is not None:
            weights = baddbmm(attn_mask, q_scaled, k.transpose(-2, -1))
        else:
            weights = bmm(q_scaled, k.transpose(-2, -1))
        with np.errstate(invalid="ignore"):         # a fully masked row is NaN, as in PyTorch
            weights = softmax(weights, dim=-1)
        if dropout_p > 0.0:
            weights = F.dropout(weights, p=dropout_p)
        attn_output = bmm(weights, v)
        attn_output = attn_output.transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
        attn_output = F.linear(attn_output, out_proj_weight, out_proj_bias)
        attn_output = attn_output.reshape(tgt_len, bsz, attn_output.size(1))
        weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            weights = weights.mean(dim=1)
        if not is_batched:
            attn_output = attn_output.squeeze(1)
            weights = weights.squeeze(0)
        return attn_output, weights

    if attn_mask is not None:
        if attn_mask.size(0) == 1 and attn_mask.dim() == 3:
            attn_mask = attn_mask.unsqueeze(0)
        else:
            attn_mask = attn_mask.reshape(bsz, num_heads, -1, src_len)
    q = q.reshape(bsz, num_heads, tgt_len, head_dim)
    k = k.reshape(bsz, num_heads, src_len, head_dim)
    v = v.reshape(bsz, num_heads, src_len, head_dim)
    attn_output = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    attn_output = attn_output.permute(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim)
    attn_output = F.linear(attn_output, out_proj_weight, out_proj_bias)
    attn_output = attn_output.reshape(tgt_len, bsz, attn_output.size(1))
    if not is_batched:
        attn_output = attn_output.squeeze(1)
    return attn_output, None
