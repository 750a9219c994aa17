"""``Adagrad``: per-coordinate learning rates from the running sum of squared gradients
(``torch.optim.Adagrad``)."""
from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from .optimizer import (
    Optimizer,
    _addcdiv_,
    _bump,
    _by_rows,
    _check_tensor_lr,
    _effective_grad,
    _get_value,
    _incr_step,
    _new_scalar,
    _view,
)

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""``torch.optim.Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0,
    initial_accumulator_value=0, eps=1e-10, foreach=None, *, maximize=False, differentiable=False,
    fused=None)``.

    Update rule at step t (g negated when ``maximize``)::

        g ← g + weight_decay·θ                       (if weight_decay ≠ 0)
        clr = lr / (1 + (t − 1)·lr_decay)
        sum ← sum + g²                               (sum starts at initial_accumulator_value)
        θ ← θ − clr · g / (√sum + eps)

    State per parameter: ``step`` (0-d tensor) and ``sum``, created for every parameter when the
    optimizer is built (as PyTorch does).
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, foreach=None, *, maximize=False, differentiable=False, fused=None):
        _check_tensor_lr(lr)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        if fused:
            if differentiable:
                raise RuntimeError("`fused` does not support `differentiable`")
            if foreach:
                raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p)

    def _init_state(self, p):
        state = self.state[p]
        state["step"] = _new_scalar()
        # the optimizer-wide default, as in PyTorch (a group's own value is not used here)
        state["sum"] = Tensor._make(np.full_like(p._data, self.defaults["initial_accumulator_value"]))

    # flags a state dict from before they existed lacks, with the behaviour it had then
    _LATE_FLAGS = {"foreach": None, "maximize": False, "differentiable": False, "fused": None}

    def step(self, closure=None):
        """One Adagrad step (the closure, if given, is evaluated first and its loss returned)."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = _get_value(group["lr"])
            weight_decay, lr_decay, eps = group["weight_decay"], group["lr_decay"], group["eps"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:  # a group added after construction
                    self._init_state(p)
                step = _incr_step(state["step"])
                clr = lr / (1 + (step - 1) * lr_decay)

                def update(param, grad, state_sum, clr=clr, maximize=group["maximize"]):
                    grad = _effective_grad(grad, param, maximize, weight_decay)
                    np.add(state_sum, np.multiply(grad, grad), out=state_sum)
                    std = np.sqrt(state_sum)
                    np.add(std, std.dtype.type(eps), out=std)
                    _addcdiv_(param, grad, std, -clr)
                _by_rows(update, _view(p._data), _view(p._grad._data), _view(state["sum"]._data))
                _bump(p)
        return loss
