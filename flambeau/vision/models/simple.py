"""Small classifiers from the course: Reseau1 (linear softmax), an MLP, Reseau2 (the MNIST CNN),
and a VGG-style CNN for CIFAR-10. Each takes the input shape so it fits any image size."""
from __future__ import annotations

from ... import nn
from ...nn import functional as F


def _flat(in_shape):
    n = 1
    for s in in_shape:
        n *= s
    return n


class Reseau1(nn.Module):
    """One Linear layer over the flattened image (seed 001's ``Reseau1``), returning logits."""

    def __init__(self, in_shape=(1, 28, 28), num_classes=10):
        super().__init__()
        self.in_features = _flat(in_shape)
        self.layer = nn.Linear(self.in_features, num_classes)

    def forward(self, x):
        return self.layer(x.reshape(-1, self.in_features))


class MLP(nn.Module):
    """Linear-ReLU-(Dropout) stack over the flattened image."""

    def __init__(self, in_shape=(1, 28, 28), num_classes=10, hidden=(256, 128), dropout=0.0):
        super().__init__()
        layers = [nn.Flatten()]
        prev = _flat(in_shape)
        for h in hidden:
            layers += [nn.Linear(prev, h), nn.ReLU()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            prev = h
        layers.append(nn.Linear(prev, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class Reseau2(nn.Module):
    """Seed 001's ``Reseau2``: conv 32 → conv 64 → max-pool → dropout → fc 128 → fc 10.

    For 28×28 inputs ``fc1`` has 9216 inputs, exactly as in the course; other sizes adapt.
    """

    def __init__(self, in_shape=(1, 28, 28), num_classes=10):
        super().__init__()
        c, h, w = in_shape
        self.conv1 = nn.Conv2d(c, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout2d(0.25)
        self.dropout2 = nn.Dropout2d(0.5)
        self.fc1 = nn.Linear(64 * ((h - 4) // 2) * ((w - 4) // 2), 128)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = self.conv2(x)
        x = self.dropout1(F.max_pool2d(x, 2))
        x = x.flatten(1)
        x = self.dropout2(F.relu(self.fc1(x)))
        return self.fc2(x)


class SimpleCNN(nn.Module):
    """A VGG-style CNN: three conv-BN-ReLU blocks with pooling, then a linear classifier."""

    def __init__(self, in_shape=(3, 32, 32), num_classes=10, width=32):
        super().__init__()
        c, h, w = in_shape

        def block(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                                 nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                                 nn.MaxPool2d(2))
        self.features = nn.Sequential(block(c, width), block(width, 2 * width), block(2 * width, 4 * width))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4 * width, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))
