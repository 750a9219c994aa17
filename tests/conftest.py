import os
import sys

# Tests run in parallel workers (pytest -n 2) on a 2-core machine: one BLAS/OpenMP thread per
# worker. Multi-threaded OpenBLAS spinning on oversubscribed cores is 10x slower or worse.
# Set before NumPy (and PyTorch) load their thread pools.
_NUMPY_LOADED_EARLY = "numpy" in sys.modules
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from realdata import dataset_root  # noqa: E402,F401  (re-exported for tests)

# Property-based tests draw their examples from a fixed seed, so a run is reproducible and CI
# cannot turn red by chance; `pytest --hypothesis-profile=explore` draws fresh random examples
# (the way to look for new failures).
try:
    from hypothesis import settings as _hyp_settings
except ImportError:  # hypothesis is a test extra; only its own tests need it
    pass
else:
    _hyp_settings.register_profile("deterministic", derandomize=True, print_blob=True)
    _hyp_settings.register_profile("explore", derandomize=False, print_blob=True)
    _hyp_settings.load_profile(os.environ.get("FLAMBEAU_HYPOTHESIS_PROFILE", "deterministic"))


@pytest.fixture(autouse=True)
def _seed():
    import flambeau
    flambeau.manual_seed(0)
    np.random.seed(0)
    yield


def pytest_configure(config):
    import torch
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def pytest_report_header(config):
    return (f"BLAS threads per worker: OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}"
            + (" (numpy was imported before conftest: the setting may not apply)" if _NUMPY_LOADED_EARLY else ""))
