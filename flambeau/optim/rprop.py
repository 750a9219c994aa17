"""``Rprop``: resilient backpropagation, per-coordinate step sizes driven by gradient signs only
(``torch.optim.Rprop``)."""
from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from .optimizer import Optimizer, _bump, _check_tensor_lr, _get_value, _incr_step, _new_scalar, _view

__all__ = ["Rprop"]


class Rprop(Optimizer):
    r"""``torch.optim.Rprop(params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *,
    capturable=False, foreach=None, maximize=False, differentiable=False)``.

    Update rule (g negated when ``maximize``), per coordinate::

        s = sign(g · prev)
        step_size ← clamp(step_size · (eta+ if s > 0, eta- if s < 0, 1 if s = 0), min, max)
        g ← 0 where s < 0                            (a sign change: skip this step)
        θ ← θ − sign(g) · step_size;  prev ← g

    State per parameter: ``step``, ``prev`` (zeros) and ``step_size`` (lr), created on its first
    gradient.
    """

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False, foreach=None,
                 maximize=False, differentiable=False):
        _check_tensor_lr(lr)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = dict(lr=lr, etas=etas, step_sizes=step_sizes, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    _LATE_FLAGS = {"foreach": None, "maximize": False, "differentiable": False, "capturable": False}

    def step(self, closure=None):
        """One Rprop step (the closure, if given, is evaluated first and its loss returned)."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            etaminus, etaplus = group["etas"]
            step_min, step_max = group["step_sizes"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _new_scalar()
                    state["prev"] = Tensor._make(np.zeros_like(p._data))
                    state["step_size"] = Tensor._make(np.full_like(p._grad._data, _get_value(group["lr"])))
                _incr_step(state["step"])
                param, prev, size = _view(p._data), _view(state["prev"]._data), _view(state["step_size"]._data)
                grad = _view(p._grad._data)
                grad = np.negative(grad) if group["maximize"] else grad.copy()
                s = np.sign(grad * prev)
                t = param.dtype.type
                factor = np.where(s > 0, t(etaplus), np.where(s < 0, t(etaminus), t(1)))
                np.multiply(size, factor, out=size)
                np.clip(size, t(step_min), t(step_max), out=size)
                grad[factor == t(etaminus)] = 0
                param -= np.sign(grad) * size
                prev[...] = grad
                _bump(p)
                state["prev"]._version[0] += 1
                state["step_size"]._version[0] += 1
        return loss
