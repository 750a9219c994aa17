"""``torch.cuda``: no such backend in this build; everything reports it unavailable."""


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def manual_seed(seed) -> None:
    """Accepted for compatibility (no device generator exists)."""


def manual_seed_all(seed) -> None:
    """Accepted for compatibility (no device generator exists)."""


def is_built() -> bool:
    return False


def synchronize(device=None) -> None:
    """Nothing to wait for: flambeau's CPU ops are synchronous."""


def empty_cache() -> None:
    """Nothing to free."""
