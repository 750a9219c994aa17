"""``Adadelta``: step sizes from running averages of squared gradients and squared updates
(``torch.optim.Adadelta``)."""
from __future__ import annotations

import numpy as np

from .optimizer import (
    Optimizer,
    _add_scaled_,
    _addcmul_,
    _bump,
    _by_rows,
    _check_tensor_lr,
    _effective_grad,
    _get_value,
    _incr_step,
    _new_scalar,
    _view,
    _zeros_state,
)

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    r"""``torch.optim.Adadelta(params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
    capturable=False, maximize=False, differentiable=False)``.

    Update rule (g negated when ``maximize``)::

        g ← g + weight_decay·θ                      (if weight_decay ≠ 0)
        v ← ρ·v + (1 − ρ)·g²
        Δ = √(u + eps) / √(v + eps) · g
        u ← ρ·u + (1 − ρ)·Δ²
        θ ← θ − lr·Δ

    State per parameter: ``step``, ``square_avg`` (v) and ``acc_delta`` (u).
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False):
        _check_tensor_lr(lr)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    # flags a state dict from before they existed lacks, with the behaviour it had then
    _LATE_FLAGS = {"foreach": None, "maximize": False, "differentiable": False, "capturable": False}

    def step(self, closure=None):
        """One Adadelta step (the closure, if given, is evaluated first and its loss returned)."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = _get_value(group["lr"])
            rho, eps, weight_decay = group["rho"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _new_scalar()
                    state["square_avg"] = _zeros_state(p)
                    state["acc_delta"] = _zeros_state(p)
                _incr_step(state["step"])

                def update(param, grad, square_avg, acc_delta, maximize=group["maximize"]):
                    dt = param.dtype.type
                    grad = _effective_grad(grad, param, maximize, weight_decay)
                    np.multiply(square_avg, dt(rho), out=square_avg)
                    _addcmul_(square_avg, grad, grad, 1 - rho)
                    std = np.add(square_avg, dt(eps))
                    np.sqrt(std, out=std)
                    delta = np.add(acc_delta, dt(eps))
                    np.sqrt(delta, out=delta)
                    np.divide(delta, std, out=delta)
                    np.multiply(delta, grad, out=delta)
                    np.multiply(acc_delta, dt(rho), out=acc_delta)
                    _addcmul_(acc_delta, delta, delta, 1 - rho)
                    _add_scaled_(param, delta, -lr)
                _by_rows(update, _view(p._data), _view(p._grad._data), _view(state["square_avg"]._data),
                         _view(state["acc_delta"]._data))
                _bump(p)
        return loss
