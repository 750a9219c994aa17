"""``torch.autograd.graph``: hooks on the tensors an op saves for its backward, and the graph's
node type. ``saved_tensors_hooks(pack, unpack)`` runs ``pack(tensor)`` when an op saves a tensor
and ``unpack(packed)`` when backward needs it back (to compress it, move it, or log it);
``save_on_cpu`` is the version that keeps a CPU copy, which on flambeau's CPU is the tensor."""
from __future__ import annotations

from .function import Node
from .grad_mode import state

__all__ = ["Node", "saved_tensors_hooks", "save_on_cpu", "disable_saved_tensors_hooks"]


class saved_tensors_hooks:
    """``with saved_tensors_hooks(pack_hook, unpack_hook):`` for the ops recorded inside."""

    def __init__(self, pack_hook, unpack_hook):
        self.pack_hook = pack_hook
        self.unpack_hook = unpack_hook

    def __enter__(self):
        if _DISABLED:
            raise RuntimeError(_DISABLED[-1])
        state.saved_hooks.append((self.pack_hook, self.unpack_hook))
        return self

    def __exit__(self, *exc):
        state.saved_hooks.pop()


class save_on_cpu(saved_tensors_hooks):
    """Saved tensors kept on the CPU (with ``pin_memory`` accepted): flambeau computes on the CPU,
    so the packed tensor is the tensor itself."""

    def __init__(self, pin_memory=False, device_type="cuda"):
        super().__init__(lambda t: t, lambda t: t)


_DISABLED = []


class disable_saved_tensors_hooks:
    """Inside, registering saved-tensors hooks raises ``RuntimeError(error_message)``."""

    def __init__(self, error_message):
        self.error_message = error_message

    def __enter__(self):
        if state.saved_hooks:
            raise RuntimeError(self.error_message)
        _DISABLED.append(self.error_message)
        return self

    def __exit__(self, *exc):
        _DISABLED.pop()
