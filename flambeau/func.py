"""``torch.func``: function transforms on top of flambeau's autograd.

* ``grad``, ``grad_and_value``, ``vjp``, ``jvp``, ``jacrev``/``jacfwd``, ``hessian``: derivatives of
  plain functions, by reverse mode with ``create_graph=True`` so that they compose
  (``grad(grad(f))``, ``jacfwd(jacrev(f))``). ``jvp`` and ``jacfwd`` use reverse mode too (the
  double-vjp trick for ``jvp``): the values are the same as PyTorch's forward mode.
* ``functional_call``: a module run with parameters and buffers taken from dicts, as a pure
  function of them (per-sample gradients, model ensembles, meta-learning).
* ``vmap``: ``func`` mapped over a batch dimension. flambeau has no batching rules, so it runs
  ``func`` once per batch element and stacks the results: the semantics of ``torch.func.vmap``
  (including its ``randomness`` modes), at the speed of a Python loop.
* ``stack_module_state``: the parameters and buffers of several same-shaped models stacked, for
  ``vmap`` over an ensemble.

Arguments being differentiated may be Tensors or (nested) tuples, lists and dicts of Tensors,
as in PyTorch.
"""
from __future__ import annotations

import contextlib

import numpy as np

from ._tensor import Tensor

__all__ = ["functional_call", "grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "vmap",
           "stack_module_state"]


# ---------------------------------------------------------------------------- pytrees
def _flatten(tree):
    """(leaves, spec): the Tensors of a nested tuple/list/dict, and how to rebuild it."""
    if isinstance(tree, Tensor):
        return [tree], None
    if isinstance(tree, (tuple, list)):
        leaves, specs = [], []
        for t in tree:
            l, s = _flatten(t)
            leaves += l
            specs.append((len(l), s))
        return leaves, (type(tree), specs)
    if isinstance(tree, dict):
        leaves, specs = [], []
        for k, t in tree.items():
            l, s = _flatten(t)
            leaves += l
            specs.append((k, len(l), s))
        return leaves, (dict, specs)
    return [], ("leaf", tree)


def _unflatten(leaves, spec):
    if spec is None:
        return leaves[0]
    kind, specs = spec
    if kind == "leaf":
        return specs
    out, i = [], 0
    if kind is dict:
        d = {}
        for k, n, s in specs:
            d[k] = _unflatten(leaves[i:i + n], s)
            i += n
        return d
    for n, s in specs:
        out.append(_unflatten(leaves[i:i + n], s))
        i += n
    return kind(out) if kind is not list else out


# ---------------------------------------------------------------------------- derivatives
def _argnums(argnums, nargs, fname):
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    if not nums:
        raise RuntimeError(f"{fname}: argnums must be non-empty")
    for a in nums:
        if not isinstance(a, int) or not -nargs <= a < nargs:
            raise RuntimeError(f"{fname}: Got argnums={argnums}, but only {nargs} positional inputs")
    return single, tuple(a % nargs for a in nums)


def _lift(t):
    """The point to differentiate at: a view of ``t`` when an outer transform (or the caller)
    differentiates through it, else a fresh leaf."""
    if t.requires_grad:
        return t.view_as(t)
    return t.detach().requires_grad_(True)


def _detach_unless(tree, keep):
    if keep:
        return tree
    leaves, spec = _flatten(tree)
    if not leaves:
        return tree
    return _unflatten([t.detach() for t in leaves], spec)


def _grads(outputs, inputs, cotangents):
    from .autograd import grad as _g
    from ._creation import zeros_like
    pairs = [(o, c) for o, c in zip(outputs, cotangents) if o.requires_grad]
    if not pairs:
        return [zeros_like(t) for t in inputs]
    gs = _g([o for o, _ in pairs], inputs, [c for _, c in pairs], retain_graph=True, create_graph=True,
            allow_unused=True)
    return [zeros_like(t) if g is None else g for g, t in zip(gs, inputs)]


def _lift_args(args, nums):
    """``args`` with the Tensors of the differentiated ones (``nums``) lifted; also those Tensors
    per argument, each argument's pytree spec, and whether an outer transform differentiates."""
    args = list(args)
    flat, specs, outer = [], [], False
    for a in nums:
        leaves, spec = _flatten(args[a])
        outer = outer or any(t.requires_grad for t in leaves)
        lifted = [_lift(t) for t in leaves]
        args[a] = _unflatten(lifted, spec)
        flat.append(lifted)
        specs.append(spec)
    return args, flat, specs, outer


def _per_arg(values, flat, specs):
    """Flat per-Tensor results regrouped into the pytrees of the differentiated arguments."""
    res, i = [], 0
    for leaves, spec in zip(flat, specs):
        res.append(_unflatten(values[i:i + len(leaves)], spec))
        i += len(leaves)
    return res


def grad_and_value(func, argnums=0, has_aux=False):
    """``func``'s gradient with respect to the arguments ``argnums`` and its value:
    ``(gradient, value)``, or ``(gradient, (value, aux))`` with ``has_aux``."""
    def wrapper(*args, **kwargs):
        from .autograd.grad_mode import enable_grad
        single, nums = _argnums(argnums, len(args), "grad_and_value")
        with enable_grad():
            args, flat, specs, outer = _lift_args(args, nums)
            out = func(*args, **kwargs)
            aux = None
            if has_aux:
                if not (isinstance(out, tuple) and len(out) == 2):
                    raise RuntimeError("grad_and_value(f)(*args): output of function f should be a tuple: "
                                       "(output, aux) if has_aux is True")
                out, aux = out
            if not isinstance(out, Tensor):
                raise RuntimeError(f"grad_and_value(f)(*args): Expected f(*args) to return a Tensor, got "
                                   f"{type(out).__name__}")
            if out.numel() != 1 or out.ndim != 0:
                raise RuntimeError(f"grad_and_value(f)(*args): Expected f(*args) to return a scalar Tensor, got "
                                   f"tensor with {out.ndim} dims. Maybe you wanted to use the vjp or jacrev APIs "
                                   "instead?")
            from ._creation import ones_like
            gs = _grads([out], [t for leaves in flat for t in leaves], [ones_like(out)])
        res = _per_arg(gs, flat, specs)
        g = res[0] if single else tuple(res)
        g = _detach_unless(g, outer)
        value = out if outer else out.detach()
        if has_aux:
            return g, (value, _detach_unless(aux, outer))
        return g, value
    return wrapper


def grad(func, argnums=0, has_aux=False):
    """``torch.func.grad``: the gradient of a scalar ``func`` w.r.t. its arguments ``argnums``
    (``(gradient, aux)`` with ``has_aux``)."""
    gv = grad_and_value(func, argnums, has_aux)

    def wrapper(*args, **kwargs):
        g, value = gv(*args, **kwargs)
        return (g, value[1]) if has_aux else g
    return wrapper


def vjp(func, *primals, has_aux=False):
    """``(func(*primals), vjp_fn)``; ``vjp_fn(cotangents)`` returns one gradient per primal
    (a tuple), and may be called several times."""
    from .autograd.grad_mode import enable_grad
    with enable_grad():
        args, lifted, specs, outer = _lift_args(primals, range(len(primals)))
        out = func(*args)
        aux = None
        if has_aux:
            out, aux = out
    out_leaves, out_spec = _flatten(out)
    flat_in = [t for l in lifted for t in l]

    def vjp_fn(cotangents):
        cots, cspec = _flatten(cotangents)
        if len(cots) != len(out_leaves):
            raise RuntimeError(f"Expected pytree structure of cotangents to be the same as pytree structure of "
                               f"outputs to the function ({len(out_leaves)} tensors), got {len(cots)}")
        for c, o in zip(cots, out_leaves):
            if tuple(c.shape) != tuple(o.shape):
                raise RuntimeError(f"Mismatch in shape: grad_output has a shape of {list(c.shape)} and output has a "
                                   f"shape of {list(o.shape)}.")
        with enable_grad():
            gs = _grads(out_leaves, flat_in, cots)
        res = _per_arg(gs, lifted, specs)
        keep = outer or any(c.requires_grad for c in cots)
        return tuple(_detach_unless(r, keep) for r in res)
    value = _detach_unless(out, outer)
    if has_aux:
        return value, vjp_fn, _detach_unless(aux, outer)
    return value, vjp_fn


def jvp(func, primals, tangents, *, strict=False, has_aux=False):
    """``(func(*primals), J @ tangents)``: forward-mode values, by the double-vjp trick
    (J v = d/du <u, J v> ... = the gradient in u of u^T J, contracted with v)."""
    from .autograd.grad_mode import enable_grad
    from ._creation import zeros_like
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise RuntimeError(f"jvp(f, primals, tangents): Expected primals and tangents to have the same length, "
                           f"got {len(primals)} and {len(tangents)}")
    res = vjp(func, *primals, has_aux=has_aux)
    out, vjp_fn = res[0], res[1]
    with enable_grad():
        out_leaves, out_spec = _flatten(out)
        us = [zeros_like(o).requires_grad_(True) for o in out_leaves]
        gs = vjp_fn(_unflatten(us, out_spec))
        g_flat = [t for g in gs for t in _flatten(g)[0]]
        t_flat = [t for tt in tangents for t in _flatten(tt)[0]]
        pairs = [(g, t) for g, t in zip(g_flat, t_flat) if g.requires_grad]
        if pairs:
            from .autograd import grad as _g
            jv = _g([g for g, _ in pairs], us, [t for _, t in pairs], allow_unused=True,
                    create_graph=any(t.requires_grad for t in out_leaves))
            jv = [zeros_like(o) if j is None else j for j, o in zip(jv, out_leaves)]
        else:
            jv = [zeros_like(o) for o in out_leaves]
    keep = any(t.requires_grad for t in out_leaves)
    jv = _detach_unless(_unflatten(jv, out_spec), keep)
    if has_aux:
        return out, jv, res[2]
    return out, jv


def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None, _preallocate_and_copy=False):
    """The Jacobian of ``func`` w.r.t. ``argnums``: ``output.shape + input.shape`` for each
    (output, input) pair, one reverse pass per output element."""
    def wrapper(*args, **kwargs):
        from .autograd.grad_mode import enable_grad
        from ._creation import zeros
        from . import stack
        single, nums = _argnums(argnums, len(args), "jacrev")
        with enable_grad():
            args, flat, specs, outer = _lift_args(args, nums)
            out = func(*args, **kwargs)
            aux = None
            if has_aux:
                out, aux = out
            out_leaves, out_spec = _flatten(out)
            ins = [t for l in flat for t in l]
            per_out = []
            for o in out_leaves:
                n = o.numel()
                rows = [[] for _ in ins]
                for m in range(n):
                    e = np.zeros(n, o._data.dtype)
                    e[m] = 1
                    gs = _grads([o], ins, [Tensor._make(e.reshape(tuple(o.shape)))])
                    for k, g in enumerate(gs):
                        rows[k].append(g)
                jac = [stack(r).reshape(tuple(o.shape) + tuple(t.shape)) if r else
                       zeros(tuple(o.shape) + tuple(t.shape), dtype=t.dtype) for r, t in zip(rows, ins)]
                res = _per_arg(jac, flat, specs)
                per_out.append(res[0] if single else tuple(res))
        result = _detach_unless(_unflatten(per_out, out_spec), outer)
        if has_aux:
            return result, _detach_unless(aux, outer)
        return result
    return wrapper


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error"):
    """``torch.func.jacfwd``: the same Jacobian as ``jacrev`` (computed in reverse mode)."""
    return jacrev(func, argnums, has_aux=has_aux)


def hessian(func, argnums=0):
    """The Hessian of a scalar ``func``: ``jacfwd(jacrev(func))``."""
    return jacfwd(jacrev(func, argnums), argnums)


# ---------------------------------------------------------------------------- modules as functions
def _owner(module, name):
    *path, attr = name.split(".")
    m = module
    for p in path:
        m = getattr(m, p)
    return m, attr


def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *, tie_weights=True, strict=False):
    """Run ``module(*args, **kwargs)`` with the named parameters and buffers replaced by the given
    tensors (the module itself is left as it was; in-place updates of buffers land in the given
    tensors)."""
    if isinstance(parameter_and_buffer_dicts, dict):
        values = dict(parameter_and_buffer_dicts)
    else:
        values = {}
        for d in parameter_and_buffer_dicts:
            for k, v in d.items():
                if k in values:
                    raise ValueError(f"['{k}'] appeared in multiple dictionaries; behavior of functional call is "
                                     "ambiguous")
                values[k] = v
    params = dict(module.named_parameters(remove_duplicate=False))
    buffers = dict(module.named_buffers(remove_duplicate=False))
    known = {**params, **buffers}
    if tie_weights:   # a value given for one name of a tied tensor applies to all its names
        by_id = {}
        for k, t in known.items():
            by_id.setdefault(id(t), []).append(k)
        for names in by_id.values():
            given = [n for n in names if n in values]
            if given:
                v = values[given[0]]
                for n in given[1:]:
                    if values[n] is not v:
                        raise ValueError(f"functional_call got multiple values for keys {given}, which are tied. "
                                         "Consider using tie_weights=False")
                for n in names:
                    values.setdefault(n, v)
    if strict:
        missing = sorted(k for k in known if k not in values)
        unexpected = sorted(k for k in values if k not in known)
        if missing or unexpected:
            raise RuntimeError("Error(s) in reparametrizing for " + type(module).__name__ + ":\n\t"
                               + (f"Missing key(s): {', '.join(repr(k) for k in missing)}." if missing else "")
                               + (f" Unexpected key(s): {', '.join(repr(k) for k in unexpected)}." if unexpected
                                  else ""))
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    with _swapped(module, values):
        return module(*args, **(kwargs or {}))


@contextlib.contextmanager
def _swapped(module, values):
    restore = []
    try:
        for name, v in values.items():
            m, attr = _owner(module, name)
            for reg in ("_parameters", "_buffers"):
                d = m.__dict__.get(reg)
                if d is not None and attr in d:
                    restore.append((d, attr, d[attr]))
                    d[attr] = v
                    break
            else:
                old = m.__dict__.get(attr, _MISSING)
                restore.append((m.__dict__, attr, old))
                m.__dict__[attr] = v
        yield
    finally:
        for d, attr, old in reversed(restore):
            if old is _MISSING:
                d.pop(attr, None)
            else:
                d[attr] = old


_MISSING = object()


def stack_module_state(models):
    """``(params, buffers)``: each name's tensors from ``models`` stacked along a new first dim
    (the parameters as new leaves that require grad, the buffers detached)."""
    from . import stack
    models = list(models)
    if not models:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if not (all(m.training for m in models) or not any(m.training for m in models)):
        raise RuntimeError("stack_module_state: Expected all models to have the same training/eval mode.")
    first = type(models[0])
    if not all(type(m) is first for m in models):
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")
    params = {k: stack([dict(m.named_parameters())[k].detach() for m in models]).requires_grad_(True)
              for k, _ in models[0].named_parameters()}
    buffers = {k: stack([dict(m.named_buffers())[k].detach() for m in models])
               for k, _ in models[0].named_buffers()}
    return params, buffers


# ---------------------------------------------------------------------------- vmap
def _dims_for(in_dims, args):
    if isinstance(in_dims, int) or in_dims is None:
        return [in_dims] * len(args)
    in_dims = tuple(in_dims)
    if len(in_dims) != len(args):
        raise ValueError(f"vmap(f, in_dims={in_dims}, ...)(<inputs>): in_dims is not compatible with the structure "
                         f"of `inputs`. in_dims has structure of length {len(in_dims)} but inputs has {len(args)}.")
    return list(in_dims)


def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """``func`` over a batch dimension of its arguments (``in_dims``: one int or None per
    argument, applied to every Tensor inside it), results stacked along ``out_dims``.

    Runs ``func`` once per batch element. ``randomness``: ``'error'`` refuses a ``func`` that
    draws random numbers, ``'same'`` gives every element the same draws, ``'different'`` its own.
    """
    if randomness not in ("error", "same", "different"):
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or 'same'. Got "
                           f"{randomness}")

    def wrapper(*args, **kwargs):
        from . import stack, random as _random
        dims = _dims_for(in_dims, args)
        size = None
        for a, d in zip(args, dims):
            if d is None:
                continue
            for t in _flatten(a)[0]:
                dd = d % t.ndim if t.ndim else d
                if t.ndim == 0 or not -t.ndim <= d < t.ndim:
                    raise ValueError(f"vmap: Tried to map over dim {d} of a tensor of {t.ndim} dims (shape "
                                     f"{list(t.shape)})")
                n = t.shape[dd]
                if size is not None and n != size:
                    raise ValueError(f"vmap: Expected all tensors to have the same size in the mapped dimension, got "
                                     f"sizes {size} and {n} for the mapped dimension")
                size = n
        if size is None:
            raise ValueError("vmap(f, in_dims=..., ...)(<inputs>): at least one input must be mapped over "
                             "(in_dims is None for all of them)")
        state = _random.get_rng_state()
        results = []
        for b in range(size):
            if randomness == "same":
                _random.set_rng_state(state)
            sliced = []
            for a, d in zip(args, dims):
                if d is None:
                    sliced.append(a)
                    continue
                leaves, spec = _flatten(a)
                sliced.append(_unflatten([t.select(d % t.ndim, b) for t in leaves], spec))
            before = _random.get_rng_state() if randomness == "error" else None
            out = func(*sliced, **kwargs)
            if before is not None and not np.array_equal(before.numpy(), _random.get_rng_state().numpy()):
                raise RuntimeError("vmap: called random operation while in randomness error mode. Please either "
                                   "use the 'same' or 'different' randomness flags on vmap or perform the randomness "
                                   "operation out of vmap")
            results.append(out)
        leaves0, spec = _flatten(results[0])
        if spec is not None and spec[0] == "leaf":
            raise ValueError(f"vmap: `{getattr(func, '__name__', 'func')}` must only return Tensors, got "
                             f"{type(results[0]).__name__}")
        columns = list(zip(*(_flatten(r)[0] for r in results)))
        odims = [out_dims] * len(columns) if isinstance(out_dims, int) else list(out_dims)
        stacked = [stack(list(col), od) for col, od in zip(columns, odims)]
        return _unflatten(stacked, spec)
    return wrapper
