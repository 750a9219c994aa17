"""All op functions, by family. ``flambeau.<op>`` and ``Tensor.<op>`` are these functions."""
# the spatial families load first: importing the submodule ``ops.norm`` binds the name ``norm``
# in this package, and the ``norm`` op (from .reduce, below) must be what that name means
from . import conv as _conv_ops, pool as _pool_ops, norm as _norm_ops  # noqa: F401,E402
from .elementwise import *  # noqa: F401,F403
from .elementwise import abs, pow, round  # noqa: F401  (shadow builtins on purpose)
from .reduce import *  # noqa: F401,F403
from .reduce import sum, max, min, all, any  # noqa: F401
from .shape import *  # noqa: F401,F403
from .indexing import *  # noqa: F401,F403
from .linalg import *  # noqa: F401,F403
from .other import *  # noqa: F401,F403
from .special import *  # noqa: F401,F403
from .ctc import *  # noqa: F401,F403
from .inplace import inplace, check_inplace, ufunc_inplace  # noqa: F401
