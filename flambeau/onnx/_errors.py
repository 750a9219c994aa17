"""The exporter's errors (``torch.onnx.errors``)."""
from __future__ import annotations


class OnnxExporterError(RuntimeError):
    """A model that cannot be exported as traced."""


class UnsupportedOperatorError(OnnxExporterError):
    """An op with no ONNX conversion."""
