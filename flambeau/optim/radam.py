"""``RAdam``: Adam with a rectified adaptive learning rate (``torch.optim.RAdam``)."""
from __future__ import annotations

import numpy as np

from .adam import _check_betas_eps_wd
from .optimizer import (
    Optimizer,
    _addcmul_,
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

__all__ = ["RAdam"]


class RAdam(Optimizer):
    r"""``torch.optim.RAdam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
    differentiable=False)``.

    Update rule at step t (g negated when ``maximize``)::

        decoupled_weight_decay:  θ ← θ·(1 − lr·weight_decay)
        otherwise:               g ← g + weight_decay·θ          (if weight_decay ≠ 0)
        m ← lerp(m, g, 1 − β1);   v ← β2·v + (1 − β2)·g²
        m̂ = m / (1 − β1^t)
        ρ∞ = 2/(1 − β2) − 1;   ρ_t = ρ∞ − 2t·β2^t/(1 − β2^t)
        ρ_t > 5:  r = √((ρ_t − 4)(ρ_t − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρ_t))
                  θ ← θ − m̂·lr·√(1 − β2^t)/(√v + eps)·r
        else:     θ ← θ − m̂·lr

    State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq``.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        _check_betas_eps_wd(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        foreach=foreach, capturable=capturable, decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    # flags a state dict from before they existed lacks, with the behaviour it had then
    _LATE_FLAGS = {"foreach": None, "maximize": False, "differentiable": False,
                   "decoupled_weight_decay": False, "capturable": False}

    def step(self, closure=None):
        """One RAdam step (the closure, if given, is evaluated first and its loss returned)."""
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
                    state["exp_avg_sq"] = _zeros_state(p)
                param = _view(p._data)
                dt = param.dtype.type
                step = _incr_step(state["step"])
                grad = _grad_of(p, group["maximize"])
                if weight_decay != 0:
                    if group["decoupled_weight_decay"]:
                        np.multiply(param, dt(1 - lr * weight_decay), out=param)
                    else:
                        grad = _with_weight_decay(grad, param, weight_decay)
                exp_avg, exp_avg_sq = _view(state["exp_avg"]._data), _view(state["exp_avg_sq"]._data)
                _lerp_(exp_avg, grad, 1 - beta1)
                np.multiply(exp_avg_sq, dt(beta2), out=exp_avg_sq)
                _addcmul_(exp_avg_sq, grad, grad, 1 - beta2)
                bias_correction1 = 1 - beta1 ** step
                bias_correction2 = 1 - beta2 ** step
                # update = ((m / bc1) * lr) [* adaptive_lr * rect]: PyTorch's order of products
                update = np.divide(exp_avg, dt(bias_correction1))
                np.multiply(update, dt(lr), out=update)
                rho_inf = 2 / (1 - beta2) - 1
                rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
                if rho_t > 5.0:
                    adaptive = np.sqrt(exp_avg_sq)
                    np.add(adaptive, dt(eps), out=adaptive)
                    np.divide(dt(bias_correction2 ** 0.5), adaptive, out=adaptive)
                    rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
                    np.multiply(update, adaptive, out=update)
                    np.multiply(update, dt(rect), out=update)
                np.subtract(param, update, out=param)
                _bump(p)
        return loss
