"""``torch.cuda``: no such backend in this build; everything reports it unavailable."""
from .._no_device import (device_count, empty_cache, is_available, is_built, manual_seed, manual_seed_all,
                          synchronize)

__all__ = ["device_count", "empty_cache", "is_available", "is_built", "manual_seed", "manual_seed_all",
           "synchronize"]
