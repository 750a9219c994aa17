"""``FakeData``: random images, the same for a given index on every run."""
from __future__ import annotations

import numpy as np

from .utils import VisionDataset


class FakeData(VisionDataset):
    """Deterministic random images (``torchvision.datasets.FakeData``).

    Sample ``i`` is drawn from a PCG64 generator seeded with ``i + random_offset`` (the global
    generator is not touched): a uint8 image ``H×W×C`` (``H×W`` when C is 1, the layout the other
    flambeau datasets use) and an int target in ``0 .. num_classes - 1``.
    """

    def __init__(self, size=1000, image_size=(3, 224, 224), num_classes=10, transform=None,
                 target_transform=None, random_offset=0):
        super().__init__(None, transform=transform, target_transform=target_transform)
        if len(image_size) != 3:
            raise ValueError(f"FakeData: image_size should be (C, H, W), got {image_size}")
        self.size = size
        self.num_classes = num_classes
        self.image_size = tuple(image_size)
        self.random_offset = random_offset
        self.classes = [str(i) for i in range(num_classes)]

    def __getitem__(self, index):
        if index < 0:
            index += self.size
        if not 0 <= index < self.size:
            raise IndexError(f"{type(self).__name__} index out of range")
        g = np.random.Generator(np.random.PCG64(int(index) + self.random_offset))
        c, h, w = self.image_size
        img = g.integers(0, 256, size=(h, w, c), dtype=np.uint8)
        if c == 1:
            img = img[:, :, 0]
        target = int(g.integers(0, self.num_classes))
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self):
        return self.size
