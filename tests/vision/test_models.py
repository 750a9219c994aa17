"""vision.models: VGG (torchvision's layout), weight enums, and the no-download policy."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import flambeau
from flambeau.vision import models

# the PyTorch twins of flambeau's models, shared with the benchmarks that time them
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks"))
from twins import torch_airbench  # noqa: E402

VGG_CFG_COUNTS = {  # (builder, batch_norm, config) -> torchvision's documented parameter count
    "vgg11": 132863336, "vgg11_bn": 132868840, "vgg13": 133047848, "vgg13_bn": 133053736,
    "vgg16": 138357544, "vgg16_bn": 138365992, "vgg19": 143667240, "vgg19_bn": 143678248,
}
CFG = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}


def _count_from_cfg(cfg, bn, num_classes=1000):
    n, cin = 0, 3
    for v in models.vgg.cfgs[cfg]:
        if v != "M":
            n += cin * v * 9 + v + (2 * v if bn else 0)
            cin = v
    return n + 25088 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * num_classes + num_classes


@pytest.mark.parametrize("name", list(VGG_CFG_COUNTS))
def test_vgg_parameter_counts_match_weights_meta(name):
    base, bn = name.split("_")[0], name.endswith("_bn")
    assert _count_from_cfg(CFG[base], bn) == VGG_CFG_COUNTS[name]
    enum = getattr(models, name.upper().replace("VGG", "VGG") + "_Weights")
    assert enum.DEFAULT.meta["num_params"] == VGG_CFG_COUNTS[name]


def test_vgg16_layout_and_parameter_count():
    m = models.vgg16(init_weights=False)
    sd = m.state_dict()
    convs = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    expected = [f"features.{i}.{k}" for i in convs for k in ("weight", "bias")]
    expected += [f"classifier.{i}.{k}" for i in (0, 3, 6) for k in ("weight", "bias")]
    assert list(sd) == expected
    assert sum(p.numel() for p in m.parameters()) == 138357544
    assert tuple(sd["features.0.weight"].shape) == (64, 3, 3, 3)
    assert tuple(sd["classifier.0.weight"].shape) == (4096, 25088)
    assert tuple(sd["classifier.6.bias"].shape) == (1000,)
    assert isinstance(m.avgpool, flambeau.nn.AdaptiveAvgPool2d) and m.avgpool.output_size == (7, 7)
    kinds = [type(x).__name__ for x in m.classifier]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert [type(x).__name__ for x in m.features[:5]] == ["Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d"]


def test_vgg11_bn_layout():
    m = models.vgg11_bn(num_classes=10, init_weights=False)
    keys = list(m.state_dict())
    assert keys[:7] == ["features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
                        "features.1.running_mean", "features.1.running_var", "features.1.num_batches_tracked"]
    assert "features.4.weight" in keys and "features.8.weight" in keys
    assert tuple(m.state_dict()["classifier.6.weight"].shape) == (10, 4096)


@pytest.fixture(scope="module")
def vgg11():
    flambeau.manual_seed(0)
    return models.vgg11()  # built once: 133M parameters take seconds to initialise


def test_vgg11_forward_shape_and_init(vgg11):
    m = vgg11.eval()
    with flambeau.no_grad():
        out = m(flambeau.randn(1, 3, 224, 224))
    assert tuple(out.shape) == (1, 1000) and out.dtype == flambeau.float32
    assert np.isfinite(out.numpy()).all()
    w = m.classifier[6].weight.detach().numpy()
    assert abs(w.std() - 0.01) < 0.001 and not m.classifier[6].bias.detach().numpy().any()
    conv = m.features[0].weight.detach().numpy()
    assert abs(conv.std() - np.sqrt(2 / (64 * 9))) < 0.02  # kaiming normal, fan_out


def test_vgg_small_input_backward(vgg11):
    """The adaptive pool makes VGG accept 32×32 inputs; gradients reach the first and last layers."""
    m = vgg11.train()
    x, y = flambeau.randn(2, 3, 32, 32), flambeau.tensor([0, 2])
    loss = flambeau.nn.functional.cross_entropy(m(x), y)
    loss.backward()
    assert m.features[0].weight.grad is not None and m.classifier[6].weight.grad.abs().sum().item() > 0


@pytest.mark.parametrize("builder,enum", [
    (models.resnet18, models.ResNet18_Weights), (models.resnet34, models.ResNet34_Weights),
    (models.resnet50, models.ResNet50_Weights), (models.vgg16, models.VGG16_Weights),
    (models.vgg11_bn, models.VGG11_BN_Weights),
])
def test_weights_raise_a_clear_error(builder, enum):
    for w in (enum.DEFAULT, enum.IMAGENET1K_V1, "DEFAULT", f"{enum.__name__}.IMAGENET1K_V1"):
        with pytest.raises(RuntimeError, match=r"not available in flambeau.*weights=None.*load_state_dict") as e:
            builder(weights=w)
        assert enum.IMAGENET1K_V1.url.split("/")[-1] in str(e.value) or enum.DEFAULT.url in str(e.value)
    with pytest.raises(RuntimeError, match="does not download models from a hub"):
        enum.DEFAULT.get_state_dict(progress=False)


def test_wrong_weights_enum_and_name():
    with pytest.raises(TypeError, match="expected ResNet18_Weights but received VGG16_Weights"):
        models.resnet18(weights=models.VGG16_Weights.DEFAULT)
    with pytest.raises(ValueError, match="not a member of ResNet18_Weights"):
        models.resnet18(weights="IMAGENET1K_V9")


def test_weights_enum_api():
    W = models.ResNet18_Weights
    assert W.DEFAULT is W.IMAGENET1K_V1
    assert list(W) == [W.IMAGENET1K_V1]
    assert repr(W.DEFAULT) == "ResNet18_Weights.IMAGENET1K_V1"
    assert W.DEFAULT.url == "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    assert W.DEFAULT.meta["num_params"] == sum(p.numel() for p in models.resnet18().parameters())
    assert models.ResNet50_Weights.DEFAULT is models.ResNet50_Weights.IMAGENET1K_V2
    assert models.get_weight("ResNet18_Weights.DEFAULT") is W.IMAGENET1K_V1
    assert models.resnet18(weights=None).fc.out_features == 1000


def test_weights_transforms_is_imagenet_preprocessing():
    from flambeau.vision import transforms as T
    tf = models.ResNet18_Weights.DEFAULT.transforms()
    assert isinstance(tf, T.Compose)
    assert [type(t).__name__ for t in tf.transforms] == ["Resize", "CenterCrop", "ToTensor", "Normalize"]
    img = np.full((300, 400, 3), 255, np.uint8)
    out = tf(img)
    assert tuple(out.shape) == (3, 224, 224)
    expected = (1 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(out.numpy()[:, 100, 100], expected, rtol=1e-5)


def _torch_resnet9(nn, width):
    """The same network written in PyTorch, layer for layer (state-dict names included)."""
    def conv(cin, cout, pool=False):
        layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False)] + ([nn.MaxPool2d(2)] if pool else [])
        return nn.Sequential(*layers, nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            w = width
            self.prep, self.layer1 = conv(3, w), conv(w, 2 * w, True)
            self.res1 = nn.Sequential(conv(2 * w, 2 * w), conv(2 * w, 2 * w))
            self.layer2, self.layer3 = conv(2 * w, 4 * w, True), conv(4 * w, 8 * w, True)
            self.res3 = nn.Sequential(conv(8 * w, 8 * w), conv(8 * w, 8 * w))
            self.pool, self.fc = nn.AdaptiveMaxPool2d(1), nn.Linear(8 * w, 10, bias=False)

        def forward(self, x):
            x = self.layer1(self.prep(x))
            x = x + self.res1(x)
            x = self.layer3(self.layer2(x))
            x = x + self.res3(x)
            return self.fc(self.pool(x).flatten(1)) * 0.125
    return Net()


def test_resnet9_matches_the_same_network_in_pytorch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    th = _torch_resnet9(torch.nn, 8)
    fl = models.resnet9(width=8)
    _assert_same_network(torch, fl, th, batch=4)
    assert sum(p.numel() for p in models.resnet9().parameters()) == 6_573_120     # the original's 6.57 M


def _assert_same_network(torch, fl, th, batch):
    """``fl`` with ``th``'s weights gives ``th``'s outputs and input gradients, in training and
    evaluation mode (state-dict names must match)."""
    assert list(fl.state_dict()) == list(th.state_dict())
    fl.load_state_dict({k: flambeau.from_numpy(v.detach().numpy().copy()) for k, v in th.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((batch, 3, 32, 32)).astype(np.float32)
    for train in (True, False):
        th.train(train), fl.train(train)
        xt, xf = torch.tensor(x, requires_grad=True), flambeau.tensor(x, requires_grad=True)
        yt, yf = th(xt), fl(xf)
        np.testing.assert_allclose(yf.detach().numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-5)
        yt.square().sum().backward()
        yf.square().sum().backward()
        np.testing.assert_allclose(xf.grad.numpy(), xt.grad.numpy(), rtol=1e-3, atol=1e-5)


# ---------------------------------------------------------------------------- airbench
def test_airbench_matches_the_same_network_in_pytorch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    th = torch_airbench(torch.nn, 16, 24)
    fl = models.airbench(width=16)
    _assert_same_network(torch, fl, th, batch=8)
    assert sum(p.numel() for p in models.airbench().parameters()) == 1_972_792
    # batch norm's running statistics follow PyTorch's momentum 0.4 update
    np.testing.assert_allclose(fl.block2.norm1.running_var.numpy(), th.block2.norm1.running_var.numpy(), rtol=1e-4)


def test_airbench_frozen_scales_and_identity_start():
    net = models.airbench(width=8)
    frozen = [name for name, p in net.named_parameters() if not p.requires_grad]
    assert frozen == ["whiten.weight"] + [f"block{b}.norm{n}.weight" for b in (1, 2, 3) for n in (1, 2)]
    assert all((m.weight.numpy() == 1).all() for m in net.modules() if isinstance(m, flambeau.nn.BatchNorm2d))
    # each 3x3 conv is the identity on its first in_channels outputs (as many as there are), random elsewhere
    for conv, k in ((net.block1.conv1, 8), (net.block2.conv1, 8), (net.block2.conv2, 32)):
        w = conv.weight.detach().numpy()
        eye = np.zeros((k, w.shape[1], 3, 3), np.float32)
        eye[np.arange(k), np.arange(k), 1, 1] = 1
        np.testing.assert_array_equal(w[:k], eye)
        if w.shape[0] > k:
            assert np.count_nonzero(w[k:]) == w[k:].size
    assert np.count_nonzero(net.whiten.bias.detach().numpy()) == 0


def test_airbench_whitening_decorrelates_training_patches():
    """After init_whitening, the first half of the whitening filters maps the images' 2x2 patches to
    uncorrelated outputs of variance λ/(λ+eps) (≈ 1); the second half is their negative."""
    rng = np.random.default_rng(0)
    # correlated images: smoothed noise with mixed colour channels
    base = rng.standard_normal((1200, 3, 33, 33))    # more images than init_whitening takes at a time
    smooth = base[:, :, :-1, :-1] + 0.8 * base[:, :, 1:, :-1] + 0.5 * base[:, :, :-1, 1:]
    images = np.einsum("ij,njhw->nihw", [[1.0, 0.6, 0.2], [0.3, 1.0, 0.5], [0.1, 0.4, 1.0]], smooth)
    images = images.astype(np.float32)
    net = models.airbench(width=8)
    eps = 5e-4
    assert net.init_whitening(images, eps=eps) is net
    with flambeau.no_grad():
        out = net.whiten(flambeau.from_numpy(images)).numpy().astype(np.float64)   # bias is 0
    feats = out.transpose(0, 2, 3, 1).reshape(-1, 24)
    cov = feats[:, :12].T @ feats[:, :12] / len(feats)
    patches = np.lib.stride_tricks.sliding_window_view(images.astype(np.float64), (2, 2), axis=(2, 3))
    rows = patches.transpose(0, 2, 3, 1, 4, 5).reshape(-1, 12)
    lam = np.linalg.eigvalsh(rows.T @ rows / len(rows))[::-1]         # the patches' second moments
    np.testing.assert_allclose(cov, np.diag(lam / (lam + eps)), atol=2e-4)
    np.testing.assert_array_equal(net.whiten.weight.numpy()[12:], -net.whiten.weight.numpy()[:12])
    assert lam[0] > 10 * lam[-1]            # the test images are far from white to begin with


def test_airbench_bad_input():
    with pytest.raises(ValueError, match=r"act must be one of relu, gelu, celu, got 'tanh'"):
        models.airbench(act="tanh")
    with pytest.raises(ValueError, match=r"init_whitening: expected images of shape \(N, 3, H, W\).*\(4, 1, 32, 32\)"):
        models.airbench().init_whitening(np.zeros((4, 1, 32, 32), np.float32))
