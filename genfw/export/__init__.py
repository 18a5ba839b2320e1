"""Exporting trained generators for use outside genfw (ONNX; see docs/onnx.md).

Importing this package imports torch; the torch-free side of the contract is ``genfw.runtime``.
"""

from genfw.export.onnx_export import ExportError, export_generator, onnx_metadata, sidecar_path

__all__ = ["ExportError", "export_generator", "onnx_metadata", "sidecar_path"]
