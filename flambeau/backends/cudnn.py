"""``torch.backends.cudnn``: settable flags with no effect (no cuDNN here)."""
benchmark = False
deterministic = False
enabled = False


def is_available() -> bool:
    return False
