"""``Optimizer``: the base of every optimizer (``torch.optim.Optimizer``).

An optimizer owns ``param_groups`` (a list of dicts: ``{"params": [...], "lr": ..., ...}`` with
every default filled in) and ``state`` (a ``defaultdict(dict)`` keyed by parameter). Its
``step()`` updates the parameters' NumPy arrays (``p._data``) in place, without recording any
graph, and bumps each updated parameter's version counter.

The helpers below keep float32 float32: every Python-float hyperparameter is converted to the
parameter's dtype (``dt.type(v)``) before it meets an array, and scalar arithmetic that PyTorch
does in Python doubles (bias corrections, step sizes) is done in Python doubles here too, so that
both libraries round the same numbers the same way.
"""
from __future__ import annotations

import functools
import warnings
from collections import OrderedDict, defaultdict
from copy import deepcopy
from itertools import chain

import numpy as np

from .._dtype import float64, get_default_dtype
from .._tensor import Tensor
from ..autograd import enable_grad
from ..autograd.grad_mode import state as _grad_state
from ..profiler import _recorder as _profiler
from .._blas import axpy_
from .._threads import blocks, parallel_for, worth_splitting

__all__ = ["Optimizer", "register_optimizer_step_pre_hook", "register_optimizer_step_post_hook",
           "required"]


class _RequiredParameter:
    """Marks a hyperparameter without a default (``torch.optim.optimizer.required``)."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


class _RemovableHandle:
    """What ``register_*_hook`` returns: ``handle.remove()`` unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks_dict):
        self._hooks = hooks_dict
        self.id = _RemovableHandle._next_id
        _RemovableHandle._next_id += 1

    def remove(self):
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


_global_optimizer_pre_hooks: OrderedDict = OrderedDict()
_global_optimizer_post_hooks: OrderedDict = OrderedDict()


def register_optimizer_step_pre_hook(hook):
    """A hook ``hook(optimizer, args, kwargs) -> None or (args, kwargs)`` run before every
    optimizer's ``step`` (``torch.optim.optimizer.register_optimizer_step_pre_hook``)."""
    handle = _RemovableHandle(_global_optimizer_pre_hooks)
    _global_optimizer_pre_hooks[handle.id] = hook
    return handle


def register_optimizer_step_post_hook(hook):
    """A hook ``hook(optimizer, args, kwargs) -> None`` run after every optimizer's ``step``."""
    handle = _RemovableHandle(_global_optimizer_post_hooks)
    _global_optimizer_post_hooks[handle.id] = hook
    return handle


# ---------------------------------------------------------------------------- shared helpers
def _get_value(x):
    """A hyperparameter as a number. A one-element Tensor (``lr=torch.tensor(0.01)``) becomes a
    NumPy scalar of its dtype: PyTorch then does the scalar arithmetic (``lr / bias_correction``)
    in that dtype, and NumPy scalars round the same way."""
    return x._data.reshape(())[()] if isinstance(x, Tensor) else x


def _check_tensor_lr(lr):
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")


def _scalar_np_dtype():
    # PyTorch keeps scalar state (``step``, NAdam's ``mu_product``) in float32, or in float64
    # when that is the default dtype; the arithmetic on them is rounded accordingly.
    return np.float64 if get_default_dtype() == float64 else np.float32


def _new_scalar(value=0.0):
    """A 0-d tensor of the scalar-state dtype (``step`` is one, as in torch >= 1.12)."""
    return Tensor._make(np.array(value, dtype=_scalar_np_dtype()))


def _incr_step(step_t):
    """``step_t += 1`` on the 0-d state tensor; returns the new value as a Python float."""
    arr = step_t._data
    np.add(arr, 1, out=arr)
    step_t._version[0] += 1
    return float(arr)


def _zeros_state(p):
    """A zero-filled state tensor of the parameter's shape and dtype."""
    return Tensor._make(np.zeros_like(p._data))


def _view(arr):
    """``arr``, or a 1-element view of a 0-d array: NumPy turns the results of ufuncs on 0-d
    arrays into scalars, which cannot be written into with ``out=``."""
    return arr if arr.ndim else arr.reshape(1)


def _grad_of(p, maximize):
    """The parameter's gradient array (see :func:`_view`), negated (as a new array) when
    maximizing."""
    g = _view(p._grad._data)
    return np.negative(g) if maximize else g


def _lerp_(start, end, weight):
    """``start.lerp_(end, weight)`` on arrays with PyTorch's two-branch formula (the branch
    with the smaller coefficient keeps the rounding error small): ``start + w*(end-start)``
    for ``|w| < 0.5``, else ``end - (end-start)*(1-w)``."""
    w = start.dtype.type(weight)
    diff = np.subtract(end, start)
    if abs(w) < 0.5:
        np.multiply(diff, w, out=diff)
        np.add(start, diff, out=start)
    else:
        np.multiply(diff, start.dtype.type(1) - w, out=diff)
        np.subtract(end, diff, out=start)
    return start


def _addcmul_(out, t1, t2, value):
    """``out.addcmul_(t1, t2, value=value)``: ``out + (value*t1)*t2``, PyTorch's order."""
    tmp = np.multiply(t1, out.dtype.type(value))
    np.multiply(tmp, t2, out=tmp)
    np.add(out, tmp, out=out)
    return out


def _addcdiv_(out, t1, t2, value):
    """``out.addcdiv_(t1, t2, value=value)``: ``out + (value*t1)/t2``, PyTorch's order."""
    tmp = np.multiply(t1, out.dtype.type(value))
    np.divide(tmp, t2, out=tmp)
    np.add(out, tmp, out=out)
    return out


def _add_scaled_(out, other, alpha):
    """``out.add_(other, alpha=alpha)``: ``out + alpha*other``."""
    # 1*other and -1*other are exact: one pass over memory instead of three
    if alpha == 1:
        return np.add(out, other, out=out)
    if alpha == -1:
        return np.subtract(out, other, out=out)
    if axpy_(out, alpha, other):      # one pass, one rounding (as PyTorch's add_ with alpha)
        return out
    tmp = np.multiply(other, out.dtype.type(alpha))
    np.add(out, tmp, out=out)
    return out


def _with_weight_decay(grad, param, weight_decay):
    """``grad.add(param, alpha=weight_decay)`` as a new array (``grad`` is never modified:
    it may be the parameter's own ``.grad``)."""
    tmp = np.multiply(param, grad.dtype.type(weight_decay))
    np.add(grad, tmp, out=tmp)
    return tmp


def _effective_grad(grad, param, maximize, weight_decay):
    """The gradient an update uses: negated when maximizing, then plus ``weight_decay * param``
    (as new arrays: the parameter's own ``.grad`` is never written)."""
    if maximize:
        grad = np.negative(grad)
    if weight_decay != 0:
        grad = _with_weight_decay(grad, param, weight_decay)
    return grad


def _by_rows(update, *arrays):
    """Call ``update(*arrays)``: the elementwise update of one parameter, given its value, its
    gradient and its state arrays (all of the parameter's shape; None passes through). A large
    parameter is cut into blocks of rows that the intra-op threads share; every element goes
    through the same arithmetic either way, so the result is bit-identical to one call."""
    a = arrays[0]
    if not worth_splitting(a):
        update(*arrays)
        return
    parts = blocks(a.shape[0], a.size // a.shape[0])
    parallel_for(lambda i: update(*(None if x is None else x[parts[i]] for x in arrays)), len(parts))


def _bump(p):
    """Record an in-place write to a parameter (autograd checks the version counter)."""
    p._version[0] += 1


def _typename(obj):
    return obj.type() if isinstance(obj, Tensor) else f"{type(obj).__module__}.{type(obj).__qualname__}"


def _hooked_step(step):
    """Wrap a subclass's ``step``: run the step hooks around it, with grad recording off (as
    PyTorch runs ``step`` unless ``differentiable=True``)."""

    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        if getattr(self, "_in_step", False):  # a subclass's step calling super().step()
            return step(self, *args, **kwargs)
        for pre_hook in chain(_global_optimizer_pre_hooks.values(),
                              self._optimizer_step_pre_hooks.values()):
            result = pre_hook(self, args, kwargs)
            if result is not None:
                if isinstance(result, tuple) and len(result) == 2:
                    args, kwargs = result
                else:
                    raise RuntimeError(f"{step} must return None or a tuple of (new_args, new_kwargs), "
                                       f"but got {result}.")
        prev = _grad_state.enabled
        _grad_state.enabled = bool(self.defaults.get("differentiable", False))
        self._in_step = True
        rec = _profiler.active
        frame = rec.open(f"Optimizer.step#{type(self).__name__}.step", user=True) if rec is not None else None
        try:
            out = step(self, *args, **kwargs)
        finally:
            self._in_step = False
            _grad_state.enabled = prev
            if frame is not None:
                rec.close(frame)
        for post_hook in chain(self._optimizer_step_post_hooks.values(),
                               _global_optimizer_post_hooks.values()):
            post_hook(self, args, kwargs)
        return out

    wrapper._flambeau_hooked = True
    return wrapper


# ---------------------------------------------------------------------------- the base class
class Optimizer:
    """Base class of all optimizers (``torch.optim.Optimizer(params, defaults)``).

    ``params``: an iterable of Tensors, of ``(name, Tensor)`` pairs (``named_parameters()``), or
    of dicts, each a parameter group with its own options (``{"params": [...], "lr": 0.1}``).
    ``defaults``: the options' default values, filled into every group that leaves them out.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "_flambeau_hooked", False):
            cls.step = _hooked_step(step)

    def __init__(self, params, defaults):
        self.defaults = defaults
        self._optimizer_step_pre_hooks = OrderedDict()
        self._optimizer_step_post_hooks = OrderedDict()
        self._optimizer_state_dict_pre_hooks = OrderedDict()
        self._optimizer_state_dict_post_hooks = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks = OrderedDict()
        self._optimizer_load_state_dict_post_hooks = OrderedDict()
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or "
                            "dicts, but got " + _typename(params))
        self.state = defaultdict(dict)
        self.param_groups = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    # per optimizer: group options that older state dicts may lack, and the value to assume
    _LATE_FLAGS = {}

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)
        for name in ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks",
                     "_optimizer_state_dict_pre_hooks", "_optimizer_state_dict_post_hooks",
                     "_optimizer_load_state_dict_pre_hooks", "_optimizer_load_state_dict_post_hooks"):
            if name not in self.__dict__:
                setattr(self, name, OrderedDict())
        self.defaults.setdefault("differentiable", False)
        for group in self.param_groups:
            for name, value in self._LATE_FLAGS.items():
                group.setdefault(name, value)

    def __repr__(self):
        format_string = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            format_string += "\n"
            format_string += f"Parameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    format_string += f"    {key}: {group[key]}\n"
        format_string += ")"
        return format_string

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group):
        """Add a parameter group (a dict with ``"params"`` and optional per-group options)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the "
                            "ordering of tensors in sets will change between runs. Please use a list instead.")
        else:
            param_group["params"] = list(params)

        tensors, names = [], []
        for param in param_group["params"]:
            if isinstance(param, tuple):
                names.append(param[0])
                tensors.append(param[1])
            else:
                tensors.append(param)
        param_group["params"] = tensors
        if names:
            if len(names) == len(tensors):
                param_group["param_names"] = names
            else:
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")

        for param in param_group["params"]:
            if not isinstance(param, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is " + _typename(param))
            if not self.defaults.get("differentiable", None) and not (param.is_leaf or param.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)

        params = param_group["params"]
        if len(params) != len({id(p) for p in params}):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this will "
                          "cause an error; see github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=3)

        seen = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                current = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {current} to the optimizer")
        if not seen.isdisjoint(id(p) for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ------------------------------------------------------------------ gradients and steps
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized parameters: to ``None`` (the default), or, with
        ``set_to_none=False``, to zeros in place (detached from any graph)."""
        rec = _profiler.active
        if rec is not None:
            frame = rec.open(f"Optimizer.zero_grad#{type(self).__name__}.zero_grad", user=True)
            try:
                return self._zero_grad(set_to_none)
            finally:
                rec.close(frame)
        return self._zero_grad(set_to_none)

    def _zero_grad(self, set_to_none):
        for group in self.param_groups:
            for p in group["params"]:
                g = p._grad
                if g is None:
                    continue
                if set_to_none:
                    p._grad = None
                    continue
                if g.grad_fn is not None:
                    g.detach_()
                else:
                    g._requires_grad = False
                if g._data.flags.writeable:
                    g._data.fill(0)
                else:  # a read-only (e.g. broadcast) gradient array: give it fresh zeroed memory
                    g._data = np.zeros(g._data.shape, dtype=g._data.dtype)
                g._version[0] += 1

    def step(self, closure=None):
        """Perform one optimization step; ``closure`` re-evaluates the model and returns the loss."""
        raise NotImplementedError

    def _eval_closure(self, closure):
        """Run the closure with grad recording on (``step`` itself runs without); its loss."""
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # ------------------------------------------------------------------ hooks
    def register_step_pre_hook(self, hook):
        handle = _RemovableHandle(self._optimizer_step_pre_hooks)
        self._optimizer_step_pre_hooks[handle.id] = hook
        return handle

    def register_step_post_hook(self, hook):
        handle = _RemovableHandle(self._optimizer_step_post_hooks)
        self._optimizer_step_post_hooks[handle.id] = hook
        return handle

    def _register(self, hooks, hook, prepend):
        handle = _RemovableHandle(hooks)
        hooks[handle.id] = hook
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

    def register_state_dict_pre_hook(self, hook, prepend=False):
        return self._register(self._optimizer_state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook, prepend=False):
        return self._register(self._optimizer_state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(self, hook, prepend=False):
        return self._register(self._optimizer_load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(self, hook, prepend=False):
        return self._register(self._optimizer_load_state_dict_post_hooks, hook, prepend)

    # ------------------------------------------------------------------ state dict
    def state_dict(self):
        """``{"state": {0: {...}, 1: {...}}, "param_groups": [{..., "params": [0, 1]}]}``: the
        parameters are replaced by integer ids, numbered in the order of the groups. The state
        tensors are the optimizer's own (not copies), as in PyTorch."""
        for pre_hook in self._optimizer_state_dict_pre_hooks.values():
            pre_hook(self)
        param_mappings = {}
        start_index = 0

        def pack_group(group):
            nonlocal start_index
            packed = {k: v for k, v in group.items() if k != "params"}
            param_mappings.update({id(p): i for i, p in enumerate(group["params"], start_index)
                                   if id(p) not in param_mappings})
            packed["params"] = [param_mappings[id(p)] for p in group["params"]]
            start_index += len(packed["params"])
            return packed

        param_groups = [pack_group(g) for g in self.param_groups]
        packed_state = {(param_mappings[id(k)] if isinstance(k, Tensor) else k): v
                        for k, v in self.state.items()}
        state_dict = {"state": packed_state, "param_groups": param_groups}
        for post_hook in self._optimizer_state_dict_post_hooks.values():
            result = post_hook(self, state_dict)
            if result is not None:
                state_dict = result
        return state_dict

    @staticmethod
    def _cast_state_value(param, value, key=None):
        """A copy of a loaded state value: tensors are copied (never shared with the state dict
        they came from) and, except for ``step``, cast to the parameter's floating dtype."""
        if isinstance(value, Tensor):
            arr = value._data
            if key != "step" and param._data.dtype.kind == "f":
                arr = arr.astype(param._data.dtype, copy=True)
            else:
                arr = arr.copy()
            return Tensor._make(arr)
        if isinstance(value, dict):
            return {k: Optimizer._cast_state_value(param, v, key=k) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(Optimizer._cast_state_value(param, v) for v in value)
        return value

    def load_state_dict(self, state_dict):
        """Load a state dict made by :meth:`state_dict` (of an optimizer with the same groups)."""
        state_dict = state_dict.copy()
        for pre_hook in self._optimizer_load_state_dict_pre_hooks.values():
            result = pre_hook(self, state_dict)
            if result is not None:
                state_dict = result
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))
        state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = self._cast_state_value(param, v)
                # checkpoints from before ``step`` became a tensor hold a plain number
                if "step" in state[param] and isinstance(state[param]["step"], (int, float)):
                    state[param]["step"] = _new_scalar(float(state[param]["step"]))
            else:
                state[k] = v

        def update_group(group, new_group):
            new_group["params"] = group["params"]
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            for name, default in self.defaults.items():  # options added since the save
                new_group.setdefault(name, default)
            return new_group

        param_groups = [update_group(g, ng) for g, ng in zip(groups, saved_groups)]
        self.__setstate__({"state": state, "param_groups": param_groups})
        for post_hook in self._optimizer_load_state_dict_post_hooks.values():
            post_hook(self)
