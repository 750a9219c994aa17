"""``torch.autograd.forward_ad``: forward-mode derivatives with dual tensors.

    with forward_ad.dual_level():
        x = forward_ad.make_dual(primal, tangent)
        y = f(x)
        jvp = forward_ad.unpack_dual(y).tangent        # J_f(primal) @ tangent

flambeau has no per-op forward rules: a dual tensor is recorded like any tensor that requires
grad, and ``unpack_dual`` computes the tangent when asked, by the double-vjp trick (J t is the
gradient in u of (J^T u) . t, with the second-derivative machinery). The values are PyTorch's;
the difference a user can see is that tensors computed from duals require grad.
"""
from __future__ import annotations

from collections import namedtuple

__all__ = ["dual_level", "enter_dual_level", "exit_dual_level", "make_dual", "unpack_dual", "UnpackedDualTensor"]

UnpackedDualTensor = namedtuple("UnpackedDualTensor", ["primal", "tangent"])

_LEVELS = []      # one dict per open level: id(dual) -> (dual, tangent)


def enter_dual_level():
    _LEVELS.append({})
    return len(_LEVELS) - 1


def exit_dual_level(*, level=None):
    if not _LEVELS or (level is not None and level != len(_LEVELS) - 1):
        raise RuntimeError("Trying to exit a forward AD level that was not the last one that was created. This is "
                           "not supported.")
    _LEVELS.pop()


class dual_level:
    """``with dual_level():``: the duals made inside lose their tangents on exit."""

    def __enter__(self):
        return enter_dual_level()

    def __exit__(self, *exc):
        exit_dual_level()


def _level(level):
    if not _LEVELS:
        raise RuntimeError("Trying to create a dual Tensor for forward AD but no level exists, make sure to "
                           "enter_dual_level() first.")
    return _LEVELS[-1 if level is None else level]


def make_dual(tensor, tangent, *, level=None):
    """A tensor equal to ``tensor`` carrying the tangent ``tangent`` (same shape)."""
    from .grad_mode import enable_grad
    duals = _level(level)
    if tuple(tangent.shape) != tuple(tensor.shape):
        raise RuntimeError(f"Trying to set a forward gradient that has a different size than that of the original "
                           f"Tensor, this is not supported. Tensor is of size {list(tensor.shape)} while the given "
                           f"forward gradient is of size {list(tangent.shape)}.")
    if not tensor.is_floating_point():
        raise ValueError(f"Expected primal to be floating point or complex, but got: {tensor.dtype}")
    with enable_grad():
        dual = tensor.view_as(tensor) if tensor.requires_grad else tensor.detach().requires_grad_(True)
    duals[id(dual)] = (dual, tangent.detach())
    return dual


def unpack_dual(tensor, *, level=None):
    """``(primal, tangent)`` of ``tensor``: its tangent is J @ t summed over the duals it depends
    on (None if it depends on none)."""
    from . import grad
    from .grad_mode import enable_grad
    from .._creation import zeros_like
    if not _LEVELS or not tensor.requires_grad:
        return UnpackedDualTensor(tensor, None)
    duals = _level(level)
    own = duals.get(id(tensor))
    if own is not None and own[0] is tensor:
        return UnpackedDualTensor(tensor.detach(), own[1])
    entries = list(duals.values())
    if not entries:
        return UnpackedDualTensor(tensor, None)
    with enable_grad():
        u = zeros_like(tensor).requires_grad_(True)
        gs = grad(tensor, [d for d, _ in entries], u, retain_graph=True, create_graph=True, allow_unused=True)
        pairs = [(g, t) for g, (_, t) in zip(gs, entries) if g is not None]
        if not pairs:
            return UnpackedDualTensor(tensor.detach(), None)
        live = [(g, t) for g, t in pairs if g.requires_grad]
        jv = grad([g for g, _ in live], u, [t for _, t in live], allow_unused=True)[0] if live else None
    return UnpackedDualTensor(tensor.detach(), zeros_like(tensor).detach() if jv is None else jv.detach())
