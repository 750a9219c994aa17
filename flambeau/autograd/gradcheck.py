"""``gradcheck``: compare analytical gradients with central finite differences (use float64)."""
from __future__ import annotations

import numpy as np


class GradcheckError(RuntimeError):
    pass


def _as_tuple(x):
    from .._tensor import Tensor
    if isinstance(x, Tensor):
        return (x,)
    return tuple(x)


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, nondet_tol=0.0,
              check_undefined_grad=True, check_grad_dtypes=False, check_batched_grad=False,
              fast_mode=False, masked=None):
    """Check ``func``'s backward against finite differences for every input that requires grad.

    Like ``torch.autograd.gradcheck``: the Jacobian column of input element ``j`` is
    ``(f(x + eps e_j) - f(x - eps e_j)) / (2 eps)`` and must match, within
    ``atol + rtol * |numerical|``, the row obtained by backpropagating unit vectors.
    Returns True, or raises :class:`GradcheckError` (returns False with raise_exception=False).
    """
    from .._tensor import Tensor
    from .grad_mode import no_grad
    from . import grad as autograd_grad

    inputs = _as_tuple(inputs)
    diff_inputs = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not diff_inputs:
        raise ValueError("gradcheck expects at least one input tensor to require gradient")
    for t in diff_inputs:
        if t._data.dtype != np.float64:
            import warnings
            warnings.warn(f"gradcheck: input of dtype {t.dtype} is not double precision; the check may fail "
                          "for reasons of precision alone", stacklevel=2)

    def f():
        with no_grad():
            outs = _as_tuple(func(*inputs))
        return [o._data.astype(np.float64).reshape(-1) for o in outs if isinstance(o, Tensor)]

    outs = _as_tuple(func(*inputs))
    outs = [o for o in outs if isinstance(o, Tensor)]
    # numerical Jacobians: one column per perturbed input element
    numerical = []
    for t in diff_inputs:
        flat = t._data.reshape(-1) if t._data.flags.c_contiguous else None
        if flat is None:
            raise ValueError("gradcheck needs contiguous inputs")
        jac = [np.zeros((flat.size, o._data.size)) for o in outs]
        for j in range(flat.size):
            orig = flat[j]
            flat[j] = orig + eps
            plus = f()
            flat[j] = orig - eps
            minus = f()
            flat[j] = orig
            for k in range(len(outs)):
                jac[k][j] = (plus[k] - minus[k]) / (2 * eps)
        numerical.append(jac)
    # analytical Jacobians: one row per output element
    for k, o in enumerate(outs):
        if not o.requires_grad:
            continue
        for m in range(o._data.size):
            gout = np.zeros(o._data.size, o._data.dtype)
            gout[m] = 1
            grads = autograd_grad(o, diff_inputs, Tensor._make(gout.reshape(o._data.shape)),
                                  retain_graph=True, allow_unused=True)
            for i, (t, g) in enumerate(zip(diff_inputs, grads)):
                a = np.zeros(t._data.size) if g is None else g._data.astype(np.float64).reshape(-1)
                n = numerical[i][k][:, m]
                if not np.allclose(a, n, rtol=rtol, atol=atol):
                    bad = int(np.argmax(np.abs(a - n) - (atol + rtol * np.abs(n))))
                    msg = (f"Jacobian mismatch for output {k} with respect to input {i},\n"
                           f"numerical:{n}\nanalytical:{a}\n(first offending element {bad}: numerical "
                           f"{n[bad]:.8g}, analytical {a[bad]:.8g}; output element {m})")
                    if raise_exception:
                        raise GradcheckError(msg)
                    return False
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  gen_non_contig_grad_outputs=False, raise_exception=True, nondet_tol=0.0,
                  check_undefined_grad=True, check_grad_dtypes=False, check_batched_grad=False,
                  check_fwd_over_rev=False, check_rev_over_rev=True, fast_mode=False, masked=False):
    """Check second derivatives: ``gradcheck`` of the map (inputs, grad_outputs) -> the
    gradients of ``func`` (computed with ``create_graph=True``), as in PyTorch. Without
    ``grad_outputs``, random ones are drawn (from a fixed seed: the check is reproducible)."""
    from .._tensor import Tensor
    from .grad_mode import enable_grad
    from . import grad as autograd_grad

    inputs = _as_tuple(inputs)
    n_in = len(inputs)
    diff_idx = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if grad_outputs is None:
        outs = [o for o in _as_tuple(func(*inputs)) if isinstance(o, Tensor) and o.requires_grad]
        rng = np.random.default_rng(0)
        grad_outputs = tuple(Tensor._make(rng.standard_normal(o._data.shape).astype(o._data.dtype))
                             .requires_grad_(True) for o in outs)
    else:
        grad_outputs = _as_tuple(grad_outputs)

    def first_derivatives(*args):
        with enable_grad():
            ins, gos = args[:n_in], args[n_in:]
            outs = [o for o in _as_tuple(func(*ins)) if isinstance(o, Tensor) and o.requires_grad]
            gs = autograd_grad(outs, [ins[i] for i in diff_idx], list(gos), create_graph=True,
                               allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(first_derivatives, inputs + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
