"""``parameters_to_vector`` / ``vector_to_parameters`` (``torch.nn.utils``)."""
from __future__ import annotations

from ..._tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters):
    """All parameters flattened and concatenated into one 1-D tensor (differentiable)."""
    from ...ops import cat
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Point each parameter's data at its consecutive slice of the 1-D ``vec`` (shared memory)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    pointer = 0
    for param in parameters:
        n = param.numel()
        if pointer + n > vec.numel():
            raise RuntimeError(f"vector_to_parameters: vec has {vec.numel()} elements, fewer than the "
                               f"parameters need (at least {pointer + n})")
        param.data = vec[pointer:pointer + n].view_as(param).data
        pointer += n
