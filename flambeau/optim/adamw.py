"""``AdamW``: Adam with decoupled weight decay (``torch.optim.AdamW``)."""
from __future__ import annotations

from .adam import Adam

__all__ = ["AdamW"]


class AdamW(Adam):
    r"""``torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
    amsgrad=False, *, maximize=False, foreach=None, capturable=False, differentiable=False,
    fused=None)``.

    Adam whose weight decay shrinks the parameters directly instead of entering the gradient::

        θ ← θ·(1 − lr·weight_decay)
        m ← β1·m + (1 − β1)·g;   v ← β2·v + (1 − β2)·g²;   (amsgrad: v̂ ← max(v̂, v))
        θ ← θ − lr/(1 − β1^t) · m / (√v̂ / √(1 − β2^t) + eps)

    As in PyTorch it is :class:`Adam` with ``decoupled_weight_decay=True``.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
