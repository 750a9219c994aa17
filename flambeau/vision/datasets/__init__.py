"""``flambeau.vision.datasets`` (``torchvision.datasets``): MNIST, FashionMNIST, KMNIST, CIFAR10 from
their official binary formats, the embedded UCI ``Digits`` and ``FakeData``.

Without a transform, images are NumPy uint8 arrays (``H×W`` grayscale, ``H×W×3`` colour) where
torchvision returns PIL images; ``transforms.ToTensor()`` converts them.
"""
from .cifar import CIFAR10  # noqa: F401
from .digits import Digits  # noqa: F401
from .fakedata import FakeData  # noqa: F401
from .folder import DatasetFolder, ImageFolder  # noqa: F401
from .lsun import LSUN, LSUNClass  # noqa: F401
from .mnist import KMNIST, MNIST, FashionMNIST  # noqa: F401
from .utils import VisionDataset  # noqa: F401

__all__ = ["CIFAR10", "DatasetFolder", "Digits", "FakeData", "ImageFolder", "LSUN", "LSUNClass", "FashionMNIST",
           "KMNIST", "MNIST", "VisionDataset"]
