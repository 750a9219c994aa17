"""Model definitions (torchvision.models' role) and the registry the ``flambeau`` command uses."""
from .simple import Reseau1, MLP, Reseau2, SimpleCNN  # noqa: F401
from .resnet import (ResNet, BasicBlock, Bottleneck, CifarResNet, resnet18, resnet34, resnet50,  # noqa: F401
                     resnet20, resnet32, resnet44, resnet56, resnet110)
from .vgg import VGG, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn  # noqa: F401
from ._weights import (Weights, WeightsEnum, get_weight, ResNet18_Weights, ResNet34_Weights,  # noqa: F401
                       ResNet50_Weights, VGG11_Weights, VGG11_BN_Weights, VGG13_Weights, VGG13_BN_Weights,
                       VGG16_Weights, VGG16_BN_Weights, VGG19_Weights, VGG19_BN_Weights)

# name -> constructor(in_shape=..., num_classes=...)
REGISTRY = {
    "linear": Reseau1,
    "mlp": MLP,
    "cnn": Reseau2,
    "simple-cnn": SimpleCNN,
    "resnet20": resnet20,
    "resnet32": resnet32,
    "resnet56": resnet56,
}


def build(name, in_shape, num_classes):
    try:
        ctor = REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(sorted(REGISTRY))}") from None
    return ctor(in_shape=tuple(in_shape), num_classes=num_classes)
