"""nn.RNN / nn.LSTM / nn.GRU and their cells against torch.

The weights are given to both libraries as inputs of ``check`` (the module's parameters are
replaced by those tensors), so ``check`` compares the gradients of the input, the initial state
and every weight. float32 runs a loop of matrix products whose summation order differs from
torch's kernels: it is compared at rtol=1e-4, atol=1e-5.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import flambeau
from helpers import check, gradcheck

F32 = dict(rtol=1e-4, atol=1e-5)


def _tol(dtype):
    return F32 if dtype == np.float32 else {}


def _param_specs(cls, kwargs):
    """(name, shape) of every parameter, in registration order, read from torch's module."""
    m = getattr(torch.nn, cls)(**kwargs)
    return [(n, tuple(p.shape)) for n, p in m.named_parameters()]


def _weights(specs, dtype, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-0.6, 0.6, shape).astype(dtype) for _, shape in specs]


def _module_with(lib, cls, kwargs, names, ws):
    m = getattr(lib.nn, cls)(**kwargs)
    for n, w in zip(names, ws):
        delattr(m, n)
        setattr(m, n, w)
    return m.eval()


LAYER_CONFIGS = [
    ("LSTM", dict(input_size=3, hidden_size=4)),
    ("LSTM", dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True, batch_first=True)),
    ("LSTM", dict(input_size=3, hidden_size=4, bias=False, num_layers=2, dropout=0.3)),
    ("LSTM", dict(input_size=3, hidden_size=4, proj_size=2, bidirectional=True)),
    ("GRU", dict(input_size=3, hidden_size=4)),
    ("GRU", dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True, batch_first=True)),
    ("RNN", dict(input_size=3, hidden_size=4, num_layers=2)),
    ("RNN", dict(input_size=3, hidden_size=4, nonlinearity="relu", bidirectional=True, bias=False)),
]


def _layer_inputs(cls, kwargs, dtype, T=5, B=2, batched=True, seed=0):
    rng = np.random.default_rng(seed)
    dirs = 2 if kwargs.get("bidirectional") else 1
    L = kwargs.get("num_layers", 1) * dirs
    H = kwargs["hidden_size"]
    Hout = kwargs.get("proj_size", 0) or H
    xshape = ((B, T) if kwargs.get("batch_first") else (T, B)) if batched else (T,)
    x = rng.standard_normal(xshape + (kwargs["input_size"],)).astype(dtype)
    hshape = (L, B) if batched else (L,)
    h0 = (rng.standard_normal(hshape + (Hout,)) * 0.5).astype(dtype)
    c0 = (rng.standard_normal(hshape + (H,)) * 0.5).astype(dtype)
    return x, h0, c0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls,kwargs", LAYER_CONFIGS)
def test_layer_matches_torch(cls, kwargs, dtype):
    specs = _param_specs(cls, kwargs)
    names = [n for n, _ in specs]
    ws = _weights(specs, dtype)
    x, h0, c0 = _layer_inputs(cls, kwargs, dtype)

    if cls == "LSTM":
        def fn(lib, x, h0, c0, *ws):
            return _module_with(lib, cls, kwargs, names, ws)(x, (h0, c0))
        check(fn, x, h0, c0, *ws, **_tol(dtype))
    else:
        def fn(lib, x, h0, *ws):
            return _module_with(lib, cls, kwargs, names, ws)(x, h0)
        check(fn, x, h0, *ws, **_tol(dtype))


@pytest.mark.parametrize("cls,kwargs", [LAYER_CONFIGS[1], LAYER_CONFIGS[5], LAYER_CONFIGS[7]])
def test_layer_unbatched_and_default_state(cls, kwargs):
    specs = _param_specs(cls, kwargs)
    names = [n for n, _ in specs]
    ws = _weights(specs, np.float64)
    x, h0, c0 = _layer_inputs(cls, kwargs, np.float64, batched=False)
    # no initial state: zeros
    check(lambda lib, x, *ws: _module_with(lib, cls, kwargs, names, ws)(x), x, *ws)
    if cls == "LSTM":
        check(lambda lib, x, h0, c0, *ws: _module_with(lib, cls, kwargs, names, ws)(x, (h0, c0)), x, h0, c0, *ws)
    else:
        check(lambda lib, x, h0, *ws: _module_with(lib, cls, kwargs, names, ws)(x, h0), x, h0, *ws)


@pytest.mark.parametrize("cls,kwargs", [
    ("LSTM", dict(input_size=2, hidden_size=2, num_layers=2, bidirectional=True)),
    ("GRU", dict(input_size=2, hidden_size=3, bidirectional=True)),
    ("RNN", dict(input_size=2, hidden_size=3, num_layers=2)),
])
def test_layer_gradcheck(cls, kwargs):
    specs = _param_specs(cls, kwargs)
    names = [n for n, _ in specs]
    ws = _weights(specs, np.float64)
    x, h0, c0 = _layer_inputs(cls, kwargs, np.float64, T=3, B=2)
    if cls == "LSTM":
        def fn(lib, x, h0, c0, *ws):
            out, (h, c) = _module_with(lib, cls, kwargs, names, ws)(x, (h0, c0))
            return (out * out).sum() + (h * c).sum()
        assert gradcheck(fn, x, h0, c0, *ws)
    else:
        def fn(lib, x, h0, *ws):
            out, h = _module_with(lib, cls, kwargs, names, ws)(x, h0)
            return (out * out).sum() + h.sum()
        assert gradcheck(fn, x, h0, *ws)


CELL_CONFIGS = [
    ("RNNCell", dict(input_size=3, hidden_size=4)),
    ("RNNCell", dict(input_size=3, hidden_size=4, nonlinearity="relu", bias=False)),
    ("LSTMCell", dict(input_size=3, hidden_size=4)),
    ("LSTMCell", dict(input_size=3, hidden_size=4, bias=False)),
    ("GRUCell", dict(input_size=3, hidden_size=4)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("cls,kwargs", CELL_CONFIGS)
def test_cell_matches_torch(cls, kwargs, batched, dtype):
    specs = _param_specs(cls, kwargs)
    names = [n for n, _ in specs]
    ws = _weights(specs, dtype)
    rng = np.random.default_rng(3)
    lead = (5,) if batched else ()
    x = rng.standard_normal(lead + (3,)).astype(dtype)
    h = rng.standard_normal(lead + (4,)).astype(dtype)
    c = rng.standard_normal(lead + (4,)).astype(dtype)
    if cls == "LSTMCell":
        check(lambda lib, x, h, c, *ws: _module_with(lib, cls, kwargs, names, ws)(x, (h, c)), x, h, c, *ws,
              **_tol(dtype))
    else:
        check(lambda lib, x, h, *ws: _module_with(lib, cls, kwargs, names, ws)(x, h), x, h, *ws, **_tol(dtype))
    check(lambda lib, x, *ws: _module_with(lib, cls, kwargs, names, ws)(x), x, *ws, **_tol(dtype))


@pytest.mark.parametrize("cls", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cell_gradcheck(cls):
    kwargs = dict(input_size=3, hidden_size=2)
    specs = _param_specs(cls, kwargs)
    names = [n for n, _ in specs]
    ws = _weights(specs, np.float64)
    rng = np.random.default_rng(4)
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 2)), rng.standard_normal((2, 2))
    if cls == "LSTMCell":
        def fn(lib, x, h, c, *ws):
            h2, c2 = _module_with(lib, cls, kwargs, names, ws)(x, (h, c))
            return h2 * c2
        assert gradcheck(fn, x, h, c, *ws)
    else:
        assert gradcheck(lambda lib, x, h, *ws: _module_with(lib, cls, kwargs, names, ws)(x, h), x, h, *ws)


def test_gate_order_lstm():
    """Only the forget gate open (bias +inf-like) and input gate closed: c keeps c0 exactly."""
    m = flambeau.nn.LSTMCell(2, 3)
    with flambeau.no_grad():
        m.weight_ih.zero_()
        m.weight_hh.zero_()
        m.bias_hh.zero_()
        b = np.zeros(12, np.float32)
        b[0:3], b[3:6], b[6:9], b[9:12] = -50, 50, 0, 50   # i, f, g, o
        m.bias_ih.copy_(flambeau.from_numpy(b))
    c0 = flambeau.tensor([[0.5, -0.25, 1.0]])
    h, c = m(flambeau.ones(1, 2), (flambeau.zeros(1, 3), c0))
    np.testing.assert_allclose(c.detach().numpy(), c0.numpy(), atol=1e-6)
    np.testing.assert_allclose(h.detach().numpy(), np.tanh(c0.numpy()), atol=1e-6)


@pytest.mark.parametrize("cls,kwargs", LAYER_CONFIGS + CELL_CONFIGS)
def test_state_dict_layout_and_load_from_torch(cls, kwargs):
    t = getattr(torch.nn, cls)(**kwargs)
    f = getattr(flambeau.nn, cls)(**kwargs)
    tsd, fsd = t.state_dict(), f.state_dict()
    assert list(fsd) == list(tsd)
    for k in tsd:
        assert tuple(fsd[k].shape) == tuple(tsd[k].shape), k
    f.load_state_dict({k: flambeau.from_numpy(v.numpy().copy()) for k, v in tsd.items()})
    t.eval()
    f.eval()
    x = np.random.default_rng(0).standard_normal((4, 2, 3) if "Cell" not in cls else (2, 3)).astype(np.float32)
    if "Cell" in cls:
        x = x.reshape(-1, 3)
    out_t, out_f = t(torch.from_numpy(x)), f(flambeau.from_numpy(x))
    flat_t = out_t[0] if isinstance(out_t, tuple) else out_t
    flat_f = out_f[0] if isinstance(out_f, tuple) else out_f
    np.testing.assert_allclose(flat_f.detach().numpy(), flat_t.detach().numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cls,kwargs", LAYER_CONFIGS + CELL_CONFIGS + [
    ("LSTM", dict(input_size=10, hidden_size=20, num_layers=1, bias=True, batch_first=False)),
    ("RNNCell", dict(input_size=3, hidden_size=4, nonlinearity="tanh")),
])
def test_repr_equals_torch(cls, kwargs):
    assert repr(getattr(flambeau.nn, cls)(**kwargs)) == repr(getattr(torch.nn, cls)(**kwargs))


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell"])
def test_init_is_uniform_one_over_sqrt_hidden(cls):
    flambeau.manual_seed(0)
    H = 16
    m = getattr(flambeau.nn, cls)(8, H)
    bound = 1 / math.sqrt(H)
    allv = np.concatenate([p.detach().numpy().ravel() for p in m.parameters()])
    assert np.all(np.abs(allv) <= bound)
    assert allv.max() > 0.9 * bound and allv.min() < -0.9 * bound
    assert abs(allv.std() - bound / math.sqrt(3)) < 0.1 * bound
    assert all(p.requires_grad for p in m.parameters())


def test_dropout_between_layers_only_in_training():
    flambeau.manual_seed(0)
    m = flambeau.nn.LSTM(3, 8, num_layers=2, dropout=0.5)
    x = flambeau.randn(6, 2, 3)
    m.eval()
    a, _ = m(x)
    b, _ = m(x)
    assert np.array_equal(a.detach().numpy(), b.detach().numpy())
    m.train()
    c, _ = m(x)
    assert not np.allclose(c.detach().numpy(), a.detach().numpy())
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        flambeau.nn.GRU(3, 4, dropout=0.2)


def test_trains_a_sequence_task():
    """A small LSTM learns to output the running sum sign of its input."""
    flambeau.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 8, 1)).astype(np.float32)
    y = (np.cumsum(x, axis=1) > 0).astype(np.float32)
    lstm, head = flambeau.nn.LSTM(1, 12, batch_first=True), flambeau.nn.Linear(12, 1)
    opt = flambeau.optim.Adam(list(lstm.parameters()) + list(head.parameters()), lr=0.03)
    X, Y = flambeau.from_numpy(x), flambeau.from_numpy(y)
    losses = []
    for _ in range(60):
        out, _ = lstm(X)
        loss = flambeau.nn.functional.binary_cross_entropy_with_logits(head(out), Y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def _same_error(fn):
    with pytest.raises(Exception) as et:
        fn(torch)
    with pytest.raises(Exception) as ef:
        fn(flambeau)
    assert type(ef.value) is type(et.value), (ef.value, et.value)
    assert str(ef.value) == str(et.value)


@pytest.mark.parametrize("fn", [
    lambda lib: lib.nn.LSTM(3, 4)(lib.zeros(2, 3, 4, 5)),
    lambda lib: lib.nn.RNN(3, 4)(lib.zeros(5)),
    lambda lib: lib.nn.GRU(3, 4)(lib.zeros(5, 2, 7)),
    lambda lib: lib.nn.LSTM(3, 4)(lib.zeros(5, 2, 3), (lib.zeros(1, 3, 4), lib.zeros(1, 2, 4))),
    lambda lib: lib.nn.LSTM(3, 4)(lib.zeros(5, 2, 3), (lib.zeros(1, 2, 4), lib.zeros(1, 2, 5))),
    lambda lib: lib.nn.LSTM(3, 4)(lib.zeros(5, 3), (lib.zeros(1, 2, 4), lib.zeros(1, 2, 4))),
    lambda lib: lib.nn.GRU(3, 4, num_layers=2)(lib.zeros(5, 2, 3), lib.zeros(1, 2, 4)),
    lambda lib: lib.nn.RNN(3, 4)(lib.zeros(5, 2, 3), lib.zeros(2, 4)),
    lambda lib: lib.nn.RNN(3, 4, nonlinearity="sigmoid"),
    lambda lib: lib.nn.GRU(3, 4, proj_size=2),
    lambda lib: lib.nn.LSTM(3, 4, proj_size=4),
    lambda lib: lib.nn.LSTM(3, 4, dropout=1.5),
    lambda lib: lib.nn.LSTM(3, 0),
    lambda lib: lib.nn.LSTM(3, 4.0),
    lambda lib: lib.nn.LSTMCell(3, 4)(lib.zeros(2, 2, 3)),
    lambda lib: lib.nn.GRUCell(3, 4)(lib.zeros(2, 3), lib.zeros(2, 2, 4)),
    lambda lib: lib.nn.LSTMCell(3, 4)(lib.zeros(2, 3), (lib.zeros(2, 4), lib.zeros(2, 2, 4))),
    lambda lib: lib.nn.RNNCell(3, 4)(lib.zeros(2, 5)),
    lambda lib: lib.nn.RNNCell(3, 4)(lib.zeros(2, 3), lib.zeros(3, 4)),
    lambda lib: lib.nn.GRUCell(3, 4)(lib.zeros(2, 3), lib.zeros(2, 5)),
])
def test_errors_match_torch(fn):
    _same_error(fn)


def test_dtype_mismatch_raises():
    with pytest.raises(ValueError, match="does not match weight dtype"):
        flambeau.nn.LSTM(3, 4)(flambeau.zeros(5, 2, 3, dtype=flambeau.float64))
