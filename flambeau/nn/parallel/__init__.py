"""``torch.nn.parallel``: ``DataParallel`` on the one device flambeau computes on (the CPU).

With no accelerator PyTorch's ``DataParallel`` keeps the module and calls it unchanged; flambeau
does the same, so code written for several GPUs runs as written. The wrapped module is
``.module`` and its state-dict keys carry the ``module.`` prefix, as in PyTorch.
"""
from __future__ import annotations

from ..modules.module import Module


class DataParallel(Module):
    """Calls ``module`` as is: without an accelerator ``device_ids`` is empty, as in PyTorch."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DataParallel expects an nn.Module, got {type(module).__name__}")
        self.module = module
        self.device_ids = []
        self.dim = dim
        self.output_device = None
        self.src_device_obj = None

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)


def data_parallel(module, inputs, device_ids=None, output_device=None, dim=0, module_kwargs=None):
    """Functional form of :class:`DataParallel`: ``module(*inputs, **module_kwargs)`` on the CPU."""
    if not isinstance(inputs, tuple):
        inputs = (inputs,) if inputs is not None else ()
    return module(*inputs, **(module_kwargs or {}))


__all__ = ["DataParallel", "data_parallel"]
