"""``SGD``: stochastic gradient descent with momentum (``torch.optim.SGD``)."""
from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from .._blas import axpby_
from .optimizer import Optimizer, _add_scaled_, _bump, _by_rows, _check_tensor_lr, _effective_grad, _get_value, _view

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""``torch.optim.SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
    *, maximize=False, foreach=None, differentiable=False, fused=None)``.

    Update rule, for each parameter θ with gradient g (negated when ``maximize``)::

        g ← g + weight_decay·θ                      (if weight_decay ≠ 0)
        b ← g                                       (first step: the buffer starts as the gradient)
        b ← momentum·b + (1 − dampening)·g          (later steps; if momentum ≠ 0)
        g ← g + momentum·b  if nesterov  else  b    (if momentum ≠ 0)
        θ ← θ − lr·g

    State per parameter: ``momentum_buffer`` (only when momentum ≠ 0).
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        _check_tensor_lr(lr)
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach,
                        differentiable=differentiable, fused=fused)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)
        if fused:
            if differentiable:
                raise RuntimeError("`fused` does not support `differentiable`")
            if foreach:
                raise RuntimeError("`fused` and `foreach` cannot be `True` together.")

    # flags a state dict from before they existed lacks, with the behaviour it had then
    _LATE_FLAGS = {"nesterov": False, "maximize": False, "foreach": None, "differentiable": False, "fused": False}

    def step(self, closure=None):
        """One SGD step (the closure, if given, is evaluated first and its loss returned)."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = _get_value(group["lr"])
            weight_decay, momentum = group["weight_decay"], group["momentum"]
            dampening, nesterov, maximize = group["dampening"], group["nesterov"], group["maximize"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                buf, first = None, False
                if momentum != 0:
                    state = self.state[p]
                    buf_t = state.get("momentum_buffer")
                    if buf_t is None:
                        buf_t = state["momentum_buffer"] = Tensor._make(np.empty_like(p._data))
                        first = True
                    buf = _view(buf_t._data)

                def update(param, grad, buf, first=first):
                    grad = _effective_grad(grad, param, maximize, weight_decay)
                    if buf is not None:
                        if first:
                            # PyTorch starts the buffer at the gradient itself, not at zeros, so
                            # the first step is undamped.
                            np.copyto(buf, grad)
                        elif not axpby_(buf, momentum, 1 - dampening, grad):   # (one pass)
                            np.multiply(buf, buf.dtype.type(momentum), out=buf)
                            _add_scaled_(buf, grad, 1 - dampening)
                        if nesterov:
                            grad = np.add(grad, np.multiply(buf, buf.dtype.type(momentum)))
                        else:
                            grad = buf
                    _add_scaled_(param, grad, -lr)
                _by_rows(update, _view(p._data), _view(p._grad._data), buf)
                _bump(p)
        return loss
