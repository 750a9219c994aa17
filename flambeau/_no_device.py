"""The functions of a device module (``torch.cuda``, ``torch.mps``) for a backend this build does
not have: everything reports it unavailable, and the calls scripts make unconditionally
(seeding, synchronising, freeing the cache) are accepted and do nothing."""


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
