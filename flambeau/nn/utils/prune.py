r"""``torch.nn.utils.prune``: magnitude, structured, random, global and custom pruning.

Pruning parameter ``name`` of a module reparametrises it, exactly as PyTorch does:

* the original tensor moves to a new *parameter* ``name + "_orig"`` (the optimiser keeps
  training it);
* a binary *buffer* ``name + "_mask"`` (same shape and dtype, 1 = kept, 0 = pruned) is added;
* the attribute ``name`` becomes the plain tensor ``name_orig * name_mask``, recomputed by a
  forward pre-hook (the pruning method object itself) before every call, so gradients reach
  ``name_orig`` only through the unmasked entries.

Pruning the same parameter again composes the masks through a :class:`PruningContainer`: the
new method only looks at what is still unpruned (the remaining entries for unstructured
methods, the remaining channels for structured ones), so ``amount=0.5`` twice leaves 25%.
:func:`remove` makes the pruning permanent (``name`` becomes an ordinary parameter again, holding
the masked values). State-dict keys (``weight_orig``, ``weight_mask``) are PyTorch's, so pruned
checkpoints load in either library.

Selection and ties: PyTorch picks the entries / channels with ``torch.topk``. Here the pruned
ones are always the ``k`` smallest under the total order "by value, then by index" (NaN counts as
larger than every number, as in ``torch.topk``): on inputs without ties the chosen entries are
exactly PyTorch's. Among *exactly equal* values PyTorch's choice is an unspecified by-product of
its selection algorithm (it changes with the tensor size); flambeau's is deterministic: the
entries with the lower (flattened) index are pruned first.

The random methods draw from flambeau's generator (``flambeau.manual_seed`` makes them
reproducible); they prune a uniformly random subset of exactly the requested size, like
PyTorch, but not PyTorch's subset.
"""
from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from collections.abc import Iterable

from ... import _creation, linalg, ops
from ..._dtype import float64
from ...autograd.grad_mode import no_grad
from .convert_parameters import parameters_to_vector

__all__ = [
    "BasePruningMethod",
    "CustomFromMask",
    "Identity",
    "L1Unstructured",
    "LnStructured",
    "PruningContainer",
    "RandomStructured",
    "RandomUnstructured",
    "custom_from_mask",
    "global_unstructured",
    "identity",
    "is_pruned",
    "l1_unstructured",
    "ln_structured",
    "random_structured",
    "random_unstructured",
    "remove",
]


# ============================================================================ base class
class BasePruningMethod(ABC):
    r"""Abstract base class of pruning techniques (``torch.nn.utils.prune.BasePruningMethod``).

    A subclass defines ``PRUNING_TYPE`` (``"unstructured"``, ``"structured"`` -- then also a
    ``dim`` attribute -- or ``"global"``) and :meth:`compute_mask`. An instance, once applied, is
    the module's forward pre-hook and remembers the name of the tensor it prunes.
    """

    _tensor_name: str | None = None      # set by apply(); None = not applied to a module yet

    def __call__(self, module, inputs):
        r"""The forward pre-hook: ``module.<name> = <name>_orig * <name>_mask``."""
        setattr(module, self._tensor_name, self.apply_mask(module))

    @abstractmethod
    def compute_mask(self, t, default_mask):
        r"""The mask for ``t`` (the importance scores), respecting ``default_mask``.

        Args:
            t (Tensor): importance scores of the parameter to prune.
            default_mask (Tensor): mask of the earlier pruning iterations (ones if none), same
                shape as ``t``; entries it zeroes must stay zero.

        Returns:
            Tensor: the new mask, same shape as ``t``.
        """

    def apply_mask(self, module):
        r"""The pruned tensor ``module.<name>_orig * module.<name>_mask`` (differentiable in ``_orig``)."""
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned")  # set in apply()
        mask = getattr(module, self._tensor_name + "_mask")
        orig = getattr(module, self._tensor_name + "_orig")
        return mask.to(dtype=orig.dtype) * orig

    @classmethod
    def apply(cls, module, name, *args, importance_scores=None, **kwargs):
        r"""Prune ``module.<name>`` with a new ``cls(*args, **kwargs)`` and install the reparametrisation.

        The first time: ``<name>`` moves to the parameter ``<name>_orig``, the buffer
        ``<name>_mask`` and the forward pre-hook are added. When ``<name>`` is already pruned the
        new method is combined with the existing one(s) in a :class:`PruningContainer`, which
        becomes the hook, and the mask is updated.

        Args:
            module (nn.Module): module holding the tensor to prune.
            name (str): name of the parameter to prune.
            args, kwargs: arguments of ``cls``.
            importance_scores (Tensor, optional): scores (same shape as the parameter) the mask is
                computed from; the parameter itself when None.

        Returns:
            the pruning method now installed as the hook (the new method or the container).
        """
        # The new method is built (and its arguments validated) before anything is changed.
        method = cls(*args, **kwargs)
        method._tensor_name = name

        # An existing pruning hook of the same tensor, if any (there can only be one).
        old_id, old_method = None, None
        for k, hook in module._forward_pre_hooks.items():
            if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
                if old_method is not None:
                    raise AssertionError(f"Avoid adding multiple pruning hooks to the same tensor {name} of "
                                         f"module {module}. Use a PruningContainer.")
                old_id, old_method = k, hook

        # The tensor as it is now (its pruned version when pruned before) and the scores.
        orig = getattr(module, name)
        if importance_scores is not None:
            if importance_scores.shape != orig.shape:
                raise AssertionError(f"importance_scores should have the same shape as parameter {name} of "
                                     f"{module}, got {importance_scores.shape} vs {orig.shape}")
        else:
            importance_scores = orig

        # Combine with the earlier pruning: a container applies its *last* method to the part of
        # the tensor the earlier ones left unpruned.
        if old_method is None:
            hook = method
        elif isinstance(old_method, PruningContainer):
            hook = old_method
            hook.add_pruning_method(method)
        else:
            hook = PruningContainer(old_method)
            hook.add_pruning_method(method)

        first_time = old_method is None
        old_mask = None
        if first_time:
            # move module.<name> to the parameter <name>_orig
            module.register_parameter(name + "_orig", orig)
            del module._parameters[name]
            default_mask = _creation.ones_like(orig)
        else:
            old_mask = getattr(module, name + "_mask")
            default_mask = old_mask.detach().clone()

        try:
            with no_grad():      # the mask is a constant: no graph through the scores
                mask = hook.compute_mask(importance_scores, default_mask=default_mask)
            module.register_buffer(name + "_mask", mask)
            setattr(module, name, hook.apply_mask(module))
            # (re)install the hook, now last among the forward pre-hooks as in PyTorch
            if old_id is not None:
                del module._forward_pre_hooks[old_id]
            module.register_forward_pre_hook(hook)
        except Exception:
            # Roll back to the state before this call. (PyTorch restores the parameter on a first
            # pruning; on a later one it also loses the old hook: here it is kept.)
            if first_time:
                module.__dict__.pop(name, None)
                module._buffers.pop(name + "_mask", None)
                module.register_parameter(name, module._parameters.pop(name + "_orig"))
            else:
                if hook is old_method:           # an existing container: drop the new method
                    hook._pruning_methods = hook._pruning_methods[:-1]
                module.register_buffer(name + "_mask", old_mask)
                setattr(module, name, old_method.apply_mask(module))
            raise
        return hook

    def prune(self, t, default_mask=None, importance_scores=None):
        r"""``t`` times the mask :meth:`compute_mask` computes from ``importance_scores`` (``t`` if None)
        on top of ``default_mask`` (ones if None)."""
        if importance_scores is not None:
            if importance_scores.shape != t.shape:
                raise AssertionError(f"importance_scores should have the same shape as tensor t, "
                                     f"got {importance_scores.shape} vs {t.shape}")
        else:
            importance_scores = t
        default_mask = default_mask if default_mask is not None else _creation.ones_like(t)
        return t * self.compute_mask(importance_scores, default_mask=default_mask)

    def remove(self, module):
        r"""Make the pruning permanent: ``<name>`` becomes a parameter again holding the pruned
        values; ``<name>_orig`` and ``<name>_mask`` are deleted. The hook itself is removed by the
        module-level :func:`remove`."""
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned before pruning can be removed")
        weight = self.apply_mask(module)             # latest trained weights, masked
        if hasattr(module, self._tensor_name):
            delattr(module, self._tensor_name)
        # reuse the _orig Parameter object (the optimiser may hold it), now with the pruned values
        orig = module._parameters[self._tensor_name + "_orig"]
        orig.data = weight.data
        del module._parameters[self._tensor_name + "_orig"]
        del module._buffers[self._tensor_name + "_mask"]
        setattr(module, self._tensor_name, orig)


# ============================================================================ container
class PruningContainer(BasePruningMethod):
    """A sequence of pruning methods applied one after the other to the same tensor.

    Built from one or more BasePruningMethod instances; :meth:`compute_mask` applies the last one
    on top of the mask the earlier ones produced.
    """

    def __init__(self, *args):
        self._pruning_methods: tuple = ()
        if len(args) == 1:            # the usual case: wrap an already-applied method
            self._tensor_name = args[0]._tensor_name
            self.add_pruning_method(args[0])
        else:                         # built by hand from several methods (or none)
            for method in args:
                self.add_pruning_method(method)

    def add_pruning_method(self, method):
        r"""Append a ``method`` acting on the same tensor as the container."""
        if not isinstance(method, BasePruningMethod) and method is not None:
            raise TypeError(f"{type(method)} is not a BasePruningMethod subclass")
        elif method is not None and self._tensor_name != method._tensor_name:
            raise ValueError("Can only add pruning methods acting on "
                             f"the parameter named '{self._tensor_name}' to PruningContainer {self}."
                             f" Found '{method._tensor_name}'")
        self._pruning_methods += (method,)

    def __len__(self):
        return len(self._pruning_methods)

    def __iter__(self):
        return iter(self._pruning_methods)

    def __getitem__(self, idx):
        return self._pruning_methods[idx]

    def compute_mask(self, t, default_mask):
        r"""Apply the latest method to the still-unpruned part of ``t`` and merge into ``default_mask``.

        What "still unpruned" means depends on the method's ``PRUNING_TYPE``:

        * ``"unstructured"``: the entries where ``default_mask == 1`` (flattened to 1-D), so an
          ``amount`` fraction is a fraction of the remaining entries;
        * ``"structured"``: the channels along ``method.dim`` that are not already all zero;
        * ``"global"``: the whole tensor.
        """
        method = self._pruning_methods[-1]
        # the mask to update (like PyTorch, this is default_mask itself when already of t's dtype)
        new_mask = default_mask.to(dtype=t.dtype)

        ptype = method.PRUNING_TYPE
        if ptype == "unstructured":
            slc = default_mask == 1
        elif ptype == "structured":
            if not hasattr(method, "dim"):
                raise AttributeError('Pruning methods of PRUNING_TYPE "structured" need to have the '
                                     "attribute `dim` defined.")
            n_dims = t.dim()
            dim = method.dim
            if dim < 0:
                dim = n_dims + dim
            if dim < 0:
                raise IndexError(f"Index is out of bounds for tensor with dimensions {n_dims}")
            # channels with at least one unpruned entry
            keep_channel = default_mask.sum(dim=[d for d in range(n_dims) if d != dim]) != 0
            slc = [slice(None)] * n_dims
            slc[dim] = keep_channel
            slc = tuple(slc)
        elif ptype == "global":
            slc = tuple([slice(None)] * len(t.shape))
        else:
            raise ValueError(f"Unrecognized PRUNING_TYPE {ptype}")

        # the new method sees only the selected part; its mask is written back there
        partial_mask = method.compute_mask(t[slc], default_mask=default_mask[slc])
        new_mask[slc] = partial_mask.to(dtype=new_mask.dtype)
        return new_mask


# ============================================================================ methods
def _smallest_k(values, k):
    """Indices (1-D int64 Tensor) of the ``k`` smallest entries of the 1-D ``values``.

    flambeau's ``topk(largest=False)`` is a stable sort: ties go to the lower index, NaN sorts
    after every number. Without ties this is the set ``torch.topk`` picks.
    """
    return ops.topk(values, k=k, largest=False).indices


class Identity(BasePruningMethod):
    r"""Prunes nothing: installs the reparametrisation with a mask of ones."""

    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t, default_mask):
        return default_mask

    @classmethod
    def apply(cls, module, name):  # type: ignore[override]
        return super().apply(module, name)


class _ByScore(BasePruningMethod):
    """Unstructured pruning of the ``amount`` entries with the lowest score (``_scores``)."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount):
        _validate_pruning_amount_init(amount)
        self.amount = amount

    def compute_mask(self, t, default_mask):
        tensor_size = t.nelement()
        nparams_toprune = _compute_nparams_toprune(self.amount, tensor_size)
        _validate_pruning_amount(nparams_toprune, tensor_size)
        mask = default_mask.clone()
        if nparams_toprune != 0:
            mask.view(-1)[_smallest_k(self._scores(t).reshape(-1), nparams_toprune)] = 0
        return mask

    @classmethod
    def apply(cls, module, name, amount, **kwargs):  # type: ignore[override]
        return super().apply(module, name, amount=amount, **kwargs)


class RandomUnstructured(_ByScore):
    r"""Prune ``amount`` (currently unpruned) entries chosen uniformly at random.

    Args:
        amount (int or float): number of entries to prune (int) or fraction of them (float in
            [0, 1], rounded to the nearest integer).
    """

    @staticmethod
    def _scores(t):
        # a random score per entry from flambeau's generator, float64 so that ties (which would
        # bias towards low indices) practically never happen; the k lowest are pruned
        return _creation.rand(*t.shape, dtype=float64)


class L1Unstructured(_ByScore):
    r"""Prune the ``amount`` (currently unpruned) entries with the smallest absolute value.

    Args:
        amount (int or float): number of entries to prune (int) or fraction of them (float in
            [0, 1], rounded to the nearest integer).
    """

    @staticmethod
    def _scores(t):
        return t.abs()

    @classmethod
    def apply(cls, module, name, amount, importance_scores=None):  # type: ignore[override]
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


def _channel_mask(t, dim, pruned_channels):
    """A mask shaped like ``t``: ones, except zeros over the channels ``pruned_channels`` along ``dim``."""
    mask = _creation.ones_like(t)
    slc = [slice(None)] * t.dim()
    slc[dim] = pruned_channels
    mask[tuple(slc)] = 0
    return mask


class RandomStructured(BasePruningMethod):
    r"""Prune ``amount`` whole (currently unpruned) channels along ``dim``, chosen uniformly at random.

    Args:
        amount (int or float): number of channels to prune (int) or fraction of them (float).
        dim (int, optional): the dim whose indices are the channels. Default: -1.
    """

    PRUNING_TYPE = "structured"

    def __init__(self, amount, dim=-1):
        _validate_pruning_amount_init(amount)
        self.amount = amount
        self.dim = dim

    def compute_mask(self, t, default_mask):
        _validate_structured_pruning(t)
        _validate_pruning_dim(t, self.dim)
        tensor_size = t.shape[self.dim]                # number of channels
        nparams_toprune = _compute_nparams_toprune(self.amount, tensor_size)
        _validate_pruning_amount(nparams_toprune, tensor_size)
        if nparams_toprune == 0:
            return default_mask
        # one random score per channel; the k lowest are pruned (exactly k, unlike PyTorch's
        # `prob > kthvalue` test, which would prune more on a tie)
        prob = _creation.rand(tensor_size, dtype=float64)
        mask = _channel_mask(t, self.dim, _smallest_k(prob, nparams_toprune))
        # on top of the earlier (possibly unstructured) mask
        mask *= default_mask.to(dtype=mask.dtype)
        return mask

    @classmethod
    def apply(cls, module, name, amount, dim=-1):  # type: ignore[override]
        return super().apply(module, name, amount=amount, dim=dim)


class LnStructured(BasePruningMethod):
    r"""Prune the ``amount`` whole (currently unpruned) channels along ``dim`` with the smallest Ln norm.

    Args:
        amount (int or float): number of channels to prune (int) or fraction of them (float).
        n (int, float, inf, -inf, 'fro', 'nuc'): the norm, as ``p`` of :func:`flambeau.norm`
            (``'nuc'``, and ``'fro'`` in torch.norm too, need a tensor of at most 3 dims -- exactly 3
            for ``'nuc'`` -- as the norm is over the other dims).
        dim (int, optional): the dim whose indices are the channels. Default: -1.
    """

    PRUNING_TYPE = "structured"

    def __init__(self, amount, n, dim=-1):
        _validate_pruning_amount_init(amount)
        self.amount = amount
        self.n = n
        self.dim = dim

    def compute_mask(self, t, default_mask):
        _validate_structured_pruning(t)
        _validate_pruning_dim(t, self.dim)
        tensor_size = t.shape[self.dim]
        nparams_toprune = _compute_nparams_toprune(self.amount, tensor_size)
        _validate_pruning_amount(nparams_toprune, tensor_size)
        if nparams_toprune == 0:
            return default_mask
        # PyTorch keeps the topk(largest=True) channels; pruning the k smallest is the same set
        norm = _compute_norm(t, self.n, self.dim)
        mask = _channel_mask(t, self.dim, _smallest_k(norm, nparams_toprune))
        mask *= default_mask.to(dtype=mask.dtype)
        return mask

    @classmethod
    def apply(cls, module, name, amount, n, dim, importance_scores=None):  # type: ignore[override]
        return super().apply(module, name, amount=amount, n=n, dim=dim, importance_scores=importance_scores)


class CustomFromMask(BasePruningMethod):
    r"""Prune with a given mask (multiplied into any earlier mask)."""

    PRUNING_TYPE = "global"

    def __init__(self, mask):
        self.mask = mask

    def compute_mask(self, t, default_mask):
        if default_mask.shape != self.mask.shape:
            raise AssertionError(f"default_mask shape {default_mask.shape} must match "
                                 f"self.mask shape {self.mask.shape}")
        return default_mask * self.mask.to(dtype=default_mask.dtype)

    @classmethod
    def apply(cls, module, name, mask):  # type: ignore[override]
        return super().apply(module, name, mask=mask)


# ============================================================================ functions
def identity(module, name):
    r"""Install the pruning reparametrisation of ``module.<name>`` with a mask of ones; returns ``module``."""
    Identity.apply(module, name)
    return module


def random_unstructured(module, name, amount):
    r"""Prune ``amount`` random (currently unpruned) entries of ``module.<name>``; returns ``module``."""
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(module, name, amount, importance_scores=None):
    r"""Prune the ``amount`` (currently unpruned) entries of ``module.<name>`` with the smallest
    ``|importance_scores|`` (the parameter itself by default); returns ``module``.

    Example::

        >>> m = prune.l1_unstructured(nn.Linear(2, 3), "weight", amount=0.2)
        >>> m.state_dict().keys()
        odict_keys(['bias', 'weight_orig', 'weight_mask'])
    """
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_structured(module, name, amount, dim):
    r"""Prune ``amount`` random (currently unpruned) channels of ``module.<name>`` along ``dim``."""
    RandomStructured.apply(module, name, amount, dim)
    return module


def ln_structured(module, name, amount, n, dim, importance_scores=None):
    r"""Prune the ``amount`` (currently unpruned) channels of ``module.<name>`` along ``dim`` with the
    smallest Ln norm of ``importance_scores`` (the parameter itself by default); returns ``module``."""
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def global_unstructured(parameters, pruning_method, importance_scores=None, **kwargs):
    r"""Prune several parameters together: the ``amount`` is taken over all their entries at once.

    Args:
        parameters (iterable of (module, name)): the parameters to prune.
        pruning_method: a pruning class with ``PRUNING_TYPE == "unstructured"`` (e.g.
            :class:`L1Unstructured`).
        importance_scores (dict, optional): ``(module, name) -> scores`` for some parameters.
        kwargs: arguments of ``pruning_method`` (``amount``).

    Each parameter then gets its slice of the common mask through :func:`custom_from_mask`.
    """
    if not isinstance(parameters, Iterable):
        raise TypeError("global_unstructured(): parameters is not an Iterable")
    # read once: PyTorch iterates `parameters` three times, which fails for a generator
    parameters = list(parameters)
    importance_scores = importance_scores if importance_scores is not None else {}
    if not isinstance(importance_scores, dict):
        raise TypeError("global_unstructured(): importance_scores must be of type dict")

    with no_grad():
        # all scores, and all current masks (ones where not pruned yet), as one flat vector each
        relevant_importance_scores = parameters_to_vector(
            [importance_scores.get((module, name), getattr(module, name)) for (module, name) in parameters])
        default_mask = parameters_to_vector(
            [getattr(module, name + "_mask", _creation.ones_like(getattr(module, name)))
             for (module, name) in parameters])

        # the method runs on the flat vector through a container, so that only still-unpruned
        # entries are considered, as for iterative pruning of a single tensor
        container = PruningContainer()
        container._tensor_name = "temp"
        method = pruning_method(**kwargs)
        method._tensor_name = "temp"
        if method.PRUNING_TYPE != "unstructured":
            raise TypeError('Only "unstructured" PRUNING_TYPE supported for the `pruning_method`. Found '
                            f"method {pruning_method} of type {method.PRUNING_TYPE}")
        container.add_pruning_method(method)
        final_mask = container.compute_mask(relevant_importance_scores, default_mask)

    # hand each parameter its slice of the mask
    pointer = 0
    for module, name in parameters:
        param = getattr(module, name)
        num_param = param.numel()
        param_mask = final_mask[pointer:pointer + num_param].view_as(param)
        custom_from_mask(module, name, mask=param_mask)
        pointer += num_param


def custom_from_mask(module, name, mask):
    r"""Prune ``module.<name>`` with the given binary ``mask``; returns ``module``.

    Example::

        >>> m = prune.custom_from_mask(nn.Linear(5, 3), name="bias", mask=flambeau.tensor([0, 1, 0]))
        >>> m.bias_mask
        tensor([0., 1., 0.])
    """
    CustomFromMask.apply(module, name, mask)
    return module


def remove(module, name):
    r"""Make the pruning of ``module.<name>`` permanent and remove its hook; returns ``module``.

    ``<name>`` becomes a parameter again, holding the pruned values (pruning is *not* undone);
    ``<name>_orig`` and ``<name>_mask`` disappear.
    """
    for k, hook in module._forward_pre_hooks.items():
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            return module
    raise ValueError(f"Parameter '{name}' of module {module} has to be pruned before pruning can be removed")


def is_pruned(module):
    r"""Whether ``module`` or any submodule has a pruning forward pre-hook."""
    for _, submodule in module.named_modules():
        for hook in submodule._forward_pre_hooks.values():
            if isinstance(hook, BasePruningMethod):
                return True
    return False


# ============================================================================ helpers
def _validate_pruning_amount_init(amount):
    r"""``amount`` must be a non-negative int or a float in [0, 1] (checked when a method is built)."""
    if not isinstance(amount, numbers.Real):
        raise TypeError(f"Invalid type for amount: {amount}. Must be int or float.")
    if (isinstance(amount, numbers.Integral) and amount < 0) or (
            not isinstance(amount, numbers.Integral) and (float(amount) > 1.0 or float(amount) < 0.0)):
        raise ValueError(f"amount={amount} should either be a float in the range [0, 1] or a non-negative integer")


def _validate_pruning_amount(amount, tensor_size):
    r"""An integer ``amount`` cannot exceed the number of units (checked once the tensor is known)."""
    if isinstance(amount, numbers.Integral) and amount > tensor_size:
        raise ValueError(f"amount={amount} should be smaller than the number of parameters to prune={tensor_size}")


def _validate_structured_pruning(t):
    r"""Structured pruning needs channels: ``t`` must have at least 2 dims."""
    shape = t.shape
    if len(shape) <= 1:
        raise ValueError("Structured pruning can only be applied to multidimensional tensors. Found tensor of "
                         f"shape {shape} with {len(shape)} dims")


def _compute_nparams_toprune(amount, tensor_size):
    r"""The number of units to prune: ``amount`` itself if an int, else ``round(amount * tensor_size)``."""
    if isinstance(amount, numbers.Integral):
        return amount
    return round(amount * tensor_size)


def _validate_pruning_dim(t, dim):
    r"""``dim`` must index a dim of ``t``."""
    if dim >= t.dim():
        raise IndexError(f"Invalid index {dim} for tensor of size {t.shape}")


def _compute_norm(t, n, dim):
    r"""The Ln norm of each channel along ``dim``, i.e. over every other dim (``torch.norm(t, p=n, dim=dims)``)."""
    dims = list(range(t.dim()))
    if dim < 0:
        dim = dims[dim]
    dims.remove(dim)
    # As torch.norm: 'nuc' is a matrix norm, over exactly two dims; 'fro' is the 2-norm of the
    # entries, but torch.norm only accepts it over at most two dims (so not for a Conv2d weight)
    if (n == "nuc" and len(dims) != 2) or (n == "fro" and len(dims) > 2):
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(map(str, dims))}")
    if n == "nuc":
        return linalg.matrix_norm(t, "nuc", dim=tuple(dims))
    return ops.norm(t, p=n, dim=dims)

