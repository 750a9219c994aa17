"""``flambeau.onnx``: export a model to ONNX (``torch.onnx.export``).

``export(model, args, f)`` runs ``model(*args)`` once, in eval mode and without gradients, and
*traces* it: every op the forward call runs is recorded (the entry points all ops go through
are wrapped while the trace records, as the profiler does, and put back afterwards, so normal
calls pay nothing). Each recorded op is then converted by a small builder function named after
the flambeau op (``flambeau/onnx/_convert.py``); parameters and buffers become initializers
named by their state_dict names. The ``onnx`` package builds, checks and serialises the model:
it is an optional dependency (``pip install flambeau[onnx]``); flambeau itself never needs it.

What converts (``supported_ops()`` lists the op classes): linear layers, matmul and einsum;
convolutions (any ``padding_mode``) and transposed ones; pooling, adaptive pooling and
interpolation; batch, layer, group and instance norm; the activations; elementwise arithmetic,
``where`` and ``masked_fill``; comparisons and logical ops (``x > 0``, ``mask & ~other``);
reductions (sum, mean, amax/amin, max/min along a dim with their indices, var, std) and
argmax/argmin; softmax and log-softmax; reshapes, permutes, slicing, cat/split, expand, flip,
roll, repeat/tile and gather; padding in the constant, reflect, replicate and circular modes;
embeddings.

Comparisons, logical ops and argmax/argmin compute their bool or index tensors outside the
autograd entry point; while the trace records, their public functions and Tensor methods are
wrapped too, so they are traced (``torch.where(x > 0, x, 0.1 * x)`` exports).

Limits of tracing, as with ``torch.onnx``'s tracer:

* Python control flow that depends on data (``if x.sum() > 0``, loops over a tensor's values)
  is frozen at the path taken on the example inputs.
* Python numbers computed from tensors (``x.shape[0]``, ``x.item()``) become constants. Reshapes
  are written so that the leading dims they keep are copied and the first one they change is
  inferred, which keeps ``view(x.size(0), -1)``-style code valid for another batch size
  (``dynamic_axes``); other size arithmetic stays fixed at the traced sizes.
* Tensors created inside forward (``torch.zeros(...)``, masks) are constants of the graph.
* Values computed outside flambeau's ops (through NumPy, ``.item()``, sorting indices, integer
  bitwise ops) cannot be traced: when they depend on the inputs the export is refused rather than
  freezing them; an op with no ONNX conversion raises :class:`UnsupportedOperatorError` naming it
  and the module it ran in.
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
