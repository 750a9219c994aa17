"""``NAdam``: Adam with Nesterov momentum (``torch.optim.NAdam``)."""
from __future__ import annotations

import numpy as np

from .adam import _check_betas_eps_wd
from .optimizer import (
    Optimizer,
    _addcdiv_,
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

__all__ = ["NAdam"]


class NAdam(Optimizer):
    r"""``torch.optim.NAdam(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    momentum_decay=4e-3, decoupled_weight_decay=False, *, foreach=None, maximize=False,
    capturable=False, differentiable=False)``.

    Update rule at step t (g negated when ``maximize``)::

        decoupled_weight_decay:  θ ← θ·(1 − lr·weight_decay)
        otherwise:               g ← g + weight_decay·θ          (if weight_decay ≠ 0)
        μ_t = β1·(1 − ½·0.96^(t·momentum_decay)),   μ_{t+1} likewise
        Π_t = Π_{t−1}·μ_t                                          (``mu_product``)
        m ← lerp(m, g, 1 − β1);   v ← β2·v + (1 − β2)·g²
        d = √(v / (1 − β2^t)) + eps
        θ ← θ − lr·(1 − μ_t)/(1 − Π_t) · g/d − lr·μ_{t+1}/(1 − Π_t·μ_{t+1}) · m/d

    State per parameter: ``step``, ``mu_product`` (0-d tensors), ``exp_avg``, ``exp_avg_sq``.
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        _check_betas_eps_wd(lr, betas, eps, weight_decay)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    # flags a state dict from before they existed lacks, with the behaviour it had then
    _LATE_FLAGS = {"maximize": False, "foreach": None, "capturable": False, "differentiable": False,
                   "decoupled_weight_decay": False}

    def __setstate__(self, state):
        super().__setstate__(state)
        for s in self.state.values():
            if "mu_product" in s and not hasattr(s["mu_product"], "_data"):
                s["mu_product"] = _new_scalar(float(s["mu_product"]))

    def step(self, closure=None):
        """One NAdam step (the closure, if given, is evaluated first and its loss returned)."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = _get_value(group["lr"])
            beta1, beta2 = group["betas"]
            eps, weight_decay, momentum_decay = group["eps"], group["weight_decay"], group["momentum_decay"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _new_scalar()
                    state["mu_product"] = _new_scalar(1.0)
                    state["exp_avg"] = _zeros_state(p)
                    state["exp_avg_sq"] = _zeros_state(p)
                param = _view(p._data)
                dt = param.dtype.type
                step = _incr_step(state["step"])
                grad = _grad_of(p, group["maximize"])
                bias_correction2 = 1 - beta2 ** step
                if weight_decay != 0:
                    if group["decoupled_weight_decay"]:
                        np.multiply(param, dt(1 - lr * weight_decay), out=param)
                    else:
                        grad = _with_weight_decay(grad, param, weight_decay)
                mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
                mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
                # mu_product is a 0-d tensor of the scalar dtype: the product is rounded there
                mp = state["mu_product"]._data  # 0-d: out= works on it
                np.multiply(mp, mp.dtype.type(mu), out=mp)
                mu_product = float(mp)
                exp_avg, exp_avg_sq = _view(state["exp_avg"]._data), _view(state["exp_avg_sq"]._data)
                _lerp_(exp_avg, grad, 1 - beta1)
                np.multiply(exp_avg_sq, dt(beta2), out=exp_avg_sq)
                _addcmul_(exp_avg_sq, grad, grad, 1 - beta2)
                denom = np.divide(exp_avg_sq, dt(bias_correction2))
                np.sqrt(denom, out=denom)
                mu_product_next = mu_product * mu_next
                np.add(denom, dt(eps), out=denom)
                _addcdiv_(param, grad, denom, -lr * (1.0 - mu) / (1.0 - mu_product))
                _addcdiv_(param, exp_avg, denom, (-lr * mu_next) / (1.0 - mu_product_next))
                _bump(p)
        return loss
