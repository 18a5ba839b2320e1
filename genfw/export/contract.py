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
META_SPEC_VERSION = "genfw.spec_version"
#: The parts of a spec that the model's metadata and its sidecar both hold: they must be equal.
#: Apps and the web page read the sidecar, so a sidecar edited by hand (other labels, ranges or
#: sizes) would make them show and feed something other than what the model states about itself.
PAIRED_KEYS = ("latent", "image", "version", "export", "spec_version")

#: The version of the contract itself (semver): MAJOR changes what an existing reader relies on
#: (a reader refuses a newer MAJOR), MINOR adds what old readers may ignore. Files without one
#: are from before versioning (genfw 0.2) and read as the legacy :data:`LEGACY_SPEC_VERSION`.
SPEC_VERSION = "1.0.0"
LEGACY_SPEC_VERSION = "1.0.0"
#: The ``$schema`` a sidecar names: the ``$id`` of the schema ``genfw schema --sidecar`` prints (one
#: per MAJOR version; a URN, since genfw publishes it with the package, not at an address).
SIDECAR_SCHEMA_ID = "urn:genfw:generator-sidecar:1"

#: The model file a run folder holds (``RUN_DIR/generator.onnx``) and whose sidecar is ``generator.json``.
MODEL_FILE = "generator.onnx"

# -- the encoder: images -> codes (``genfw export --encoder``) -------------------------------------
#: The encoder file written beside the generator (``RUN_DIR/encoder.onnx``, sidecar ``encoder.json``).
ENCODER_FILE = "encoder.onnx"
#: The encoder's one input: images ``[batch, C, H, W]``, float32 in [0, 1]: what the generator outputs.
ENCODER_INPUT = OUTPUT_NAME
#: metadata_props of an encoder besides the generator's: what the file is (JSON text ``"encoder"``;
#: a file without it is a generator) and the names of its outputs (a JSON list, one per code it
#: predicts, each named as the generator's input for that code). The sidecar holds them as
#: ``kind`` and ``outputs``.
META_KIND = "genfw.kind"
META_OUTPUTS = "genfw.outputs"
KIND_GENERATOR = "generator"
KIND_ENCODER = "encoder"
#: The ``$schema`` an encoder's sidecar names (``genfw schema --encoder-sidecar`` prints the schema).
ENCODER_SCHEMA_ID = "urn:genfw:encoder-sidecar:1"
#: A sidecar is a few kilobytes (a large categorical code's labels: some hundreds); anything far
#: bigger is not one, and is not read into memory.
MAX_SIDECAR_BYTES = 16 << 20


def sidecar_path(path: str | Path) -> Path:
    """``generator.onnx`` -> ``generator.json``: the same stem, next to it."""
    return Path(path).with_suffix(".json")


def input_names(latent: dict[str, Any]) -> list[str]:
    """The model's inputs: one per latent code, named as the code, in the spec's order."""
    return [code["name"] for code in latent["codes"]]


def spec_major(version: Any) -> int | None:
    """The MAJOR part of a ``spec_version`` (``"1.2.0"`` -> 1); None when it is not MAJOR.MINOR.PATCH text."""
    if not isinstance(version, str):
        return None
    parts = version.split(".")
    return int(parts[0]) if len(parts) == 3 and all(p.isdigit() for p in parts) else None


def spec_version_problem(version: Any) -> str | None:
    """Why a reader of :data:`SPEC_VERSION` cannot read a file of ``version``, or None when it can.
    A missing version (None) is a file from before versioning: the legacy 1.x, readable."""
    if version is None:
        return None
    major = spec_major(version)
    if major is None:
        return f"its spec_version {version!r} is not a version (MAJOR.MINOR.PATCH)"
    ours = spec_major(SPEC_VERSION)
    assert ours is not None  # SPEC_VERSION is MAJOR.MINOR.PATCH
    if major > ours:
        return f"it follows generator spec {version}, newer than the {ours}.x this genfw reads"
    return None
