"""``Adamax``: Adam with the infinity norm of past gradients (``torch.optim.Adamax``)."""
from __future__ import annotations

import numpy as np

from .adam import _check_betas_eps_wd
from .optimizer import (
    Optimizer,
    _addcdiv_,
    _bump,
    _get_value,
    _grad_of,
    _incr_step,
    _lerp_,
    _new_scalar,
    _view,
    _with_weight_decay,
    _zeros_state,
)

__all__ = ["Adamax"]


class Adamax(Optimizer):
    r"""``torch.optim.Adamax(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    foreach=None, *, maximize=False, differentiable=False, capturable=False)``.

    Update rule at step t (g negated when ``maximize``)::

        g ← g + weight_decay·θ                 (if weight_decay ≠ 0)
        m ← lerp(m, g, 1 − β1)
        u ← max(β2·u, |g| + eps)
        θ ← θ − lr/(1 − β1^t) · m / u

    State per parameter: ``step``, ``exp_avg`` (m), ``exp_inf`` (u).
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        _check_betas_eps_wd(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    # flags a state dict from before they existed lacks, with the behaviour it had then
    _LATE_FLAGS = {"foreach": None, "maximize": False, "differentiable": False, "capturable": False}

    def step(self, closure=None):
        """One Adamax step (the closure, if given, is evaluated first and its loss returned)."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = _get_value(group["lr"])
            beta1, beta2 = group["betas"]
            eps, weight_decay = group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _new_scalar()
                    state["exp_avg"] = _zeros_state(p)
                    state["exp_inf"] = _zeros_state(p)
                param = _view(p._data)
                dt = param.dtype.type
                step = _incr_step(state["step"])
                grad = _grad_of(p, group["maximize"])
                if weight_decay != 0:
                    grad = _with_weight_decay(grad, param, weight_decay)
                exp_avg, exp_inf = _view(state["exp_avg"]._data), _view(state["exp_inf"]._data)
                _lerp_(exp_avg, grad, 1 - beta1)
                np.multiply(exp_inf, dt(beta2), out=exp_inf)
                abs_grad = np.abs(grad)
                np.add(abs_grad, dt(eps), out=abs_grad)
                np.maximum(exp_inf, abs_grad, out=exp_inf)
                clr = lr / (1 - beta1 ** step)
                _addcdiv_(param, exp_avg, exp_inf, -clr)
                _bump(p)
        return loss
