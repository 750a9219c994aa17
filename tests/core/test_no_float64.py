"""float32 in, float32 everywhere: no op, gradient, buffer or optimizer state of a float32 training
step may silently become float64 (a NumPy scalar or default-dtype array slipping in doubles the
memory traffic of everything downstream).

Every op's forward output and every gradient it returns is watched while whole training steps
run; integer outputs (argmax, indices) are allowed, float64 is not.
"""
import numpy as np
import pytest

import flambeau
import flambeau.nn as nn
import flambeau.nn.functional as F
from flambeau.autograd import function as fn
from flambeau.vision import models


@pytest.fixture
def float64_watch(monkeypatch):
    seen = []
    apply, backward = fn.ArrayFunction.apply.__func__, fn.ArrayFunction._backward_arrays.__func__

    def arrays(x):
        return x if isinstance(x, tuple) else (x,)

    def watched_apply(cls, *args, **kwargs):
        out = apply(cls, *args, **kwargs)
        for o in arrays(out):
            if isinstance(o, flambeau.Tensor) and o.dtype == flambeau.float64:
                seen.append(f"{cls.__name__}.forward")
        return out

    def watched_backward(cls, ctx, grads):
        res = backward(cls, ctx, grads)
        for r in res:
            if r is not None and getattr(r, "dtype", None) == np.float64:
                seen.append(f"{cls.__name__}.backward")
        return res

    monkeypatch.setattr(fn.ArrayFunction, "apply", classmethod(watched_apply))
    monkeypatch.setattr(fn.ArrayFunction, "_backward_arrays", classmethod(watched_backward))
    return seen


def _lstm_classifier():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(20, 8)
            self.lstm = nn.LSTM(8, 12, batch_first=True)
            self.gru = nn.GRU(12, 6, batch_first=True)
            self.fc = nn.Linear(6, 10)

        def forward(self, x):
            h, _ = self.lstm(self.emb(x))
            h, _ = self.gru(h)
            return self.fc(h[:, -1])
    return Net()


CASES = {
    "mlp": (lambda: models.MLP(dropout=0.2), lambda: flambeau.randn(8, 1, 28, 28), "sgd"),
    "reseau2": (lambda: models.Reseau2(), lambda: flambeau.randn(8, 1, 28, 28), "adadelta"),
    "simple-cnn": (lambda: models.SimpleCNN(width=8), lambda: flambeau.randn(8, 3, 32, 32), "sgd"),
    "resnet20": (lambda: models.resnet20(), lambda: flambeau.randn(4, 3, 32, 32), "adam"),
    "lstm": (_lstm_classifier, lambda: flambeau.randint(0, 20, (8, 5)), "rmsprop"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_training_steps_stay_float32(name, float64_watch):
    flambeau.manual_seed(0)
    ctor, make_x, opt_name = CASES[name]
    model = ctor()
    opt = {"sgd": lambda p: flambeau.optim.SGD(p, lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4),
           "adam": lambda p: flambeau.optim.AdamW(p, lr=1e-3),
           "adadelta": lambda p: flambeau.optim.Adadelta(p),
           "rmsprop": lambda p: flambeau.optim.RMSprop(p, momentum=0.9)}[opt_name](model.parameters())
    sched = flambeau.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.01, total_steps=10,
                                                   cycle_momentum=opt_name != "adadelta")
    x, y = make_x(), flambeau.randint(0, 10, (8 if name != "resnet20" else 4,))
    for _ in range(2):
        out = model(x)
        loss = F.cross_entropy(out, y, label_smoothing=0.1) + 0.1 * F.mse_loss(out.softmax(1), F.one_hot(y, 10).float())
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    with flambeau.no_grad():
        model.eval()
        model(x)
    assert not float64_watch, f"float64 produced by: {sorted(set(float64_watch))}"
    tensors = list(model.parameters()) + list(model.buffers()) + [p.grad for p in model.parameters()]
    tensors += [v for s in opt.state.values() for v in s.values() if isinstance(v, flambeau.Tensor)]
    bad = {str(t.dtype) for t in tensors if t is not None and t.is_floating_point() and t.dtype != flambeau.float32}
    assert not bad, f"non-float32 parameters/buffers/gradients/optimizer state: {bad}"


def test_the_watch_catches_a_float64_op(float64_watch):
    x = flambeau.randn(3, requires_grad=True)
    (x.double() * 2).sum().backward()
    assert any("forward" in s for s in float64_watch)
