"""``torch.accelerator``: flambeau has no accelerator backend in this build."""


def is_available() -> bool:
    return False


def current_accelerator(check_available=False):
    return None


def device_count() -> int:
    return 0
