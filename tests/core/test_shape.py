"""Shape ops against PyTorch: values, dtypes, gradients and memory sharing of views."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import flambeau
from helpers import check, gradcheck, rand, to_fl

DTYPES = [np.float32, np.float64]
HYP = settings(max_examples=25, deadline=None)


def shares(a, b):
    """Whether two flambeau tensors share storage."""
    return a.storage().data_ptr() == b.storage().data_ptr()


# ---------------------------------------------------------------------------- view / reshape
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(12,), (3, 4), (-1, 6), (2, -1, 3), (2, 2, 3)])
def test_view_values_and_grad(dtype, shape):
    check(lambda lib, x: x.view(*shape) * 2, rand(3, 4, dtype=dtype))
    check(lambda lib, x: x.view(shape), rand(3, 4, dtype=dtype))


def test_view_shares_memory_both_ways():
    x = flambeau.arange(12.)
    v = x.view(3, 4)
    assert v.data_ptr() == x.data_ptr() and shares(v, x)
    v[1, 2] = 100.
    assert x[6].item() == 100.
    x[0] = -5.
    assert v[0, 0].item() == -5.
    assert v._version is x._version


def test_view_scalar_and_empty():
    check(lambda lib, x: x.view(1, 1) + 0, np.array(3.0, np.float32))
    check(lambda lib, x: x.view(-1), np.array(3.0, np.float64))
    check(lambda lib, x: x.view(0, 3), np.zeros((3, 0), np.float32))
    check(lambda lib, x: x.view(2, 0, 5), np.zeros((4, 0), np.float32))
    with pytest.raises(RuntimeError, match="ambiguous"):
        flambeau.zeros(4, 0).view(2, 0, -1)
    with pytest.raises(RuntimeError, match="invalid shape dimension -2"):
        flambeau.zeros(4).view(-2, 2)


def test_view_not_viewable_error_names_shapes():
    x = flambeau.arange(12.).reshape(3, 4).t()
    with pytest.raises(RuntimeError, match="view size is not compatible") as e:
        x.view(12)
    assert "[4, 3]" in str(e.value) and "[12]" in str(e.value)
    with pytest.raises(RuntimeError, match=r"shape '\[5, -1\]' is invalid for input of size 12"):
        flambeau.zeros(12).view(5, -1)
    with pytest.raises(RuntimeError, match="only one dimension can be inferred"):
        flambeau.zeros(12).view(-1, -1)
    with pytest.raises(RuntimeError, match="invalid for input of size 12"):
        flambeau.zeros(12).view(5, 2)


def test_view_of_transposed_when_compatible():
    # a permuted tensor can still be viewed when the split dims stay contiguous
    check(lambda lib, x: x.permute(1, 0, 2).view(4, 3, 1, 5), rand(3, 4, 5))
    check(lambda lib, x: x.t().view(4, 3, 1), rand(3, 4), noncontiguous=False)


def test_reshape_view_when_possible_copy_otherwise():
    x = flambeau.arange(12.).view(3, 4)
    r = x.reshape(4, 3)
    assert shares(r, x) and r.data_ptr() == x.data_ptr()
    r[0, 0] = 7.
    assert x[0, 0].item() == 7.
    c = x.t().reshape(12)
    assert c.is_contiguous()
    c[0] = -1.
    assert x[0, 0].item() == 7.
    assert c._version is not x._version


@pytest.mark.parametrize("dtype", DTYPES)
def test_reshape(dtype):
    check(lambda lib, x: x.reshape(2, 6), rand(3, 4, dtype=dtype), noncontiguous=True)
    check(lambda lib, x: x.reshape(-1), rand(3, 4, dtype=dtype), noncontiguous=True)
    check(lambda lib, x: lib.reshape(x, (4, -1)), rand(3, 4, dtype=dtype))
    check(lambda lib, x: x.reshape(()), rand(1, dtype=dtype))
    check(lambda lib, x: x.reshape(0, 5), rand(5, 0, dtype=dtype))


@st.composite
def _shape_and_factor(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=4)))
    n = int(np.prod(shape)) if shape else 1
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    d = draw(st.sampled_from(divisors))
    return shape, (d, -1)


@HYP
@given(_shape_and_factor(), st.booleans())
def test_reshape_hypothesis(sf, transpose):
    shape, new = sf
    x = rand(*shape, dtype=np.float64)
    if transpose and len(shape) >= 2:
        check(lambda lib, a: a.transpose(0, -1).reshape(new), x)
    else:
        check(lambda lib, a: a.reshape(new), x)


@HYP
@given(st.lists(st.integers(1, 3), min_size=1, max_size=4), st.randoms(use_true_random=False))
def test_permute_hypothesis(shape, rnd):
    perm = list(range(len(shape)))
    rnd.shuffle(perm)
    perm = [p - len(shape) if rnd.random() < 0.5 else p for p in perm]  # some negative dims
    x = rand(*shape, dtype=np.float64)
    out = check(lambda lib, a: a.permute(*perm), x)
    check(lambda lib, a: lib.permute(a, perm) * 1, x)
    assert out.is_contiguous() == torch.from_numpy(x).permute(*perm).is_contiguous()


@pytest.mark.parametrize("dtype", DTYPES)
def test_flatten_unflatten(dtype):
    x = rand(2, 3, 4, dtype=dtype)
    check(lambda lib, a: a.flatten(), x)
    check(lambda lib, a: a.flatten(1), x, noncontiguous=True)
    check(lambda lib, a: lib.flatten(a, -3, -2), x)
    check(lambda lib, a: a.flatten(), np.array(2.0, dtype))
    check(lambda lib, a: a.unflatten(-1, (2, 2)), x)
    check(lambda lib, a: a.unflatten(1, (-1, 1)), x, noncontiguous=True)
    f = to_fl(x)
    assert shares(f.flatten(), f) and shares(f.unflatten(2, (2, 2)), f)
    with pytest.raises(RuntimeError):
        to_fl(x).unflatten(2, (3, 2))


@pytest.mark.parametrize("dtype", DTYPES)
def test_transpose_t_T_mT(dtype):
    x = rand(2, 3, 4, dtype=dtype)
    check(lambda lib, a: a.transpose(0, -1), x)
    check(lambda lib, a: lib.transpose(a, -2, 1), x)
    check(lambda lib, a: a.mT, x)
    check(lambda lib, a: a.t(), rand(3, 4, dtype=dtype))
    check(lambda lib, a: a.t(), rand(3, dtype=dtype))
    check(lambda lib, a: a.T, rand(3, 4, dtype=dtype), noncontiguous=True)
    check(lambda lib, a: a.T, np.array(1.5, dtype))
    f = to_fl(x)
    tr = f.transpose(0, 2)
    assert shares(tr, f) and not tr.is_contiguous() and tr.stride() == (1, 4, 12)
    tr[1, 2, 0] = 9.
    assert f[0, 2, 1].item() == 9.
    with pytest.raises(RuntimeError):
        to_fl(x).t()
    with pytest.raises(RuntimeError):
        to_fl(rand(3)).mT
    with pytest.raises(IndexError):
        to_fl(x).transpose(0, 3)


def test_permute_errors():
    with pytest.raises(RuntimeError):
        flambeau.zeros(2, 3).permute(0)
    with pytest.raises(RuntimeError):
        flambeau.zeros(2, 3).permute(0, 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_expand(dtype):
    check(lambda lib, a: a.expand(3, 4), rand(3, 1, dtype=dtype))
    check(lambda lib, a: a.expand(2, -1, 4), rand(3, 1, dtype=dtype))
    check(lambda lib, a: a.expand(2, 3), np.array(1.0, dtype))
    check(lambda lib, a, b: a.expand_as(b) * b, rand(1, 4, dtype=dtype), rand(3, 4, dtype=dtype))
    check(lambda lib, a: lib.broadcast_to(a, (2, 3, 0)), rand(3, 1, dtype=dtype))
    f = to_fl(rand(3, 1))
    e = f.expand(3, 4)
    assert shares(e, f) and e.stride() == (1, 0)
    with pytest.raises(RuntimeError, match="expanded size"):
        f.expand(4, 4)
    with pytest.raises(RuntimeError):
        e.add_(1)  # several elements share one memory location


@pytest.mark.parametrize("dtype", DTYPES)
def test_squeeze_unsqueeze(dtype):
    x = rand(1, 3, 1, 2, dtype=dtype)
    check(lambda lib, a: a.squeeze(), x)
    check(lambda lib, a: a.squeeze(0), x)
    check(lambda lib, a: a.squeeze(1), x)
    check(lambda lib, a: a.squeeze(-2), x)
    check(lambda lib, a: a.squeeze((0, 2)), x)
    check(lambda lib, a: lib.squeeze(a, (-1, 0)), x)
    check(lambda lib, a: a.squeeze(), np.array(2.0, dtype))
    check(lambda lib, a: a.squeeze(0), np.array(2.0, dtype))
    check(lambda lib, a: a.unsqueeze(0), x)
    check(lambda lib, a: a.unsqueeze(-1), x)
    check(lambda lib, a: a.unsqueeze(2), x, noncontiguous=True)
    check(lambda lib, a: a.unsqueeze(0), np.array(2.0, dtype))
    check(lambda lib, a: a.unsqueeze(-1), np.array(2.0, dtype))
    f = to_fl(x)
    assert shares(f.squeeze(), f) and shares(f.unsqueeze(1), f)
    with pytest.raises(IndexError):
        f.unsqueeze(6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_narrow_select(dtype):
    x = rand(4, 5, dtype=dtype)
    check(lambda lib, a: a.narrow(1, 1, 3), x)
    check(lambda lib, a: a.narrow(-1, -2, 2), x)
    check(lambda lib, a: lib.narrow(a, 0, 0, 0), x)
    check(lambda lib, a: a.select(0, 2), x)
    check(lambda lib, a: a.select(-1, -1), x, noncontiguous=True)
    f = to_fl(x)
    n = f.narrow(1, 1, 3)
    assert shares(n, f) and n.storage_offset() == 1
    n[0, 0] = 42.
    assert f[0, 1].item() == 42.
    s = f.select(1, 2)
    assert s.storage_offset() == 2 and s.stride() == (5,)
    with pytest.raises(IndexError):
        f.select(0, 4)
    with pytest.raises((IndexError, RuntimeError)):
        f.narrow(0, 3, 2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_unbind_split_chunk(dtype):
    x = rand(5, 6, dtype=dtype)
    check(lambda lib, a: a.unbind(1), x)
    check(lambda lib, a: lib.unbind(a, -2), x)
    check(lambda lib, a: a.split(2), x)
    check(lambda lib, a: a.split(4, dim=-1), x)
    check(lambda lib, a: a.split([1, 3, 2], 1), x, noncontiguous=True)
    check(lambda lib, a: lib.split(a, [5, 0], 0), x)
    check(lambda lib, a: a.chunk(2), x)
    check(lambda lib, a: a.chunk(4, -1), x)
    check(lambda lib, a: a.chunk(3, 0), x)
    check(lambda lib, a: lib.chunk(a, 6, 1), x)
    # only some outputs used: the others get no gradient contribution
    check(lambda lib, a: a.split(2)[1] * 3, x)
    check(lambda lib, a: a.unbind(0)[3], x)
    f = to_fl(x)
    parts = f.split(2)
    assert all(shares(p, f) for p in parts)
    parts[1][0, 0] = 17.
    assert f[2, 0].item() == 17.
    with pytest.raises(RuntimeError):
        f.split([1, 2], 0)
    with pytest.raises(RuntimeError):
        f.chunk(0)


def test_split_empty():
    check(lambda lib, a: a.split(2, 1), np.zeros((3, 0), np.float32))
    check(lambda lib, a: a.chunk(2, 1), np.zeros((3, 0), np.float32))
    check(lambda lib, a: a.unbind(1), np.zeros((3, 0), np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
def test_cat_stack(dtype):
    a, b, c = rand(2, 3, dtype=dtype), rand(4, 3, dtype=dtype, seed=1), rand(2, 3, dtype=dtype, seed=2)
    check(lambda lib, x, y: lib.cat([x, y]), a, b)
    check(lambda lib, x, y: lib.cat((x, y), dim=-2), a, b, noncontiguous=True)
    check(lambda lib, x, y: lib.cat([x, y], 1), a, c)
    check(lambda lib, x, y: lib.cat([x, y, x], 0), a, c)
    check(lambda lib, x, y: lib.cat([x, y]), a, np.zeros((0, 3), dtype))
    check(lambda lib, x, y: lib.cat([x, y]), a, np.zeros((0,), dtype))  # legacy: 1-D empty skipped
    check(lambda lib, x, y: lib.cat([y, x, y], 1), a, np.zeros((0,), np.float64))
    check(lambda lib, x, y: lib.stack([x, y]), a, c)
    check(lambda lib, x, y: lib.stack([x, y], -1), a, c)
    check(lambda lib, x, y: lib.stack([x, y], 1), a, c, noncontiguous=True)
    check(lambda lib, x, y: lib.stack([x, y]), np.array(1., dtype), np.array(2., dtype))


def test_cat_dtype_promotion():
    check(lambda lib, x, y: lib.cat([x, y]), rand(2), np.arange(3, dtype=np.int64))
    check(lambda lib, x, y: lib.cat([x, y]), rand(2), rand(3, dtype=np.float64))
    check(lambda lib, x, y: lib.cat([x, y]), np.array([True]), np.arange(3, dtype=np.int32))
    check(lambda lib, x, y: lib.stack([x, y]), rand(2), np.arange(2, dtype=np.int64))


def test_cat_errors_name_shapes():
    with pytest.raises(RuntimeError, match="Sizes of tensors must match") as e:
        flambeau.cat([flambeau.zeros(2, 3), flambeau.zeros(2, 4)])
    assert "[2, 3]" in str(e.value) and "[2, 4]" in str(e.value)
    with pytest.raises(RuntimeError):
        flambeau.cat([flambeau.zeros(2, 3), flambeau.zeros(3)])
    with pytest.raises(RuntimeError):
        flambeau.cat([flambeau.tensor(1.), flambeau.tensor(2.)])
    with pytest.raises(RuntimeError):
        flambeau.cat([])
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        flambeau.stack([flambeau.zeros(2), flambeau.zeros(3)])


@pytest.mark.parametrize("dtype", DTYPES)
def test_repeat_tile(dtype):
    x = rand(2, 3, dtype=dtype)
    check(lambda lib, a: a.repeat(2, 3), x)
    check(lambda lib, a: a.repeat(2, 1, 2), x, noncontiguous=True)
    check(lambda lib, a: a.repeat(1, 1), x)
    check(lambda lib, a: a.repeat(0, 2), x)
    check(lambda lib, a: a.repeat(3), rand(2, dtype=dtype))
    check(lambda lib, a: a.repeat(2, 2), np.array(1.5, dtype))
    check(lambda lib, a: a.tile((2,)), x)
    check(lambda lib, a: lib.tile(a, (2, 1, 3)), x)
    with pytest.raises(RuntimeError):
        to_fl(x).repeat(2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_flip_roll(dtype):
    x = rand(3, 4, 2, dtype=dtype)
    check(lambda lib, a: a.flip(0), x)
    check(lambda lib, a: a.flip((0, -1)), x, noncontiguous=True)
    check(lambda lib, a: lib.flip(a, [1]), x)
    check(lambda lib, a: lib.fliplr(a), x)
    check(lambda lib, a: lib.flipud(a), x)
    check(lambda lib, a: a.roll(1), x)
    check(lambda lib, a: a.roll(-2, 1), x)
    check(lambda lib, a: a.roll((1, 5), (0, -1)), x, noncontiguous=True)
    check(lambda lib, a: lib.roll(a, 7, 0), x)
    check(lambda lib, a: a.roll(1, 0), np.zeros((0, 2), dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_tril_triu(dtype):
    x = rand(4, 5, dtype=dtype)
    for k in (-2, 0, 1, 7):
        check(lambda lib, a: a.tril(k), x)
        check(lambda lib, a: lib.triu(a, k), x, noncontiguous=True)
    check(lambda lib, a: a.tril(), rand(2, 3, 3, dtype=dtype))
    check(lambda lib, a: a.triu(-1), rand(2, 3, 3, dtype=dtype))
    with pytest.raises(RuntimeError):
        to_fl(rand(3)).tril()


@pytest.mark.parametrize("dtype", DTYPES)
def test_sort_argsort_topk(dtype):
    x = np.random.default_rng(0).permutation(24).reshape(4, 6).astype(dtype)  # distinct values
    check(lambda lib, a: a.sort(), x)
    check(lambda lib, a: a.sort(0, descending=True), x, noncontiguous=True)
    check(lambda lib, a: lib.sort(a, dim=-2), x)
    check(lambda lib, a: a.sort().values, x)
    check(lambda lib, a: a.argsort(), x)
    check(lambda lib, a: lib.argsort(a, 0, descending=True), x)
    check(lambda lib, a: a.topk(3), x)
    check(lambda lib, a: a.topk(2, dim=0, largest=False), x)
    check(lambda lib, a: lib.topk(a, 1, -2), x, noncontiguous=True)
    check(lambda lib, a: a.topk(0), x)
    check(lambda lib, a: a.sort(), np.array(3.0, dtype))
    check(lambda lib, a: a.sort(), np.zeros((0,), dtype))
    check(lambda lib, a: a.sort(stable=True), np.array([3., 1., 3., 1.], dtype))
    check(lambda lib, a: a.sort(stable=True, descending=True), np.array([3., 1., 3., 1.], dtype))
    check(lambda lib, a: a.sort(), np.array([3, 1, 2], np.int64), grad=False)
    with pytest.raises(RuntimeError):
        to_fl(x).topk(7)
    r = flambeau.sort(to_fl(x))
    assert type(r).__name__ == "sort" or hasattr(r, "values") and hasattr(r, "indices")


@pytest.mark.parametrize("dtype", DTYPES)
def test_movedim(dtype):
    x = rand(2, 3, 4, 5, dtype=dtype)
    check(lambda lib, a: a.movedim(0, -1), x)
    check(lambda lib, a: lib.movedim(a, (0, 1), (-1, 0)), x)
    check(lambda lib, a: lib.movedim(a, (3, 1), (0, 2)), x)
    check(lambda lib, a: a.moveaxis(1, 2), x)
    f = to_fl(x)
    assert shares(f.movedim(0, 2), f)


@pytest.mark.parametrize("dtype", DTYPES)
def test_diagonal(dtype):
    check(lambda lib, a: a.diagonal(), rand(4, 5, dtype=dtype))
    check(lambda lib, a: a.diagonal(1), rand(4, 5, dtype=dtype))
    check(lambda lib, a: a.diagonal(-2), rand(4, 5, dtype=dtype), noncontiguous=True)
    check(lambda lib, a: a.diagonal(0, -1, 0), rand(2, 3, 4, dtype=dtype))
    check(lambda lib, a: lib.diagonal(a, 1, 2, 1), rand(2, 3, 4, dtype=dtype))
    check(lambda lib, a: a.diagonal(9), rand(3, 3, dtype=dtype))
    f = to_fl(rand(3, 3))
    d = f.diagonal()
    assert shares(d, f) and d.stride() == (4,)
    d[1] = 50.
    assert f[1, 1].item() == 50.


@pytest.mark.parametrize("dtype", DTYPES)
def test_unfold(dtype):
    x = rand(3, 10, dtype=dtype)
    check(lambda lib, a: a.unfold(1, 3, 2), x)
    check(lambda lib, a: a.unfold(-1, 4, 1), x, noncontiguous=True)
    check(lambda lib, a: a.unfold(0, 2, 1), x)
    check(lambda lib, a: a.unfold(1, 10, 3), x)
    check(lambda lib, a: a.unfold(0, 1, 1), np.array(2.0, dtype))
    f = to_fl(x)
    u = f.unfold(1, 3, 2)
    assert shares(u, f) and u.stride() == (10, 2, 1)
    with pytest.raises(RuntimeError):
        f.unfold(1, 11, 1)


def test_contiguous():
    x = flambeau.arange(12.).view(3, 4)
    assert x.is_contiguous() and x.contiguous() is x
    t = x.t()
    assert not t.is_contiguous()
    c = t.contiguous()
    assert c.is_contiguous() and not shares(c, x)
    np.testing.assert_array_equal(c.numpy(), t.numpy())
    check(lambda lib, a: a.t().contiguous() * 2, rand(3, 4))
    # a column slice is not contiguous, a row slice is
    assert not x[:, 1:].is_contiguous() and x[1:].is_contiguous()
    assert x[:, ::2].stride() == (4, 2)


def test_storage_and_data_ptr():
    x = flambeau.arange(12.)
    item = x.element_size()
    s = x[3:]
    assert s.storage().data_ptr() == x.storage().data_ptr()
    assert s.data_ptr() == x.data_ptr() + 3 * item
    assert s.storage_offset() == 3
    r = x.view(3, 4)[1:].reshape(8)
    assert r.storage().data_ptr() == x.storage().data_ptr() and r.storage_offset() == 4
    c = x.clone()
    assert c.storage().data_ptr() != x.storage().data_ptr()
    c[0] = 9.
    assert x[0].item() == 0.
    d = x.detach()
    assert d.data_ptr() == x.data_ptr()


def test_views_chain_share_with_root():
    x = flambeau.zeros(2, 3, 4)
    v = x.permute(2, 0, 1)[1:3].reshape(2, 6)[:, ::2]
    v.fill_(1.)
    tx = torch.zeros(2, 3, 4)
    tx.permute(2, 0, 1)[1:3].reshape(2, 6)[:, ::2].fill_(1.)
    np.testing.assert_array_equal(x.numpy(), tx.numpy())
    assert v._version is x._version and x._version[0] == 1


SHAPE_GRADCHECK = [
    lambda lib, a: a.view(4, 3),
    lambda lib, a: a.t().reshape(-1),
    lambda lib, a: a.permute(1, 0).flatten(),
    lambda lib, a: a.unsqueeze(1).expand(3, 2, 4),
    lambda lib, a: a.narrow(1, 1, 2).select(0, -1),
    lambda lib, a: lib.cat(a.split([1, 2], 0)[::-1], 0),
    lambda lib, a: lib.stack(a.unbind(1), 0),
    lambda lib, a: a.repeat(2, 1, 2),
    lambda lib, a: a.flip(0).roll(1, 1),
    lambda lib, a: a.tril(1) + a.triu(-1),
    lambda lib, a: a.sort(1).values,
    lambda lib, a: a.topk(2, 0).values,
    lambda lib, a: a.diagonal(1),
    lambda lib, a: a.unfold(1, 2, 1),
    lambda lib, a: a.movedim(0, 1).chunk(2, 0)[1],
]


@pytest.mark.parametrize("k", range(len(SHAPE_GRADCHECK)))
def test_gradcheck_shape_ops(k):
    x = np.random.default_rng(k).permutation(12).reshape(3, 4).astype(np.float64) / 7
    assert gradcheck(SHAPE_GRADCHECK[k], x)


def test_view_dtype_reinterprets_bits():
    for lib in (flambeau, torch):
        x = lib.tensor([1.0, -2.0])
        i = x.view(lib.int32)
        assert i.dtype == lib.int32 and i.tolist() == np.array([1.0, -2.0], np.float32).view(np.int32).tolist()
        i[0] = 0
        assert x[0].item() == 0.0
        t = lib.ones(3, 2).t().view(lib.int32)
        assert t.shape == (2, 3) and t[0, 0].item() == 1065353216
