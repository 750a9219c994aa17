"""Tensor creation against PyTorch: values, dtypes, shapes, memory sharing, errors."""
import numpy as np
import pytest
import torch

import flambeau
from helpers import assert_close


def both(code, **env):
    """``code`` evaluated with ``L`` = flambeau and torch; the results (or exception types)."""
    out = []
    for L in (flambeau, torch):
        try:
            out.append(eval(code, {"L": L, "np": np, **env}))
        except Exception as e:  # noqa: BLE001
            out.append(type(e))
    return out


def same(code, **env):
    f, t = both(code, **env)
    if isinstance(t, type):
        assert f is t, f"{code}: flambeau gave {f!r}, torch raised {t.__name__}"
        return
    assert not isinstance(f, type), f"{code}: flambeau raised {f.__name__}"
    if isinstance(t, torch.Tensor):
        assert_close(f, t, what=code, rtol=0, atol=0)
    elif isinstance(t, torch.dtype):
        assert repr(f).replace("flambeau.", "torch.") == repr(t), code
    else:
        assert f == t, code


TENSOR_CASES = [
    "L.tensor([[1, 2.5], [3, 4]])", "L.tensor([1, True])", "L.tensor([True, False])", "L.tensor([[1, 2], [3, 4]])",
    "L.tensor(3)", "L.tensor(3.5)", "L.tensor(True)", "L.tensor([])", "L.tensor([[], []])",
    "L.tensor([1, 2], dtype=L.float64)", "L.tensor(3.7, dtype=L.int64)", "L.tensor([1.5, 0], dtype=L.bool)",
    "L.tensor([[[0, 0, 0, 0], [1, 1, 1, 1], [2, 2, 2, 2]], [[0, 0, 0, 0], [1, 1, 1, 1], [2, 2, 2, 2]]])",
    "L.tensor(np.float64(3.5))", "L.tensor(np.int32(3))", "L.tensor(np.array(3.5))",
    "L.tensor([L.tensor(1.5), L.tensor(2.0)])", "L.tensor([[1, 2], [3]])", "L.tensor('abc')",
    "L.tensor([1, -200, 3], dtype=L.int8)", "L.tensor([1e40])", "L.tensor([0.1, 0.2], dtype=L.float16)",
]


@pytest.mark.parametrize("code", TENSOR_CASES)
def test_tensor(code):
    same(code)


@pytest.mark.parametrize("dt", ["float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8",
                                "bool"])
def test_tensor_from_numpy_each_dtype(dt):
    a = np.array([[0, 1, 2], [3, 4, 5]]).astype(dt)
    same("L.tensor(a)", a=a)
    same("L.as_tensor(a)", a=a)
    same("L.from_numpy(a)", a=a)
    same("L.tensor(a, dtype=L.float32)", a=a)
    same("L.tensor(a[:, ::2])", a=a)  # non-contiguous source
    f = flambeau.tensor(a)
    a[0, 0] = 1
    assert f[0, 0].item() == 0  # tensor() copies


def test_tensor_from_tensor_copies():
    for L in (flambeau, torch):
        src = L.tensor([1.0, 2.0], requires_grad=True)
        with np.errstate(all="ignore"):
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = L.tensor(src)
        assert not t.requires_grad and t.is_leaf
        t[0] = 5
        assert src[0].item() == 1.0


def test_as_tensor_from_numpy_share_memory():
    for L in (flambeau, torch):
        a = np.zeros(3, np.float32)
        t = L.from_numpy(a)
        u = L.as_tensor(a)
        a[0] = 7
        assert t[0].item() == 7 and u[0].item() == 7
        t[1] = 3
        assert a[1] == 3
        assert t.numpy() is not None and np.shares_memory(t.numpy(), a)
        v = L.as_tensor(a, dtype=L.float64)  # a cast: a copy
        a[2] = 9
        assert v[2].item() == 0
        x = L.ones(2)
        assert L.as_tensor(x) is x
        assert np.shares_memory(x.numpy(), x.numpy())
    for L in (flambeau, torch):
        with pytest.raises(TypeError):
            L.from_numpy([1, 2])


LEGACY = [
    "L.FloatTensor([[1, 2, 3], [4, 5, 6]])", "L.FloatTensor(np.array([[1, 2, 3], [4, 5, 6]]))",
    "L.FloatTensor([2])", "L.FloatTensor(2, 3).shape", "L.FloatTensor((2, 3)).shape", "L.FloatTensor(0).shape",
    "L.FloatTensor([2]).dtype", "L.LongTensor([1, 2])", "L.LongTensor(np.array([1, 2]))",
    "L.LongTensor(3).shape", "L.LongTensor(3).dtype", "L.BoolTensor([1, 0, 2])", "L.BoolTensor(2).dtype",
    "L.DoubleTensor([1, 2])", "L.IntTensor([1, 2])", "L.ByteTensor([1, 2])", "L.ShortTensor([1]).dtype",
    "L.CharTensor([1]).dtype", "L.HalfTensor([1.5])", "L.FloatTensor([[1.5, 2], [3, 4]]).tolist()",
    "L.FloatTensor(np.array([1.5, 2.5], dtype=np.float64))",
]


@pytest.mark.parametrize("code", LEGACY)
def test_legacy_constructors(code):
    same(code)


FACTORIES = [
    "L.zeros(2, 3)", "L.zeros((2, 3), dtype=L.int32)", "L.zeros([2, 3])", "L.zeros(())", "L.zeros(0)",
    "L.ones(2, dtype=L.bool)", "L.ones(2, 3, dtype=L.float64)", "L.ones(0, 2)", "L.full((2, 2), 7)",
    "L.full((2, 2), 7.)", "L.full((2, 2), True)", "L.full((2,), 2, dtype=L.float64)", "L.full([2], 1.5)",
    "L.empty(2, 3).shape", "L.empty(2, 3).dtype", "L.empty((0,), dtype=L.int64).shape", "L.eye(3)",
    "L.eye(2, 3)", "L.eye(3, dtype=L.int64)", "L.eye(0)",
    "L.zeros_like(L.ones(2, dtype=L.int32))", "L.ones_like(L.ones(2), dtype=L.float64)",
    "L.full_like(L.ones(2), 3)", "L.full_like(L.ones(2, dtype=L.int64), 2.7)", "L.empty_like(L.ones(2, 3)).shape",
    "L.zeros_like(L.ones(2, 3).t())", "L.zeros(2, requires_grad=True).requires_grad",
    "L.tensor([1, 2], requires_grad=True)", "L.zeros(2, dtype=L.int64, requires_grad=True)",
    "L.empty(2, 3).dtype", "L.Tensor(2, 3).shape", "L.Tensor([1, 2])",
]


@pytest.mark.parametrize("code", FACTORIES)
def test_factories(code):
    same(code)


RANGES = [
    "L.arange(5)", "L.arange(5.)", "L.arange(1, 4)", "L.arange(0, 1, 0.1)", "L.arange(1, 2.5, 0.5)",
    "L.arange(10, 0, -3)", "L.arange(0, -1, -0.25)", "L.arange(-1.0, 1.0, 0.3)", "L.arange(0, 10, 3, dtype=L.float32)",
    "L.arange(0.0, 5)", "L.arange(5, dtype=L.float64)", "L.arange(0, 5, 0)", "L.arange(5, 0)", "L.arange(L.tensor(3))",
    "L.arange(0, 1.1, 0.1)", "L.arange(1e6, 1e6 + 1, 0.1).shape", "L.arange(0.5, 10.3, 0.7)", "L.arange(0)",
    "L.arange(0, 2.0000001, 0.2)", "L.arange(-3, 3, 0.01)", "L.arange(0.1, 0.9, 0.1)", "L.arange(1, 10, 2.5)",
    "L.arange(0, 10, dtype=L.int32)", "L.arange(0, 1, 1 / 3)", "L.arange(10, dtype=L.uint8)",
    "L.linspace(0, 1, 5)", "L.linspace(0, 1, 1)", "L.linspace(-1, 1, 0)", "L.linspace(0, 1, 7, dtype=L.float64)",
    "L.linspace(0, 10, 4, dtype=L.int64)", "L.linspace(2, 3, 11)", "L.linspace(-5.5, 3.25, 100)",
    "L.logspace(0, 2, 3)",
]


@pytest.mark.parametrize("code", RANGES)
def test_ranges(code):
    f, t = both(code)
    if isinstance(t, type) or isinstance(t, torch.Size):
        same(code)
        return
    # float ranges: lengths and dtypes are exact; PyTorch's vectorised kernel adds i*step in float32
    # within SIMD-width blocks (the width depends on the CPU), so values agree to ~2 float32 ulps,
    # with an absolute 1e-7 for values that cancel to near zero
    assert_close(f, t, what=code, rtol=2.4e-7, atol=1e-7)


def test_random_factories_shapes_dtypes():
    for code in ("L.rand(2, 3)", "L.rand((2, 3), dtype=L.float64)", "L.randn(4)", "L.randn(2, 2, dtype=L.float64)",
                 "L.randint(0, 10, (3,))", "L.randint(10, (3, 2))", "L.randint(3, 10, (2,), dtype=L.int32)",
                 "L.randperm(5)", "L.rand_like(L.ones(2, dtype=L.float64))", "L.randn_like(L.ones(3))",
                 "L.randint_like(L.ones(3), 5)", "L.rand(0)", "L.randn(())", "L.randperm(0)",
                 "L.rand(2, requires_grad=True)"):
        f, t = both(code)
        assert f.shape == t.shape and str(f.dtype).split(".")[-1] == str(t.dtype).split(".")[-1], code
        assert f.requires_grad == t.requires_grad
    same("L.randint(5, 3, (2,))")
    r = flambeau.rand(10000)
    assert 0 <= r.min().item() and r.max().item() < 1 and abs(r.mean().item() - 0.5) < 0.02
    n = flambeau.randn(10000)
    assert abs(n.mean().item()) < 0.05 and abs(n.std().item() - 1) < 0.05
    i = flambeau.randint(3, 7, (10000,))
    assert set(i.unique().tolist() if hasattr(i, "unique") else np.unique(i.numpy()).tolist()) == {3, 4, 5, 6}
    p = flambeau.randperm(20)
    assert sorted(p.tolist()) == list(range(20))


def test_conversions():
    for L in (flambeau, torch):
        a = L.tensor([[1, 2], [3, 4]])
        assert a.tolist() == [[1, 2], [3, 4]] and isinstance(a.tolist()[0][0], int)
        assert L.tensor(2.5).item() == 2.5 and isinstance(L.tensor(2.5).item(), float)
        assert L.tensor([2]).item() == 2 and isinstance(L.tensor([7]).item(), int)
        assert isinstance(L.tensor(True).item(), bool)
        with pytest.raises(RuntimeError):
            L.ones(2).item()
        assert a.numpy().dtype == np.int64
        assert L.FloatTensor([2]).numpy().dtype == np.float32
        with pytest.raises(RuntimeError, match="requires grad"):
            L.ones(2, requires_grad=True).numpy()
        assert float(L.tensor([2.5])) == 2.5 and int(L.tensor(3.9)) == 3
