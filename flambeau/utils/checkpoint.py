"""``torch.utils.checkpoint``: trade compute for memory.

``checkpoint(fn, *args)`` runs ``fn`` without recording its graph, keeping only its inputs;
the backward pass runs ``fn`` again, this time recording, and backpropagates through that fresh
graph. The activations inside ``fn`` are therefore never held between forward and backward. The
random-number state is stashed and restored around the recomputation (``preserve_rng_state``),
so dropout draws the same masks twice.

``use_reentrant=True`` (PyTorch 2.13's default) behaves like PyTorch's re-entrant variant: when
no input requires grad the output does not either (with PyTorch's warning), and the parameters
inside ``fn`` receive their gradients from a nested backward. ``use_reentrant=False`` always
connects the recomputation to the graph; when ``fn`` is a module (or its method) its parameters
become inputs of the checkpoint's node, so ``autograd.grad`` can ask for them; the parameters of
any other function (a closure) are accumulated into ``.grad`` by a nested backward.
"""
from __future__ import annotations

import contextlib
import warnings

from .. import _creation
from .._tensor import Tensor
from ..autograd import backward as _backward, grad as _grad
from ..autograd.function import Function
from ..amp import _state as _amp
from ..amp.autocast_mode import autocast, get_autocast_dtype
from ..autograd.grad_mode import enable_grad, is_grad_enabled, no_grad
from ..nn.modules.module import Module
from ..random import get_rng_state, set_rng_state

__all__ = ["checkpoint", "checkpoint_sequential", "noop_context_fn"]


def noop_context_fn():
    return contextlib.nullcontext(), contextlib.nullcontext()


class CheckpointFunction(Function):
    """Inputs: the call's tensors, then (``n_params`` > 0) the parameters of the checkpointed
    module, made explicit so that their gradients are returned through the graph (and
    ``autograd.grad`` sees them) instead of accumulated by a nested backward."""

    @staticmethod
    def forward(ctx, run, preserve_rng_state, layout, n_params, _anchor, *tensors):
        ctx.run, ctx.layout, ctx.n_params = run, layout, n_params
        ctx.rng = get_rng_state() if preserve_rng_state else None
        # the recomputation runs under the autocast state of the forward (backward runs outside it)
        ctx.autocast = dict(enabled=_amp.is_enabled("cpu"), dtype=get_autocast_dtype("cpu"),
                            cache_enabled=_amp.tls.cache_enabled)
        ctx.save_for_backward(*tensors)
        inputs = tensors[:len(tensors) - n_params]
        with no_grad():
            out = run(*_rebuild(layout, inputs))
        ctx.single = isinstance(out, Tensor)
        return out

    @staticmethod
    def backward(ctx, *grads):
        saved = ctx.saved_tensors
        n_in = len(saved) - ctx.n_params
        params = list(saved[n_in:])
        detached = [t.detach().requires_grad_(t.requires_grad) for t in saved[:n_in]]
        current = None
        if ctx.rng is not None:
            current = get_rng_state()
            set_rng_state(ctx.rng)
        try:
            with enable_grad(), autocast("cpu", **ctx.autocast):
                out = ctx.run(*_rebuild(ctx.layout, detached))
        finally:
            if current is not None:
                set_rng_state(current)
        outs = (out,) if ctx.single else tuple(out)
        pairs = [(o, g) for o, g in zip(outs, grads) if isinstance(o, Tensor) and o.requires_grad and g is not None]
        lead = (None,) * 5
        if not pairs:
            if ctx.n_params or not any(d.requires_grad for d in detached):
                return lead + (None,) * len(saved)      # nothing inside needs a gradient (frozen)
            raise RuntimeError("none of output has requires_grad=True, this checkpoint() is not necessary")
        if ctx.n_params:
            # the module's parameters are inputs of this node: their gradients go back through it
            targets = [d for d in detached if d.requires_grad] + [p for p in params if p.requires_grad]
            got = iter(_grad([o for o, _ in pairs], targets, [g for _, g in pairs], allow_unused=True))
            return lead + tuple(next(got) if t.requires_grad else None for t in detached + params)
        _backward([o for o, _ in pairs], [g for _, g in pairs])
        return lead + tuple(d.grad if d.requires_grad else None for d in detached)


def _rebuild(layout, tensors):
    """The call's positional arguments: ``layout`` holds the non-tensors, None where a tensor goes."""
    it = iter(tensors)
    return [next(it) if a is None else a[0] for a in layout]


def checkpoint(function, *args, use_reentrant=None, context_fn=noop_context_fn, determinism_check="default",
               debug=False, early_stop=True, preserve_rng_state=True, **kwargs):
    """``function(*args, **kwargs)``, its inner activations recomputed during backward instead of
    kept (see the module docstring)."""
    if use_reentrant is None:
        use_reentrant = True
    if use_reentrant:
        if context_fn is not noop_context_fn or debug:
            raise ValueError("Passing `context_fn` or `debug` is only supported when use_reentrant=False.")
        if kwargs:
            raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    if determinism_check not in ("default", "none"):
        raise ValueError(f"determinism_check should be one of ['default', 'none'], but got {determinism_check}")
    if not is_grad_enabled():
        return function(*args, **kwargs)
    tensors = [a for a in args if isinstance(a, Tensor)]
    layout = [None if isinstance(a, Tensor) else (a,) for a in args]
    params = []
    if not use_reentrant:
        owner = function if isinstance(function, Module) else getattr(function, "__self__", None)
        if isinstance(owner, Module):
            params = [p for p in owner.parameters() if p.requires_grad]
    if use_reentrant:
        if not any(t.requires_grad for t in tensors):
            warnings.warn("None of the inputs have requires_grad=True. Gradients will be None", UserWarning,
                          stacklevel=2)
        anchor = None
    else:
        # an input that always requires grad keeps the recomputation in the graph, so the
        # parameters inside `function` get gradients even when no argument requires grad
        anchor = _creation.zeros((), requires_grad=True)
    run = (lambda *a: function(*a, **kwargs)) if kwargs else function
    return CheckpointFunction.apply(run, preserve_rng_state, layout, len(params), anchor, *tensors, *params)


def checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs):
    """Run ``functions`` (a Sequential or a list of modules) in ``segments`` pieces, every piece
    but the last checkpointed."""
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    funcs = list(functions.children()) if hasattr(functions, "children") else list(functions)

    def run_function(start, end):
        def forward(x):
            for j in range(start, end + 1):
                x = funcs[j](x)
            return x
        return forward
    segment_size = len(funcs) // segments
    end = -1
    for start in range(0, segment_size * (segments - 1), segment_size):
        end = start + segment_size - 1
        input = checkpoint(run_function(start, end), input, use_reentrant=use_reentrant, preserve_rng_state=preserve)
    return run_function(end + 1, len(funcs) - 1)(input)
