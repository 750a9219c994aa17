"""scaled_dot_product_attention, nn.MultiheadAttention and the Transformer layers against torch.

The modules are built in torch, their state dict is copied into the flambeau module, and both run
in eval mode (or with dropout 0) so that they are deterministic: the outputs, the attention
weights and the gradients of every input and every parameter are compared (float64 at
rtol=1e-10/atol=1e-12; float32 at rtol=1e-5/atol=1e-6 except where stated). Torch's inference
fast paths (``torch._native_multi_head_attention``, nested tensors) are not taken when
gradients are required, so torch runs its reference path here, as flambeau always does; the
``no_grad`` comparisons below use the fast path and say so.
"""
from __future__ import annotations

import math
import types
import warnings

import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn.functional as FF
from flambeau.nn.attention import multi_head_attention_forward, scaled_dot_product_attention
from flambeau.nn.modules import transformer as T
from flambeau.nn.modules.transformer import (
    MultiheadAttention, Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
    TransformerEncoderLayer)
from helpers import check, gradcheck

# flambeau's nn as the tests see it: the new classes next to the existing ones
FNN = types.SimpleNamespace(**{n: getattr(flambeau.nn, n) for n in dir(flambeau.nn) if not n.startswith("_")})
for _n in T.__all__:
    setattr(FNN, _n, getattr(T, _n))

TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-6)}
TDT = {np.float64: torch.float64, np.float32: torch.float32}
FDT = {np.float64: flambeau.float64, np.float32: flambeau.float32}
DTYPES = [np.float64, np.float32]

# a float attn_mask with a bool key_padding_mask warns in both libraries (see
# test_mismatched_mask_types_warn_like_torch); the comparisons mix them on purpose
pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched:UserWarning")


def _sdpa(lib):
    return torch.nn.functional.scaled_dot_product_attention if lib is torch else scaled_dot_product_attention


def _rand(*shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _np(t):
    return t.detach().numpy()


def _copy_state(tm, fm):
    fm.load_state_dict({k: flambeau.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})


def _close(a, e, what, tol):
    a, e = _np(a), _np(e)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != torch's {e.shape}"
    assert a.dtype == e.dtype, f"{what}: dtype {a.dtype} != torch's {e.dtype}"
    np.testing.assert_allclose(a, e, err_msg=what, equal_nan=True, **tol)


def compare(ctor, call, inputs, masks=None, dtype=np.float64, seed=0, train=False, tol=None, grad=True):
    """Build ``ctor(nn, F)`` in torch, copy its state into flambeau's, run ``call(module, *inputs,
    **masks)`` on both and compare outputs, then the gradients of the inputs and of every
    parameter after backpropagating the same random upstream gradient (outputs holding NaN are
    compared but not backpropagated). Returns (torch module, flambeau module, flambeau outputs)."""
    tol = tol or TOL[dtype]
    torch.manual_seed(seed)
    tm = ctor(torch.nn, torch.nn.functional).to(TDT[dtype])
    fm = ctor(FNN, FF).to(FDT[dtype])
    _copy_state(tm, fm)
    tm.train(train)
    fm.train(train)
    t_in = [torch.tensor(a.astype(dtype), requires_grad=True) for a in inputs]
    f_in = [flambeau.tensor(a.astype(dtype), requires_grad=True) for a in inputs]
    t_kw, f_kw = {}, {}
    for k, v in (masks or {}).items():
        if isinstance(v, np.ndarray):
            v = v if v.dtype == np.bool_ else v.astype(dtype)
            t_kw[k], f_kw[k] = torch.tensor(v), flambeau.tensor(v)
        else:
            t_kw[k] = f_kw[k] = v
    out_t, out_f = call(tm, *t_in, **t_kw), call(fm, *f_in, **f_kw)
    outs_t = list(out_t) if isinstance(out_t, tuple) else [out_t]
    outs_f = list(out_f) if isinstance(out_f, tuple) else [out_f]
    assert len(outs_t) == len(outs_f)
    diff_t, diff_f, gs = [], [], []
    rng = np.random.default_rng(seed + 1)
    for i, (ot, of) in enumerate(zip(outs_t, outs_f)):
        if ot is None:
            assert of is None, f"output {i}: torch gives None, flambeau {type(of)}"
            continue
        _close(of, ot, f"output {i}", tol)
        if not np.isnan(_np(ot)).any():
            diff_t.append(ot)
            diff_f.append(of)
            gs.append(rng.standard_normal(tuple(ot.shape)).astype(dtype))
    if not grad:
        return tm, fm, outs_f
    assert diff_t, "nothing to backpropagate"
    torch.autograd.backward(diff_t, [torch.tensor(g) for g in gs])
    flambeau.autograd.backward(diff_f, [flambeau.tensor(g) for g in gs])
    for i, (a, b) in enumerate(zip(f_in, t_in)):
        assert a.grad is not None, f"input {i}: no gradient"
        _close(a.grad, b.grad, f"grad of input {i}", tol)
    tp, fp = dict(tm.named_parameters()), dict(fm.named_parameters())
    assert list(tp) == list(fp)
    for name, p in tp.items():
        if p.grad is None:
            assert fp[name].grad is None or not _np(fp[name].grad).any(), f"{name}: flambeau has a gradient"
            continue
        assert fp[name].grad is not None, f"{name}: no gradient (torch has one)"
        _close(fp[name].grad, p.grad, f"grad of {name}", tol)
    return tm, fm, outs_f


# ============================================================================ SDPA
SDPA_CASES = {
    "plain": lambda: {},
    "bool_mask": lambda: {"attn_mask": np.random.default_rng(3).random((5, 6)) > 0.3},
    "bool_mask_bcast": lambda: {"attn_mask": np.random.default_rng(3).random((2, 1, 5, 6)) > 0.3},
    "float_mask": lambda: {"attn_mask": np.random.default_rng(4).standard_normal((3, 5, 6))},
    "causal": lambda: {"is_causal": True},
    "scale": lambda: {"scale": 0.37},
    "neg_scale": lambda: {"scale": -0.5},
}


def _sdpa_fn(kw, dtype):
    def fn(lib, q, k, v):
        kw2 = dict(kw)
        m = kw2.get("attn_mask")
        if m is not None:
            kw2["attn_mask"] = lib.tensor(m if m.dtype == np.bool_ else m.astype(dtype))
        return _sdpa(lib)(q, k, v, **kw2)
    return fn


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(SDPA_CASES))
def test_sdpa_batched(case, dtype):
    kw = SDPA_CASES[case]()
    q, k, v = _rand(2, 3, 5, 4, dtype=dtype, seed=0), _rand(2, 3, 6, 4, dtype=dtype, seed=1), \
        _rand(2, 3, 6, 7, dtype=dtype, seed=2)
    check(_sdpa_fn(kw, dtype), q, k, v)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["plain", "bool_mask", "float_mask", "causal", "scale"])
def test_sdpa_unbatched(case, dtype):
    """(H, L, E) and (L, E) inputs: no batch dimension."""
    kw = SDPA_CASES[case]()
    if case == "float_mask":
        kw["attn_mask"] = kw["attn_mask"][0]
    fn = _sdpa_fn(kw, dtype)
    check(fn, _rand(3, 5, 4, dtype=dtype), _rand(3, 6, 4, dtype=dtype, seed=1), _rand(3, 6, 2, dtype=dtype, seed=2))
    check(fn, _rand(5, 4, dtype=dtype), _rand(6, 4, dtype=dtype, seed=1), _rand(6, 2, dtype=dtype, seed=2))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("masked", [False, True])
def test_sdpa_gqa(dtype, masked):
    """enable_gqa: 6 query heads share 2 key/value heads (each repeated 3 times)."""
    mask = np.random.default_rng(5).random((5, 6)) > 0.4
    kw = {"enable_gqa": True, **({"attn_mask": mask} if masked else {})}
    check(_sdpa_fn(kw, dtype), _rand(2, 6, 5, 4, dtype=dtype), _rand(2, 2, 6, 4, dtype=dtype, seed=1),
          _rand(2, 2, 6, 3, dtype=dtype, seed=2))


def test_sdpa_gqa_is_repeat_interleave():
    q, k, v = _rand(1, 4, 3, 2), _rand(1, 2, 5, 2, seed=1), _rand(1, 2, 5, 2, seed=2)
    fq, fk, fv = (flambeau.tensor(a) for a in (q, k, v))
    a = scaled_dot_product_attention(fq, fk, fv, enable_gqa=True)
    b = scaled_dot_product_attention(fq, fk.repeat_interleave(2, 1), fv.repeat_interleave(2, 1))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    # head 0 and 1 of q use kv head 0, not kv head 1
    c = scaled_dot_product_attention(fq[:, 1:2], fk[:, 0:1], fv[:, 0:1])
    np.testing.assert_allclose(a.numpy()[:, 1:2], c.numpy(), rtol=1e-12)


def test_sdpa_causal_equals_tril_mask_and_rectangular():
    """is_causal is the upper-left aligned lower triangle, also when L != S."""
    q, k, v = _rand(2, 4, 3), _rand(2, 6, 3, seed=1), _rand(2, 6, 5, seed=2)
    fq, fk, fv = (flambeau.tensor(a) for a in (q, k, v))
    a = scaled_dot_product_attention(fq, fk, fv, is_causal=True)
    b = scaled_dot_product_attention(fq, fk, fv, attn_mask=flambeau.tensor(np.tril(np.ones((4, 6), bool))))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    t = torch.nn.functional.scaled_dot_product_attention(*(torch.tensor(x) for x in (q, k, v)), is_causal=True)
    np.testing.assert_allclose(a.numpy(), t.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sdpa_fully_masked_row_is_zero(dtype):
    """A query that may attend to nothing gets a zero output and zero gradients (torch's
    _safe_softmax), with a bool and with a -inf float mask."""
    m = np.ones((5, 6), bool)
    m[2] = False
    fmask = np.where(m, 0.0, -np.inf)
    q, k, v = _rand(2, 5, 4, dtype=dtype), _rand(2, 6, 4, dtype=dtype, seed=1), _rand(2, 6, 3, dtype=dtype, seed=2)
    for mask in (m, fmask):
        out = check(_sdpa_fn({"attn_mask": mask}, dtype), q, k, v)
        assert not np.isnan(out.detach().numpy()).any()
        assert not out.detach().numpy()[:, 2].any()


def test_sdpa_gradcheck():
    mask = np.random.default_rng(1).standard_normal((4, 5))
    assert gradcheck(lambda lib, q, k, v: _sdpa(lib)(q, k, v, attn_mask=lib.tensor(mask)),
                     _rand(2, 4, 3), _rand(2, 5, 3, seed=1), _rand(2, 5, 2, seed=2))


def test_sdpa_dropout_seeded():
    """dropout_p: reproducible under flambeau.manual_seed; each weight is dropped or scaled by
    1 / (1 - p). With V = I the output *is* the (dropped) attention matrix."""
    q, k = flambeau.tensor(_rand(2, 3, 8, 4)), flambeau.tensor(_rand(2, 3, 8, 4, seed=1))
    eye = flambeau.tensor(np.broadcast_to(np.eye(8), (2, 3, 8, 8)).copy())
    w = scaled_dot_product_attention(q, k, eye).numpy()
    flambeau.manual_seed(7)
    a = scaled_dot_product_attention(q, k, eye, dropout_p=0.4).numpy()
    flambeau.manual_seed(7)
    b = scaled_dot_product_attention(q, k, eye, dropout_p=0.4).numpy()
    c = scaled_dot_product_attention(q, k, eye, dropout_p=0.4).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    kept = a != 0
    assert 0.4 < kept.mean() < 0.8
    np.testing.assert_allclose(a[kept], w[kept] / 0.6, rtol=1e-12)
    np.testing.assert_array_equal(scaled_dot_product_attention(q, k, eye, dropout_p=1.0).numpy(), 0)


def test_sdpa_errors_match_torch():
    cases = [
        lambda lib: _sdpa(lib)(lib.ones(2, 3), lib.ones(2, 3), lib.ones(2, 3), attn_mask=lib.ones(2, 2).bool(),
                               is_causal=True),
        lambda lib: _sdpa(lib)(lib.ones(1, 4, 3, 2), lib.ones(1, 3, 3, 2), lib.ones(1, 3, 3, 2), enable_gqa=True),
        lambda lib: _sdpa(lib)(lib.ones(2, 3), lib.ones(2, 3, dtype=lib.float64), lib.ones(2, 3)),
        lambda lib: _sdpa(lib)(lib.ones(2, 3), lib.ones(2, 3), lib.ones(2, 3),
                               attn_mask=lib.zeros(2, 2, dtype=lib.int64)),
        lambda lib: _sdpa(lib)(lib.ones(2, 3), lib.ones(2, 3), lib.ones(2, 3), dropout_p=1.5),
    ]
    for fn in cases:
        with pytest.raises(RuntimeError) as et:
            fn(torch)
        with pytest.raises(RuntimeError) as ef:
            fn(flambeau)
        # torch cuts the GQA message short ("... the number of heads in "): a prefix of ours
        assert str(ef.value).startswith(str(et.value).split("\n")[0].strip()), (str(ef.value), str(et.value))


# ============================================================================ MultiheadAttention
def _mha(**kw):
    return lambda nn, F: nn.MultiheadAttention(8, 2, **kw)


def _self_call(**kw):
    return lambda m, x, **mk: m(x, x, x, **kw, **mk)


def _cross_call(**kw):
    return lambda m, q, k, v, **mk: m(q, k, v, **kw, **mk)


def _kpm(n, s, seed=0):
    m = np.random.default_rng(seed).random((n, s)) < 0.3
    m[:, 0] = False                         # every query keeps at least one key
    return m


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kind", ["self", "kv_same", "cross"])
def test_mha_basic(kind, batch_first, dtype):
    """Self-attention (one packed projection), shared key/value, separate key and value."""
    ctor = _mha(batch_first=batch_first)
    shp = (lambda L: (3, L, 8)) if batch_first else (lambda L: (L, 3, 8))
    if kind == "self":
        compare(ctor, _self_call(), [_rand(*shp(5))], dtype=dtype)
    elif kind == "kv_same":
        compare(ctor, lambda m, q, kv: m(q, kv, kv), [_rand(*shp(5)), _rand(*shp(6), seed=1)], dtype=dtype)
    else:
        compare(ctor, _cross_call(), [_rand(*shp(5)), _rand(*shp(6), seed=1), _rand(*shp(6), seed=2)],
                dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
def test_mha_weights_variants(need_weights, average, dtype):
    _, _, outs = compare(_mha(), _cross_call(need_weights=need_weights, average_attn_weights=average),
                         [_rand(5, 3, 8), _rand(6, 3, 8, seed=1), _rand(6, 3, 8, seed=2)], dtype=dtype)
    if not need_weights:
        assert outs[1] is None
    else:
        assert tuple(outs[1].shape) == ((3, 5, 6) if average else (3, 2, 5, 6))
        np.testing.assert_allclose(outs[1].detach().numpy().sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("mask", ["kpm_bool", "kpm_float", "attn_bool", "attn_float", "attn_3d", "both"])
def test_mha_masks(mask, need_weights, dtype):
    rng = np.random.default_rng(11)
    am_bool = rng.random((5, 6)) < 0.3
    am_bool[:, 0] = False
    masks = {
        "kpm_bool": {"key_padding_mask": _kpm(3, 6)},
        "kpm_float": {"key_padding_mask": np.where(_kpm(3, 6), -np.inf, 0.0)},
        "attn_bool": {"attn_mask": am_bool},
        "attn_float": {"attn_mask": rng.standard_normal((5, 6))},
        "attn_3d": {"attn_mask": rng.standard_normal((3 * 2, 5, 6))},
        "both": {"attn_mask": am_bool, "key_padding_mask": _kpm(3, 6, seed=2)},
    }[mask]
    compare(_mha(), _cross_call(need_weights=need_weights),
            [_rand(5, 3, 8), _rand(6, 3, 8, seed=1), _rand(6, 3, 8, seed=2)], masks, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_kdim_vdim(need_weights, dtype):
    tm, fm, _ = compare(lambda nn, F: nn.MultiheadAttention(8, 4, kdim=5, vdim=3), _cross_call(
        need_weights=need_weights), [_rand(4, 2, 8), _rand(6, 2, 5, seed=1), _rand(6, 2, 3, seed=2)],
        {"key_padding_mask": _kpm(2, 6)}, dtype=dtype)
    assert fm.in_proj_weight is None and tuple(fm.k_proj_weight.shape) == (8, 5)
    assert tuple(fm.v_proj_weight.shape) == (8, 3)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("bias_kv,zero_attn", [(True, False), (False, True), (True, True)])
def test_mha_bias_kv_zero_attn(bias_kv, zero_attn, need_weights, dtype):
    masks = {"key_padding_mask": _kpm(3, 6), "attn_mask": np.random.default_rng(2).standard_normal((5, 6))}
    _, _, outs = compare(_mha(add_bias_kv=bias_kv, add_zero_attn=zero_attn), _cross_call(need_weights=need_weights),
                         [_rand(5, 3, 8), _rand(6, 3, 8, seed=1), _rand(6, 3, 8, seed=2)], masks, dtype=dtype)
    if need_weights:
        assert outs[1].shape[-1] == 6 + bias_kv + zero_attn


@pytest.mark.parametrize("dtype", DTYPES)
def test_mha_no_bias(dtype):
    tm, fm, _ = compare(_mha(bias=False), _self_call(), [_rand(5, 3, 8)], dtype=dtype)
    assert fm.in_proj_bias is None and fm.out_proj.bias is None


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("avg", [True, False])
def test_mha_unbatched(need_weights, avg, dtype):
    masks = {"key_padding_mask": _kpm(1, 6)[0], "attn_mask": np.random.default_rng(1).standard_normal((2, 5, 6))}
    _, _, outs = compare(_mha(batch_first=True, add_bias_kv=True),
                         _cross_call(need_weights=need_weights, average_attn_weights=avg),
                         [_rand(5, 8), _rand(6, 8, seed=1), _rand(6, 8, seed=2)], masks, dtype=dtype)
    assert tuple(outs[0].shape) == (5, 8)
    if need_weights:
        assert tuple(outs[1].shape) == ((5, 7) if avg else (2, 5, 7))


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_is_causal(need_weights):
    """is_causal is a hint: the causal attn_mask must still be given; with need_weights=False and
    no key padding mask the SDPA causal path is used (same result)."""
    causal = np.triu(np.full((5, 5), -np.inf), 1)
    compare(_mha(), _self_call(need_weights=need_weights, is_causal=True), [_rand(5, 3, 8)], {"attn_mask": causal})
    compare(_mha(), _self_call(need_weights=need_weights, is_causal=True), [_rand(5, 3, 8)],
            {"attn_mask": np.triu(np.ones((5, 5), bool), 1), "key_padding_mask": _kpm(3, 5)})


def test_mha_fully_masked():
    """A batch whose keys are all padded: NaN with need_weights=True (plain softmax, as torch),
    zeros through SDPA with need_weights=False."""
    kpm = _kpm(3, 6)
    kpm[1] = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, _, outs = compare(_mha(), _cross_call(), [_rand(5, 3, 8), _rand(6, 3, 8, seed=1), _rand(6, 3, 8, seed=2)],
                             {"key_padding_mask": kpm}, grad=False)
    assert np.isnan(outs[0].detach().numpy()[:, 1]).all()
    compare(_mha(), _cross_call(need_weights=False), [_rand(5, 3, 8), _rand(6, 3, 8, seed=1), _rand(6, 3, 8, seed=2)],
            {"key_padding_mask": kpm})


@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_matches_torch_fast_path_no_grad(batch_first, monkeypatch):
    """Eval mode under no_grad: with batch_first=True torch takes its fused fast path
    (``torch._native_multi_head_attention``: self-attention, even number of heads, no grad), with
    batch_first=False its reference path; flambeau's reference path gives the same values."""
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(8, 2, batch_first=batch_first).double().eval()
    fm = MultiheadAttention(8, 2, batch_first=batch_first).double().eval()
    _copy_state(tm, fm)
    x, kpm = _rand(3, 5, 8) if batch_first else _rand(5, 3, 8), _kpm(3, 5)
    calls = []
    native = torch._native_multi_head_attention
    monkeypatch.setattr(torch, "_native_multi_head_attention", lambda *a, **k: calls.append(1) or native(*a, **k))
    for nw in (True, False):
        with torch.no_grad():
            ot = tm(*(torch.tensor(x),) * 3, key_padding_mask=torch.tensor(kpm), need_weights=nw)
        with flambeau.no_grad():
            xf = flambeau.tensor(x)
            of = fm(xf, xf, xf, key_padding_mask=flambeau.tensor(kpm), need_weights=nw)
        _close(of[0], ot[0], "output", TOL[np.float64])
        if nw:
            _close(of[1], ot[1], "weights", TOL[np.float64])
    assert len(calls) == (2 if batch_first else 0)


def test_mha_functional_direct():
    """multi_head_attention_forward called directly, with separate projection weights."""
    rng = np.random.default_rng(0)
    E, H = 6, 3
    arrays = [rng.standard_normal(s) for s in [(4, 2, E), (5, 2, E), (5, 2, E), (E, E), (E, E), (E, E), (3 * E,),
                                              (E, E), (E,)]]

    def fn(lib, q, k, v, wq, wk, wv, b, wo, bo):
        f = torch.nn.functional.multi_head_attention_forward if lib is torch else multi_head_attention_forward
        return f(q, k, v, E, H, None, b, None, None, False, 0.0, wo, bo, training=False,
                 use_separate_proj_weight=True, q_proj_weight=wq, k_proj_weight=wk, v_proj_weight=wv,
                 average_attn_weights=False)
    check(fn, *arrays)


def test_mha_static_kv():
    rng = np.random.default_rng(0)
    E, H = 4, 2
    arrays = [rng.standard_normal(s) for s in [(3, 2, E), (5, 2, E), (5, 2, E), (3 * E, E), (3 * E,), (E, E), (E,),
                                              (2 * H, 7, E // H), (2 * H, 7, E // H)]]

    def fn(lib, q, k, v, w, b, wo, bo, sk, sv):
        f = torch.nn.functional.multi_head_attention_forward if lib is torch else multi_head_attention_forward
        return f(q, k, v, E, H, w, b, None, None, True, 0.0, wo, bo, training=False, static_k=sk, static_v=sv)
    check(fn, *arrays)


def test_mha_parameters_and_init():
    torch.manual_seed(0)
    m = MultiheadAttention(16, 4, add_bias_kv=True)
    t = torch.nn.MultiheadAttention(16, 4, add_bias_kv=True)
    assert [(n, tuple(p.shape)) for n, p in m.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in t.named_parameters()]
    assert list(m.state_dict()) == list(t.state_dict())
    assert isinstance(m.out_proj, flambeau.nn.Linear)
    assert type(m.out_proj).__name__ == "NonDynamicallyQuantizableLinear"
    bound = math.sqrt(6.0 / (16 + 48))                        # xavier_uniform_ of (48, 16)
    w = m.in_proj_weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert not m.in_proj_bias.detach().numpy().any() and not m.out_proj.bias.detach().numpy().any()
    assert m.bias_k.detach().numpy().std() > 0
    assert m.batch_first is False and m.head_dim == 4 and m._qkv_same_embed_dim
    m2 = MultiheadAttention(16, 4)
    assert m2.bias_k is None and m2.bias_v is None
    assert "bias_k" not in dict(m2.named_parameters())
    m3 = MultiheadAttention(16, 4, kdim=3, vdim=5, dtype=flambeau.float64)
    t3 = torch.nn.MultiheadAttention(16, 4, kdim=3, vdim=5)
    assert list(m3.state_dict()) == list(t3.state_dict())
    assert m3.q_proj_weight.dtype == flambeau.float64


def test_mha_state_dict_into_torch():
    """flambeau's state dict loads into torch's module (the other direction)."""
    fm = MultiheadAttention(8, 2, kdim=4, add_bias_kv=True).double().eval()
    tm = torch.nn.MultiheadAttention(8, 2, kdim=4, add_bias_kv=True).double().eval()
    tm.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in fm.state_dict().items()})
    q, k, v = _rand(3, 2, 8), _rand(4, 2, 4, seed=1), _rand(4, 2, 8, seed=2)
    ot = tm(*(torch.tensor(a) for a in (q, k, v)))
    of = fm(*(flambeau.tensor(a) for a in (q, k, v)))
    _close(of[0], ot[0], "output", TOL[np.float64])
    _close(of[1], ot[1], "weights", TOL[np.float64])


def test_mha_constructor_errors():
    for lib_cls in (torch.nn.MultiheadAttention, MultiheadAttention):
        with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
            lib_cls(10, 3)
        with pytest.raises(ValueError, match="embed_dim and num_heads must be greater than 0"):
            lib_cls(0, 2)
        with pytest.raises(ValueError, match="embed_dim and num_heads must be greater than 0"):
            lib_cls(8, 0)


def test_mha_forward_errors_match_torch():
    torch.manual_seed(0)
    tm, fm = torch.nn.MultiheadAttention(8, 2), MultiheadAttention(8, 2)
    cases = [
        (AssertionError, lambda lib: (lib.ones(5, 3, 6),) * 3, {}),                  # wrong embed_dim
        (AssertionError, lambda lib: (lib.ones(5, 3, 8), lib.ones(5, 3, 8), lib.ones(5, 8)), {}),
        (RuntimeError, lambda lib: (lib.ones(5, 3, 8),) * 3, {"is_causal": True}),   # hint without a mask
        (RuntimeError, lambda lib: (lib.ones(5, 3, 8),) * 3, {"attn_mask": "2d"}),   # wrong mask shape
        (AssertionError, lambda lib: (lib.ones(5, 3, 8),) * 3, {"attn_mask": "int"}),
        (AssertionError, lambda lib: (lib.ones(5, 3, 8),) * 3, {"key_padding_mask": "kpm"}),
        (AssertionError, lambda lib: (lib.ones(4, 5, 3, 8),) * 3, {}),
    ]

    def masks(lib, kw):
        out = dict(kw)
        if kw.get("attn_mask") == "2d":
            out["attn_mask"] = lib.zeros(4, 5)
        if kw.get("attn_mask") == "int":
            out["attn_mask"] = lib.zeros(5, 5, dtype=lib.int64)
        if kw.get("key_padding_mask") == "kpm":
            out["key_padding_mask"] = lib.zeros(3, 4, dtype=lib.bool)
        return out
    for exc, args, kw in cases:
        with pytest.raises(exc) as et:
            tm(*args(torch), **masks(torch, kw))
        with pytest.raises(exc) as ef:
            fm(*args(flambeau), **masks(flambeau, kw))
        assert str(ef.value).replace("flambeau.Size", "torch.Size") == str(et.value)


def test_mismatched_mask_types_warn_like_torch():
    torch.manual_seed(0)
    tm, fm = torch.nn.MultiheadAttention(8, 2), MultiheadAttention(8, 2)
    for lib, m in ((torch, tm), (flambeau, fm)):
        x = lib.ones(5, 3, 8)
        with pytest.warns(UserWarning, match="Support for mismatched key_padding_mask and attn_mask is deprecated"):
            m(x, x, x, attn_mask=lib.zeros(5, 5), key_padding_mask=lib.zeros(3, 5, dtype=lib.bool))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            m(x, x, x, attn_mask=lib.zeros(5, 5, dtype=lib.bool), key_padding_mask=lib.zeros(3, 5, dtype=lib.bool))


def test_mha_dropout_train_seeded():
    """Dropout on the attention weights in train mode: reproducible under flambeau.manual_seed,
    different from eval mode, identical to torch in eval mode."""
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(8, 2, dropout=0.5).double()
    fm = MultiheadAttention(8, 2, dropout=0.5).double()
    _copy_state(tm, fm)
    x = _rand(5, 3, 8)
    xf = flambeau.tensor(x)
    for nw in (True, False):
        flambeau.manual_seed(3)
        a = fm(xf, xf, xf, need_weights=nw)[0].detach().numpy()
        flambeau.manual_seed(3)
        b = fm(xf, xf, xf, need_weights=nw)[0].detach().numpy()
        c = fm(xf, xf, xf, need_weights=nw)[0].detach().numpy()
        np.testing.assert_array_equal(a, b)
        assert not np.allclose(a, c)
    fm.eval()
    tm.eval()
    e = fm(xf, xf, xf)[0].detach().numpy()
    assert not np.allclose(a, e)
    with torch.no_grad():
        t = tm(*(torch.tensor(x),) * 3)[0].numpy()
    np.testing.assert_allclose(e, t, rtol=1e-10, atol=1e-12)


# ============================================================================ layers
def _enc_layer(**kw):
    def ctor(nn, F):
        kw2 = dict(kw)
        if kw2.get("activation") == "F.gelu":
            kw2["activation"] = F.gelu
        return nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, **kw2)
    return ctor


def _dec_layer(**kw):
    def ctor(nn, F):
        kw2 = dict(kw)
        if kw2.get("activation") == "F.gelu":
            kw2["activation"] = F.gelu
        return nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.0, **kw2)
    return ctor


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu", "F.gelu"])
def test_encoder_layer(norm_first, activation, dtype):
    masks = {"src_mask": np.triu(np.ones((5, 5), bool), 1), "src_key_padding_mask": _kpm(3, 5)}
    compare(_enc_layer(norm_first=norm_first, activation=activation),
            lambda m, x, **mk: m(x, **mk), [_rand(5, 3, 8)], masks, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["batch_first", "float_mask", "causal", "unbatched", "no_bias", "eval_dropout"])
def test_encoder_layer_variants(case, dtype):
    causal = np.triu(np.full((5, 5), -np.inf), 1)
    call = lambda m, x, **mk: m(x, **mk)  # noqa: E731
    if case == "batch_first":
        compare(_enc_layer(batch_first=True), call, [_rand(3, 5, 8)], {"src_key_padding_mask": _kpm(3, 5)},
                dtype=dtype)
    elif case == "float_mask":
        compare(_enc_layer(), call, [_rand(5, 3, 8)], {"src_mask": np.random.default_rng(1).standard_normal((5, 5))},
                dtype=dtype)
    elif case == "causal":
        compare(_enc_layer(norm_first=True), call, [_rand(5, 3, 8)], {"src_mask": causal, "is_causal": True},
                dtype=dtype)
    elif case == "unbatched":
        compare(_enc_layer(), call, [_rand(5, 8)], {"src_key_padding_mask": _kpm(1, 5)[0]}, dtype=dtype)
    elif case == "no_bias":
        compare(_enc_layer(bias=False), call, [_rand(5, 3, 8)], dtype=dtype)
    else:   # dropout > 0 but eval mode: deterministic
        compare(lambda nn, F: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.3), call, [_rand(5, 3, 8)],
                dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_decoder_layer(norm_first, activation, dtype):
    masks = {"tgt_mask": np.triu(np.full((4, 4), -np.inf), 1), "memory_mask": np.random.default_rng(1).random((4, 6))
             < 0.2, "tgt_key_padding_mask": _kpm(3, 4, seed=1), "memory_key_padding_mask": _kpm(3, 6, seed=2)}
    masks["memory_mask"][:, 0] = False
    compare(_dec_layer(norm_first=norm_first, activation=activation),
            lambda m, t, mem, **mk: m(t, mem, **mk), [_rand(4, 3, 8), _rand(6, 3, 8, seed=1)], masks, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["batch_first_causal", "unbatched", "F.gelu"])
def test_decoder_layer_variants(case, dtype):
    call = lambda m, t, mem, **mk: m(t, mem, **mk)  # noqa: E731
    if case == "batch_first_causal":
        compare(_dec_layer(batch_first=True), call, [_rand(3, 4, 8), _rand(3, 6, 8, seed=1)],
                {"tgt_mask": np.triu(np.full((4, 4), -np.inf), 1), "tgt_is_causal": True}, dtype=dtype)
    elif case == "unbatched":
        compare(_dec_layer(), call, [_rand(4, 8), _rand(6, 8, seed=1)],
                {"memory_key_padding_mask": _kpm(1, 6)[0]}, dtype=dtype)
    else:
        compare(_dec_layer(activation="F.gelu", norm_first=True), call, [_rand(4, 3, 8), _rand(6, 3, 8, seed=1)],
                dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_norm", [False, True])
def test_encoder_stack(with_norm, dtype):
    def ctor(nn, F):
        layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        return nn.TransformerEncoder(layer, 3, norm=nn.LayerNorm(8) if with_norm else None,
                                     enable_nested_tensor=False)
    causal = np.triu(np.full((5, 5), -np.inf), 1)
    tm, fm, _ = compare(ctor, lambda m, x, **mk: m(x, **mk), [_rand(3, 5, 8)],
                        {"mask": causal, "src_key_padding_mask": _kpm(3, 5)}, dtype=dtype)
    assert len(fm.layers) == 3 and isinstance(fm.layers, flambeau.nn.ModuleList)
    assert fm.layers[0] is not fm.layers[1]


@pytest.mark.parametrize("dtype", DTYPES)
def test_decoder_stack(dtype):
    def ctor(nn, F):
        return nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0), 2, norm=nn.LayerNorm(8))
    compare(ctor, lambda m, t, mem, **mk: m(t, mem, **mk), [_rand(4, 3, 8), _rand(6, 3, 8, seed=1)],
            {"tgt_mask": np.triu(np.full((4, 4), -np.inf), 1), "memory_key_padding_mask": _kpm(3, 6)}, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_first,norm_first", [(False, False), (True, True)])
def test_transformer_full(batch_first, norm_first, dtype):
    """Two encoder and two decoder layers: in float32 the gradients of the first layers go
    through ~20 matmuls and LayerNorms whose summation order differs from torch's kernels, so
    float32 is compared at rtol=1e-4, atol=1e-5 (float64 at the usual tolerance)."""
    def ctor(nn, F):
        return nn.Transformer(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=16,
                              dropout=0.0, activation="gelu", batch_first=batch_first, norm_first=norm_first)
    src, tgt = ((_rand(3, 6, 8), _rand(3, 4, 8, seed=1)) if batch_first else (_rand(6, 3, 8), _rand(4, 3, 8, seed=1)))
    masks = {"tgt_mask": np.triu(np.full((4, 4), -np.inf), 1), "src_key_padding_mask": _kpm(3, 6),
             "memory_key_padding_mask": _kpm(3, 6), "tgt_key_padding_mask": _kpm(3, 4, seed=3),
             "src_mask": np.random.default_rng(1).standard_normal((6, 6)), "memory_mask": np.zeros((4, 6), bool)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # torch's enable_nested_tensor warning
        compare(ctor, lambda m, s, t, **mk: m(s, t, **mk), [src, tgt], masks, dtype=dtype,
                tol=dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else None)


def test_transformer_causal_flags_and_unbatched():
    def ctor(nn, F):
        return nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=16,
                              dropout=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compare(ctor, lambda m, s, t, **mk: m(s, t, **mk), [_rand(6, 8), _rand(4, 8, seed=1)],
                {"tgt_mask": np.triu(np.full((4, 4), -np.inf), 1), "tgt_is_causal": True,
                 "src_mask": np.triu(np.ones((6, 6), bool), 1), "src_is_causal": True})


def test_generate_square_subsequent_mask():
    for n in (1, 4, 7):
        a = Transformer.generate_square_subsequent_mask(n)
        b = torch.nn.Transformer.generate_square_subsequent_mask(n)
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert a.dtype == flambeau.float32
    a = Transformer.generate_square_subsequent_mask(3, dtype=flambeau.float64)
    assert a.dtype == flambeau.float64
    np.testing.assert_array_equal(a.numpy(), [[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]])
    assert isinstance(Transformer.__dict__["generate_square_subsequent_mask"], staticmethod)


def test_detect_is_causal_mask():
    m = Transformer.generate_square_subsequent_mask(4)
    assert T._detect_is_causal_mask(m, None, 4) is True
    assert T._detect_is_causal_mask(m, None, 5) is False
    assert T._detect_is_causal_mask(flambeau.zeros(4, 4), None, 4) is False
    assert T._detect_is_causal_mask(None, True) is True and T._detect_is_causal_mask(m, False) is False


@pytest.mark.parametrize("cfg", [dict(), dict(bias=False), dict(norm_first=True, batch_first=True)])
def test_transformer_state_dict_keys_and_init(cfg):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = torch.nn.Transformer(16, 4, 2, 3, 32, **cfg)
        f = Transformer(16, 4, 2, 3, 32, **cfg)
    ts, fs = t.state_dict(), f.state_dict()
    assert list(ts) == list(fs)
    assert all(tuple(ts[k].shape) == tuple(fs[k].shape) for k in ts)
    for name, p in f.named_parameters():
        a = p.detach().numpy()
        if a.ndim > 1:                                       # xavier_uniform_ over every matrix
            bound = math.sqrt(6.0 / (a.shape[0] + a.shape[1]))
            assert np.abs(a).max() <= bound and a.std() > 0.3 * bound, name
        elif "norm" in name and name.endswith("weight"):
            np.testing.assert_array_equal(a, 1.0)
        elif "in_proj_bias" in name or "out_proj.bias" in name or "norm" in name:
            np.testing.assert_array_equal(a, 0.0)
    assert f.d_model == 16 and f.nhead == 4 and f.batch_first == cfg.get("batch_first", False)
    assert len(f.encoder.layers) == 2 and len(f.decoder.layers) == 3
    assert isinstance(f.encoder, TransformerEncoder) and isinstance(f.decoder, TransformerDecoder)
    # the torch state dict loads strictly, and flambeau's loads into torch
    f.load_state_dict({k: flambeau.tensor(v.numpy()) for k, v in ts.items()})
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in f.state_dict().items()})


def test_layer_state_dict_keys():
    for ctor in (_enc_layer(), _dec_layer()):
        assert list(ctor(torch.nn, None).state_dict()) == list(ctor(FNN, None).state_dict())
    sub = [n for n, _ in TransformerDecoderLayer(8, 2).named_children()]
    assert sub == [n for n, _ in torch.nn.TransformerDecoderLayer(8, 2).named_children()]
    sub = [n for n, _ in TransformerEncoderLayer(8, 2).named_children()]
    assert sub == [n for n, _ in torch.nn.TransformerEncoderLayer(8, 2).named_children()]


def test_activation_and_errors():
    assert TransformerEncoderLayer(8, 2, activation="gelu").activation is FF.gelu
    assert TransformerEncoderLayer(8, 2).activation is FF.relu
    assert TransformerEncoderLayer(8, 2).activation_relu_or_gelu == 1
    assert TransformerEncoderLayer(8, 2, activation="gelu").activation_relu_or_gelu == 2
    act = flambeau.nn.GELU()
    layer = TransformerEncoderLayer(8, 2, activation=act)
    assert layer.activation is act and layer.activation_relu_or_gelu == 2
    assert TransformerEncoderLayer(8, 2, activation=flambeau.tanh).activation_relu_or_gelu == 0
    for cls in (TransformerEncoderLayer, TransformerDecoderLayer):
        with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
            cls(8, 2, activation="tanh")
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        TransformerEncoderLayer(10, 3)
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        Transformer(10, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = Transformer(8, 2, 1, 1, 16)
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        m(flambeau.zeros(5, 2, 8), flambeau.zeros(4, 3, 8))
    with pytest.raises(RuntimeError, match="the feature number of src and tgt must be equal to d_model"):
        m(flambeau.zeros(5, 2, 8), flambeau.zeros(4, 2, 6))


def test_encoder_nested_tensor_flag_warns_like_torch():
    with warnings.catch_warnings(record=True) as wt:
        warnings.simplefilter("always")
        t = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2), 2)
    with warnings.catch_warnings(record=True) as wf:
        warnings.simplefilter("always")
        f = TransformerEncoder(TransformerEncoderLayer(8, 2), 2)
    assert [str(w.message) for w in wf] == [str(w.message) for w in wt if "nested" in str(w.message)]
    assert f.use_nested_tensor is t.use_nested_tensor is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = TransformerEncoder(TransformerEncoderLayer(8, 2, batch_first=True), 2)
    assert f.use_nested_tensor is True


def test_transformer_dropout_train_seeded():
    """Train mode with dropout: reproducible under flambeau.manual_seed, seed-dependent, and the
    gradients flow to every parameter."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = Transformer(8, 2, 1, 1, 16, dropout=0.3)
    src, tgt = flambeau.tensor(_rand(5, 2, 8).astype(np.float32)), flambeau.tensor(_rand(4, 2, 8, seed=1)
                                                                                  .astype(np.float32))
    flambeau.manual_seed(1)
    a = m(src, tgt)
    flambeau.manual_seed(1)
    b = m(src, tgt)
    flambeau.manual_seed(2)
    c = m(src, tgt)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    assert not np.allclose(a.detach().numpy(), c.detach().numpy())
    a.sum().backward()
    assert all(p.grad is not None and np.isfinite(p.grad.numpy()).all() for p in m.parameters())
    m.eval()
    np.testing.assert_array_equal(m(src, tgt).detach().numpy(), m(src, tgt).detach().numpy())


def test_encoder_layer_gradcheck():
    layer = TransformerEncoderLayer(4, 2, dim_feedforward=6, dropout=0.0, activation="gelu").double()
    mask = flambeau.tensor(np.triu(np.ones((3, 3), bool), 1))
    assert flambeau.autograd.gradcheck(lambda x: layer(x, src_mask=mask),
                                       [flambeau.tensor(_rand(3, 2, 4), requires_grad=True)], eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("kind,which", [("encoder", w) for w in ("dropout", "dropout1", "dropout2", "self_attn")]
                         + [("decoder", w) for w in ("dropout", "dropout1", "dropout2", "dropout3", "self_attn",
                                                     "multihead_attn")])
def test_layer_dropout_placement_train_mode(kind, which):
    """Train mode with one dropout at p=1 (drops everything) and the others at p=0: deterministic,
    so torch and flambeau must agree exactly on where each dropout sits."""
    def ctor(nn, F):
        m = (nn.TransformerEncoderLayer if kind == "encoder" else nn.TransformerDecoderLayer)(8, 2, 16, dropout=0.0)
        setattr(getattr(m, which), "p" if which.startswith("dropout") else "dropout", 1.0)
        return m
    if kind == "encoder":
        compare(ctor, lambda m, x: m(x), [_rand(5, 3, 8)], train=True)
    else:
        compare(ctor, lambda m, t, mem: m(t, mem), [_rand(4, 3, 8), _rand(6, 3, 8, seed=1)], train=True)


def test_sdpa_kernel_selection():
    from flambeau.nn.attention import SDPBackend, sdpa_kernel
    q = flambeau.ones(1, 2, 3, 4)
    with sdpa_kernel([SDPBackend.MATH, SDPBackend.FLASH_ATTENTION]):
        assert tuple(flambeau.nn.functional.scaled_dot_product_attention(q, q, q).shape) == (1, 2, 3, 4)
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        with pytest.raises(RuntimeError, match="No available kernel"):
            flambeau.nn.functional.scaled_dot_product_attention(q, q, q)
    flambeau.nn.functional.scaled_dot_product_attention(q, q, q)      # restored on exit
