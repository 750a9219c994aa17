"""``torch.cpu.amp``: the deprecated CPU spellings of :mod:`flambeau.amp`.

PyTorch's ``torch.cpu.amp.autocast()`` defaults to bfloat16, which flambeau does not have: pass
``dtype=torch.float16`` (or use ``torch.amp.autocast("cpu", dtype=torch.float16)``)."""
from __future__ import annotations

import warnings

from ..amp import autocast_mode as _am
from ..amp import grad_scaler as _gs

__all__ = ["autocast", "GradScaler"]


class autocast(_am.autocast):
    """``torch.cpu.amp.autocast(enabled=True, dtype=..., cache_enabled=True)``: deprecated,
    ``torch.amp.autocast("cpu", ...)``."""

    def __init__(self, enabled: bool = True, dtype=None, cache_enabled: bool = True):
        warnings.warn("`torch.cpu.amp.autocast(args...)` is deprecated. "
                      "Please use `torch.amp.autocast('cpu', args...)` instead.", FutureWarning, stacklevel=2)
        super().__init__("cpu", enabled=enabled, dtype=dtype, cache_enabled=cache_enabled)


class GradScaler(_gs.GradScaler):
    """``torch.cpu.amp.GradScaler(...)``: deprecated, ``torch.amp.GradScaler("cpu", ...)``."""

    def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True) -> None:
        warnings.warn("`torch.cpu.amp.GradScaler(args...)` is deprecated. "
                      "Please use `torch.amp.GradScaler('cpu', args...)` instead.", FutureWarning, stacklevel=2)
        super().__init__("cpu", init_scale=init_scale, growth_factor=growth_factor,
                         backoff_factor=backoff_factor, growth_interval=growth_interval, enabled=enabled)
