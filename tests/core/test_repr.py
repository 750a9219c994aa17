"""``repr``/``print`` of tensors: the same text as PyTorch (with ``flambeau.`` for ``torch.``)."""
import numpy as np
import pytest
import torch

import flambeau


def same_repr(code):
    """Evaluate ``code`` with ``L`` bound to each library; return both reprs (dtype prefix unified)."""
    out = []
    for L in (flambeau, torch):
        out.append(repr(eval(code, {"L": L, "np": np, "float": float})).replace("flambeau.", "torch."))
    return out


CASES = [
    # integers, bools
    "L.tensor([1, 2, 3])", "L.tensor([[1, -20], [300, 4]])", "L.tensor([True, False])", "L.tensor(True)",
    "L.tensor(7)", "L.tensor([1, 2], dtype=L.int32)", "L.tensor([1, 2], dtype=L.uint8)",
    "L.tensor([-1, 2], dtype=L.int8)", "L.tensor([1, 2], dtype=L.int16)",
    # floats: integral, decimals, scientific, negative, mixed magnitudes, special values
    "L.tensor([1., 2., 3.])", "L.tensor([1.5, 2.25, 3.])", "L.tensor([-1.5, 2.0, 0.1234567])",
    "L.tensor([1e-5, 1.0])", "L.tensor([1e10, 1.0])", "L.tensor([0.5, 1000.0])", "L.tensor([0.5, 1001.0])",
    "L.tensor([1e-4, 1.0])", "L.tensor([123456.7, 1.0])", "L.tensor([1e8])", "L.tensor([1e9])",
    "L.tensor([-0., 1.])", "L.tensor([0., 0.])", "L.tensor([1.0, float('-inf')])",
    "L.tensor([-1.5, float('nan'), float('inf')])", "L.tensor([float('nan'), float('inf')])",
    "L.tensor([1e-5, float('nan')])", "L.tensor(float('nan'))", "L.tensor(3.5)", "L.tensor(1e-20)",
    "L.tensor(-2.)", "L.tensor([1e20, -3.0])", "L.tensor([[1e-3, 2.5], [-7.25, 100.0]])",
    "L.tensor([0.1, 0.2, 0.3]) * 3", "L.arange(30.) * 1.234567",
    # dtype suffixes
    "L.tensor([1., 2.], dtype=L.float64)", "L.tensor([1.5, 2.], dtype=L.float16)", "L.tensor(2.5, dtype=L.float64)",
    # empty tensors
    "L.tensor([])", "L.zeros(0, 3)", "L.ones(3, 0, dtype=L.int64)", "L.zeros(0, dtype=L.int32)",
    "L.zeros(2, 0, 1, dtype=L.float64)", "L.tensor([[]])", "L.zeros(0, dtype=L.bool)",
    # autograd suffixes
    "L.zeros(2, requires_grad=True)", "L.tensor([[1., 2.], [3., 4.]], dtype=L.float64, requires_grad=True)",
    "L.ones(2, requires_grad=True) * 2", "L.ones(2, requires_grad=True).sum()",
    "L.ones(2, 2, dtype=L.float64, requires_grad=True).exp()", "L.zeros(0, requires_grad=True)",
    # summarised (> 1000 elements), 2-D/3-D layouts, wide rows wrapping at 80 columns
    "L.arange(2000.)", "L.arange(2000)", "L.arange(2000).reshape(40, 50)", "L.arange(1001.).reshape(1001, 1)",
    "L.ones(1000)", "L.ones(1001)", "L.arange(3000.).reshape(10, 10, 30) / 7",
    "L.arange(60.).reshape(3, 4, 5)", "L.arange(24).reshape(2, 3, 4)", "L.arange(120.).reshape(2, 3, 4, 5) / 3",
    "L.arange(40.) / 3", "L.arange(100)", "L.arange(25.).reshape(1, 25) * 1e5", "L.ones(2, 30) * 0.5",
    "L.arange(3000.).reshape(30, 100) * 1e-6", "L.arange(50.).reshape(5, 10) - 25",
    "L.arange(40.) / 3 + 0 * L.ones(40, requires_grad=True)",
    "L.tensor([[1.5, 2.], [3., 4.]], dtype=L.float64, requires_grad=True) * 3",
    "L.arange(30.).reshape(1, 30).to(L.float64) / 7",
]


@pytest.mark.parametrize("code", CASES)
def test_repr_matches_torch(code):
    fl, th = same_repr(code)
    assert fl == th


def test_str_and_print(capsys):
    x = flambeau.tensor([[1.5, -2.0], [3.25, 4.0]])
    assert str(x) == repr(x)
    print(x)
    print(torch.tensor([[1.5, -2.0], [3.25, 4.0]]))
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == out[2:] == ["tensor([[ 1.5000, -2.0000],", "        [ 3.2500,  4.0000]])"]


def test_print_output_identical(capsys):
    for L in (flambeau, torch):
        print(L.tensor([[1, 2, 3], [4, 5, 6]]).float() / 3)
        print(L.tensor([1.0, 2.0]).dtype, L.ones(2, 3).shape, L.ones(2, dtype=L.int64).dtype)
    lines = capsys.readouterr().out.replace("flambeau.", "torch.").splitlines()
    assert lines[:len(lines) // 2] == lines[len(lines) // 2:]


def test_printoptions():
    for L in (flambeau, torch):
        L.set_printoptions(precision=2)
    try:
        assert same_repr("L.tensor([1.23456, 2.5])")[0] == same_repr("L.tensor([1.23456, 2.5])")[1]
    finally:
        for L in (flambeau, torch):
            L.set_printoptions(profile="default")
    for L in (flambeau, torch):
        L.set_printoptions(sci_mode=False)
    try:
        fl, th = same_repr("L.tensor([1e-5, 1.0])")
        assert fl == th
    finally:
        for L in (flambeau, torch):
            L.set_printoptions(profile="default", sci_mode=None)
    fl, th = same_repr("L.tensor([1e-5, 1.0])")
    assert fl == th and "e-05" in fl


def test_size_and_dtype_repr():
    fl, th = same_repr("L.ones(2, 3).shape")
    assert fl == th
    for d in ("float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"):
        assert repr(getattr(flambeau, d)).replace("flambeau.", "torch.") == repr(getattr(torch, d))


# grad_fn names that appear in repr; flambeau uses PyTorch's node names for these ops
GRAD_FN_OPS = ["a + b", "a - b", "a * b", "a / b", "a @ b", "a.sum()", "a.mean()", "a.exp()", "a.relu()",
               "a.sigmoid()", "a.tanh()", "a.log_softmax(0)", "a.pow(2)", "a.max()", "a.clamp(0, 1)", "-a",
               "a.abs()", "a.sqrt()", "a.clone()", "a.to(L.float64)"]


@pytest.mark.parametrize("code", GRAD_FN_OPS)
def test_grad_fn_in_repr(code):
    reprs = []
    for L in (flambeau, torch):
        a = L.tensor([[0.5, 1.5], [2.0, 3.0]], requires_grad=True)
        b = L.tensor([[1.0, 2.0], [3.0, 4.0]])
        reprs.append(repr(eval(code)).replace("flambeau.", "torch."))
    assert reprs[0] == reprs[1]
