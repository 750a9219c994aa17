"""PyTorch twins of flambeau's models, layer for layer, with the same state-dict names, so
weights copy across either way. Nothing runs at import (no thread settings): the benchmarks time
these twins, and tests/vision/test_models.py uses them as its oracle.
"""
from __future__ import annotations


def torch_airbench(nn, width=64, whiten=24):
    """flambeau.vision.models.airbench(width) in PyTorch (``nn``: torch.nn). The whitening filters
    and the batch-norm scales are frozen, as in flambeau's; no initialisation is copied."""
    class Block(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, padding="same", bias=False)
            self.pool = nn.MaxPool2d(2)
            self.norm1 = nn.BatchNorm2d(cout, eps=1e-12, momentum=0.4)
            self.conv2 = nn.Conv2d(cout, cout, 3, padding="same", bias=False)
            self.norm2 = nn.BatchNorm2d(cout, eps=1e-12, momentum=0.4)
            self.activ = nn.ReLU()
            self.norm1.weight.requires_grad = self.norm2.weight.requires_grad = False

        def forward(self, x):
            x = self.activ(self.norm1(self.pool(self.conv1(x))))
            return self.activ(self.norm2(self.conv2(x)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.whiten = nn.Conv2d(3, whiten, 2, bias=True)
            self.whiten.weight.requires_grad = False
            self.activ = nn.ReLU()
            self.block1, self.block2, self.block3 = Block(whiten, width), Block(width, 4 * width), \
                Block(4 * width, 4 * width)
            self.pool = nn.MaxPool2d(3)
            self.fc = nn.Linear(4 * width, 10, bias=False)

        def forward(self, x):
            x = self.block3(self.block2(self.block1(self.activ(self.whiten(x)))))
            return self.fc(self.pool(x).flatten(1)) / 9
    return Net()
