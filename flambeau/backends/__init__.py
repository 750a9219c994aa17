"""``torch.backends``: flags accepted for compatibility."""
from . import cudnn, mps  # noqa: F401
