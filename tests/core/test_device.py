"""The device seam: everything runs on the CPU; CUDA requests fail loudly."""
import numpy as np
import pytest

import flambeau


def test_cpu_everywhere():
    x = flambeau.ones(2, 3, device="cpu")
    assert x.device == flambeau.device("cpu") and x.device.type == "cpu" and str(x.device) == "cpu"
    assert x.to("cpu") is x and x.cpu() is x and x.to(flambeau.device("cpu")) is x
    assert not x.is_cuda and x.get_device() == -1
    y = x.to("cpu", flambeau.float64)
    assert y.dtype == flambeau.float64 and y.device.type == "cpu"
    z = x.to(device="cpu", dtype=flambeau.int64)
    assert z.dtype == flambeau.int64
    assert flambeau.zeros(2, device=flambeau.device("cpu")).device.type == "cpu"
    assert flambeau.tensor([1.], device="cpu").tolist() == [1.]
    c = x.to("cpu", copy=True)
    assert c is not x and c.data_ptr() != x.data_ptr()


def test_cpu_to_keeps_autograd():
    w = flambeau.ones(2, requires_grad=True)
    y = w.to("cpu").to(flambeau.float64)
    (y * 3).sum().backward()
    assert w.grad.dtype == flambeau.float32 and w.grad.tolist() == [3., 3.]


def test_device_objects():
    d = flambeau.device("cuda")
    assert d.type == "cuda" and d.index is None and str(d) == "cuda"
    d1 = flambeau.device("cuda:1")
    assert d1.index == 1 and repr(d1) == "device(type='cuda', index=1)"
    assert flambeau.device("cuda", 0) == flambeau.device("cuda:0")
    assert flambeau.device("cpu") == "cpu"
    with pytest.raises(RuntimeError):
        flambeau.device("tpu")


def test_cuda_requests_raise():
    x = flambeau.ones(2)
    for bad in (lambda: x.cuda(), lambda: x.to("cuda"), lambda: x.to("cuda:0"),
                lambda: x.to(flambeau.device("cuda")), lambda: flambeau.ones(2, device="cuda"),
                lambda: flambeau.zeros(2, device=flambeau.device("cuda")),
                lambda: flambeau.tensor([1.], device="cuda"), lambda: x.to(device="cuda")):
        with pytest.raises(RuntimeError, match="cuda"):
            bad()


def test_availability_flags():
    assert flambeau.cuda.is_available() is False
    assert flambeau.accelerator.is_available() is False
    assert flambeau.cuda.device_count() == 0
    dev = flambeau.device("cuda" if flambeau.cuda.is_available() else "cpu")
    m = flambeau.ones(3).to(dev)
    assert np.array_equal(m.numpy(), np.ones(3, np.float32))


def test_float32_matmul_precision_setting():
    import warnings
    before = flambeau.get_float32_matmul_precision()
    try:
        for p in ("high", "medium", "highest"):
            flambeau.set_float32_matmul_precision(p)
            assert flambeau.get_float32_matmul_precision() == p
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            flambeau.set_float32_matmul_precision("low")      # PyTorch: a warning, no effect
        assert "has no effect" in str(caught[0].message) and flambeau.get_float32_matmul_precision() == "highest"
    finally:
        flambeau.set_float32_matmul_precision(before)
