"""``torch.nn.utils.parametrize``: a module tensor computed from other tensors on every access.

``register_parametrization(module, "weight", P)`` moves the parameter to
``module.parametrizations.weight.original`` (or ``original0``, ``original1`` ... when
``P.right_inverse`` splits it into several) and turns ``module.weight`` into a property that
returns ``P(original)``: the optimiser trains the originals, the module sees the parametrized
value. Several parametrizations of one tensor chain in registration order. The module's class
is swapped for a subclass holding the property, as PyTorch does, so the instance alone changes.
"""
from __future__ import annotations

import contextlib

from ...autograd.grad_mode import no_grad
from ..._tensor import Tensor
from ..modules.container import ModuleDict, ModuleList
from ..modules.module import Module
from ..parameter import Parameter

__all__ = ["register_parametrization", "remove_parametrizations", "is_parametrized", "cached",
           "ParametrizationList", "type_before_parametrizations", "transfer_parametrizations_and_params"]

_cache_enabled = 0
_cache = {}


@contextlib.contextmanager
def cached():
    """Inside the block each parametrized tensor is computed once, on first access."""
    global _cache_enabled
    _cache_enabled += 1
    try:
        yield
    finally:
        _cache_enabled -= 1
        if not _cache_enabled:
            _cache.clear()


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor and its original(s)."""

    def __init__(self, modules, original, unsafe=False):
        if len(modules) == 0:
            raise ValueError("ParametrizationList requires one or more modules.")
        super().__init__(modules)
        self.unsafe = unsafe
        new = original
        with no_grad():
            for m in reversed(self):
                if hasattr(m, "right_inverse"):
                    new = m.right_inverse(new)
        self.is_tensor = isinstance(new, Tensor)
        self.ntensors = 1 if self.is_tensor else len(new)
        if self.is_tensor:
            # the same Parameter object stays the one trained (optimisers may already hold it)
            with no_grad():
                if new is not original:
                    original._data = new.detach()._data.astype(original._data.dtype, copy=True)
            if isinstance(original, Parameter):
                self.register_parameter("original", original)
            else:
                self.register_buffer("original", original)
        else:
            for i, t in enumerate(new):
                if not isinstance(t, Tensor):
                    raise ValueError("'right_inverse' must return a Tensor or a Sequence of tensors (list, tuple...). "
                                     f"Got element {i} of the sequence with type {type(t).__name__}.")
                if isinstance(original, Parameter):
                    self.register_parameter(f"original{i}", Parameter(t.detach().clone(), original.requires_grad))
                else:
                    self.register_buffer(f"original{i}", t.detach().clone())

    def right_inverse(self, value):
        """``module.X = value``: written back through the right inverses into the originals."""
        with no_grad():
            for m in reversed(self):
                if hasattr(m, "right_inverse"):
                    value = m.right_inverse(value)
            if self.is_tensor:
                self.original.copy_(value)
            else:
                for i, t in enumerate(value):
                    getattr(self, f"original{i}").copy_(t)

    def forward(self):
        if self.is_tensor:
            x = self[0](self.original)
        else:
            x = self[0](*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for m in list(self)[1:]:
            x = m(x)
        return x


def _inject_property(module, name):
    def get(self):
        plist = self.parametrizations[name]
        if _cache_enabled:
            key = (id(self), name)
            if key not in _cache:
                _cache[key] = plist()
            return _cache[key]
        return plist()

    def set_(self, value):
        self.parametrizations[name].right_inverse(value)
    setattr(module.__class__, name, property(get, set_))


def _load_from_state_dict(self, state_dict, prefix, *args):
    # keys of an older layout (nn.utils.weight_norm's weight_g / weight_v) renamed to the
    # parametrization's, as PyTorch's compatibility hook does
    for old, new in getattr(self, "_state_dict_renames", {}).items():
        if prefix + old in state_dict and prefix + new not in state_dict:
            state_dict[prefix + new] = state_dict.pop(prefix + old)
    super(self.__class__, self)._load_from_state_dict(state_dict, prefix, *args)


def _inject_new_class(module):
    cls = module.__class__
    module.__class__ = type(f"Parametrized{cls.__name__}", (cls,),
                            {"_original_class": cls, "_load_from_state_dict": _load_from_state_dict})


def is_parametrized(module, tensor_name=None):
    parametrizations = getattr(module, "parametrizations", None)
    if parametrizations is None or not isinstance(parametrizations, ModuleDict):
        return False
    return len(parametrizations) > 0 if tensor_name is None else tensor_name in parametrizations


def type_before_parametrizations(module):
    return module.__class__._original_class if is_parametrized(module) else type(module)


def register_parametrization(module, tensor_name, parametrization, *, unsafe=False):
    """Parametrize ``module.<tensor_name>`` (a parameter or buffer) by the module
    ``parametrization``: afterwards reading it returns ``parametrization(original)``."""
    if not isinstance(parametrization, Module):
        raise TypeError(f"parametrization must be a Module, got {type(parametrization).__name__}")
    if is_parametrized(module, tensor_name):
        plist = module.parametrizations[tensor_name]
        if not unsafe:
            with no_grad():
                check = parametrization(getattr(module, tensor_name))
            if check.shape != getattr(module, tensor_name).shape or check.dtype != getattr(module, tensor_name).dtype:
                raise ValueError("Registering a parametrization may not change the shape or dtype of the tensor, "
                                 "unless the `unsafe` flag is enabled.")
        plist.append(parametrization)
        return module
    if tensor_name in module._buffers or tensor_name in module._parameters:
        original = getattr(module, tensor_name)
        plist = ParametrizationList([parametrization], original, unsafe=unsafe)
        delattr(module, tensor_name)
        if not is_parametrized(module):
            _inject_new_class(module)
            module.parametrizations = ModuleDict()
        _inject_property(module, tensor_name)
        module.parametrizations[tensor_name] = plist
        if not unsafe:
            value = getattr(module, tensor_name)
            if value.shape != original.shape or value.dtype != original.dtype:
                remove_parametrizations(module, tensor_name, leave_parametrized=False)
                raise ValueError(f"Registering a parametrization may not change the shape or dtype of the tensor, "
                                 f"unless the `unsafe` flag is enabled.\nunparametrized shape: {original.shape}\n"
                                 f"parametrized shape: {value.shape}")
        return module
    raise ValueError(f"Module '{module}' does not have a parameter, a buffer, or a parametrized element with name "
                     f"'{tensor_name}'")


def remove_parametrizations(module, tensor_name, leave_parametrized=True):
    """Undo :func:`register_parametrization`: ``tensor_name`` becomes a plain parameter (or
    buffer) again, holding the parametrized value (``leave_parametrized``) or the original."""
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {module} does not have a parametrization on {tensor_name}")
    plist = module.parametrizations[tensor_name]
    if plist.is_tensor:
        original = plist.original
        if leave_parametrized:
            with no_grad():
                t = getattr(module, tensor_name)
                original._data = t.detach()._data.astype(original._data.dtype, copy=True)
    else:
        if not leave_parametrized:
            raise ValueError("Cannot leave unparametrized (`leave_parametrized=False`) a tensor that is "
                             "parametrized in terms of a sequence of tensors.")
        with no_grad():
            t = getattr(module, tensor_name)
        first = plist.original0
        original = Parameter(t.detach(), first.requires_grad) if isinstance(first, Parameter) else t.detach()
    delattr(module.__class__, tensor_name)
    del module.parametrizations[tensor_name]
    if isinstance(original, Parameter):
        module.register_parameter(tensor_name, original)
    else:
        module.register_buffer(tensor_name, original)
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        module.__class__ = module.__class__._original_class
    return module


def transfer_parametrizations_and_params(from_module, to_module, tensor_name=None):
    """Copy the parametrizations of ``from_module`` (all, or ``tensor_name``'s) and their
    originals onto ``to_module``."""
    if not is_parametrized(from_module):
        raise ValueError(f"from_module {from_module} is not parametrized")
    names = [tensor_name] if tensor_name is not None else list(from_module.parametrizations)
    for name in names:
        plist = from_module.parametrizations[name]
        if not hasattr(to_module, name):
            raise ValueError(f"to_module has no attribute {name}")
        for p in plist:
            register_parametrization(to_module, name, p)
        dest = to_module.parametrizations[name]
        with no_grad():
            if plist.is_tensor:
                dest.original._data = plist.original._data.copy()
            else:
                for i in range(plist.ntensors):
                    getattr(dest, f"original{i}")._data = getattr(plist, f"original{i}")._data.copy()
    return to_module
