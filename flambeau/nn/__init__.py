"""``flambeau.nn`` (``torch.nn``): Parameter, Module, layers, losses, ``functional``, ``init``, ``utils``."""
from .parameter import Parameter, Buffer  # noqa: F401
from .modules import *  # noqa: F401,F403
from .modules import Module  # noqa: F401
from . import functional, init, utils, attention  # noqa: F401
from . import parameter, modules  # noqa: F401
from . import parallel  # noqa: F401
from .parallel import DataParallel  # noqa: F401
