"""Exporting trained generators for use outside genfw (ONNX; see docs/onnx.md).

One concept per module:

- ``onnx_export``: the export itself (:func:`export_generator`, the metadata it writes)
- ``encoder_export``: the encoder's export beside it (:func:`export_encoder`: images -> codes)
- ``wrapper``: the module that is exported (one input per latent code) and its example inputs
- ``inference_rewrites`` and ``subpixel``: the rewrites that make the exported graph faster
- ``weight_formats``: fp32 / fp16 / int8 weights and how far each may be from torch
- ``verification``: onnxruntime's images checked against torch's before anything is written
- ``pair``: the .onnx file and its sidecar on disk
- ``category_labels``: what each category of a categorical code came to mean, in the spec
- ``errors``: :class:`ExportError` and the exporter's hidden log
- ``contract``, ``seeds``, ``prior_center``, ``sidecar_schema``: the contract apps rely on (torch-free)

The exporter imports torch; the contract's names (``genfw.export.contract``) do not, and
``genfw.runtime`` imports them from there. So this package loads a module only when one of its
names is first used.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Each name this package offers, and the module that defines it.
_HOMES = {
    "TOLERANCES": "genfw.export.weight_formats",
    "WEIGHT_FORMATS": "genfw.export.weight_formats",
    "ExportError": "genfw.export.errors",
    "ImageToCodes": "genfw.export.encoder_export",
    "category_meanings": "genfw.export.category_labels",
    "code_meanings": "genfw.export.category_labels",
    "export_encoder": "genfw.export.encoder_export",
    "export_generator": "genfw.export.onnx_export",
    "onnx_metadata": "genfw.export.onnx_export",
    "relabel_export": "genfw.export.category_labels",
    "sidecar_path": "genfw.export.contract",
}

__all__ = list(_HOMES)


def __getattr__(name: str) -> Any:
    # Lazy (PEP 562): `import genfw.export.contract` must not import torch through this package.
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'genfw.export' has no attribute {name!r}")
