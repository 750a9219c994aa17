"""``Adam``: adaptive moment estimation (``torch.optim.Adam``)."""
from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from .optimizer import (
    Optimizer,
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

__all__ = ["Adam"]


def _check_betas_eps_wd(lr, betas, eps, weight_decay):
    _check_tensor_lr(lr)
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


class Adam(Optimizer):
    r"""``torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    amsgrad=False, *, foreach=None, maximize=False, capturable=False, differentiable=False,
    fused=None, decoupled_weight_decay=False)``.

    Update rule at step t (g negated when ``maximize``)::

        decoupled_weight_decay:  θ ← θ·(1 − lr·weight_decay)      (AdamW)
        otherwise:               g ← g + weight_decay·θ          (if weight_decay ≠ 0)
        m ← lerp(m, g, 1 − β1)                                   (= β1·m + (1 − β1)·g)
        v ← β2·v + (1 − β2)·g²
        amsgrad: v̂ ← max(v̂, v), else v̂ = v
        θ ← θ − lr/(1 − β1^t) · m / (√v̂ / √(1 − β2^t) + eps)

    State per parameter: ``step``, ``exp_avg`` (m), ``exp_avg_sq`` (v), ``max_exp_avg_sq``
    (amsgrad).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        _check_betas_eps_wd(lr, betas, eps, weight_decay)
        if not ((isinstance(betas[0], float) and isinstance(betas[1], float))
                or (isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor))):
            raise ValueError("betas must be either both floats or both Tensors")
        for i, b in enumerate(betas):
            if isinstance(b, Tensor) and b.numel() != 1:
                raise ValueError(f"Tensor betas[{i}] must be 1-element")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, capturable=capturable,
                        differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)
        if fused:
            if differentiable:
                raise RuntimeError("`fused` does not support `differentiable`")
            if foreach:
                raise RuntimeError("`fused` and `foreach` cannot be `True` together.")

    # flags a state dict from before they existed lacks, with the behaviour it had then
    _LATE_FLAGS = {"amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
                   "differentiable": False, "decoupled_weight_decay": False, "fused": None}

    def step(self, closure=None):
        """One Adam step (the closure, if given, is evaluated first and its loss returned)."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = _get_value(group["lr"])
            beta1, beta2 = (_get_value(b) for b in group["betas"])
            eps, weight_decay, amsgrad = group["eps"], group["weight_decay"], group["amsgrad"]
            decoupled = group["decoupled_weight_decay"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _new_scalar()
                    state["exp_avg"] = _zeros_state(p)
                    state["exp_avg_sq"] = _zeros_state(p)
                    if amsgrad:
                        state["max_exp_avg_sq"] = _zeros_state(p)
                step = _incr_step(state["step"])
                # the scalar corrections in Python doubles, as PyTorch computes them
                bias_correction1 = 1 - beta1 ** step
                bias_correction2 = 1 - beta2 ** step
                step_size = lr / bias_correction1
                bias_correction2_sqrt = bias_correction2 ** 0.5

                def update(param, grad, exp_avg, exp_avg_sq, max_sq, step_size=step_size,
                           bias_correction2_sqrt=bias_correction2_sqrt, maximize=group["maximize"]):
                    dt = param.dtype.type
                    if decoupled and weight_decay != 0:
                        np.multiply(param, dt(1 - lr * weight_decay), out=param)
                        grad = _effective_grad(grad, param, maximize, 0)
                    else:
                        grad = _effective_grad(grad, param, maximize, weight_decay)
                    _lerp_(exp_avg, grad, 1 - beta1)
                    np.multiply(exp_avg_sq, dt(beta2), out=exp_avg_sq)
                    _addcmul_(exp_avg_sq, grad, grad, 1 - beta2)
                    if max_sq is not None:
                        np.maximum(max_sq, exp_avg_sq, out=max_sq)
                        denom = np.sqrt(max_sq)
                    else:
                        denom = np.sqrt(exp_avg_sq)
                    np.divide(denom, dt(bias_correction2_sqrt), out=denom)
                    np.add(denom, dt(eps), out=denom)
                    _addcdiv_(param, exp_avg, denom, -step_size)
                _by_rows(update, _view(p._data), _view(p._grad._data), _view(state["exp_avg"]._data),
                         _view(state["exp_avg_sq"]._data),
                         _view(state["max_exp_avg_sq"]._data) if amsgrad else None)
                _bump(p)
        return loss
