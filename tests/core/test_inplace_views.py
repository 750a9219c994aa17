"""In-place ops and views against PyTorch: what is allowed, version counters, and gradients."""
import numpy as np
import pytest
import torch

import flambeau
from helpers import check, gradcheck, rand

LIBS = [flambeau, torch]
DTYPES = [np.float32, np.float64]


# ---------------------------------------------------------------------------- plain in-place ops
@pytest.mark.parametrize("dtype", DTYPES)
def test_inplace_values_without_grad(dtype):
    def f(lib, x, y):
        x = x.clone()
        x.add_(y)
        x.sub_(y, alpha=0.5)
        x.mul_(2)
        x.div_(y.abs() + 1)
        x.clamp_(-0.5, 0.7)
        x += 1
        x -= y
        x *= y
        x /= 3
        x.add_(1.5, alpha=2) if False else x.add_(1.5)
        return x
    check(f, rand(3, 4, dtype=dtype), rand(3, 4, dtype=dtype, seed=1), grad=False)
    check(f, rand(3, 4, dtype=dtype), rand(4, dtype=dtype, seed=1), grad=False)


def test_inplace_returns_self_and_bumps_version():
    for lib in LIBS:
        x = lib.zeros(3)
        v0 = x._version
        assert x.add_(1) is x and x.mul_(2) is x and x.zero_() is x and x.fill_(2.) is x
        assert x.copy_(lib.ones(3)) is x and x.clamp_(0, 0.5) is x
        x += 1
        x[0] = 3.
        assert x._version == v0 + 8 if lib is torch else x._version[0] == 8
        assert x.tolist() == [3., 1.5, 1.5]


def test_inplace_dtype_rules():
    for lib in LIBS:
        i = lib.zeros(3, dtype=lib.int64)
        with pytest.raises(RuntimeError, match="can't be cast"):
            i.add_(1.5)
        with pytest.raises(RuntimeError, match="can't be cast"):
            i.div_(2)
        with pytest.raises(RuntimeError):
            i.add_(lib.ones(3))
        i.add_(2)
        f = lib.zeros(3)
        f.add_(lib.ones(3, dtype=lib.int64))
        f.add_(lib.ones(3, dtype=lib.float64))  # float64 into float32: same kind, allowed
        assert f.dtype == lib.float32 and f.tolist() == [2., 2., 2.]
        with pytest.raises(RuntimeError):
            lib.zeros(3).add_(lib.ones(2, 3))  # the result would need a larger shape
        f.copy_(lib.tensor([1, 2, 3]))
        assert f.tolist() == [1., 2., 3.]
        f.fill_(lib.tensor(4.))
        assert f.tolist() == [4., 4., 4.]


@pytest.mark.parametrize("lib", LIBS)
def test_leaf_requiring_grad_inplace_error(lib):
    w = lib.ones(3, requires_grad=True)
    msg = "a leaf Variable that requires grad is being used in an in-place operation."
    for op in (lambda: w.add_(1), lambda: w.mul_(2), lambda: w.zero_(), lambda: w.fill_(1.),
               lambda: w.copy_(lib.zeros(3)), lambda: w.clamp_(0, 1), lambda: w.sub_(1), lambda: w.div_(2)):
        with pytest.raises(RuntimeError, match=msg):
            op()
    with pytest.raises(RuntimeError, match=msg):
        w += 1
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w[0:2].mul_(2)  # through a view of the leaf
    with lib.no_grad():
        w.mul_(2)
        w -= 0.5
        w[0] = 7.
    assert w.tolist() == [7., 1.5, 1.5] and w.is_leaf and w.requires_grad


# ---------------------------------------------------------------------------- saved tensors
@pytest.mark.parametrize("lib", LIBS)
def test_modified_saved_output_raises_at_backward(lib):
    x = lib.tensor([0.5, -1.], requires_grad=True)
    y = x.exp()
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    b = x.sigmoid()
    b.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        b.sum().backward()
    t = x.tanh()
    t[0] = 0.
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        t.sum().backward()


@pytest.mark.parametrize("lib", LIBS)
def test_modified_saved_input_raises_at_backward(lib):
    x = lib.tensor([0.5, -1.], requires_grad=True)
    h = x * 2
    z = h.sin()           # saves h
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()
    h2 = x * 2
    z2 = h2 * x           # saves h2 (needed for x's gradient)
    h2[1] = 0.
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z2.sum().backward()
    h3 = x * 2
    z3 = h3[0].exp()      # saves its output; modifying the base's other elements ...
    v = h3.view(2)
    v.mul_(2)             # ... still bumps the shared version: torch refuses too
    z3.backward()         # exp saved its own output, not h3: fine


@pytest.mark.parametrize("dtype", DTYPES)
def test_inplace_on_nonleaf_gives_torch_gradient(dtype):
    def f(lib, x):
        y = x * 2
        y += 1
        y.mul_(x)
        y.sub_(0.5)
        y.div_(2)
        y.clamp_(-0.8, 0.8)
        return y
    check(f, rand(5, dtype=dtype))

    def g(lib, x, w):
        z = x + 0
        z[0] = w[0]
        z[2:] = w[1:] * 3
        z.add_(w.sum())
        return z * z
    check(g, rand(4, dtype=dtype), rand(3, dtype=dtype, seed=1))

    def h(lib, x, w):
        y = x * 1
        y.copy_(w * 2)          # y's old value gets zero gradient
        return y
    check(h, rand(3, dtype=dtype), rand(3, dtype=dtype, seed=1))

    def k(lib, x, w):
        y = x * 1
        y.fill_(w.sum())        # fill with a 0-d tensor requiring grad
        return y * x
    check(k, rand(3, dtype=dtype), rand(2, dtype=dtype, seed=1))

    def m(lib, x):
        y = x * 1
        y.zero_()
        return y + x
    check(m, rand(3, dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_inplace_through_view_of_nonleaf(dtype):
    def f(lib, x):
        y = x * 1
        v = y[0:2]
        v.mul_(3)
        return y
    check(f, rand(4, dtype=dtype))

    def g(lib, x, w):
        y = x.sin()  * 1
        c = y[:, 1]
        c.add_(w)        # a column (strided view)
        t = y.t()
        t[0].mul_(2.)    # a view of the root through a transpose
        return y * 2
    check(g, rand(3, 4, dtype=dtype), rand(3, dtype=dtype, seed=1))

    def h(lib, x):
        y = x * 2
        v = y.view(2, 3)[1]
        v.mul_(v.detach() + 1)
        return y
    check(h, rand(6, dtype=dtype))

    for lib in LIBS:  # detach() shares the version counter: the saved operand is seen modified
        y = lib.ones(3, requires_grad=True) * 2
        v = y[1:]
        v.mul_(v.detach())
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


@pytest.mark.parametrize("dtype", DTYPES)
def test_view_sees_inplace_on_base(dtype):
    # after an in-place op on the base, an older view's history follows the base's new history
    def f(lib, x):
        y = x * 1
        v = y[1:]
        y.mul_(2)
        return v * 1
    check(f, rand(4, dtype=dtype))

    def g(lib, x, w):
        y = x * 1
        v = y.view(2, 2)
        y[0] = w[0]
        return v.sum(0) * w
    check(g, rand(4, dtype=dtype), rand(2, dtype=dtype, seed=1))

    def h(lib, x):
        y = x * 1
        a = y[0:2]
        b = y[1:3]
        a.mul_(2)
        b.mul_(3)
        return a * 1, b * 1, y * 1
    check(h, rand(4, dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_inplace_on_base_of_views_that_do_not_require_grad(dtype):
    def f(lib, x, w):
        y = x.detach() * 1
        v = y[1:3]
        v.copy_(w)        # the base now requires grad through the view
        return y
    check(f, rand(4, dtype=dtype), rand(2, dtype=dtype, seed=1))


def test_seed_pattern_accumulator():
    def f(lib, x, t):
        err_tot = lib.FloatTensor([0])
        for k in range(3):
            erreur = ((x * k - t) ** 2).sum()
            err_tot += erreur
        return err_tot
    check(f, rand(4), rand(4, seed=1))
    for lib in LIBS:
        e = lib.FloatTensor([0])
        x = lib.ones(2, requires_grad=True)
        e += (x * 2).sum()
        assert e.requires_grad and not e.is_leaf
        e.backward()
        assert x.grad.tolist() == [2., 2.]


@pytest.mark.parametrize("dtype", DTYPES)
def test_inplace_unary_methods(dtype):
    def f(lib, x):
        y = x * 1
        y.abs_()
        y.add_(0.1)
        y.log_()
        return y
    check(f, rand(4, dtype=dtype, low=0.2, high=1.0))

    def g(lib, x):
        y = x * 1
        y.masked_fill_(x > 0.7, 0.)
        y.tril_()
        y.relu_()
        return y
    check(g, rand(3, 3, dtype=dtype))


def test_copy_broadcast_and_errors():
    for lib in LIBS:
        x = lib.zeros(2, 3)
        x.copy_(lib.tensor([1., 2., 3.]))
        assert x.tolist() == [[1., 2., 3.]] * 2
        with pytest.raises(RuntimeError):
            x.copy_(lib.ones(4))
        e = lib.ones(3, 1).expand(3, 4)
        with pytest.raises(RuntimeError):
            e.mul_(2)


def test_gradcheck_inplace():
    def f(lib, x, w):
        y = x * 1
        y[1:3].mul_(w[:2])
        y.add_(w.sum())
        y[0] = w[2] * w[0]
        return y
    assert gradcheck(f, rand(4, dtype=np.float64), rand(3, dtype=np.float64, seed=1))


def test_integer_index_gives_a_0d_view():
    """x[1] of a vector is a 0-d view, as in PyTorch: in-place ops through it reach x, and it
    sees later writes to x."""
    import torch
    for lib in (flambeau, torch):
        x = lib.zeros(3)
        x[1].fill_(5)
        x.select(0, 2).add_(1)
        v = x[0]
        x[0] = 7
        assert x.tolist() == [7.0, 5.0, 1.0] and v.item() == 7.0
        w = lib.ones(2, 3, requires_grad=True)
        y = w * 2
        y[1, 2].mul_(3)
        y.sum().backward()
        assert w.grad.tolist() == [[2.0, 2.0, 2.0], [2.0, 2.0, 6.0]]
