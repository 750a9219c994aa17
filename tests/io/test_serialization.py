"""flambeau.save / flambeau.load: safetensors files, atomic writes, interop with PyTorch."""
import os

import numpy as np
import pytest
import torch
from safetensors.torch import save_file as torch_save_file, load_file as torch_load_file

import flambeau


def test_flat_state_dict_round_trip(tmp_path):
    sd = {"fc.weight": flambeau.randn(3, 4), "fc.bias": flambeau.zeros(3), "bn.num_batches_tracked":
          flambeau.tensor(7), "mask": flambeau.tensor([True, False]), "half": flambeau.ones(2, dtype=flambeau.float16)}
    path = tmp_path / "m.safetensors"
    flambeau.save(sd, path)
    back = flambeau.load(path)
    assert list(back) == sorted(sd) or set(back) == set(sd)
    for k, v in sd.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        np.testing.assert_array_equal(back[k].numpy(), v.numpy())
    back["fc.bias"].add_(1)  # loaded tensors own writable memory


def test_nested_structure_round_trip(tmp_path):
    obj = {"epoch": 3, "best": 0.987, "name": "run", "flag": True, "none": None,
           "model": {"w": flambeau.arange(6).reshape(2, 3)},
           "optimizer": {"state": {0: {"step": flambeau.tensor(5.0), "exp_avg": flambeau.ones(2)}},
                         "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0]}]},
           "history": [0.5, 0.7, flambeau.tensor([1.0, 2.0])]}
    path = tmp_path / "ckpt.safetensors"
    flambeau.save(obj, path)
    back = flambeau.load(path)
    assert back["epoch"] == 3 and back["best"] == 0.987 and back["name"] == "run" and back["flag"] is True
    assert back["none"] is None
    np.testing.assert_array_equal(back["model"]["w"].numpy(), np.arange(6).reshape(2, 3))
    assert back["optimizer"]["state"][0]["step"].item() == 5.0
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert back["optimizer"]["param_groups"][0]["params"] == [0]
    np.testing.assert_array_equal(back["history"][2].numpy(), [1.0, 2.0])


def test_file_written_by_pytorch_loads_and_vice_versa(tmp_path):
    th = {"layer.weight": torch.randn(10, 784), "layer.bias": torch.randn(10)}
    p = tmp_path / "from_torch.safetensors"
    torch_save_file(th, str(p))
    fl = flambeau.load(p)
    for k in th:
        np.testing.assert_array_equal(fl[k].numpy(), th[k].numpy())
    q = tmp_path / "from_flambeau.safetensors"
    flambeau.save(fl, q)
    th2 = torch_load_file(str(q))
    for k in th:
        assert torch.equal(th2[k], th[k])


def test_pytorch_state_dict_gives_same_outputs(tmp_path):
    torch.manual_seed(0)
    th_model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                   torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 5))
    th_model(torch.randn(8, 1, 8, 8))  # move the batch-norm running statistics
    th_model.eval()
    p = tmp_path / "model.safetensors"
    torch_save_file(th_model.state_dict(), str(p))
    nn = flambeau.nn
    fl_model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    fl_model.load_state_dict(flambeau.load(p))
    fl_model.eval()
    x = np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype(np.float32)
    with torch.no_grad():
        expected = th_model(torch.from_numpy(x)).numpy()
    with flambeau.no_grad():
        got = fl_model(flambeau.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "x.safetensors"
    flambeau.save({"a": flambeau.ones(2)}, path)
    before = path.read_bytes()

    class Boom(Exception):
        pass

    import safetensors.numpy as stnp

    def fail(*a, **k):
        raise Boom()
    monkeypatch.setattr(stnp, "save", fail)
    with pytest.raises(Boom):
        flambeau.save({"a": flambeau.zeros(2)}, path)
    assert path.read_bytes() == before  # the old file is intact
    assert [f for f in os.listdir(tmp_path)] == ["x.safetensors"]  # no temporary left behind


def test_malformed_files_raise_clear_errors(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(RuntimeError, match="not a valid safetensors file"):
        flambeau.load(bad)
    trunc = tmp_path / "trunc.safetensors"
    flambeau.save({"w": flambeau.ones(100)}, trunc)
    trunc.write_bytes(trunc.read_bytes()[:-50])
    with pytest.raises(RuntimeError, match="not a valid safetensors file"):
        flambeau.load(trunc)
    with pytest.raises(FileNotFoundError):
        flambeau.load(tmp_path / "missing.safetensors")


def test_unsupported_objects_are_refused(tmp_path):
    with pytest.raises(TypeError, match="cannot store an object of type"):
        flambeau.save({"f": lambda x: x}, tmp_path / "f.safetensors")
