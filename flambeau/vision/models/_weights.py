"""Pretrained-weight descriptors with torchvision's API (``ResNet18_Weights.IMAGENET1K_V1``,
``VGG16_Weights.DEFAULT`` …).

Each member carries the ``url`` torchvision downloads its checkpoint from, a small ``meta`` dict
and ``transforms()``, the ImageNet preprocessing the weights expect. flambeau ships no pretrained
weights and downloads none from a model hub: giving a member to a model builder (or calling
``get_state_dict``) raises a RuntimeError that says so. Build the model with ``weights=None`` and
load a state dict from a local file instead (``model.load_state_dict(flambeau.load(path))``, a
safetensors file; state-dict keys follow torchvision's layout).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from typing import Any, Callable

__all__ = ["Weights", "WeightsEnum", "IMAGENET_MEAN", "IMAGENET_STD", "imagenet_transforms",
           "ResNet18_Weights", "ResNet34_Weights", "ResNet50_Weights",
           "VGG11_Weights", "VGG11_BN_Weights", "VGG13_Weights", "VGG13_BN_Weights",
           "VGG16_Weights", "VGG16_BN_Weights", "VGG19_Weights", "VGG19_BN_Weights", "get_weight"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_transforms(crop_size=224, resize_size=256):
    """The standard ImageNet evaluation preprocessing: resize the short side to ``resize_size``,
    centre-crop ``crop_size``, scale to [0, 1] as a ``C×H×W`` float tensor, normalise."""
    from .. import transforms as T
    return T.Compose([T.Resize(resize_size), T.CenterCrop(crop_size), T.ToTensor(),
                      T.Normalize(mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD))])


@dataclass(eq=False)
class Weights:
    url: str
    transforms: Callable
    meta: dict = field(default_factory=dict)


class WeightsEnum(Enum):
    """An Enum of :class:`Weights`; ``.url``, ``.meta``, ``.transforms()`` read the member's value."""

    @classmethod
    def verify(cls, obj):
        """``None``, a member, or its name (``"IMAGENET1K_V1"``, ``"ResNet18_Weights.DEFAULT"``) ->
        the member (or None); a member of another enum raises TypeError, as in torchvision."""
        if obj is None:
            return None
        if isinstance(obj, str):
            name = obj.replace(cls.__name__ + ".", "")
            try:
                return cls[name]
            except KeyError:
                raise ValueError(f"{obj!r} is not a member of {cls.__name__}; choose one of "
                                 f"{', '.join(cls.__members__)}") from None
        if not isinstance(obj, cls):
            raise TypeError(f"Invalid Weight class provided; expected {cls.__name__} but received "
                            f"{obj.__class__.__name__}.")
        return obj

    @property
    def url(self):
        return self.value.url

    @property
    def meta(self):
        return self.value.meta

    @property
    def transforms(self):
        return self.value.transforms

    def get_state_dict(self, *args, **kwargs):
        raise RuntimeError(unavailable_message(self))

    def __repr__(self):
        return f"{type(self).__name__}.{self._name_}"


def unavailable_message(weights):
    return (f"pretrained weights {weights!r} are not available in flambeau: torchvision downloads them from "
            f"{weights.url}, and flambeau does not download models from a hub. Build the model with weights=None "
            "and load a state dict from a local safetensors file instead: "
            "model.load_state_dict(flambeau.load('checkpoint.safetensors')) (keys follow torchvision's layout)")


def check_weights(weights, enum_cls):
    """A model builder's ``weights`` argument: None passes; a valid member (or name) raises the
    RuntimeError explaining that pretrained weights are not available; anything else raises
    torchvision's TypeError/ValueError."""
    weights = enum_cls.verify(weights)
    if weights is not None:
        raise RuntimeError(unavailable_message(weights))


_BASE = "https://download.pytorch.org/models/"


def _w(file, num_params, acc1, acc5, resize_size=256, min_size=(1, 1)):
    return Weights(url=_BASE + file, transforms=partial(imagenet_transforms, crop_size=224, resize_size=resize_size),
                   meta={"num_params": num_params, "min_size": min_size, "dataset": "ImageNet-1K",
                         "metrics": {"acc@1": acc1, "acc@5": acc5}})


class ResNet18_Weights(WeightsEnum):
    IMAGENET1K_V1 = _w("resnet18-f37072fd.pth", 11689512, 69.758, 89.078)
    DEFAULT = IMAGENET1K_V1


class ResNet34_Weights(WeightsEnum):
    IMAGENET1K_V1 = _w("resnet34-b627a593.pth", 21797672, 73.314, 91.420)
    DEFAULT = IMAGENET1K_V1


class ResNet50_Weights(WeightsEnum):
    IMAGENET1K_V1 = _w("resnet50-0676ba61.pth", 25557032, 76.130, 92.862)
    IMAGENET1K_V2 = _w("resnet50-11ad3fa6.pth", 25557032, 80.858, 95.434, resize_size=232)
    DEFAULT = IMAGENET1K_V2


class VGG11_Weights(WeightsEnum):
    IMAGENET1K_V1 = _w("vgg11-8a719046.pth", 132863336, 69.020, 88.628, min_size=(32, 32))
    DEFAULT = IMAGENET1K_V1


class VGG11_BN_Weights(WeightsEnum):
    IMAGENET1K_V1 = _w("vgg11_bn-6002323d.pth", 132868840, 70.370, 89.810, min_size=(32, 32))
    DEFAULT = IMAGENET1K_V1


class VGG13_Weights(WeightsEnum):
    IMAGENET1K_V1 = _w("vgg13-19584684.pth", 133047848, 69.928, 89.246, min_size=(32, 32))
    DEFAULT = IMAGENET1K_V1


class VGG13_BN_Weights(WeightsEnum):
    IMAGENET1K_V1 = _w("vgg13_bn-abd245e5.pth", 133053736, 71.586, 90.374, min_size=(32, 32))
    DEFAULT = IMAGENET1K_V1


class VGG16_Weights(WeightsEnum):
    IMAGENET1K_V1 = _w("vgg16-397923af.pth", 138357544, 71.592, 90.382, min_size=(32, 32))
    DEFAULT = IMAGENET1K_V1


class VGG16_BN_Weights(WeightsEnum):
    IMAGENET1K_V1 = _w("vgg16_bn-6c64b313.pth", 138365992, 73.360, 91.516, min_size=(32, 32))
    DEFAULT = IMAGENET1K_V1


class VGG19_Weights(WeightsEnum):
    IMAGENET1K_V1 = _w("vgg19-dcbb9e9d.pth", 143667240, 72.376, 90.876, min_size=(32, 32))
    DEFAULT = IMAGENET1K_V1


class VGG19_BN_Weights(WeightsEnum):
    IMAGENET1K_V1 = _w("vgg19_bn-c79401a0.pth", 143678248, 74.218, 91.842, min_size=(32, 32))
    DEFAULT = IMAGENET1K_V1


def get_weight(name: str) -> Any:
    """``get_weight("ResNet18_Weights.IMAGENET1K_V1")`` -> the member (torchvision.models.get_weight)."""
    try:
        enum_name, member = name.split(".")
    except ValueError:
        raise ValueError(f"Invalid weight name provided: '{name}'.") from None
    cls = globals().get(enum_name)
    if not (isinstance(cls, type) and issubclass(cls, WeightsEnum)) or cls is WeightsEnum:
        raise ValueError(f"The weight enum '{enum_name}' for the specific method couldn't be retrieved.")
    return cls.verify(member)
