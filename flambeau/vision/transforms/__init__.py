"""``flambeau.vision.transforms`` (``torchvision.transforms``) on NumPy images and flambeau tensors.

flambeau has no PIL dependency: datasets hand out NumPy ``H×W`` (grayscale) or ``H×W×C`` uint8
arrays where torchvision hands out PIL images; ``ToTensor`` turns them into float32 ``C×H×W``
tensors in [0, 1]. Geometric and colour transforms accept those arrays and ``[..., C, H, W]``
tensors and return the type they receive.
"""
from . import functional  # noqa: F401
from .functional import InterpolationMode  # noqa: F401
from .transforms import (CenterCrop, ColorJitter, Compose, ConvertImageDtype, GaussianBlur,  # noqa: F401
                         Grayscale, Lambda, Normalize, Pad, PILToTensor, RandomAffine, RandomApply,
                         RandomChoice, RandomCrop, RandomErasing, RandomGrayscale, RandomHorizontalFlip,
                         RandomOrder, RandomResizedCrop, RandomRotation, RandomTransforms, RandomVerticalFlip,
                         Resize, ToImageTensor, ToTensor)

__all__ = ["CenterCrop", "ColorJitter", "Compose", "ConvertImageDtype", "GaussianBlur", "Grayscale",
           "InterpolationMode", "Lambda", "Normalize", "PILToTensor", "Pad", "RandomAffine", "RandomApply",
           "RandomChoice", "RandomCrop", "RandomErasing", "RandomGrayscale", "RandomHorizontalFlip",
           "RandomOrder", "RandomResizedCrop", "RandomRotation", "RandomVerticalFlip", "Resize",
           "ToImageTensor", "ToTensor", "functional"]
