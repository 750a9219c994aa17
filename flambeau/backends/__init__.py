"""``torch.backends``: flags accepted for compatibility."""
from . import cudnn, mkldnn, mps  # noqa: F401
