"""``RMSprop``: gradients divided by a running root-mean-square (``torch.optim.RMSprop``)."""
from __future__ import annotations

import numpy as np

from .optimizer import (
    Optimizer,
    _add_scaled_,
    _addcdiv_,
    _addcmul_,
    _bump,
    _by_rows,
    _check_tensor_lr,
    _effective_grad,
    _get_value,
    _incr_step,
    _lerp_,
    _new_scalar,
    _view,
    _zeros_state,
)

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""``torch.optim.RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
    centered=False, capturable=False, foreach=None, maximize=False, differentiable=False)``.

    Update rule (g negated when ``maximize``)::

        g ← g + weight_decay·θ                          (if weight_decay ≠ 0)
        v ← α·v + (1 − α)·g²
        centered:  ḡ ← lerp(ḡ, g, 1 − α);  avg = √(v − ḡ²) + eps
        otherwise: avg = √v + eps
        momentum > 0:  b ← momentum·b + g/avg;  θ ← θ − lr·b
        otherwise:     θ ← θ − lr·g/avg

    State per parameter: ``step``, ``square_avg``, ``momentum_buffer`` (momentum > 0),
    ``grad_avg`` (centered).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        _check_tensor_lr(lr)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    # flags a state dict from before they existed lacks, with the behaviour it had then
    _LATE_FLAGS = {"momentum": 0, "centered": False, "foreach": None, "maximize": False,
                   "differentiable": False, "capturable": False}

    def step(self, closure=None):
        """One RMSprop step (the closure, if given, is evaluated first and its loss returned)."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = _get_value(group["lr"])
            alpha, eps, weight_decay = group["alpha"], group["eps"], group["weight_decay"]
            momentum, centered = group["momentum"], group["centered"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _new_scalar()
                    state["square_avg"] = _zeros_state(p)
                    if momentum > 0:
                        state["momentum_buffer"] = _zeros_state(p)
                    if centered:
                        state["grad_avg"] = _zeros_state(p)
                _incr_step(state["step"])

                def update(param, grad, square_avg, grad_avg, buf, maximize=group["maximize"]):
                    grad = _effective_grad(grad, param, maximize, weight_decay)
                    np.multiply(square_avg, square_avg.dtype.type(alpha), out=square_avg)
                    _addcmul_(square_avg, grad, grad, 1 - alpha)
                    if grad_avg is not None:   # centered
                        _lerp_(grad_avg, grad, 1 - alpha)
                        avg = np.subtract(square_avg, np.multiply(grad_avg, grad_avg))
                        np.sqrt(avg, out=avg)
                    else:
                        avg = np.sqrt(square_avg)
                    np.add(avg, avg.dtype.type(eps), out=avg)
                    if buf is not None:        # momentum
                        np.multiply(buf, buf.dtype.type(momentum), out=buf)
                        np.add(buf, np.divide(grad, avg), out=buf)
                        _add_scaled_(param, buf, -lr)
                    else:
                        _addcdiv_(param, grad, avg, -lr)
                _by_rows(update, _view(p._data), _view(p._grad._data), _view(state["square_avg"]._data),
                         _view(state["grad_avg"]._data) if centered else None,
                         _view(state["momentum_buffer"]._data) if momentum > 0 else None)
                _bump(p)
        return loss
