"""``set_num_threads`` / ``get_num_threads``: the threads flambeau's BLAS (NumPy's) computes with.

flambeau's parallelism is the BLAS library's (matrix products, hence linear layers and
convolutions); its other kernels are NumPy's, single-threaded. The BLAS thread count is changed
at run time through ``threadpoolctl`` (the ecosystem's standard for it, an optional extra:
``pip install threadpoolctl``, included in ``flambeau[train]``); without it the count can only be
set before start-up, with ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS``.
"""
from __future__ import annotations

import os
import warnings

_limits = None   # the active threadpoolctl limiter, kept so the setting lasts


def _blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return [i for i in threadpool_info() if i.get("user_api") == "blas"]


def get_num_threads() -> int:
    """The number of threads the BLAS library uses (``torch.get_num_threads``)."""
    info = _blas_info()
    if info:
        return int(info[0]["num_threads"])
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        v = os.environ.get(var, "")
        if v.isdigit() and int(v) > 0:
            return int(v)
    return os.cpu_count() or 1


def set_num_threads(n) -> None:
    """Set the number of threads of the BLAS library (``torch.set_num_threads``)."""
    global _limits
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise RuntimeError(f"set_num_threads: expected a positive number of threads, got {n!r}")
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        warnings.warn("flambeau.set_num_threads needs threadpoolctl to change the BLAS thread count at run time "
                      "(pip install threadpoolctl); set OPENBLAS_NUM_THREADS before start-up instead. Keeping "
                      f"{get_num_threads()} thread(s).", RuntimeWarning, stacklevel=2)
        return
    _limits = threadpool_limits(limits=n, user_api="blas")
