"""Indexing against PyTorch: reads, writes, gather/scatter, masked ops — values and gradients."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import flambeau
from helpers import check, gradcheck, rand, to_fl

DTYPES = [np.float32, np.float64]
HYP = settings(max_examples=30, deadline=None)


def I(lib, a):  # noqa: E743 - an index array as a tensor of the library
    return lib.tensor(a)


BASIC = [
    lambda lib, x: x[1],
    lambda lib, x: x[-1],
    lambda lib, x: x[1:3],
    lambda lib, x: x[::2],
    lambda lib, x: x[1::2, ::-1 if False else 3],
    lambda lib, x: x[:, -3:-1],
    lambda lib, x: x[None],
    lambda lib, x: x[:, None, 2],
    lambda lib, x: x[..., 1],
    lambda lib, x: x[..., None],
    lambda lib, x: x[1, ..., 2:],
    lambda lib, x: x[-2, -1],
    lambda lib, x: x[5:],
    lambda lib, x: x[:, 10:20],
    lambda lib, x: x[1:100:3],
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", range(len(BASIC)))
def test_basic_index_read(dtype, k):
    x = rand(4, 5, 3, dtype=dtype)
    check(BASIC[k], x)
    check(BASIC[k], x, noncontiguous=True, seed=1)


def test_basic_index_is_a_view():
    x = flambeau.arange(20.).view(4, 5)
    v = x[1::2, 1:4]
    assert v.storage().data_ptr() == x.storage().data_ptr()
    assert v.stride() == (10, 1) and v.storage_offset() == 6
    v[0, 0] = -1.
    assert x[1, 1].item() == -1.
    x[3, 3] = 99.
    assert v[1, 2].item() == 99.
    r = x[2]
    assert r.storage_offset() == 10


def test_zero_dim_index():
    x = flambeau.tensor(3.)
    assert x[None].shape == (1,) and x[...].shape == ()
    with pytest.raises(IndexError):
        x[0]
    check(lambda lib, a: a[None, ...] * 2, np.array(3., np.float32))
    check(lambda lib, a: a[...], np.array(3., np.float64))


def test_index_errors():
    x = flambeau.zeros(3, 4)
    with pytest.raises(IndexError):
        x[3]
    with pytest.raises(IndexError):
        x[0, 0, 0]
    with pytest.raises(IndexError):
        x[flambeau.tensor([0, 5])]
    with pytest.raises(IndexError):
        x[flambeau.tensor([0.5])]
    with pytest.raises(ValueError):
        x[::-1]
    with pytest.raises(IndexError):
        x[flambeau.tensor([True, False])]


ADVANCED = [
    lambda lib, x: x[I(lib, [0, 2])],
    lambda lib, x: x[[0, 2, 2, 0]],                       # repeated: gradients accumulate
    lambda lib, x: x[I(lib, [[1, 1], [3, 0]])],
    lambda lib, x: x[I(lib, [-1, -4])],
    lambda lib, x: x[:, I(lib, [4, 0, 4])],
    lambda lib, x: x[..., I(lib, [2, 2])],
    lambda lib, x: x[I(lib, [0, 1]), I(lib, [2, 3])],
    lambda lib, x: x[I(lib, [0, 1]), :, I(lib, [2, 0])],   # separated: advanced dims go first
    lambda lib, x: x[1:, I(lib, [0, 0, 1])],
    lambda lib, x: x[None, I(lib, [1, 2]), 1:3],
    lambda lib, x: x[I(lib, [[0], [3]]), I(lib, [1, 2, 1])],  # broadcast index arrays
    lambda lib, x: x[1, I(lib, [0, 4]), ::2],
    lambda lib, x: x[I(lib, [1, 2]), 2],
    lambda lib, x: x[x > 0],
    lambda lib, x: x[x[:, 0, 0] > 0],
    lambda lib, x: x[:, x[0, :, 1] > 0],
    lambda lib, x: x[x.sum(-1) > 0],
    lambda lib, x: x[I(lib, np.array([], dtype=np.int64))],
    lambda lib, x: x[I(lib, np.zeros((4, 5, 3), bool))],
    lambda lib, x: x[I(lib, np.int64(2))],
    lambda lib, x: x[I(lib, [True, False, True, True])],
    lambda lib, x: x[[[1, 1], [3, 0]]],          # a list of sequences is a tuple of indices
    lambda lib, x: x[[1, slice(None), 2]],
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", range(len(ADVANCED)))
def test_advanced_index_read(dtype, k):
    x = rand(4, 5, 3, dtype=dtype)
    check(ADVANCED[k], x)
    check(ADVANCED[k], x, noncontiguous=True, seed=2)


def test_advanced_index_is_a_copy():
    x = flambeau.arange(6.)
    y = x[[0, 1]]
    y[0] = 100.
    assert x[0].item() == 0.


def test_repeated_index_gradient_accumulates():
    x = flambeau.zeros(3, requires_grad=True)
    x[[0, 0, 0, 2]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3., 0., 1.])


@st.composite
def _index_case(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    idx = []
    for n in shape:
        kind = draw(st.sampled_from(["int", "slice", "none", "list", "all"]))
        if kind == "int":
            idx.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            a = draw(st.integers(-n - 1, n + 1))
            b = draw(st.integers(-n - 1, n + 1))
            idx.append(slice(a, b, draw(st.integers(1, 3))))
        elif kind == "none":
            idx.append(None)
            idx.append(slice(None))
        elif kind == "list":
            idx.append(draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=4)))
        else:
            idx.append(slice(None))
    if draw(st.booleans()) and len(idx) > 1:
        idx = [Ellipsis] + idx[1:]
    return shape, tuple(idx)


@HYP
@given(_index_case())
def test_index_hypothesis(case):
    shape, idx = case
    x = rand(*shape, dtype=np.float64)
    nlists = sum(isinstance(i, list) for i in idx)
    if nlists > 1:  # several index lists broadcast together: give them one length
        n = min(len(i) for i in idx if isinstance(i, list))
        idx = tuple(i[:n] if isinstance(i, list) else i for i in idx)
    check(lambda lib, a: a[idx], x)

    def write(lib, a):
        b = a * 1
        b[idx] = 0.5
        return b
    check(write, x)


# ---------------------------------------------------------------------------- __setitem__
SET = [
    (lambda lib, x: (1,), 2.5),
    (lambda lib, x: (slice(1, 3), 0), -1),
    (lambda lib, x: (Ellipsis, 1), 0.),
    (lambda lib, x: ([0, 2],), 7.),
    (lambda lib, x: (lib.tensor([1, 3]), slice(None, None, 2)), 3.),
    (lambda lib, x: (x > 0,), 0.),
    (lambda lib, x: (slice(None), lib.tensor([True, False, True, False, True])), 9.),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", range(len(SET)))
def test_setitem_scalar(dtype, k):
    idx_fn, val = SET[k]

    def f(lib, x):
        y = x * 2
        y[idx_fn(lib, y)] = val
        return y
    check(f, rand(4, 5, 3, dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_setitem_tensor_values_grad_to_both(dtype):
    def f(lib, x, w):
        z = x + 0
        z[0] = w
        return z * x
    check(f, rand(3, 4, dtype=dtype), rand(4, dtype=dtype, seed=1))

    def g(lib, x, w):  # broadcast value
        z = x.sin()
        z[:, 1:3] = w
        return z
    check(g, rand(3, 4, dtype=dtype), rand(3, 1, dtype=dtype, seed=1))

    for lib in (flambeau, torch):  # exp saves its output: writing into it breaks its backward
        x = lib.ones(3, requires_grad=True)
        z = x.exp()
        z[0] = 1.
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            z.sum().backward()

    def h(lib, x, w):  # advanced index, value of the indexed shape
        z = x * 3
        z[[2, 0]] = w
        return z.sum(0)
    check(h, rand(3, 4, dtype=dtype), rand(2, 4, dtype=dtype, seed=1))

    def m(lib, x, w):  # boolean mask, 0-d tensor value
        z = x * 1
        z[x > 0] = w
        return z
    check(m, rand(3, 4, dtype=dtype), np.array(5., dtype))

    def n(lib, x, w):  # a value of another dtype is cast to the destination's
        z = x * 1
        z[1] = w
        return z
    check(n, rand(3, 4, dtype=dtype), rand(4, dtype=np.float64 if dtype == np.float32 else np.float32))


def test_setitem_leaf_under_no_grad_and_errors():
    for lib in (flambeau, torch):
        w = lib.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            w[0] = 2.
        with lib.no_grad():
            w[0] = 2.
            w[1:] = lib.tensor([5., 6.])
        assert w.tolist() == [2., 5., 6.] and w.requires_grad and w.is_leaf and w.grad_fn is None
        w.sum().backward()
        assert w.grad.tolist() == [1., 1., 1.]


def test_setitem_plain_tensors():
    for lib in (flambeau, torch):
        x = lib.zeros(2, 3, dtype=lib.int64)
        x[0] = lib.tensor([1, 2, 3])
        x[1, 1:] = 7
        x[x == 0] = -1
        x[:, 0] = lib.tensor(9)
        assert x.tolist() == [[9, 2, 3], [9, 7, 7]]
        y = lib.zeros(3)
        y[1] = 2.7
        y[lib.tensor([0, 2])] = lib.tensor([1.5, 2.5])
        np.testing.assert_allclose(y.numpy(), [1.5, 2.7, 2.5], rtol=1e-6)
        z = lib.zeros(3, dtype=lib.int32)
        z[0] = 2.7
        assert z.tolist() == [2, 0, 0]
    v0 = flambeau.zeros(3)._version[0]
    t = flambeau.zeros(3)
    t[0] = 1.
    assert t._version[0] == v0 + 1
    with pytest.raises(RuntimeError):
        flambeau.zeros(2, 3)[0] = flambeau.zeros(4)


def test_setitem_through_view_updates_base():
    x = flambeau.zeros(3, 4)
    row = x[1]
    row[2] = 5.
    row[[0, 3]] = 1.
    assert x.tolist()[1] == [1., 0., 5., 1.]


def test_setitem_view_of_nonleaf_grad():
    def f(lib, x, w):
        y = x * 2
        v = y[1:]
        v[:, 0] = w
        return y * y
    check(f, rand(3, 4), rand(2, seed=1))


# ---------------------------------------------------------------------------- gather / scatter
@pytest.mark.parametrize("dtype", DTYPES)
def test_gather(dtype):
    x = rand(3, 4, dtype=dtype)
    idx = np.array([[0, 0, 3], [1, 2, 1], [3, 3, 3]])
    check(lambda lib, a: a.gather(1, lib.tensor(idx)), x)
    check(lambda lib, a: lib.gather(a, -1, lib.tensor(idx[:2])), x, noncontiguous=True)
    check(lambda lib, a: a.gather(0, lib.tensor([[2, 0, 1, 1]])), x)
    check(lambda lib, a: a.gather(0, lib.tensor(np.zeros((0, 4), np.int64))), x)
    with pytest.raises(RuntimeError):
        to_fl(x).gather(1, flambeau.tensor([[4]]))
    with pytest.raises(RuntimeError):
        to_fl(x).gather(1, flambeau.tensor([0, 1]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_scatter(dtype):
    x, src = rand(3, 5, dtype=dtype), rand(2, 4, dtype=dtype, seed=1)
    idx = np.array([[0, 1, 2, 0], [2, 0, 1, 1]])  # distinct targets per column
    check(lambda lib, a, s: a.scatter(0, lib.tensor(idx), s), x, src)
    check(lambda lib, a, s: lib.scatter(a, 1, lib.tensor([[4, 0], [1, 3]]), s[:, :2]), x, src)
    # src larger than index (PyTorch's backward rejects its own src gradient there: values only)
    check(lambda lib, a, s: lib.scatter(a, 1, lib.tensor([[4, 0], [1, 3]]), s), x, src, grad=False)
    check(lambda lib, a: a.scatter(0, lib.tensor(idx), 2.5), x)
    check(lambda lib, a: a.scatter(1, lib.tensor([[3], [0]]), value=-1.), x)
    check(lambda lib, a, s: a.scatter_add(0, lib.tensor(idx), s), x, src)
    check(lambda lib, a, s: lib.scatter_add(a, -1, lib.tensor([[0, 0, 0, 1]]), s[:1]), x, src)
    check(lambda lib, a, s: a.scatter_add(0, lib.tensor(np.array([[0, 0, 0, 0], [0, 0, 0, 0]])), s), x, src)
    check(lambda lib, a, s: a.scatter(0, lib.tensor(idx), s, reduce="add"), x, src, grad=False)


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
def test_scatter_reduce(reduce, include_self):
    """Values and gradients against PyTorch, duplicate targets included; zeros (prod: a lone zero
    and two zeros in one product) and ties (amax/amin share the gradient) drawn on purpose."""
    rng = np.random.default_rng(3)
    idx = np.array([[0, 1, 2, 0, 3], [0, 0, 2, 1, 3], [3, 0, 2, 1, 3]])
    x, src = np.round(rng.standard_normal((4, 5)) * 2), np.round(rng.standard_normal((3, 5)) * 2)
    x[0, 0], src[0, 0], src[1, 1], src[2, 1] = 0, 0, 0, 0
    for dtype in (np.float32, np.float64):
        check(lambda lib, a, s: a.scatter_reduce(0, lib.tensor(idx), s, reduce, include_self=include_self),
              x.astype(dtype), src.astype(dtype))
    check(lambda lib, a, s: lib.scatter_reduce(a, 1, lib.tensor(idx[:, :3]), s[:, :3], reduce,
                                               include_self=include_self), x[:3], src, noncontiguous=True)
    # integers: 'mean' divides with floor, as PyTorch
    xi, si = x.astype(np.int64), src.astype(np.int64)
    out = flambeau.tensor(xi).scatter_reduce(0, flambeau.tensor(idx), flambeau.tensor(si), reduce,
                                            include_self=include_self)
    ref = torch.tensor(xi).scatter_reduce(0, torch.tensor(idx), torch.tensor(si), reduce, include_self=include_self)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())


def test_scatter_reduce_inplace_multiply_and_errors():
    x, src = rand(3, 4), rand(2, 4, seed=1)
    idx = np.array([[0, 1, 2, 0], [0, 0, 2, 1]])
    check(lambda lib, a, s: (a * 1).scatter_reduce_(0, lib.tensor(idx), s, "amax"), x, src)
    check(lambda lib, a, s: a.scatter(0, lib.tensor(idx), s, reduce="multiply"), x, src, grad=False)
    check(lambda lib, a: a.scatter(0, lib.tensor(idx), 3.0, reduce="multiply"), x, grad=False)
    for lib in (flambeau, torch):
        a, s = lib.ones(3, 4), lib.ones(2, 4)
        with pytest.raises(RuntimeError, match="reduce argument must be either sum, prod, mean, amax or amin"):
            a.scatter_reduce(0, lib.tensor(idx), s, "maximum")
        with pytest.raises(RuntimeError, match="Expected self.dtype to be equal to src.dtype"):
            a.scatter_reduce(0, lib.tensor(idx), s.double(), "sum")
        with pytest.raises(RuntimeError, match="out of bounds|index 5"):
            a.scatter_reduce(0, lib.tensor([[5, 0, 0, 0]]), s, "sum")


def test_scatter_family_on_0d_tensors_and_aliases():
    zero = np.array(2.0)
    check(lambda lib, a, s: a.scatter_reduce(0, lib.tensor(0), s, "prod"), zero, np.array(3.0))
    check(lambda lib, a, s: a.scatter(0, lib.tensor(0), s), zero, np.array(3.0))
    check(lambda lib, a, s: a.scatter_add(0, lib.tensor(0), s), zero, np.array(3.0))
    x, src, idx = rand(3), rand(3, seed=1), np.array([0, 0, 1])
    for alias in ("max", "min"):   # PyTorch's other spellings of amax / amin (its backward rejects them)
        check(lambda lib, a, s: a.scatter_reduce(0, lib.tensor(idx), s, alias), x, src, grad=False)
    check(lambda lib, a: a.scatter(0, lib.tensor(idx), 2.0, reduce="add"), x, grad=False)


def test_scatter_inplace():
    def f(lib, x, s):
        y = x * 1
        y.scatter_(1, lib.tensor([[0, 2], [1, 1]]), s)
        y.scatter_add_(0, lib.tensor([[1, 0, 0]]), y[:1].exp())
        return y
    check(f, rand(2, 3), rand(2, 2, seed=1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_index_select_take_index_add(dtype):
    x = rand(4, 3, dtype=dtype)
    check(lambda lib, a: a.index_select(0, lib.tensor([3, 0, 3])), x)
    check(lambda lib, a: lib.index_select(a, -1, lib.tensor([2])), x, noncontiguous=True)
    check(lambda lib, a: a.index_select(0, lib.tensor([], dtype=lib.int64)), x)
    check(lambda lib, a: a.take(lib.tensor([[0, 11], [5, 5]])), x)
    check(lambda lib, a: lib.take(a, lib.tensor([-1, 2])), x, noncontiguous=True)
    src = rand(3, 3, dtype=dtype, seed=1)
    check(lambda lib, a, s: a.index_add(0, lib.tensor([1, 3, 1]), s), x, src)
    check(lambda lib, a, s: a.index_add(0, lib.tensor([0, 0, 2]), s, alpha=2.), x, src)
    check(lambda lib, a, s: lib.index_add(a, 1, lib.tensor([2, 0, 2]), s[:4] if False else s.t()[:, :3].repeat(2, 1)[:4]),
          x, src)
    with pytest.raises(IndexError):
        to_fl(x).index_select(0, flambeau.tensor([4]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_fill_select(dtype):
    x = rand(3, 4, dtype=dtype)
    m = rand(3, 4, seed=3) > 0
    check(lambda lib, a: a.masked_fill(lib.tensor(m), 2.), x)
    check(lambda lib, a: lib.masked_fill(a, lib.tensor(m[0]), -np.inf), x, noncontiguous=True)
    check(lambda lib, a, v: a.masked_fill(lib.tensor(m), v), x, np.array(0.5, dtype))
    check(lambda lib, a: a.masked_fill(a > 0, 0.), x)
    check(lambda lib, a: a.masked_select(lib.tensor(m)), x)
    check(lambda lib, a: lib.masked_select(a, lib.tensor(m[:, :1])), x, noncontiguous=True)
    check(lambda lib, a: a.masked_select(lib.tensor(np.zeros((3, 4), bool))), x)

    def inplace(lib, a):
        y = a * 1
        y.masked_fill_(a < 0, 0.)
        return y
    check(inplace, x)
    with pytest.raises(RuntimeError):
        to_fl(x).masked_fill(flambeau.tensor(m.astype(np.int64)), 0.)
    with pytest.raises(RuntimeError):
        to_fl(x).masked_fill(flambeau.tensor(m), flambeau.ones(2))


def test_nonzero_where_argwhere():
    x = np.array([[0, 1.5, 0], [2, 0, -3]], np.float32)
    for xs in (x, np.zeros((2, 3), np.float32), np.array(1., np.float32), np.array(0., np.float32),
               np.zeros((0, 3), np.float32)):
        check(lambda lib, a: a.nonzero(), xs, grad=False)
        check(lambda lib, a: lib.nonzero(a, as_tuple=True), xs, grad=False)
        check(lambda lib, a: lib.where(a), xs, grad=False)
        check(lambda lib, a: lib.argwhere(a), xs, grad=False)
    check(lambda lib, a: lib.where(a > 0, a, a * 2), x)


def test_index_put_and_fill():
    x = rand(4, 3)
    check(lambda lib, a, v: a.index_put((lib.tensor([0, 2]),), v), x, rand(2, 3, seed=1))
    check(lambda lib, a, v: a.index_put((lib.tensor([0, 0]), lib.tensor([1, 1])), v, accumulate=True),
          x, rand(2, seed=1))
    check(lambda lib, a: a.index_fill(1, lib.tensor([0, 2]), -1.), x)


INDEX_GRADCHECK = [
    lambda lib, a: a[1:, ::2],
    lambda lib, a: a[[0, 0, 2], 1:],
    lambda lib, a: a[a > 0.3],
    lambda lib, a: a.gather(1, lib.tensor([[0, 0], [2, 1], [3, 3]])),
    lambda lib, a: a.scatter(1, lib.tensor([[0], [2], [3]]), a[:, :1] * 2),
    lambda lib, a: a.scatter_add(0, lib.tensor([[0, 0, 0, 0]]), a[1:2]),
    lambda lib, a: a.index_select(1, lib.tensor([3, 1, 3])),
    lambda lib, a: a.masked_fill(a > 0.5, 0.),
    lambda lib, a: a.masked_fill(a > 0.5, a[0, 0]),
    lambda lib, a: a.take(lib.tensor([0, 5, 5])),
    lambda lib, a: a.index_add(0, lib.tensor([2, 2]), a[:2] * a[:2]),
    lambda lib, a: a.index_put((lib.tensor([1, 1]),), a[0], accumulate=True),
    lambda lib, a: a.masked_select(a < 0.4),
]


@pytest.mark.parametrize("k", range(len(INDEX_GRADCHECK)))
def test_gradcheck_indexing(k):
    x = np.random.default_rng(k).permutation(12).reshape(3, 4).astype(np.float64) / 11
    assert gradcheck(INDEX_GRADCHECK[k], x)


def test_gradcheck_setitem():
    def f(lib, a, w):
        z = a * 1
        z[1, [0, 2]] = w
        return z
    assert gradcheck(f, rand(3, 4, dtype=np.float64), rand(2, dtype=np.float64, seed=1))


# integers mixed with index tensors: PyTorch selects the integers first, so they do not count as
# index tensors (NumPy's one-step rule would give x[0, :, [1, 2]] the shape (2, 3), not (3, 2))
MIXED = [(0, None, slice(None), [0, 0]), (0, slice(None), [1, 2]), ([0, 1], 0, [1, 2]),
         (Ellipsis, 1, [0, 1]), ([1], Ellipsis, 2), (1, [True, False, True]),
         (0, [[0, 1], [1, 2]], slice(1, 3)), (-1, [2, 0], None, 3)]


@pytest.mark.parametrize("idx", MIXED)
def test_integers_with_index_tensors_follow_pytorch(idx):
    x = rand(2, 3, 4, dtype=np.float64)
    check(lambda lib, a: a[idx], x)

    def write(lib, a, v):
        b = a * 1
        b[idx] = v
        return b
    v = torch.from_numpy(x)[idx].numpy() * 0 + rand(1, dtype=np.float64, seed=3)
    check(write, x, v)
