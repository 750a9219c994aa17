"""Where the real datasets are: ``$FLAMBEAU_DATASETS`` (``.ci/run`` sets it to ../shared/datasets)."""
import os

import pytest


def dataset_root(name):
    """Path of a real dataset under $FLAMBEAU_DATASETS, or skip the calling test with the reason."""
    root = os.environ.get("FLAMBEAU_DATASETS")
    if not root:
        pytest.skip("real datasets not available: set FLAMBEAU_DATASETS to the shared datasets folder "
                    "(.ci/run sets it to ../shared/datasets)")
    path = os.path.join(root, name)
    if not os.path.exists(path):
        pytest.skip(f"dataset {name!r} not found under FLAMBEAU_DATASETS={root}")
    return path
