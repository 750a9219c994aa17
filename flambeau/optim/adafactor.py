"""``Adafactor``: adaptive step sizes from factored second moments, with sublinear memory
(``torch.optim.Adafactor``)."""
from __future__ import annotations

import numpy as np

from .._tensor import Tensor
from .optimizer import Optimizer, _bump, _check_tensor_lr, _get_value, _incr_step, _lerp_, _new_scalar, _view

__all__ = ["Adafactor"]


def _norm2(arr):
    """``arr.norm(2).item()``: the 2-norm of all elements, as a Python float (computed in the
    array's dtype, as PyTorch does; float16 sums in float32, as PyTorch's reduction does)."""
    acc = np.float32 if arr.dtype == np.float16 else None
    return float(np.sqrt(np.sum(np.multiply(arr, arr, dtype=acc))))


def _mean_square(grad_sq, axis, n):
    """``torch.norm(grad, dim=axis, keepdim=True).square_().div_(n)`` from the squared gradient:
    the norm is rounded before it is squared again, as in PyTorch (which computes the mean of the
    squares this way to avoid a gradient-sized intermediate; here ``grad_sq`` is computed once
    and shared by the row and the column means)."""
    acc = np.float32 if grad_sq.dtype == np.float16 else None     # no float16 overflow of the sum
    m = np.sqrt(np.sum(grad_sq, axis=axis, keepdims=True, dtype=acc)).astype(grad_sq.dtype, copy=False)
    np.multiply(m, m, out=m)
    np.divide(m, m.dtype.type(n), out=m)
    return m


class Adafactor(Optimizer):
    r"""``torch.optim.Adafactor(params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0,
    weight_decay=0.0, *, foreach=None, maximize=False)``.

    Update rule at step t (g negated when ``maximize``; eps1 defaults to the machine epsilon
    of the group's first parameter with a gradient, as in PyTorch)::

        β̂2 = 1 − t^beta2_decay;   rho = min(lr, 1/√t);   alpha = max(eps2, RMS(θ))·rho
        θ ← θ·(1 − lr·weight_decay)
        dim(g) ≥ 2:  R ← lerp(R, mean(g², last dim), 1 − β̂2)        (row_var, shape [..., m, 1])
                     C ← lerp(C, mean(g², dim −2), 1 − β̂2)          (col_var, shape [..., 1, n])
                     V = R·C / max(mean(R, dim −2), eps1)
        otherwise:   V ← lerp(V, g², 1 − β̂2)                        (variance, shape of θ)
        U = g / √max(V, eps1²)
        θ ← θ − alpha / max(1, RMS(U)/d) · U

    ``lr`` may be a one-element Tensor; ``foreach`` is accepted and stored (there is one
    implementation). State per parameter: ``step`` (a 0-d tensor), and ``row_var`` and
    ``col_var`` for parameters of two or more dimensions (factored over the last two),
    ``variance`` for 0-d and 1-d ones.
    """

    def __init__(self, params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0, *,
                 foreach=None, maximize=False):
        _check_tensor_lr(lr)
        if not 0.0 <= lr:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 >= beta2_decay:
            raise ValueError(f"beta2_decay should be <= 0 but is: {beta2_decay}")
        if eps[0] is not None and not 0.0 <= eps[0]:
            raise ValueError(f"epsilon1 should be >= 0 but is: {eps[0]}")
        if not 0.0 <= eps[1]:
            raise ValueError(f"epsilon2 should be >= 0 but is: {eps[1]}")
        if not 1.0 <= d:
            raise ValueError(f"Clipping threshold d should be >= 1 but is: {d}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight_decay should be >= 0 but is: {weight_decay}")
        defaults = dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize)
        super().__init__(params, defaults)

    _LATE_FLAGS = {"foreach": None}

    def step(self, closure=None):
        """One Adafactor step (the closure, if given, is evaluated first and its loss returned)."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = _get_value(group["lr"])
            beta2_decay, d, weight_decay = group["beta2_decay"], group["d"], group["weight_decay"]
            eps1, eps2 = group["eps"]
            maximize = group["maximize"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                if p.is_complex():
                    raise RuntimeError("Adafactor does not support complex parameters")
                if p._grad.is_sparse:
                    raise RuntimeError("Adafactor does not support sparse gradients")
                state = self.state[p]
                grad_arr = p._grad._data
                if len(state) == 0:
                    state["step"] = _new_scalar()
                    if grad_arr.ndim > 1:
                        state["row_var"] = Tensor._make(np.zeros(grad_arr.shape[:-1] + (1,), dtype=grad_arr.dtype))
                        state["col_var"] = Tensor._make(
                            np.zeros(grad_arr.shape[:-2] + (1,) + grad_arr.shape[-1:], dtype=grad_arr.dtype))
                    else:
                        state["variance"] = Tensor._make(np.zeros_like(grad_arr))
                # PyTorch sets the default eps1 once, from the first parameter it updates, and
                # keeps it for the rest of the group (whatever their dtypes)
                if eps1 is None:
                    eps1 = float(np.finfo(p._data.dtype).eps)

                step = _incr_step(state["step"])
                # the scalars in Python doubles (or in the dtype of a Tensor lr), as PyTorch
                one_minus_beta2_t = step ** beta2_decay
                rho_t = min(lr, 1 / (step ** 0.5))
                param = _view(p._data)
                dt = param.dtype.type
                alpha = max(eps2, _norm2(param) / (param.size ** 0.5)) * rho_t

                if weight_decay != 0:
                    np.multiply(param, dt(1 - lr * weight_decay), out=param)

                grad = _view(grad_arr)
                if maximize:
                    grad = np.negative(grad)
                grad_sq = np.multiply(grad, grad)
                if grad_arr.ndim > 1:
                    row_var, col_var = state["row_var"]._data, state["col_var"]._data
                    _lerp_(row_var, _mean_square(grad_sq, -1, grad_arr.shape[-1]), one_minus_beta2_t)
                    _lerp_(col_var, _mean_square(grad_sq, -2, grad_arr.shape[-2]), one_minus_beta2_t)
                    var_estimate = np.matmul(row_var, col_var)
                    row_mean = np.mean(row_var, axis=-2, keepdims=True)
                    np.maximum(row_mean, dt(eps1), out=row_mean)
                    np.divide(var_estimate, row_mean, out=var_estimate)
                    state["row_var"]._version[0] += 1
                    state["col_var"]._version[0] += 1
                else:
                    variance = _view(state["variance"]._data)
                    _lerp_(variance, grad_sq, one_minus_beta2_t)
                    var_estimate = variance.copy()
                    state["variance"]._version[0] += 1

                # eps1 squared: the square root below brings it back to eps1's magnitude
                update = np.maximum(var_estimate, dt(eps1 * eps1), out=var_estimate)
                np.sqrt(update, out=update)
                np.divide(dt(1), update, out=update)
                np.multiply(update, grad, out=update)
                denom = max(1.0, _norm2(update) / ((update.size ** 0.5) * d))
                np.multiply(update, dt(-alpha / denom), out=update)
                np.add(param, update, out=param)
                _bump(p)
        return loss
