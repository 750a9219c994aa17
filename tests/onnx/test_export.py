"""flambeau.onnx.export: the exported graphs check, run in ONNX Runtime and agree with flambeau's
own eval forward and with PyTorch's forward of the same weights."""
import io
import os
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="flambeau.onnx needs the optional 'onnx' package "
                           "(pip install flambeau[onnx]); the export tests are skipped without it")
ort = pytest.importorskip("onnxruntime", reason="the export tests run the graphs in ONNX Runtime "
                          "(pip install onnxruntime); skipped without it")

import torch

import flambeau
import flambeau.onnx
from flambeau.autograd.function import ArrayFunction, Function

RTOL, ATOL = 1e-4, 1e-5


# ---------------------------------------------------------------------------- helpers
def _export(model, args, path, **kw):
    flambeau.onnx.export(model, args, str(path), **kw)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _run(path, feeds):
    return _session(path).run(None, {k: np.ascontiguousarray(v) for k, v in feeds.items()})


def _fl_forward(model, *xs):
    model.eval()
    with flambeau.no_grad():
        out = model(*xs)
    return [o.detach().numpy() for o in (out if isinstance(out, (tuple, list)) else (out,))]


def _close(got, want, what):
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL * scale, err_msg=what)
    return float(np.abs(got.astype(np.float64) - want).max())


def _copy_to_torch(fl_model, th_model):
    sd = {k: torch.from_numpy(np.array(v.numpy(), copy=True)) for k, v in fl_model.state_dict().items()}
    th_model.load_state_dict(sd)
    return th_model.eval()


def _randomize_bn(model, lib=flambeau):
    """Running statistics other than 0 and 1, so that exporting them wrongly shows."""
    for m in model.modules():
        if isinstance(m, (flambeau.nn.BatchNorm1d, flambeau.nn.BatchNorm2d)):
            c = m.running_mean.shape[0]
            with flambeau.no_grad():
                m.running_mean.copy_(flambeau.randn(c) * 0.1)
                m.running_var.copy_(flambeau.rand(c) + 0.5)
                if m.weight is not None:
                    m.weight.copy_(flambeau.rand(c) + 0.5)
                    m.bias.copy_(flambeau.randn(c) * 0.1)


def _check(build, x, tmp_path, twin=True, feeds_of=None, **kw):
    """Export ``build(flambeau)`` on ``x``; ORT vs flambeau (and vs PyTorch with ``twin``).
    Returns (max |ORT - flambeau|, max |ORT - PyTorch| or None)."""
    model = build(flambeau)
    _randomize_bn(model)
    model.eval()
    xs = x if isinstance(x, tuple) else (x,)
    path = tmp_path / "model.onnx"
    proto = _export(model, xs, path, **kw)
    names = [i.name for i in proto.graph.input]
    got = _run(path, dict(zip(names, [t.numpy() for t in xs])))
    want = _fl_forward(model, *xs)
    d_fl = max(_close(g, w, "onnxruntime vs flambeau") for g, w in zip(got, want))
    d_th = None
    if twin:
        th = _copy_to_torch(model, build(torch))
        with torch.no_grad():
            tout = th(*[torch.from_numpy(np.array(t.numpy(), copy=True)) for t in xs])
        touts = tout if isinstance(tout, (tuple, list)) else (tout,)
        d_th = max(_close(g, t.numpy(), "onnxruntime vs PyTorch") for g, t in zip(got, touts))
    return d_fl, d_th


# ---------------------------------------------------------------------------- models
def mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 16),
                         nn.Sigmoid(), nn.Linear(16, 5), nn.LogSoftmax(dim=1))


def reseau2(lib):
    nn, F = lib.nn, lib.nn.functional

    class Reseau2(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, 1)
            self.conv2 = nn.Conv2d(32, 64, 3, 1)
            self.dropout1 = nn.Dropout2d(0.25)
            self.dropout2 = nn.Dropout2d(0.5)
            self.fc1 = nn.Linear(9216, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x = self.conv2(x)
            x = self.dropout1(F.max_pool2d(x, 2))
            x = lib.flatten(x, 1)
            x = self.dropout2(F.relu(self.fc1(x)))
            return self.fc2(x)
    return Reseau2()


def dcgan_generator(lib, nz=16, ngf=8):
    nn = lib.nn
    return nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh())


def norm_mlp(lib):
    """LayerNorm + GELU blocks on (N, T, D) inputs (no attention)."""
    nn = lib.nn
    return nn.Sequential(nn.Linear(16, 32), nn.LayerNorm(32), nn.GELU(), nn.Linear(32, 32),
                         nn.GELU(approximate="tanh"), nn.LayerNorm(32, elementwise_affine=False),
                         nn.Linear(32, 4), nn.Softmax(dim=-1))


def embedding_model(lib):
    nn = lib.nn

    class Bag(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(50, 8, padding_idx=0)
            self.fc = nn.Linear(8, 3)

        def forward(self, idx):
            return self.fc(self.emb(idx).mean(dim=1))
    return Bag()


def conv_zoo(lib):
    """Convolutions and pools with strides, padding, dilation, groups, ceil mode and no bias."""
    nn, F = lib.nn, lib.nn.functional

    class Zoo(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
            self.c2 = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4, bias=False)
            self.c3 = nn.Conv2d(8, 8, 4, padding="same")
            self.bn = nn.BatchNorm2d(8)
            self.up = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)
            self.pool1 = nn.AvgPool2d(3, stride=2, padding=1)
            self.pool2 = nn.AvgPool2d(2, padding=1, count_include_pad=False)
            self.pool3 = nn.MaxPool2d(3, 2, ceil_mode=True)
            self.act = nn.LeakyReLU(0.2)
            self.gap = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            x = self.act(self.c1(x))
            x = self.bn(self.c3(self.c2(x)))
            x = F.relu(self.up(x))
            x = self.pool3(self.pool2(self.pool1(x)))
            return self.fc(lib.flatten(self.gap(x), 1))
    return Zoo()


def conv1d_model(lib):
    nn = lib.nn

    class C1(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv1d(4, 6, 3, stride=2, padding=1)
            self.bn = nn.BatchNorm1d(6)
            self.c2 = nn.Conv1d(6, 6, 1, groups=3, bias=False)
            self.fc = nn.Linear(6, 2)

        def forward(self, x):
            return self.fc(self.c2(lib.relu(self.bn(self.c1(x)))).mean(dim=-1))
    return C1()


def tensor_ops(lib):
    """Arithmetic with tensors and scalars, matmul, cat, transpose/permute, view, mean, softmax."""
    nn = lib.nn

    class Ops(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(lib.randn(6, 6) * 0.3)
            self.bn = nn.BatchNorm1d(48)
            self.register_buffer("shift", lib.arange(8, dtype=lib.float32) / 8)

        def forward(self, x):                             # x (N, 6, 8)
            y = x.transpose(1, 2)                          # (N, 8, 6)
            z = lib.matmul(y, self.w) * 0.5 - 1.0
            u = lib.cat([y, z / 3.0, 2.0 - y], dim=-1)     # (N, 8, 18)
            u = lib.softmax(u, dim=-1) + lib.tanh(u) - u.sigmoid() * 2
            v = u.permute(0, 2, 1)[:, :6] + x / (x * x + 1) + self.shift   # (N, 6, 8)
            w = v.reshape(v.size(0), -1)                   # (N, 48)
            w = self.bn(w) + v.mean(dim=(1, 2), keepdim=False).unsqueeze(1)
            return w.reshape(-1, 6, 8).mean(1), lib.log_softmax(w, dim=1)
    return Ops()


def activation_zoo(lib):
    """The other activations and elementwise ops with a conversion, on (N, 4, 6, 6) inputs."""
    nn, F = lib.nn, lib.nn.functional

    class Acts(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mask", lib.arange(36).reshape(6, 6) % 3 == 0)

        def forward(self, x):
            a = F.elu(x) + F.selu(x) + F.celu(x, 0.5) + F.silu(x) + F.mish(x) + F.softplus(x)
            b = F.softplus(x, beta=2.0) + F.hardsigmoid(x) + F.hardswish(x) + F.logsigmoid(x) + F.softsign(x)
            c = F.hardtanh(x) + F.relu6(x) + lib.clamp(x, min=-0.5) + x.pow(2) + lib.rsqrt(x * x + 1)
            d = lib.maximum(x, -x).sqrt() + lib.where(self.mask, x, lib.exp(x)) + lib.abs(x) * lib.erf(x)
            y = a + b + c + d                                      # (N, 4, 6, 6)
            p, q = y.chunk(2, dim=1)                               # (N, 2, 6, 6) each
            r = F.pad(p * q, (1, 2, 0, 1), value=0.5)              # (N, 2, 7, 9)
            r = F.interpolate(r, scale_factor=2, mode="nearest")   # (N, 2, 14, 18)
            r = F.adaptive_avg_pool2d(r, (5, 4))                   # non-dividing windows
            s = F.interpolate(q, size=(9, 9), mode="bilinear", align_corners=False)
            t = r[:, 0] + r[:, -1, None].amax(dim=1) - s.sum(dim=(2, 3)).unsqueeze(-1).unsqueeze(-1)[:, :1, 0]
            u = lib.einsum("nhw,nhv->nwv", t, t)                  # (N, 4, 4)
            return u.expand(2, -1, -1, -1).sum(0), y.amin(dim=(2, 3)).to(lib.float64)
    return Acts()


def twin_in(lib, x):
    return lib.from_numpy(x) if lib is flambeau else torch.from_numpy(x)


# ---------------------------------------------------------------------------- model tests
@pytest.mark.parametrize("opset", [17, 18])
def test_mlp(tmp_path, opset):
    d_fl, d_th = _check(mlp, flambeau.randn(4, 3, 4), tmp_path, opset_version=opset)
    assert d_fl < 1e-5 and d_th < 1e-5


def test_reseau2(tmp_path):
    _check(reseau2, flambeau.randn(2, 1, 28, 28), tmp_path)


def test_dcgan_generator(tmp_path):
    _check(dcgan_generator, flambeau.randn(3, 16, 1, 1), tmp_path)


@pytest.mark.parametrize("opset", [17, 18, 20])
def test_layernorm_gelu_mlp(tmp_path, opset):
    _check(norm_mlp, flambeau.randn(2, 5, 16), tmp_path, opset_version=opset)


def test_embedding(tmp_path):
    idx = flambeau.randint(0, 50, (4, 6))
    _check(embedding_model, idx, tmp_path)


def test_conv_zoo(tmp_path):
    _check(conv_zoo, flambeau.randn(2, 3, 17, 15), tmp_path)


def test_conv1d(tmp_path):
    _check(conv1d_model, flambeau.randn(3, 4, 11), tmp_path)


@pytest.mark.parametrize("opset", [17, 18])
def test_tensor_ops(tmp_path, opset):
    _check(tensor_ops, flambeau.randn(4, 6, 8), tmp_path, opset_version=opset)


def test_activation_zoo(tmp_path):
    _check(activation_zoo, flambeau.randn(3, 4, 6, 6), tmp_path)


def test_resnet20(tmp_path):
    from flambeau.vision.models import resnet20
    _check(lambda lib: resnet20(), flambeau.randn(2, 3, 32, 32), tmp_path, twin=False)


def test_resnet18(tmp_path):
    from flambeau.vision.models import resnet18
    _check(lambda lib: resnet18(num_classes=10), flambeau.randn(2, 3, 64, 64), tmp_path, twin=False)


# ---------------------------------------------------------------------------- the graph
def test_names_and_initializers(tmp_path):
    model = reseau2(flambeau).eval()
    proto = _export(model, flambeau.randn(1, 1, 28, 28), tmp_path / "m.onnx", input_names=["image"],
                    output_names=["logits"])
    assert [i.name for i in proto.graph.input] == ["image"]
    assert [o.name for o in proto.graph.output] == ["logits"]
    assert {t.name for t in proto.graph.initializer} >= set(model.state_dict())
    assert proto.opset_import[0].version == 17
    ops = {n.op_type for n in proto.graph.node}
    assert {"Conv", "Relu", "MaxPool", "Gemm"} <= ops and "Dropout" not in ops


def test_default_names_from_forward(tmp_path):
    proto = _export(embedding_model(flambeau), flambeau.randint(0, 50, (2, 3)), tmp_path / "m.onnx")
    assert [i.name for i in proto.graph.input] == ["idx"]
    assert [o.name for o in proto.graph.output] == ["output"]


def test_export_params_false(tmp_path):
    model = mlp(flambeau).eval()
    x = flambeau.randn(2, 12)
    proto = _export(model, x, tmp_path / "m.onnx", export_params=False)
    assert not proto.graph.initializer or all(t.name.startswith("onnx::") for t in proto.graph.initializer)
    names = [i.name for i in proto.graph.input]
    assert names[0] == "input" and set(model.state_dict()) <= set(names)
    feeds = {"input": x.numpy(), **{k: v.numpy() for k, v in model.state_dict().items()}}
    _close(_run(tmp_path / "m.onnx", feeds)[0], _fl_forward(model, x)[0], "export_params=False")


@pytest.mark.parametrize("build,shape", [(reseau2, (1, 28, 28)), (mlp, (3, 4)), (norm_mlp, (5, 16)),
                                         (tensor_ops, (6, 8)), (dcgan_generator, (16, 1, 1))])
def test_dynamic_batch(tmp_path, build, shape):
    model = build(flambeau)
    _randomize_bn(model)
    model.eval()
    path = tmp_path / "m.onnx"
    n_out = 2 if build is tensor_ops else 1
    outs = ["out0", "out1"][:n_out]
    proto = _export(model, flambeau.randn(2, *shape), path, input_names=["x"], output_names=outs,
                    dynamic_axes={"x": {0: "batch"}, **{o: [0] for o in outs}})
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "out0_dynamic_axes_1"
    x7 = flambeau.randn(7, *shape)
    for got, want in zip(_run(path, {"x": x7.numpy()}), _fl_forward(model, x7)):
        assert got.shape[0] == 7
        _close(got, want, "batch 7 through a graph traced with batch 2")


def test_dynamic_batch_resnet20(tmp_path):
    from flambeau.vision.models import resnet20
    model = resnet20()
    _randomize_bn(model)
    model.eval()
    path = tmp_path / "m.onnx"
    _export(model, flambeau.randn(2, 3, 32, 32), path, input_names=["x"], dynamic_axes={"x": [0], "output": [0]})
    x = flambeau.randn(5, 3, 32, 32)
    _close(_run(path, {"x": x.numpy()})[0], _fl_forward(model, x)[0], "resnet20, batch 5")


def test_dynamic_batch_embedding(tmp_path):
    model = embedding_model(flambeau).eval()
    path = tmp_path / "m.onnx"
    _export(model, flambeau.randint(0, 50, (2, 6)), path, dynamic_axes={"idx": {0: "n", 1: "t"}, "output": {0: "n"}})
    idx = flambeau.randint(0, 50, (7, 6))
    _close(_run(path, {"idx": idx.numpy()})[0], _fl_forward(model, idx)[0], "embedding, batch 7")


# ---------------------------------------------------------------------------- the API
def test_file_object_and_path(tmp_path):
    model = mlp(flambeau).eval()
    x = flambeau.randn(2, 12)
    buf = io.BytesIO()
    assert flambeau.onnx.export(model, (x,), buf) is None
    assert flambeau.onnx.export(model, x, tmp_path / "m.onnx") is None          # a PathLike
    assert flambeau.onnx.export(model, x, str(tmp_path / "n.onnx")) is None     # a str
    data = (tmp_path / "m.onnx").read_bytes()
    assert buf.getvalue() == data == (tmp_path / "n.onnx").read_bytes()
    with open(tmp_path / "o.onnx", "wb") as fh:
        flambeau.onnx.export(model, x, fh)
    assert (tmp_path / "o.onnx").read_bytes() == data


def test_modes_and_requires_grad_restored(tmp_path):
    model = reseau2(flambeau)
    model.train()
    model.fc2.eval()                    # a mixed state comes back as it was
    model.fc1.weight.requires_grad_(False)
    before = {n: p.requires_grad for n, p in model.named_parameters()}
    seen = []

    class Spy(flambeau.nn.Module):
        def forward(self, x):
            seen.append((model.training, model.dropout1.training, flambeau.is_grad_enabled(),
                         flambeau.onnx.is_in_onnx_export()))
            return x

    wrapped = flambeau.nn.Sequential(Spy(), model)
    wrapped.train()
    model.fc2.eval()
    flambeau.onnx.export(wrapped, flambeau.randn(2, 1, 28, 28), tmp_path / "m.onnx")
    assert seen == [(False, False, False, True)]
    assert wrapped.training and model.training and model.conv1.training and not model.fc2.training
    assert {n: p.requires_grad for n, p in model.named_parameters()} == before
    assert flambeau.is_grad_enabled() and not flambeau.onnx.is_in_onnx_export()
    # and the model still trains
    loss = model(flambeau.randn(2, 1, 28, 28)).sum()
    loss.backward()
    assert model.conv1.weight.grad is not None


def test_entry_points_restored(tmp_path):
    apply_fn, apply_arr = Function.__dict__["apply"], ArrayFunction.__dict__["apply"]
    flambeau.onnx.export(mlp(flambeau), flambeau.randn(2, 12), tmp_path / "m.onnx")
    with pytest.raises(flambeau.onnx.UnsupportedOperatorError):
        flambeau.onnx.export(_Unsupported(), flambeau.randn(2, 4), tmp_path / "n.onnx")
    assert Function.__dict__["apply"] is apply_fn and ArrayFunction.__dict__["apply"] is apply_arr
    assert flambeau.ops.ufunc_inplace.__module__ == "flambeau.ops.inplace"


class _Unsupported(flambeau.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = flambeau.nn.Linear(4, 4)
        self.head = _Cumsum()

    def forward(self, x):
        return self.head(self.body(x))


class _Cumsum(flambeau.nn.Module):
    def forward(self, x):
        return flambeau.cumsum(x, 1)


def test_unsupported_op_error(tmp_path):
    path = tmp_path / "model.onnx"
    with pytest.raises(flambeau.onnx.UnsupportedOperatorError) as info:
        flambeau.onnx.export(_Unsupported(), flambeau.randn(2, 4), path)
    msg = str(info.value)
    assert "no ONNX conversion for op Cumsum" in msg and "'head'" in msg and "supported:" in msg
    assert "Linear" in msg and "ConvNd" in msg
    assert not path.exists() and os.listdir(tmp_path) == []    # no partial file, no temporary


def test_failed_export_keeps_existing_file(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"previous")
    with pytest.raises(flambeau.onnx.UnsupportedOperatorError):
        flambeau.onnx.export(_Unsupported(), flambeau.randn(2, 4), path)
    assert path.read_bytes() == b"previous" and os.listdir(tmp_path) == ["model.onnx"]


def test_import_error_without_onnx(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"pip install flambeau\[onnx\]"):
        flambeau.onnx.export(mlp(flambeau), flambeau.randn(2, 12), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_bad_arguments(tmp_path):
    model = mlp(flambeau)
    with pytest.raises(ValueError, match="opset_version 9"):
        flambeau.onnx.export(model, flambeau.randn(2, 12), tmp_path / "m.onnx", opset_version=9)
    with pytest.raises(flambeau.onnx.OnnxExporterError, match="TRAINING"):
        flambeau.onnx.export(model, flambeau.randn(2, 12), tmp_path / "m.onnx",
                             training=flambeau.onnx.TrainingMode.TRAINING)
    assert os.listdir(tmp_path) == []


def test_inplace_ops_traced(tmp_path):
    """In-place ops without autograd write into existing tensors: later uses read the result."""
    class M(flambeau.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = flambeau.nn.Linear(4, 4)

        def forward(self, x):
            y = self.fc(x)
            y.relu_()
            y += x
            y.mul_(2.0)
            return y.sigmoid()

    model = M().eval()
    x = flambeau.randn(3, 4)
    _export(model, x, tmp_path / "m.onnx")
    _close(_run(tmp_path / "m.onnx", {"x": x.numpy()})[0], _fl_forward(model, x)[0], "in-place ops")


def test_autograd_function_inlined(tmp_path):
    class Swish(flambeau.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * flambeau.sigmoid(x)

        @staticmethod
        def backward(ctx, g):
            return g

    class M(flambeau.nn.Module):
        def forward(self, x):
            return Swish.apply(x) + 1

    x = flambeau.randn(2, 3)
    _export(M(), x, tmp_path / "m.onnx")
    _close(_run(tmp_path / "m.onnx", {"x": x.numpy()})[0], _fl_forward(M(), x)[0], "inlined Function")


def test_inside_a_profiler(tmp_path):
    """The trace wraps the profiler's wrappers and puts them back: the profile goes on."""
    model = mlp(flambeau).eval()
    with flambeau.profiler.profile() as prof:
        flambeau.onnx.export(model, flambeau.randn(2, 12), tmp_path / "m.onnx")
        model(flambeau.randn(2, 12))
    names = [e.name for e in prof.events()]
    assert names.count("Linear") == 6        # 3 while tracing, 3 after
    assert ArrayFunction.__dict__["apply"] is _ARRAY_APPLY


_ARRAY_APPLY = ArrayFunction.__dict__["apply"]


def test_outputs_that_are_inputs_or_parameters(tmp_path):
    class M(flambeau.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = flambeau.nn.Parameter(flambeau.randn(3))

        def forward(self, x):
            return x, self.p, x * 2, self.p

    x = flambeau.randn(2, 3)
    proto = _export(M(), x, tmp_path / "m.onnx")
    assert [o.name for o in proto.graph.output] == ["output_0", "output_1", "output_2", "output_3"]
    got = _run(tmp_path / "m.onnx", {"x": x.numpy()})
    for g, w in zip(got, _fl_forward(M(), x)):
        assert g.shape == w.shape
    np.testing.assert_array_equal(got[0], x.numpy())
    np.testing.assert_allclose(got[2], x.numpy() * 2)


def test_tied_weights_one_initializer(tmp_path):
    class Tied(flambeau.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = flambeau.nn.Embedding(20, 6)
            self.out = flambeau.nn.Linear(6, 20, bias=False)
            self.out.weight = self.emb.weight

        def forward(self, idx):
            return self.out(self.emb(idx))

    model = Tied().eval()
    idx = flambeau.randint(0, 20, (2, 5))
    proto = _export(model, idx, tmp_path / "m.onnx")
    assert [t.name for t in proto.graph.initializer] == ["emb.weight"]
    _close(_run(tmp_path / "m.onnx", {"idx": idx.numpy()})[0], _fl_forward(model, idx)[0], "tied weights")


def test_keyword_and_frozen_arguments(tmp_path):
    class M(flambeau.nn.Module):
        def forward(self, x, scale, mask=None):
            return x * scale + mask

    x, mask = flambeau.randn(2, 3), flambeau.randn(2, 3)
    proto = _export(M(), (x, 3.0, {"mask": mask}), tmp_path / "m.onnx")
    assert [i.name for i in proto.graph.input] == ["x", "mask"]
    got = _run(tmp_path / "m.onnx", {"x": x.numpy(), "mask": mask.numpy()})[0]
    np.testing.assert_allclose(got, x.numpy() * 3.0 + mask.numpy(), rtol=1e-6)


def test_embedding_int32_indices(tmp_path):
    model = embedding_model(flambeau).eval()
    idx = flambeau.randint(0, 50, (3, 4), dtype=flambeau.int32)
    _export(model, idx, tmp_path / "m.onnx", dynamic_axes={"idx": [0]})
    idx5 = flambeau.randint(0, 50, (5, 4), dtype=flambeau.int32)
    _close(_run(tmp_path / "m.onnx", {"idx": idx5.numpy()})[0], _fl_forward(model, idx5)[0], "int32 indices")


def test_value_dependent_constant_is_refused(tmp_path):
    """A mask computed outside the recorded ops cannot be a constant."""
    class Gate(flambeau.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = flambeau.nn.Linear(4, 4)
            self.gate = _Masked()

        def forward(self, x):
            return self.gate(self.fc(x))

    path = tmp_path / "m.onnx"
    with pytest.raises(flambeau.onnx.OnnxExporterError, match=r"depends on the input values.*") as info:
        flambeau.onnx.export(Gate(), flambeau.randn(3, 4), path)
    assert "'gate'" in str(info.value) and "Where" in str(info.value)
    assert os.listdir(tmp_path) == []


class _Masked(flambeau.nn.Module):
    def forward(self, x):             # a mask taken through NumPy: no op sees it made
        return flambeau.where(flambeau.from_numpy(x.numpy() > 0), x, x * 0.1)


def test_constants_made_in_forward(tmp_path):
    class M(flambeau.nn.Module):
        def forward(self, x):
            return x * flambeau.arange(4, dtype=flambeau.float32) + flambeau.ones(1, 4)

    x = flambeau.randn(3, 4)
    _export(M(), x, tmp_path / "m.onnx", dynamic_axes={"x": [0]})
    x5 = flambeau.randn(5, 4)
    _close(_run(tmp_path / "m.onnx", {"x": x5.numpy()})[0], _fl_forward(M(), x5)[0], "constants")


# ---------------------------------------------------------------------------- regressions
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("divisor_override", [None, 5])
def test_avg_pool_ceil_mode(tmp_path, count_include_pad, divisor_override):
    # the last window of each axis runs past the padding: ONNX Runtime divides by the part of
    # the window inside the padded input, as flambeau and PyTorch do
    def build(lib):
        nn = lib.nn
        return nn.Sequential(nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=count_include_pad,
                                          divisor_override=divisor_override),
                             nn.Flatten(2), nn.AvgPool1d(3, 2, padding=1, ceil_mode=True,
                                                          count_include_pad=count_include_pad))
    _check(build, flambeau.randn(2, 4, 10, 10), tmp_path)


def test_full_max_min(tmp_path):
    def build(lib):
        class M(lib.nn.Module):
            def forward(self, x):
                return x.max() - x.min()
        return M()
    _check(build, flambeau.randn(3, 4, 5), tmp_path)


def test_adaptive_max_pool(tmp_path):
    def build(lib):
        nn = lib.nn
        return nn.Sequential(nn.AdaptiveMaxPool2d((3, 2)), nn.ReLU(), nn.AdaptiveMaxPool2d(1))
    _check(build, flambeau.randn(2, 4, 9, 10), tmp_path)
    with pytest.raises(flambeau.onnx.OnnxExporterError, match="does not divide"):
        flambeau.onnx.export(build(flambeau).eval(), flambeau.randn(2, 4, 8, 10), str(tmp_path / "bad.onnx"))

    class Indices(flambeau.nn.Module):
        def forward(self, x):
            return flambeau.nn.functional.adaptive_max_pool2d(x, 1, return_indices=True)
    with pytest.raises(flambeau.onnx.OnnxExporterError, match="indices of adaptive max pooling"):
        flambeau.onnx.export(Indices(), flambeau.randn(2, 4, 6, 6), str(tmp_path / "bad.onnx"))


def test_resnet9(tmp_path):
    from flambeau.vision.models import resnet9
    _check(lambda lib: resnet9(width=8), flambeau.randn(2, 3, 32, 32), tmp_path, twin=False)


def test_negative_indices_follow_dynamic_axes(tmp_path):
    class Ends(flambeau.nn.Module):
        def forward(self, x):
            return x[:, -1], x[:, -3:], x[:, :-1], x[-1:], x[:, -2]

    path = tmp_path / "m.onnx"
    _export(Ends(), flambeau.randn(2, 5, 3), path, input_names=["x"], dynamic_axes={"x": {0: "n", 1: "t"}})
    x = flambeau.randn(4, 8, 3)
    for got, want in zip(_run(path, {"x": x.numpy()}), _fl_forward(Ends(), x)):
        assert got.shape == want.shape
        _close(got, want, "indices from the end, other sizes than traced")


# ---------------------------------------------------------------------------- writes the trace cannot see
# A value is tied to the tensor holding it: a write into its memory through a view, __setitem__
# or fill_/zero_ leaves the graph reading the old value. Such models are refused; in-place ops
# on the tensor itself keep exporting.
def _write_v_mul(y):
    v = y[:, 0]
    v.mul_(3)
    return y * 1


def _write_view_add(y):
    y.view(-1).add_(1)
    return y * 1


def _write_t_relu(y):
    y.t().relu_()
    return y * 1


def _write_setitem(y):
    y[:, 0] = 0.5
    return y * 1


def _write_fill(y):
    with flambeau.no_grad():
        y.fill_(1)
    return y * 1


def _write_zero(y):
    with flambeau.no_grad():
        y.zero_()
    return y + 1


def _write_returned(y):            # the stale value is a forward output, read by no op
    y[:, 1:].mul_(2)
    return y


def _write_numpy(y):
    y.numpy()[0] = 0
    return y * 1


class _Body(flambeau.nn.Module):
    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, y):
        return self.body(y)


class _Writer(flambeau.nn.Module):
    def __init__(self, body):
        super().__init__()
        self.fc = flambeau.nn.Linear(4, 4)
        self.block = _Body(body)

    def forward(self, x):
        return self.block(self.fc(x))


@pytest.mark.parametrize("body", [_write_v_mul, _write_view_add, _write_t_relu, _write_setitem, _write_fill,
                                  _write_zero, _write_returned, _write_numpy])
def test_writes_through_views_or_indexing_are_refused(tmp_path, body):
    """Before the check these exported a graph computing the unwritten value (errors of 1 to 3)."""
    path = tmp_path / "m.onnx"
    with pytest.raises(flambeau.onnx.OnnxExporterError, match="writes in place into a view or through indexing") \
            as info:
        flambeau.onnx.export(_Writer(body).eval(), flambeau.randn(3, 4), str(path))
    msg = str(info.value)
    assert "made by op Linear in module 'fc'" in msg and "out of place" in msg
    if body is not _write_returned:
        assert "(read again in module 'block')" in msg
    assert not path.exists()
    assert ArrayFunction.__dict__["apply"] is _ARRAY_APPLY


def test_inplace_on_own_tensor_still_exports(tmp_path):
    """In-place ops on a tensor (not a view of another one that is read again) are traced: a
    fresh activation's relu_(), ``out += identity``, a view written whose base is not read again."""
    def build(lib):
        nn = lib.nn

        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(4, 4, 3, padding=1)
                self.conv2 = nn.Conv2d(4, 4, 3, padding=1)

            def forward(self, x):
                identity = x
                out = self.conv1(x)
                out = out.relu_()
                out = self.conv2(out)
                out += identity
                v = out[:, 1:]
                v.mul_(0.5)                  # 'out' is not read after this
                return v.relu_()
        return Block()
    _check(build, flambeau.randn(2, 4, 6, 6), tmp_path)


@pytest.mark.parametrize("name", ["resnet20", "resnet9"])
def test_resnets_still_export(tmp_path, name):
    """resnet20 (F.relu, ``out + shortcut``) and resnet9 (nn.ReLU(inplace=True) after each
    BatchNorm) pass the write check and match flambeau in ONNX Runtime."""
    from flambeau.vision import models
    model = models.resnet20() if name == "resnet20" else models.resnet9(width=8)
    if name == "resnet9":
        assert any(isinstance(m, flambeau.nn.ReLU) and m.inplace for m in model.modules())
    _check(lambda lib: model, flambeau.randn(2, 3, 32, 32), tmp_path, twin=False)


def test_buffer_written_in_forward_keeps_first_read_value(tmp_path):
    """A buffer updated by a traced in-place op: its reads before the update see the old value
    (the initializer is the value first read, not the buffer after the trace)."""
    class Counter(flambeau.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("scale", flambeau.full((4,), 2.0))

        def forward(self, x):
            y = x * self.scale
            self.scale.add_(1)
            return y + self.scale

    model = Counter().eval()
    x = flambeau.randn(3, 4)
    path = tmp_path / "m.onnx"
    _export(model, x, path)
    _close(_run(path, {"x": x.numpy()})[0], x.numpy() * 2 + 3, "buffer written in forward")


# ---------------------------------------------------------------------------- more ops
# group/instance norm, var/std, reflect/replicate/circular padding, flip/roll/repeat/gather, and
# the ops computed outside ArrayFunction.apply (comparisons, logic, argmax/argmin), which the
# trace records through wrappers put on their public functions while it runs
def norms(lib, affine=True):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.GroupNorm(4, 8, affine=affine), nn.SiLU(),
                         nn.InstanceNorm2d(8, affine=True), nn.ReLU(), nn.InstanceNorm2d(8),
                         nn.Flatten(2), nn.GroupNorm(1, 8, eps=1e-3), nn.InstanceNorm1d(8, affine=affine))


@pytest.mark.parametrize("opset", [17, 18, 20])
@pytest.mark.parametrize("affine", [True, False])
def test_group_and_instance_norm(tmp_path, opset, affine):
    model = norms(flambeau, affine)
    if affine:                           # weights other than 1 and 0, so that a lost affine map shows
        with flambeau.no_grad():
            for m in model.modules():
                if isinstance(m, (flambeau.nn.GroupNorm, flambeau.nn.InstanceNorm2d)) and m.weight is not None:
                    m.weight.copy_(flambeau.rand(8) + 0.5)
                    m.bias.copy_(flambeau.randn(8))
    d_fl, d_th = _check(lambda lib: model if lib is flambeau else norms(torch, affine),
                        flambeau.randn(2, 3, 7, 6), tmp_path, opset_version=opset)
    assert d_fl < 1e-5 and d_th < 1e-5
    ops = {n.op_type for n in onnx.load(str(tmp_path / "model.onnx")).graph.node}
    assert "InstanceNormalization" in ops


def var_std(lib):
    class M(lib.nn.Module):
        def forward(self, x):                                   # x (N, 4, 5)
            a = x.var(dim=1) + x.std(dim=(-1, 1)).unsqueeze(1)  # (N, 5) + (N, 1)
            b = lib.var(x, dim=(1, 2), keepdim=True) * lib.std(x, dim=2, keepdim=True, correction=0)
            c = x.var(unbiased=False) - x.std() + lib.var(x, 0, correction=2).sum()
            s, m = lib.std_mean(x, dim=1)
            return a, b + c, s * m
    return M()


@pytest.mark.parametrize("opset", [17, 18])
def test_var_std(tmp_path, opset):
    d_fl, d_th = _check(var_std, flambeau.randn(3, 4, 5), tmp_path, opset_version=opset)
    assert d_fl < 1e-5 and d_th < 1e-5


def paddings(lib):
    nn, F = lib.nn, lib.nn.functional

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.reflect = nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")
            self.replicate = nn.Conv2d(4, 4, 3, padding=(2, 1), padding_mode="replicate")
            self.circular = nn.Conv2d(4, 4, 3, padding=1, padding_mode="circular")
            self.rpad = nn.ReflectionPad2d((1, 2, 0, 3))
            self.epad = nn.ReplicationPad2d(2)

        def forward(self, x):                                   # x (N, 3, 6, 7)
            y = self.circular(self.replicate(self.reflect(x)))  # (N, 4, 8, 7)
            a = F.pad(y[:, 0], (2, 1), mode="reflect")          # 1d, 3d input
            b = F.pad(self.epad(y), (0, 1, 3, 0), mode="circular")
            c = F.pad(y.flatten(2), (3, 2), mode="replicate")   # 1d, 3d input
            return self.rpad(y), a, b, c
    return M()


@pytest.mark.parametrize("opset", [17, 18])
def test_padding_modes(tmp_path, opset):
    d_fl, d_th = _check(paddings, flambeau.randn(2, 3, 6, 7), tmp_path, opset_version=opset)
    assert d_fl < 1e-5 and d_th < 1e-5
    nodes = onnx.load(str(tmp_path / "model.onnx")).graph.node
    modes = {a.s.decode() for n in nodes if n.op_type == "Pad" for a in n.attribute if a.name == "mode"}
    assert modes == {"reflect", "edge"}
    assert "Gather" not in {n.op_type for n in nodes}


def test_circular_crop_is_a_gather(tmp_path):
    """A negative circular amount crops first: exported as a Gather of the traced indices."""
    class M(flambeau.nn.Module):
        def forward(self, x):
            return flambeau.nn.functional.pad(x, (-1, 2, 1, -2), mode="circular")
    d_fl, _ = _check(lambda lib: M(), flambeau.randn(2, 3, 6, 5), tmp_path, twin=False)
    assert d_fl == 0


def rearrange(lib):
    class M(lib.nn.Module):
        def forward(self, x):                                   # x (N, 3, 4, 5)
            a = x.flip(-1) + lib.flip(x, (1, 2)) + x.roll(2, -1) + lib.roll(x, (1, -3), (1, 3))
            b = x.repeat(1, 2, 1, 1) + lib.tile(x, (2, 1, 1))   # (N, 6, 4, 5)
            c = x.roll(4)                                       # flattened
            return a, b, c, lib.gather(x, 2, lib.zeros(x.shape[0], 3, 2, 5, dtype=lib.int64) + 1), \
                lib.take_along_dim(x, x.argmax(dim=1, keepdim=True), dim=1)
    return M()


def test_flip_roll_repeat_gather(tmp_path):
    d_fl, d_th = _check(rearrange, flambeau.randn(2, 3, 4, 5), tmp_path)
    assert d_fl < 1e-5 and d_th < 1e-5
    ops = {n.op_type for n in onnx.load(str(tmp_path / "model.onnx")).graph.node}
    assert {"Slice", "Tile", "GatherElements", "ArgMax", "Concat"} <= ops


def masks(lib):
    class M(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = lib.nn.Linear(6, 6)
            self.register_buffer("limit", lib.full((6,), 0.25))

        def forward(self, x):                                   # x (N, 4, 6)
            y = self.fc(x)
            m = (y > 0) & ~(y >= 1.5) | (y == y.amax(dim=-1, keepdim=True))
            a = lib.where(m, y, -y) + lib.where(y < self.limit, y, 0.0) + (y <= -0.5).float()
            b = y.masked_fill(lib.logical_not(y.ne(0.5) & lib.logical_or(y.lt(0.3), x.ge(0))), -1.0)
            c = lib.logical_xor(y > 0, x > 0).to(lib.float32) + (x.argmax(-1, keepdim=True) != 2)
            idx = y.argmax(dim=1), y.argmin(dim=-1), y.argmax(), y.argmin(keepdim=True), lib.argmax(y, 0)
            vals, where_ = y.max(dim=1)
            return (a, b, c) + idx + (vals, where_, y.min(dim=-1, keepdim=True)[1], lib.gt(y, x).sum(1))
    return M()


@pytest.mark.parametrize("opset", [17, 20])
def test_comparisons_where_argmax(tmp_path, opset):
    """Comparisons, logical ops and argmax/argmin are traced: the graph computes the mask (the
    same model was refused as depending on the input values before)."""
    d_fl, d_th = _check(masks, flambeau.randn(3, 4, 6), tmp_path, opset_version=opset)
    assert d_fl < 1e-5 and d_th < 1e-5
    ops = {n.op_type for n in onnx.load(str(tmp_path / "model.onnx")).graph.node}
    assert {"Greater", "GreaterOrEqual", "Equal", "Not", "And", "Or", "Xor", "Less", "LessOrEqual", "Where",
            "ArgMax", "ArgMin"} <= ops


def test_where_on_a_comparison(tmp_path):
    d_fl, d_th = _check(lambda lib: _WhereGate(lib), flambeau.randn(3, 4), tmp_path)
    assert d_fl < 1e-6 and d_th < 1e-6


class _WhereGate:
    def __new__(cls, lib):
        class Gate(lib.nn.Module):
            def forward(self, x):
                return lib.where(x > 0, x, x * 0.1)
        return Gate()


def test_comparison_dtypes(tmp_path):
    """Each side in the dtype PyTorch compares in: an int64 tensor with a float one, with a
    float scalar, a bool mask with a bool tensor."""
    class M(flambeau.nn.Module):
        def forward(self, x, i):
            return (i < x).float() + (i == 1.5).float() + ((x > 0) == (i > 1)).float() + (i >= 2).float()

    x, i = flambeau.randn(3, 5) * 3, flambeau.randint(0, 4, (3, 5))
    path = tmp_path / "m.onnx"
    _export(M(), (x, i), path)
    np.testing.assert_array_equal(_run(path, {"x": x.numpy(), "i": i.numpy()})[0], _fl_forward(M(), x, i)[0])


def test_new_ops_dynamic_axes(tmp_path):
    """A graph traced with batch 2 and 6x7 images, run with batch 5 and 9x8 images: group norm's
    reshapes, var's count, the padding modes, flip, roll, argmax and comparisons follow."""
    class M(flambeau.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = flambeau.nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")
            self.gn = flambeau.nn.GroupNorm(2, 4)
            self.inorm = flambeau.nn.InstanceNorm2d(4, affine=True)

        def forward(self, x):
            F = flambeau.nn.functional
            y = self.inorm(self.gn(self.conv(x)))
            y = F.pad(y, (1, 1, 2, 0), mode="replicate") + F.pad(y, (1, 1, 2, 0), mode="circular")
            z = flambeau.where(y > y.mean(), y.flip(-1), y.roll(1, -2))
            return z - y.var(dim=(0, 2, 3), keepdim=True), z.flatten(1).argmax(1), y.std(0, keepdim=True)

    model = M().eval()
    path = tmp_path / "m.onnx"
    dims = {0: "n", 2: "h", 3: "w"}
    _export(model, flambeau.randn(2, 3, 6, 7), path, input_names=["x"],
            output_names=["y", "i", "s"], dynamic_axes={"x": dims, "y": dims, "i": [0], "s": {2: "h2", 3: "w2"}})
    x = flambeau.randn(5, 3, 9, 8)
    for got, want in zip(_run(path, {"x": x.numpy()}), _fl_forward(model, x)):
        assert got.shape == want.shape
        _close(got, want, "other batch and image sizes than traced")


def test_constant_comparisons_still_export(tmp_path):
    """A comparison of buffers (no input involved) is computed in the graph from the initializers."""
    class M(flambeau.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("pos", flambeau.arange(6))

        def forward(self, x):
            return flambeau.where(self.pos.unsqueeze(0) <= self.pos.unsqueeze(1), x, 0.0)

    x = flambeau.randn(6, 6)
    _export(M(), x, tmp_path / "m.onnx")
    np.testing.assert_array_equal(_run(tmp_path / "m.onnx", {"x": x.numpy()})[0], _fl_forward(M(), x)[0])


def test_still_unsupported_ops_name_the_op(tmp_path):
    class LogSumExp(flambeau.nn.Module):
        def forward(self, x):
            return flambeau.logsumexp(x.std(1, keepdim=True) * x, dim=1)

    with pytest.raises(flambeau.onnx.UnsupportedOperatorError, match="no ONNX conversion for op LogSumExp"):
        flambeau.onnx.export(LogSumExp(), flambeau.randn(2, 5), tmp_path / "m.onnx")

    class Sorted(flambeau.nn.Module):
        def forward(self, x):            # sorting indices are computed outside the ops
            return flambeau.sort(x, dim=1).values

    with pytest.raises(flambeau.onnx.OnnxExporterError, match="sorting indices"):
        flambeau.onnx.export(Sorted(), flambeau.randn(2, 5), tmp_path / "m.onnx")

    class Bits(flambeau.nn.Module):
        def forward(self, x):            # integer bitwise ops are not traced: refused, not frozen
            return x * (x.argmax(1, keepdim=True) & 1).float()

    with pytest.raises(flambeau.onnx.OnnxExporterError, match="integer bitwise ops"):
        flambeau.onnx.export(Bits(), flambeau.randn(4, 5), tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == []


def test_outside_ops_wrappers_put_back(tmp_path):
    """The wrappers the trace puts on the comparison and argmax functions are gone afterwards,
    after a failed export too."""
    before = {n: getattr(flambeau.Tensor, n) for n in ("gt", "argmax", "logical_not", "greater")}
    bound = (flambeau.gt, flambeau.ops.gt, flambeau.greater, flambeau.argmax, flambeau.ops.reduce.argmin)
    flambeau.onnx.export(masks(flambeau).eval(), flambeau.randn(2, 4, 6), tmp_path / "m.onnx")
    with pytest.raises(flambeau.onnx.UnsupportedOperatorError):
        flambeau.onnx.export(_Unsupported(), flambeau.randn(2, 4), tmp_path / "n.onnx")
    assert {n: getattr(flambeau.Tensor, n) for n in before} == before
    assert (flambeau.gt, flambeau.ops.gt, flambeau.greater, flambeau.argmax, flambeau.ops.reduce.argmin) == bound
    assert flambeau.ops.elementwise.gt.__module__ == "flambeau.ops.elementwise"
    assert not hasattr(flambeau.gt, "__wrapped__")


def test_scalar_results_stay_0d(tmp_path):
    """Full reductions and comparisons of them export as 0-d outputs, as PyTorch computes them
    (a 0-d constant written as shape (1,) made the checker refuse the model)."""
    class M(flambeau.nn.Module):
        def forward(self, x):
            return x.var(), x.std(), x.sum() > 0, x.sum() * 2

    x = flambeau.randn(3, 4)
    path = tmp_path / "m.onnx"
    _export(M(), x, path)       # (the full checker runs here)
    for got, want in zip(_run(path, {"x": x.numpy()}), _fl_forward(M(), x)):
        assert got.shape == want.shape == ()
        np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("mode,pad,traced", [("replicate", (2, 1), 1), ("circular", (1, 1), 2),
                                             ("reflect", (1, 1), 2)])
def test_padding_traced_on_a_tiny_axis_follows_dynamic_sizes(tmp_path, mode, pad, traced):
    """On an axis of size 1 or 2 different pads give the same index map (replicate (2, 1) and
    (0, 3); circular and reflect (1, 1)): the exporter takes the mode and amounts F.pad was given,
    so a dynamic axis traced that small still pads right at other sizes."""
    class M(flambeau.nn.Module):
        def forward(self, x):
            return flambeau.nn.functional.pad(x, pad, mode=mode)

    path = tmp_path / "m.onnx"
    _export(M(), flambeau.randn(1, 2, traced), path, input_names=["x"], output_names=["y"],
            dynamic_axes={"x": {2: "w"}, "y": {2: "w2"}})
    for w in (traced, 5):
        x = flambeau.randn(1, 2, w)
        (got,), (want,) = _run(path, {"x": x.numpy()}), _fl_forward(M(), x)
        np.testing.assert_array_equal(got, want)
