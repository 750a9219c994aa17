"""``ASGD``: averaged stochastic gradient descent, SGD with a decaying rate and a running
average ``ax`` of the iterates (``torch.optim.ASGD``)."""
from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from .optimizer import (Optimizer, _bump, _check_tensor_lr, _effective_grad, _get_value, _incr_step, _new_scalar,
                        _scalar_np_dtype, _view)

__all__ = ["ASGD"]


class ASGD(Optimizer):
    r"""``torch.optim.ASGD(params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0,
    foreach=None, maximize=False, differentiable=False, capturable=False)``.

    Update rule at step t (g negated when ``maximize``)::

        g ← g + weight_decay·θ
        θ ← θ·(1 − lambd·eta) − eta·g
        ax ← ax + mu·(θ − ax)                        (ax ← θ while mu = 1)
        eta ← lr / (1 + lambd·lr·t)^alpha;  mu ← 1 / max(1, t − t0)

    State per parameter: ``step``, ``eta`` (lr), ``mu`` (1) and ``ax`` (zeros); eta and mu are
    scalar-state tensors (float32 by default), rounded as PyTorch rounds them.
    """

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None,
                 maximize=False, differentiable=False, capturable=False):
        _check_tensor_lr(lr)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    _LATE_FLAGS = {"foreach": None, "maximize": False, "differentiable": False, "capturable": False}

    def step(self, closure=None):
        """One ASGD step (the closure, if given, is evaluated first and its loss returned)."""
        loss = self._eval_closure(closure)
        scalar = _scalar_np_dtype()
        for group in self.param_groups:
            lr = _get_value(group["lr"])
            lambd, alpha, t0 = group["lambd"], group["alpha"], group["t0"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _new_scalar()
                    state["eta"] = _new_scalar(lr)
                    state["mu"] = _new_scalar(1.0)
                    state["ax"] = Tensor._make(np.zeros_like(p._data))
                step = _incr_step(state["step"])
                param, ax = _view(p._data), _view(state["ax"]._data)
                grad = _effective_grad(_view(p._grad._data), param, group["maximize"], group["weight_decay"])
                eta = float(state["eta"]._data)
                t = param.dtype.type
                np.multiply(param, t(1 - lambd * eta), out=param)
                param -= t(eta) * grad if grad.dtype == param.dtype else (eta * grad).astype(param.dtype)
                mu = state["mu"]._data
                if float(mu) != 1:
                    ax += (param - ax) * mu.astype(param.dtype)
                else:
                    ax[...] = param
                state["eta"]._data[...] = scalar(lr / ((1 + lambd * lr * step) ** alpha))
                state["mu"]._data[...] = scalar(1 / max(1, step - t0))
                for key in ("eta", "mu", "ax"):
                    state[key]._version[0] += 1
                _bump(p)
        return loss
