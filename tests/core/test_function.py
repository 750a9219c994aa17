"""``autograd.Function`` used exactly as in PyTorch, compared with torch's own."""
import numpy as np
import pytest
import torch

import flambeau
from helpers import check, gradcheck, make_exp, rand


def make_two_out(lib):
    class SinCosScaled(lib.autograd.Function):
        """Two outputs, a non-tensor argument, a non-differentiable output and None gradients."""

        @staticmethod
        def forward(ctx, x, w, scale, flag):
            ctx.scale = scale
            ctx.flag = flag
            ctx.save_for_backward(x, w)
            idx = (x > 0).long()
            ctx.mark_non_differentiable(idx)
            return x.sin() * w * scale, x.cos() * w, idx

        @staticmethod
        def backward(ctx, g1, g2, g_idx):
            x, w = ctx.saved_tensors
            assert g_idx is None or not g_idx.any()
            gx = gw = None
            if ctx.needs_input_grad[0]:
                gx = g1 * x.cos() * w * ctx.scale - g2 * x.sin() * w
            if ctx.needs_input_grad[1]:
                gw = g1 * x.sin() * ctx.scale + g2 * x.cos()
            return gx, gw, None, None
    return SinCosScaled


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_custom_exp(dtype):
    check(lambda lib, x: make_exp(lib).apply(x), rand(3, 4, dtype=dtype))
    check(lambda lib, x: make_exp(lib).apply(x * 2).sum() * x, rand(3, dtype=dtype))
    assert gradcheck(lambda lib, x: make_exp(lib).apply(x), rand(5, dtype=np.float64))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_custom_two_outputs(dtype):
    check(lambda lib, x, w: make_two_out(lib).apply(x, w, 2.5, True), rand(4, dtype=dtype), rand(4, dtype=dtype, seed=1))
    check(lambda lib, x, w: make_two_out(lib).apply(x, w, 0.5, False)[1], rand(4, dtype=dtype),
          rand(4, dtype=dtype, seed=1))
    check(lambda lib, x, w: make_two_out(lib).apply(x, w.detach(), 1.0, False)[:2], rand(4, dtype=dtype),
          rand(4, dtype=dtype, seed=1))
    assert gradcheck(lambda lib, x, w: make_two_out(lib).apply(x, w, 1.5, True)[:2], rand(4, dtype=np.float64),
                     rand(4, dtype=np.float64, seed=1))


@pytest.mark.parametrize("lib", [flambeau, torch])
def test_function_flags(lib):
    x = lib.ones(3, requires_grad=True)
    w = lib.ones(3)
    a, b, idx = make_two_out(lib).apply(x, w, 1.0, True)
    assert a.requires_grad and b.requires_grad and not idx.requires_grad
    assert a.grad_fn is b.grad_fn and a.grad_fn is not None
    seen = {}

    class Spy(lib.autograd.Function):
        @staticmethod
        def forward(ctx, p, q, k):
            seen["grad_enabled"] = lib.is_grad_enabled()
            ctx.k = k
            return p * q * k

        @staticmethod
        def backward(ctx, g):
            seen["needs"] = tuple(ctx.needs_input_grad)
            return g * ctx.k, None, None
    y = Spy.apply(x, w, 3)
    y.sum().backward()
    assert seen == {"grad_enabled": False, "needs": (True, False, False)}
    assert x.grad.tolist() == [3., 3., 3.]
    with lib.no_grad():
        assert not Spy.apply(x, w, 3).requires_grad
    assert not Spy.apply(w, w, 3).requires_grad


@pytest.mark.parametrize("lib", [flambeau, torch])
def test_function_wrong_number_of_grads(lib):
    class Bad(lib.autograd.Function):
        @staticmethod
        def forward(ctx, p, q):
            return p * q

        @staticmethod
        def backward(ctx, g):
            return g
    x = lib.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        Bad.apply(x, x).sum().backward()


@pytest.mark.parametrize("lib", [flambeau, torch])
def test_function_saved_tensor_modified(lib):
    x = lib.ones(2, requires_grad=True)
    y = make_exp(lib).apply(x)
    y.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    z = make_exp(lib).apply(x).sum()
    z.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        z.backward()


@pytest.mark.parametrize("lib", [flambeau, torch])
def test_function_returning_input(lib):
    class Ident(lib.autograd.Function):
        @staticmethod
        def forward(ctx, p):
            return p

        @staticmethod
        def backward(ctx, g):
            return g * 2
    x = lib.ones(2, requires_grad=True)
    y = Ident.apply(x)
    assert y is not x and not y.is_leaf
    y.sum().backward()
    assert x.grad.tolist() == [2., 2.]
