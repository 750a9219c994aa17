"""Model definitions (torchvision.models' role) and the registry the ``flambeau`` command uses."""
import inspect

from .simple import Reseau1, MLP, Reseau2, SimpleCNN  # noqa: F401
from .resnet import (ResNet, BasicBlock, Bottleneck, CifarResNet, resnet18, resnet34, resnet50,  # noqa: F401
                     resnet20, resnet32, resnet44, resnet56, resnet110, ResNet9, resnet9)
from .airbench import Airbench, airbench  # noqa: F401
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
    "resnet9": resnet9,
    "airbench": airbench,
}


def build(name, in_shape, num_classes, width=None):
    """The registry's model ``name``; ``width``: its base number of channels (None: the model's own)."""
    try:
        ctor = REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(sorted(REGISTRY))}") from None
    if width is None:
        return ctor(in_shape=tuple(in_shape), num_classes=num_classes)
    params = inspect.signature(ctor).parameters
    if "width" not in params and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        raise ValueError(f"model {name!r} has no width to set (--width works for simple-cnn, resnet20/32/56 "
                         f"resnet9 and airbench)")
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    return ctor(in_shape=tuple(in_shape), num_classes=num_classes, width=width)
