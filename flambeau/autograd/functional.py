"""``torch.autograd.functional``: Jacobians and vector-Jacobian products of functions."""
from __future__ import annotations

import numpy as np


def vjp(func, inputs, v=None):
    from .._tensor import Tensor
    from . import grad
    single = isinstance(inputs, Tensor)
    ins = [inputs] if single else list(inputs)
    ins = [t.detach().requires_grad_(True) for t in ins]
    out = func(*ins)
    gs = grad(out, ins, v, allow_unused=True, materialize_grads=True)
    return out.detach(), (gs[0] if single else gs)


def jacobian(func, inputs):
    """The Jacobian of ``func`` at ``inputs`` (one backward per output element)."""
    from .._tensor import Tensor, _wrap
    from . import grad
    single = isinstance(inputs, Tensor)
    ins = [inputs] if single else list(inputs)
    ins = [t.detach().requires_grad_(True) for t in ins]
    out = func(*ins)
    rows = [[] for _ in ins]
    for m in range(out._data.size):
        gout = np.zeros(out._data.size, out._data.dtype)
        gout[m] = 1
        gs = grad(out, ins, _wrap(gout.reshape(out._data.shape)), retain_graph=True, allow_unused=True,
                  materialize_grads=True)
        for i, g in enumerate(gs):
            rows[i].append(g._data)
    jacs = [_wrap(np.stack(r).reshape(out._data.shape + t._data.shape)) for r, t in zip(rows, ins)]
    return jacs[0] if single else tuple(jacs)
