"""``torch.amp``: automatic mixed precision — :class:`autocast` regions that run the matrix
products and convolutions in float16, and :class:`GradScaler` for loss scaling.

flambeau's autocast runs on the CPU in float16 (``torch.autocast("cpu", dtype=torch.float16)``);
it has no bfloat16 (see :mod:`flambeau.amp.autocast_mode`)."""
from .autocast_mode import autocast, custom_bwd, custom_fwd, is_autocast_available  # noqa: F401
from .grad_scaler import GradScaler  # noqa: F401

__all__ = ["autocast", "custom_bwd", "custom_fwd", "is_autocast_available", "GradScaler"]
