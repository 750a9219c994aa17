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
    if not single and not isinstance(argnums, tuple):
        raise RuntimeError(f"{fname}: argnums must be int or Tuple[int, ...], got: {type(argnums).__name__}")
    nums = (argnums,) if single else argnums
    if not nums:
        raise RuntimeError(f"{fname}: argnums must be non-empty")
    if len(set(a % nargs if isinstance(a, int) and nargs else a for a in nums)) != len(nums):
        raise RuntimeError(f"{fname}: argnums elements must be unique, got {argnums}")
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


def _depends_on_outside(t, internal):
    """Whether ``t``'s graph reaches a tensor that requires grad outside this transform: an
    argument that an outer transform (or the caller) differentiates, or a tensor ``func`` read
    from its closure. ``internal``: ids of the transform's own leaves."""
    if not t.requires_grad:
        return False
    if t.grad_fn is None:
        return id(t) not in internal
    stack, seen = [t.grad_fn], set()
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        for e in n._next:
            if e is None:
                continue
            if isinstance(e[0], Tensor):
                if id(e[0]) not in internal:
                    return True
            else:
                stack.append(e[0])
    return False


def _unwrap(tree, internal, enabled):
    """The transform's results as torch.func returns them: each Tensor keeps its graph only if
    it depends on something differentiated outside the transform (and grad mode was on)."""
    leaves, spec = _flatten(tree)
    if not leaves:
        return tree
    return _unflatten([t if enabled and _depends_on_outside(t, internal) else t.detach() for t in leaves], spec)


def _internal(*groups):
    return {id(t) for g in groups for t in g}


def _grads(outputs, inputs, cotangents, create_graph=True):
    from .autograd import grad as _g
    from ._creation import zeros_like
    pairs = [(o, c) for o, c in zip(outputs, cotangents) if o.requires_grad]
    if not pairs:
        return [zeros_like(t) for t in inputs]
    gs = _g([o for o, _ in pairs], inputs, [c for _, c in pairs], retain_graph=True, create_graph=create_graph,
            allow_unused=True)
    return [zeros_like(t) if g is None else g for g, t in zip(gs, inputs)]


def _lift_args(args, nums):
    """``args`` with the Tensors of the differentiated ones (``nums``) lifted; also those Tensors
    per argument, each argument's pytree spec, and whether an outer transform differentiates."""
    args = list(args)
    flat, specs, outer = [], [], False
    for a in nums:
        leaves, spec = _flatten(args[a])
        if not leaves or (spec is not None and spec[0] == "leaf"):
            raise ValueError(f"Thing passed to transform API must be Tensor, got {type(args[a]).__name__}")
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
        from .autograd.grad_mode import enable_grad, is_grad_enabled
        enabled = is_grad_enabled()
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
            gs = _grads([out], [t for leaves in flat for t in leaves], [ones_like(out)], create_graph=enabled)
        res = _per_arg(gs, flat, specs)
        internal = _internal(*flat)
        g = _unwrap(res[0] if single else tuple(res), internal, enabled)
        value = _unwrap(out, internal, enabled)
        if has_aux:
            return g, (value, _unwrap(aux, internal, enabled))
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
    from .autograd.grad_mode import enable_grad, is_grad_enabled
    enabled = is_grad_enabled()
    with enable_grad():
        args, lifted, specs, outer = _lift_args(primals, range(len(primals)))
        out = func(*args)
        aux = None
        if has_aux:
            out, aux = _split_aux(out, "vjp")
    out_leaves, out_spec = _flatten(out)
    flat_in = [t for l in lifted for t in l]

    def vjp_fn(cotangents):
        cots, cspec = _flatten(cotangents)
        if cspec != out_spec and not (cspec is None and out_spec is None):
            raise RuntimeError("Expected pytree structure of cotangents to be the same as pytree structure of "
                               "outputs to the function")
        if len(cots) != len(out_leaves):
            raise RuntimeError(f"Expected pytree structure of cotangents to be the same as pytree structure of "
                               f"outputs to the function ({len(out_leaves)} tensors), got {len(cots)}")
        for c, o in zip(cots, out_leaves):
            if tuple(c.shape) != tuple(o.shape):
                raise RuntimeError(f"Mismatch in shape: grad_output has a shape of {list(c.shape)} and output has a "
                                   f"shape of {list(o.shape)}.")
        now = is_grad_enabled()
        with enable_grad():
            gs = _grads(out_leaves, flat_in, cots, create_graph=now)
        res = _per_arg(gs, lifted, specs)
        return tuple(_unwrap(r, internal, now) for r in res)
    internal = _internal(flat_in)
    vjp_fn.internal = internal      # for jvp, which differentiates vjp_fn's results again
    value = _unwrap(out, internal, enabled)
    if has_aux:
        return value, vjp_fn, _unwrap(aux, internal, enabled)
    return value, vjp_fn


def _split_aux(out, fname):
    if not (isinstance(out, tuple) and len(out) == 2):
        raise RuntimeError(f"{fname}(f, ...): output of function f should be a tuple: (output, aux) if has_aux is "
                           "True")
    return out


def jvp(func, primals, tangents, *, strict=False, has_aux=False):
    """``(func(*primals), J @ tangents)``: forward-mode values, by the double-vjp trick
    (J v = d/du <u, J v> ... = the gradient in u of u^T J, contracted with v)."""
    from .autograd.grad_mode import enable_grad, is_grad_enabled
    from ._creation import zeros_like
    if not isinstance(primals, tuple):
        raise RuntimeError(f"jvp(f, primals, tangents): Expected primals to be a tuple. E.g. it should be valid to "
                           f"call f(*primals). Got {type(primals).__name__}")
    if not isinstance(tangents, tuple):
        raise RuntimeError(f"jvp(f, primals, tangents): Expected tangents to be a tuple, got "
                           f"{type(tangents).__name__}")
    enabled = is_grad_enabled()
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
            jv = _g([g for g, _ in pairs], us, [t for _, t in pairs], allow_unused=True, create_graph=enabled)
            jv = [zeros_like(o) if j is None else j for j, o in zip(jv, out_leaves)]
        else:
            jv = [zeros_like(o) for o in out_leaves]
    # J v depends on the tangents as well: a tangent that requires grad keeps it differentiable
    jv = _unwrap(_unflatten(jv, out_spec), _internal(us) | vjp_fn.internal, enabled)
    if has_aux:
        return out, jv, res[2]
    return out, jv


def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None, _preallocate_and_copy=False):
    """The Jacobian of ``func`` w.r.t. ``argnums``: ``output.shape + input.shape`` for each
    (output, input) pair, one reverse pass per output element."""
    def wrapper(*args, **kwargs):
        from .autograd.grad_mode import enable_grad, is_grad_enabled
        from ._creation import zeros
        from . import stack
        enabled = is_grad_enabled()
        single, nums = _argnums(argnums, len(args), "jacrev")
        with enable_grad():
            args, flat, specs, outer = _lift_args(args, nums)
            out = func(*args, **kwargs)
            aux = None
            if has_aux:
                out, aux = _split_aux(out, "jacrev")
            out_leaves, out_spec = _flatten(out)
            ins = [t for l in flat for t in l]
            per_out = []
            for o in out_leaves:
                n = o.numel()
                rows = [[] for _ in ins]
                for m in range(n):
                    e = np.zeros(n, o._data.dtype)
                    e[m] = 1
                    gs = _grads([o], ins, [Tensor._make(e.reshape(tuple(o.shape)))], create_graph=enabled)
                    for k, g in enumerate(gs):
                        rows[k].append(g)
                jac = [stack(r).reshape(tuple(o.shape) + tuple(t.shape)) if r else
                       zeros(tuple(o.shape) + tuple(t.shape), dtype=t.dtype) for r, t in zip(rows, ins)]
                res = _per_arg(jac, flat, specs)
                per_out.append(res[0] if single else tuple(res))
        internal = _internal(*flat)
        result = _unwrap(_unflatten(per_out, out_spec), internal, enabled)
        if has_aux:
            return result, _unwrap(aux, internal, enabled)
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
            parts = ([f"Unexpected key(s): {', '.join(repr(k) for k in unexpected)}."] if unexpected else []) + \
                ([f"Missing key(s): {', '.join(repr(k) for k in missing)}."] if missing else [])
            raise RuntimeError(f"Error(s) in reparametrizing for {type(module).__name__}:\n\t" + "\n\t".join(parts))
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
    params = {}
    for k, _ in models[0].named_parameters():
        ps = [dict(m.named_parameters())[k] for m in models]
        rg = {p.requires_grad for p in ps}
        if len(rg) > 1:
            raise RuntimeError(f"stack_module_state: Expected the parameter {k} to require grad in all models or in "
                               "none of them")
        params[k] = stack([p.detach() for p in ps]).requires_grad_(rg.pop())
    buffers = {k: stack([dict(m.named_buffers())[k].detach() for m in models])
               for k, _ in models[0].named_buffers()}
    return params, buffers


# ---------------------------------------------------------------------------- vmap
def _prefix(dims, tree, what):
    """One dim per Tensor of ``tree``: ``dims`` is an int/None for the whole tree, or a tuple,
    list or dict that follows the tree's structure down to where it holds an int/None."""
    if dims is None or isinstance(dims, int):
        return [dims] * len(_flatten(tree)[0])
    if isinstance(dims, (tuple, list)) and isinstance(tree, (tuple, list)) and len(dims) == len(tree):
        return [d for sub_d, sub_t in zip(dims, tree) for d in _prefix(sub_d, sub_t, what)]
    if isinstance(dims, dict) and isinstance(tree, dict) and dims.keys() == tree.keys():
        return [d for k in tree for d in _prefix(dims[k], tree[k], what)]
    raise ValueError(f"vmap: {what}={dims!r} is not compatible with the structure of the "
                     f"{'inputs' if what == 'in_dims' else 'outputs'}: it must be an int or None, or follow "
                     "their (tuple / list / dict) structure")


def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """``func`` over a batch dimension of its arguments, results stacked along ``out_dims``.

    ``in_dims``: an int or None for all arguments, or one per argument, itself an int/None or a
    structure following that argument's pytree; ``out_dims`` likewise for the outputs (None: an
    output that does not depend on the batch, returned once).

    Runs ``func`` once per batch element. ``randomness``: ``'error'`` refuses a ``func`` that
    draws random numbers, ``'same'`` gives every element the same draws, ``'different'`` its own.
    An in-place change of an input that is not mapped over is refused (it would happen once per
    element).
    """
    if randomness not in ("error", "same", "different"):
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or 'same'. Got "
                           f"{randomness}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size <= 0):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})")

    def wrapper(*args, **kwargs):
        from . import stack, random as _random
        from ._creation import zeros
        if not args:
            raise ValueError(f"vmap({getattr(func, '__name__', 'func')})(<inputs>): got no inputs. Maybe you "
                             "forgot to add inputs, or you are trying to vmap over a function with no inputs.")
        if isinstance(in_dims, (tuple, list)) and len(in_dims) != len(args):
            raise ValueError(f"vmap(f, in_dims={in_dims}, ...)(<inputs>): in_dims is not compatible with the "
                             f"structure of `inputs`. in_dims has structure of length {len(in_dims)} but inputs "
                             f"has {len(args)}.")
        leaves, spec = _flatten(tuple(args))
        dims = _prefix(in_dims if isinstance(in_dims, (int, type(None))) else tuple(in_dims), tuple(args),
                       "in_dims")
        size = None
        for t, d in zip(leaves, dims):
            if d is None:
                continue
            if not -t.ndim <= d < t.ndim or t.ndim == 0:
                raise ValueError(f"vmap: Tried to map over dim {d} of a tensor of {t.ndim} dims (shape "
                                 f"{list(t.shape)})")
            n = t.shape[d % t.ndim]
            if size is not None and n != size:
                raise ValueError(f"vmap: Expected all tensors to have the same size in the mapped dimension, got "
                                 f"sizes {size} and {n} for the mapped dimension")
            size = n
        if size is None:
            raise ValueError("vmap(f, in_dims=..., ...)(<inputs>): at least one input must be mapped over "
                             "(in_dims is None for all of them)")
        unmapped = [(t, t._version[0]) for t, d in zip(leaves, dims) if d is None]

        def call(pick):
            out = func(*_unflatten([t if d is None else pick(t, d % t.ndim) for t, d in zip(leaves, dims)], spec),
                       **kwargs)
            for t, v in unmapped:
                if t._version[0] != v:
                    raise RuntimeError("vmap: an in-place operation changed an input that is not mapped over "
                                       "(in_dims None); it would be applied once per batch element. Map over it, or "
                                       "clone it inside the function.")
            return out

        state = _random.get_rng_state()
        if size == 0:   # one call on zeros shaped like an element, for the outputs' shapes
            one = call(lambda t, d: zeros(tuple(t.shape[:d]) + tuple(t.shape[d + 1:]), dtype=t.dtype))
            outs, ospec = _flatten(one)
            odims = _prefix(out_dims, one, "out_dims")
            return _unflatten([o if od is None else o.unsqueeze(od).narrow(od, 0, 0) for o, od in zip(outs, odims)],
                              ospec)
        results = []
        for b in range(size):
            if randomness == "same":
                _random.set_rng_state(state)
            before = _random.get_rng_state() if randomness == "error" else None
            out = call(lambda t, d: t.select(d, b))
            if before is not None and not np.array_equal(before.numpy(), _random.get_rng_state().numpy()):
                raise RuntimeError("vmap: called random operation while in randomness error mode. Please either "
                                   "use the 'same' or 'different' randomness flags on vmap or perform the randomness "
                                   "operation out of vmap")
            results.append(out)
        outs0, ospec = _flatten(results[0])
        if (ospec is not None and ospec[0] == "leaf") or _has_non_tensor(results[0]):
            raise ValueError(f"vmap: `{getattr(func, '__name__', 'func')}` must only return Tensors, got "
                             f"{type(results[0]).__name__}")
        odims = _prefix(out_dims, results[0], "out_dims")
        columns = list(zip(*(_flatten(r)[0] for r in results)))
        return _unflatten([col[0] if od is None else stack(list(col), od) for col, od in zip(columns, odims)], ospec)
    return wrapper


def _has_non_tensor(tree):
    if isinstance(tree, Tensor):
        return False
    if isinstance(tree, (tuple, list)):
        return any(_has_non_tensor(t) for t in tree)
    if isinstance(tree, dict):
        return any(_has_non_tensor(t) for t in tree.values())
    return True
