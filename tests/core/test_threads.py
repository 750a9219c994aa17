"""flambeau.set_num_threads / get_num_threads change the BLAS thread count, as torch's do."""
import numpy as np
import pytest

import flambeau

threadpoolctl = pytest.importorskip("threadpoolctl", reason="threadpoolctl (flambeau[threads]) not installed")


def _blas_threads():
    return {i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}


def test_set_num_threads_reaches_the_blas():
    before = flambeau.get_num_threads()
    try:
        for n in (1, 2):
            flambeau.set_num_threads(n)
            assert flambeau.get_num_threads() == n
            assert _blas_threads() == {n}
            a = flambeau.randn(64, 64)
            np.testing.assert_allclose((a @ a).numpy(), a.numpy() @ a.numpy(), rtol=1e-5, atol=1e-5)
    finally:
        flambeau.set_num_threads(before)
    assert flambeau.get_num_threads() == before


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2"])
def test_set_num_threads_rejects_non_positive_integers(bad):
    with pytest.raises(RuntimeError, match="expected a positive number of threads"):
        flambeau.set_num_threads(bad)
