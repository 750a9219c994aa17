import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

DATASETS = os.environ.get("FLAMBEAU_DATASETS")


def dataset_root(name):
    """Path of a real dataset under $FLAMBEAU_DATASETS (../shared/datasets), or skip the test."""
    if not DATASETS:
        pytest.skip("real datasets not available: set FLAMBEAU_DATASETS to the shared datasets folder "
                    "(.ci/run sets it to ../shared/datasets)")
    path = os.path.join(DATASETS, name)
    if not os.path.exists(path):
        pytest.skip(f"dataset {name!r} not found under FLAMBEAU_DATASETS={DATASETS}")
    return path


@pytest.fixture(autouse=True)
def _seed():
    import flambeau
    flambeau.manual_seed(0)
    np.random.seed(0)
    yield
