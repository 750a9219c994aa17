"""Regression tests for the PyTorch behaviours the example programs in ``scripts/`` revealed."""
import os

import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn as fnn
from flambeau.vision import datasets


def _pair():
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    fm = fnn.Sequential(fnn.Linear(3, 4), fnn.ReLU(), fnn.Linear(4, 2))
    fm.load_state_dict({k: flambeau.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return tm, fm


# DCGAN: ``import torch.nn.parallel`` and ``nn.DataParallel(net, list(range(ngpu)))``
def test_data_parallel_on_cpu_is_the_module():
    import flambeau.nn.parallel as par
    tm, fm = _pair()
    tdp, fdp = torch.nn.DataParallel(tm), fnn.DataParallel(fm, device_ids=None)
    assert fdp.module is fm and fdp.device_ids == tdp.device_ids == []
    assert list(fdp.state_dict()) == list(tdp.state_dict())            # "module." prefix
    assert [n for n, _ in fdp.named_parameters()] == [n for n, _ in tdp.named_parameters()]
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    out = fdp(flambeau.tensor(x))
    np.testing.assert_allclose(out.detach().numpy(), tdp(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    out.sum().backward()
    assert fm[0].weight.grad is not None
    np.testing.assert_allclose(par.data_parallel(fm, flambeau.tensor(x)).detach().numpy(), out.detach().numpy())
    assert fnn.parallel.DataParallel is fnn.DataParallel
    with pytest.raises(TypeError):
        fnn.DataParallel(lambda x: x)


# MNIST example / CIFAR tutorial: a saved state dict loads back in its order (an OrderedDict in PyTorch)
def test_load_keeps_state_dict_order(tmp_path):
    tm, fm = _pair()
    sd = {"z.weight": flambeau.ones(2), "a.bias": flambeau.zeros(3, dtype=flambeau.float64), **fm.state_dict()}
    flambeau.save(sd, tmp_path / "m.pt")
    back = flambeau.load(tmp_path / "m.pt")
    assert list(back) == list(sd)
    torch.save(dict(tm.state_dict()), tmp_path / "t.pt")
    assert list(back)[2:] == list(torch.load(tmp_path / "t.pt"))
    for k, v in sd.items():
        np.testing.assert_array_equal(back[k].numpy(), v.numpy())
    # a file written by another safetensors writer still loads, every tensor present
    from safetensors.numpy import save_file
    save_file({"b": np.ones(2, np.float32), "a": np.zeros(1, np.float32)}, str(tmp_path / "s.safetensors"))
    assert sorted(flambeau.load(tmp_path / "s.safetensors")) == ["a", "b"]


# CIFAR-10 tutorial on a subset: the binary format has no header, any whole number of records is a file
def _cifar_folder(root, n_train, n_test, extra=b""):
    folder = os.path.join(root, "cifar-10-batches-bin")
    os.makedirs(folder)
    rng = np.random.default_rng(0)
    for name, n in [(f"data_batch_{i}.bin", n_train) for i in range(1, 6)] + [("test_batch.bin", n_test)]:
        rec = rng.integers(0, 256, (n, 3073), dtype=np.uint8)
        rec[:, 0] = np.arange(n) % 10
        with open(os.path.join(folder, name), "wb") as f:
            f.write(rec.tobytes() + (extra if name == "test_batch.bin" else b""))
    return folder


def test_cifar10_reads_files_with_fewer_records(tmp_path):
    _cifar_folder(str(tmp_path), 12, 7)
    train = datasets.CIFAR10(str(tmp_path), train=True)
    test = datasets.CIFAR10(str(tmp_path), train=False)
    assert len(train) == 60 and train.data.shape == (60, 32, 32, 3) and train.targets[:12] == list(range(10)) + [0, 1]
    assert len(test) == 7 and test.targets == list(range(7))
    raw = np.fromfile(tmp_path / "cifar-10-batches-bin" / "test_batch.bin", np.uint8).reshape(7, 3073)
    np.testing.assert_array_equal(test.data[3], raw[3, 1:].reshape(3, 32, 32).transpose(1, 2, 0))


def test_cifar10_still_rejects_a_partial_record(tmp_path):
    _cifar_folder(str(tmp_path), 3, 2, extra=b"\x01" * 100)
    with pytest.raises(ValueError, match="test_batch.bin: truncated"):
        datasets.CIFAR10(str(tmp_path), train=False)
