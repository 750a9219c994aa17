import pytest

from distribution_data import R


@pytest.fixture(autouse=True)
def _fresh_data_rng(request):
    R.reseed(request.node.name)
    yield
