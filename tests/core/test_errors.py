"""Exception types and the gist of messages, as PyTorch raises them."""
import re

import pytest
import torch

import flambeau

LIBS = [flambeau, torch]


def both_raise(fn, exc, pattern=None):
    """``fn(lib)`` raises ``exc`` for flambeau and torch; flambeau's message matches ``pattern``."""
    msgs = []
    for lib in LIBS:
        with pytest.raises(exc) as e:
            fn(lib)
        msgs.append(str(e.value))
    if pattern is not None:
        assert re.search(pattern, msgs[0]), f"flambeau: {msgs[0]!r} (torch: {msgs[1]!r})"
    return msgs[0]


def test_add_shape_mismatch_names_sizes():
    m = both_raise(lambda lib: lib.ones(2, 3) + lib.ones(4), RuntimeError,
                   r"size of tensor a .* must match the size of tensor b")
    assert "[2, 3]" in m and "[4]" in m


def test_matmul_mismatch_names_both_shapes():
    both_raise(lambda lib: lib.ones(2, 3) @ lib.ones(4, 5), RuntimeError,
               r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)")
    m = both_raise(lambda lib: lib.ones(6, 2, 3) @ lib.ones(6, 4, 5), RuntimeError)
    assert "[6, 2, 3]" in m and "[6, 4, 5]" in m


def test_view_and_cat_messages():
    both_raise(lambda lib: lib.ones(6).view(4, -1), RuntimeError, r"shape '\[4, -1\]' is invalid for input of size 6")
    m = both_raise(lambda lib: lib.ones(3, 4).t().view(12), RuntimeError, "view size is not compatible")
    assert "[4, 3]" in m and "[12]" in m
    m = both_raise(lambda lib: lib.cat([lib.ones(2, 3), lib.ones(2, 5)]), RuntimeError,
                   "Sizes of tensors must match except in dimension 0")
    assert "[2, 3]" in m and "[2, 5]" in m
    both_raise(lambda lib: lib.cat([lib.ones(2, 3), lib.ones(3)]), RuntimeError, "same number of dimensions")
    both_raise(lambda lib: lib.ones(2).reshape(3), RuntimeError, "invalid for input of size 2")
    both_raise(lambda lib: lib.ones(2, 3).expand(3, 3), RuntimeError, "expanded size")


def test_dim_errors():
    both_raise(lambda lib: lib.ones(2, 3).transpose(0, 2), IndexError, "Dimension out of range")
    both_raise(lambda lib: lib.ones(2, 3).sum(-3), IndexError, "Dimension out of range")
    both_raise(lambda lib: lib.ones(2, 3).unsqueeze(3), IndexError, "Dimension out of range")
    both_raise(lambda lib: lib.ones(2, 3).squeeze(2), IndexError, "Dimension out of range")
    both_raise(lambda lib: lib.ones(2, 3).size(2), IndexError, "Dimension out of range")
    both_raise(lambda lib: lib.ones(2, 3).permute(0, 1, 2), RuntimeError)


def test_index_errors():
    both_raise(lambda lib: lib.ones(2, 3)[2], IndexError, "out of")
    both_raise(lambda lib: lib.ones(2, 3)[:, 3], IndexError, "out of")
    both_raise(lambda lib: lib.ones(2, 3)[lib.tensor([0, 2])], IndexError)
    both_raise(lambda lib: lib.ones(3)[0, 0], IndexError)
    both_raise(lambda lib: lib.tensor(1.)[0], IndexError, "invalid index of a 0-dim tensor")
    both_raise(lambda lib: lib.ones(3)[lib.tensor([0.5])], IndexError, "tensors used as indices must be long")
    both_raise(lambda lib: lib.ones(2, 3).gather(1, lib.tensor([[0, 3]])), RuntimeError)


def test_autograd_errors():
    both_raise(lambda lib: lib.ones(2, requires_grad=True).mul(2).backward(), RuntimeError,
               "grad can be implicitly created only for scalar outputs")
    both_raise(lambda lib: lib.ones(2).sum().backward(), RuntimeError,
               "element 0 of tensors does not require grad and does not have a grad_fn")
    both_raise(lambda lib: lib.ones(2, requires_grad=True).add_(1), RuntimeError,
               "a leaf Variable that requires grad is being used in an in-place operation.")
    both_raise(lambda lib: lib.ones(2, requires_grad=True).numpy(), RuntimeError, r"Use tensor.detach\(\).numpy\(\)")
    both_raise(lambda lib: lib.ones(2, dtype=lib.int64, requires_grad=True), RuntimeError,
               "only Tensors of floating point")
    both_raise(lambda lib: lib.ones(2).item(), RuntimeError, "a Tensor with 2 elements cannot be converted to Scalar")
    both_raise(lambda lib: bool(lib.ones(2)), RuntimeError, "ambiguous")


def test_freed_graph_error():
    def f(lib):
        x = lib.ones(2, requires_grad=True)
        y = x.exp().sum()
        y.backward()
        y.backward()
    both_raise(f, RuntimeError, "Trying to backward through the graph a second time")


def test_saved_tensor_modified_error():
    def f(lib):
        x = lib.ones(2, requires_grad=True)
        y = x.sigmoid()
        y.mul_(2)
        y.sum().backward()
    both_raise(f, RuntimeError, r"one of the variables needed for gradient computation has been modified by an "
                                r"inplace operation: .* is at version 1; expected version 0 instead")
