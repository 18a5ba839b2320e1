"""The names of the ONNX contract (docs/onnx.md), defined once for the exporter and the runtime.

Torch-free and dependency-free: ``genfw.runtime`` (numpy + onnxruntime only) imports it, and so
does ``genfw.export.onnx_export`` (torch). genfw-web.js repeats these names in JavaScript; a test
checks they agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The model's one output: images ``[batch, C, H, W]``, float32 in [0, 1].
OUTPUT_NAME = "image"
#: metadata_props keys, each JSON text; the sidecar holds the same under the part after ``genfw.``.
META_LATENT = "genfw.latent"
META_IMAGE = "genfw.image"
META_VERSION = "genfw.version"
META_EXPORT = "genfw.export"
#: The parts of a spec that the model's metadata and its sidecar both hold: they must be equal.
#: Apps and the web page read the sidecar, so a sidecar edited by hand (other labels, ranges or
#: sizes) would make them show and feed something other than what the model states about itself.
PAIRED_KEYS = ("latent", "image", "version", "export")

#: The model file a run folder holds (``RUN_DIR/generator.onnx``) and whose sidecar is ``generator.json``.
MODEL_FILE = "generator.onnx"
#: A sidecar is a few kilobytes (a large categorical code's labels: some hundreds); anything far
#: bigger is not one, and is not read into memory.
MAX_SIDECAR_BYTES = 16 << 20


def sidecar_path(path: str | Path) -> Path:
    """``generator.onnx`` -> ``generator.json``: the same stem, next to it."""
    return Path(path).with_suffix(".json")


def input_names(latent: dict[str, Any]) -> list[str]:
    """The model's inputs: one per latent code, named as the code, in the spec's order."""
    return [code["name"] for code in latent["codes"]]

