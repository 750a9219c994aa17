"""``flambeau.onnx``: export a model to ONNX (``torch.onnx.export``).

``export(model, args, f)`` runs ``model(*args)`` once, in eval mode and without gradients, and
*traces* it: every op the forward call runs is recorded (the entry points all ops go through
are wrapped while the trace records, as the profiler does, and put back afterwards, so normal
calls pay nothing). Each recorded op is then converted by a small builder function named after
the flambeau op (``flambeau/onnx/_convert.py``); parameters and buffers become initializers
named by their state_dict names. The ``onnx`` package builds, checks and serialises the model:
it is an optional dependency (``pip install flambeau[onnx]``); flambeau itself never needs it.

Limits of tracing, as with ``torch.onnx``'s tracer:

* Python control flow that depends on data (``if x.sum() > 0``, loops over a tensor's values)
  is frozen at the path taken on the example inputs.
* Python numbers computed from tensors (``x.shape[0]``, ``x.item()``) become constants. Reshapes
  are written so that the leading dims they keep are copied and the first one they change is
  inferred, which keeps ``view(x.size(0), -1)``-style code valid for another batch size
  (``dynamic_axes``); other size arithmetic stays fixed at the traced sizes.
* Tensors created inside forward (``torch.zeros(...)``, masks) are constants of the graph.
* Values computed outside flambeau's ops (through NumPy) cannot be traced; an op with no ONNX
  conversion raises :class:`UnsupportedOperatorError` naming it and the module it ran in.
* In-place ops on a tensor are traced (``relu_()``, ``out += identity``, ``nn.ReLU(inplace=True)``),
  but a write into a tensor's memory through another tensor or without an op (an in-place op on
  a view, ``x[:, 0] = v``, ``fill_``/``zero_``, a write through ``.numpy()``) is not: when the
  written tensor is read again the export raises :class:`OnnxExporterError` instead of writing a
  graph that computes the unwritten value. Write such code out of place (``torch.cat``/``where``).
* Only eval-mode inference graphs: dropout is the identity and batch norm uses its running
  statistics.
"""
from __future__ import annotations

from ._convert import supported_ops
from ._errors import OnnxExporterError, UnsupportedOperatorError
from ._export import TrainingMode, export, is_in_onnx_export

__all__ = [
    "OnnxExporterError",
    "TrainingMode",
    "UnsupportedOperatorError",
    "errors",
    "export",
    "is_in_onnx_export",
    "supported_ops",
]


class errors:
    """``torch.onnx.errors``: the exporter's exception classes."""

    OnnxExporterError = OnnxExporterError
    UnsupportedOperatorError = UnsupportedOperatorError
