"""``torch.nn.utils.spectral_norm`` and ``torch.nn.utils.weight_norm`` (the hook-based API).

Both replace a module's ``weight`` parameter by parameters it is computed from, recomputed by a
forward pre-hook before every call, so the optimiser trains the new parameters and gradients
reach them through the computation:

* spectral norm (Miyato et al. 2018, GAN discriminators): weight = weight_orig / sigma, sigma
  the largest singular value of weight_orig (as a matrix), estimated by power iteration on the
  buffers ``weight_u``/``weight_v``, one step per training-mode call;
* weight norm (Salimans and Kingma 2016): weight = weight_g * weight_v / ||weight_v||, the norm
  over every dim but ``dim``.

State-dict keys and numerics are PyTorch's, so a state dict saved by either library loads in
the other and gives the same weights.
"""
from __future__ import annotations

from ... import _creation, ops
from ...autograd.grad_mode import no_grad
from .. import functional as F
from ..modules.conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from ..parameter import Parameter

__all__ = ["spectral_norm", "remove_spectral_norm", "weight_norm", "remove_weight_norm", "SpectralNorm",
           "WeightNorm"]


class SpectralNorm:
    """The forward pre-hook of :func:`spectral_norm` (``torch.nn.utils.spectral_norm.SpectralNorm``)."""

    _version = 1

    def __init__(self, name="weight", n_power_iterations=1, dim=0, eps=1e-12):
        if n_power_iterations <= 0:
            raise ValueError(f"Expected n_power_iterations to be positive, but got n_power_iterations="
                             f"{n_power_iterations}")
        self.name, self.dim, self.n_power_iterations, self.eps = name, dim, n_power_iterations, eps

    def reshape_weight_to_matrix(self, weight):
        """``dim`` first, everything else flattened: (out, in * kh * kw) for a convolution."""
        mat = weight
        if self.dim != 0:
            mat = mat.permute(self.dim, *[d for d in range(mat.dim()) if d != self.dim])
        return mat.reshape(mat.size(0), -1)

    def compute_weight(self, module, do_power_iteration):
        weight = getattr(module, self.name + "_orig")
        u = getattr(module, self.name + "_u")
        v = getattr(module, self.name + "_v")
        mat = self.reshape_weight_to_matrix(weight)
        if do_power_iteration:
            with no_grad():
                for _ in range(self.n_power_iterations):
                    # the buffers are updated in place: the estimate improves across calls
                    v.copy_(F.normalize(ops.mv(mat.t(), u), dim=0, eps=self.eps))
                    u.copy_(F.normalize(ops.mv(mat, v), dim=0, eps=self.eps))
                u, v = u.clone(), v.clone()     # the graph keeps these values, not later updates
        sigma = ops.dot(u, ops.mv(mat, v))
        return weight / sigma

    def remove(self, module):
        with no_grad():
            weight = self.compute_weight(module, do_power_iteration=False)
        for suffix in ("", "_u", "_v", "_orig"):
            delattr(module, self.name + suffix)
        module.register_parameter(self.name, Parameter(weight.detach()))

    def __call__(self, module, inputs):
        setattr(module, self.name, self.compute_weight(module, do_power_iteration=module.training))

    @staticmethod
    def apply(module, name, n_power_iterations, dim, eps):
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, SpectralNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two spectral_norm hooks on the same parameter {name}")
        fn = SpectralNorm(name, n_power_iterations, dim, eps)
        weight = module._parameters.get(name)
        if weight is None:
            raise ValueError(f"`SpectralNorm` cannot be applied as parameter `{name}` is None")
        with no_grad():
            h, w = fn.reshape_weight_to_matrix(weight).shape
            # u and v start random (flambeau's generator), normalised
            u = F.normalize(_creation.randn(h, dtype=weight.dtype), dim=0, eps=fn.eps)
            v = F.normalize(_creation.randn(w, dtype=weight.dtype), dim=0, eps=fn.eps)
        delattr(module, name)
        module.register_parameter(name + "_orig", weight)
        setattr(module, name, weight.detach())
        module.register_buffer(name + "_u", u)
        module.register_buffer(name + "_v", v)
        module.register_forward_pre_hook(fn)
        return fn


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Spectrally normalise ``module.<name>`` (``dim`` defaults to 1 for transposed convolutions,
    whose output channels are dim 1, else 0)."""
    if dim is None:
        dim = 1 if isinstance(module, (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)) else 0
    SpectralNorm.apply(module, name, n_power_iterations, dim, eps)
    return module


def _remove(module, name, kind, what):
    """Undo a reparametrisation hook of class ``kind`` on ``name``: a plain parameter again."""
    for k, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, kind) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            return module
    raise ValueError(f"{what} of '{name}' not found in {module}")


def remove_spectral_norm(module, name="weight"):
    """Undo :func:`spectral_norm`: ``name`` becomes a plain parameter again (its current value)."""
    return _remove(module, name, SpectralNorm, "spectral_norm")


def _norm_except_dim(v, dim):
    """The 2-norm of v over every dim but ``dim`` (kept, size 1 elsewhere); of all of v for -1."""
    if dim == -1:           # PyTorch's convention: -1 is the whole tensor, not the last dim
        return v.norm()
    dim = dim % v.dim() if v.dim() else 0
    others = tuple(d for d in range(v.dim()) if d != dim)
    return v.norm(dim=others, keepdim=True) if others else v.abs()


class WeightNorm:
    """The forward pre-hook of :func:`weight_norm`."""

    def __init__(self, name, dim):
        self.name, self.dim = name, -1 if dim is None else dim

    def compute_weight(self, module):
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        return v * (g / _norm_except_dim(v, self.dim))

    @staticmethod
    def apply(module, name, dim):
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter {name}")
        if dim is None:
            dim = -1
        fn = WeightNorm(name, dim)
        weight = getattr(module, name)
        del module._parameters[name]
        module.register_parameter(name + "_g", Parameter(_norm_except_dim(weight, fn.dim).detach().clone()))
        module.register_parameter(name + "_v", Parameter(weight.detach().clone()))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module):
        with no_grad():
            weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        module.register_parameter(self.name, Parameter(weight.detach()))

    def __call__(self, module, inputs):
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module, name="weight", dim=0):
    """Reparameterise ``module.<name>`` as g * v / ||v|| (``dim=None``: one norm for the whole
    tensor)."""
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module, name="weight"):
    return _remove(module, name, WeightNorm, "weight_norm")
