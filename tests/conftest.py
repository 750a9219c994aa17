import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from realdata import dataset_root  # noqa: E402,F401  (re-exported for tests)


@pytest.fixture(autouse=True)
def _seed():
    import flambeau
    flambeau.manual_seed(0)
    np.random.seed(0)
    yield
