"""Exporting trained generators for use outside genfw (ONNX; see docs/onnx.md).

Importing this package imports torch; the torch-free side of the contract is ``genfw.runtime``.
"""

from genfw.export.onnx_export import (TOLERANCES, WEIGHT_FORMATS, ExportError, category_meanings, export_generator,
                                      onnx_metadata, relabel_export, sidecar_path)

__all__ = ["TOLERANCES", "WEIGHT_FORMATS", "ExportError", "category_meanings", "export_generator", "onnx_metadata",
           "relabel_export", "sidecar_path"]
