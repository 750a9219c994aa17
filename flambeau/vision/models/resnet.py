"""Residual networks (He et al., 2016).

* ``resnet20/32/44/56/110``: the CIFAR-10 family (3 stages of 16/32/64 channels, 6n+2 layers,
  identity shortcuts with zero-padding "option A" replaced by 1×1 projection "option B" when
  ``shortcut='B'``).
* ``resnet18/34/50``: the ImageNet family with torchvision's layer names (``conv1``, ``bn1``,
  ``layer1.0.conv1``, ``downsample.0`` …), so state dicts are interchangeable.
"""
from __future__ import annotations

from ... import nn
from ...nn import functional as F
from ._weights import ResNet18_Weights, ResNet34_Weights, ResNet50_Weights, check_weights


# ---------------------------------------------------------------------------- CIFAR family
class _PadShortcut(nn.Module):
    """Option A: subsample by 2 and zero-pad the new channels (no parameters)."""

    def __init__(self, planes):
        super().__init__()
        self.pad = planes // 4

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class CifarBasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1, shortcut="A"):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Identity()
        if stride != 1 or in_planes != planes:
            if shortcut == "A":
                self.shortcut = _PadShortcut(planes)
            else:
                self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                                              nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet for 32×32 inputs: conv 16 → 3 stages of ``n`` basic blocks → global pool → fc."""

    def __init__(self, depth=20, num_classes=10, in_channels=3, shortcut="A", width=16):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CifarResNet: depth must be 6n+2 (20, 32, 44, 56, 110), got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        planes = [width, 2 * width, 4 * width]
        self.in_planes = width
        self.layer1 = self._stage(planes[0], n, 1, shortcut)
        self.layer2 = self._stage(planes[1], n, 2, shortcut)
        self.layer3 = self._stage(planes[2], n, 2, shortcut)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(planes[2], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _stage(self, planes, n, stride, shortcut):
        blocks = []
        for s in [stride] + [1] * (n - 1):
            blocks.append(CifarBasicBlock(self.in_planes, planes, s, shortcut))
            self.in_planes = planes
        return nn.Sequential(*blocks)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.avgpool(x).flatten(1))


def _cifar(depth):
    def ctor(num_classes=10, in_shape=(3, 32, 32), shortcut="A", **kwargs):
        return CifarResNet(depth, num_classes=num_classes, in_channels=in_shape[0], shortcut=shortcut, **kwargs)
    ctor.__name__ = f"resnet{depth}"
    ctor.__doc__ = f"ResNet-{depth} for CIFAR-10 (He et al. 2016, section 4.2)."
    return ctor


resnet20, resnet32, resnet44, resnet56, resnet110 = (_cifar(d) for d in (20, 32, 44, 56, 110))


class ResNet9(nn.Module):
    """ResNet-9 for 32×32 inputs, the fast CIFAR-10 network of the DAWNBench training-time
    entries (Page, "How to train your ResNet", 2018): few, wide layers.

    prep conv (w) → layer1: conv (2w), pool, residual of two convs → layer2: conv (4w), pool →
    layer3: conv (8w), pool, residual of two convs → global max pool → linear, its output scaled
    by 1/8. Every conv is 3×3 without bias, followed by batch norm and ReLU; the pool comes right
    after its conv, so batch norm and ReLU run at the pooled size (as in later fast-training
    variants: the same network shape for less work). ``width=64`` is the original (6.6 M
    parameters); ``width=32`` has a quarter of the work.
    """

    def __init__(self, num_classes=10, in_channels=3, width=64, scale=0.125):
        super().__init__()
        w = width

        def conv(cin, cout, pool=False):
            layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False)]
            if pool:
                layers.append(nn.MaxPool2d(2))
            return nn.Sequential(*layers, nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

        self.prep = conv(in_channels, w)
        self.layer1 = conv(w, 2 * w, pool=True)
        self.res1 = nn.Sequential(conv(2 * w, 2 * w), conv(2 * w, 2 * w))
        self.layer2 = conv(2 * w, 4 * w, pool=True)
        self.layer3 = conv(4 * w, 8 * w, pool=True)
        self.res3 = nn.Sequential(conv(8 * w, 8 * w), conv(8 * w, 8 * w))
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(8 * w, num_classes, bias=False)
        self.scale = scale

    def forward(self, x):
        x = self.layer1(self.prep(x))
        x = x + self.res1(x)
        x = self.layer3(self.layer2(x))
        x = x + self.res3(x)
        return self.fc(self.pool(x).flatten(1)) * self.scale


def resnet9(num_classes=10, in_shape=(3, 32, 32), width=64, **kwargs):
    """ResNet-9 for CIFAR-10 (:class:`ResNet9`)."""
    return ResNet9(num_classes=num_classes, in_channels=in_shape[0], width=width, **kwargs)


# ---------------------------------------------------------------------------- ImageNet family
def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """torchvision's ``ResNet`` (same module names and initialisation)."""

    def __init__(self, block, layers, num_classes=1000, in_channels=3):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch_flatten(self.avgpool(x)))


def torch_flatten(x):
    return x.flatten(1)


def _weights_unavailable(weights, enum_cls):
    # a valid member raises a RuntimeError explaining that pretrained weights are not available
    check_weights(weights, enum_cls)


def resnet18(*, weights=None, progress=True, num_classes=1000, **kwargs):
    _weights_unavailable(weights, ResNet18_Weights)
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes, **kwargs)


def resnet34(*, weights=None, progress=True, num_classes=1000, **kwargs):
    _weights_unavailable(weights, ResNet34_Weights)
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes=num_classes, **kwargs)


def resnet50(*, weights=None, progress=True, num_classes=1000, **kwargs):
    _weights_unavailable(weights, ResNet50_Weights)
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes=num_classes, **kwargs)
