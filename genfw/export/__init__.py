"""Exporting trained generators for use outside genfw (ONNX; see docs/onnx.md).

The exporter (``genfw.export.onnx_export``) imports torch; the contract's names
(``genfw.export.contract``) do not, and ``genfw.runtime`` imports them from there. So this
package loads the exporter only when one of its names is first used.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "TOLERANCES",
    "WEIGHT_FORMATS",
    "ExportError",
    "category_meanings",
    "export_generator",
    "onnx_metadata",
    "relabel_export",
    "sidecar_path",
]


def __getattr__(name: str) -> Any:
    # Lazy (PEP 562): `import genfw.export.contract` must not import torch through this package.
    if name in __all__:
        return getattr(importlib.import_module("genfw.export.onnx_export"), name)
    raise AttributeError(f"module 'genfw.export' has no attribute {name!r}")
