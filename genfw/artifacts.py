"""What a run leaves that other commands read back: the generator file and checkpoints.

``generator.pt`` holds only tensors and JSON-able values (no pickled objects), so it is read
with ``torch.load(..., weights_only=True)``: the generator's state dict, the resolved config it
was trained with, the latent spec and what the training data provided (``genfw.data.spec``:
image shape, class names and counts). This module is the file format only: rebuilding a model
from a file needs its plugins, and is ``genfw.rebuild``'s work, a layer above.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genfw.atomic import atomic_write_bytes
from genfw.data.spec import DataSpec
from genfw.errors import CheckpointError, warn
from genfw.latent import LatentSpec

GENERATOR_FORMAT = "genfw.generator/2"
CHECKPOINT_FORMAT = "genfw.checkpoint/2"
#: Formats of genfw 0.1 (older config and state-dict layouts), named in errors.
OLD_FORMATS = ("genfw.generator/1", "genfw.checkpoint/1")
GENERATOR_FILE = "generator.pt"
CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.pt"

#: What a run keeps in its folder, and whether each is a folder (True) or a file. A run writes
#: into all of them as it goes, so one of the wrong kind (a folder called metrics.jsonl, a file
#: called samples) is refused before training instead of failing half-way with a traceback.
RUN_LAYOUT = {
    "config.json": False,
    "environment.json": False,
    "metrics.jsonl": False,
    "loss_curve.png": False,
    GENERATOR_FILE: False,
    "generator.onnx": False,
    "generator.json": False,
    "eval.json": False,
    CHECKPOINT_DIR: True,
    f"{CHECKPOINT_DIR}/{LAST_CHECKPOINT}": False,
    "samples": True,
    "traversals": True,
    "figures": True,
}


def content_digest(obj: Any) -> str:
    """SHA-256 of a payload's content: every tensor's dtype, shape and bytes and every other
    value, in a fixed order. torch's zip container does not check its own CRCs on load, so this
    is what catches a file whose bytes changed after it was written."""
    h = hashlib.sha256()

    def feed(x: Any) -> None:
        if isinstance(x, torch.Tensor):
            t = x.detach().cpu().contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        elif isinstance(x, dict):
            h.update(b"D%d" % len(x))
            for k in sorted(x, key=str):
                h.update(repr(k).encode())
                feed(x[k])
        elif isinstance(x, (list, tuple)):
            h.update(b"L%d" % len(x))
            for v in x:
                feed(v)
        else:
            h.update(repr(x).encode())

    feed(obj)
    return h.hexdigest()


def atomic_torch_save(obj: dict[str, Any], path: str | os.PathLike) -> None:
    """Save a genfw payload with a checksum of its content, atomically. It is serialised in
    memory first, so a full disk is reported as such (with the size needed) and never leaves a
    half-written file."""
    payload = {**obj, "checksum": content_digest(obj)} if "format" in obj else obj
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getbuffer())


def safe_torch_load(path: str | os.PathLike, *, expect_format: str | tuple[str, ...]) -> dict[str, Any]:
    """Load a genfw file with ``weights_only=True``; any problem is one CheckpointError line."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            "file not found", where=str(path), fix="pass a run directory, generator.pt or a checkpoint"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, not a torch file, or holding pickled objects
        raise CheckpointError(
            f"not a readable genfw file ({type(exc).__name__})",
            where=str(path),
            fix="pass a file written by genfw; it may be truncated or corrupted",
        ) from None
    formats = (expect_format,) if isinstance(expect_format, str) else expect_format
    if isinstance(obj, dict) and obj.get("format") in formats:
        stored = obj.pop("checksum", None)
        if stored != content_digest(obj):
            raise CheckpointError(
                "the file is corrupted: its content does not match the checksum it was written with",
                where=str(path),
                fix="use an intact copy (a run keeps its last good checkpoint in "
                "checkpoints/last.pt; copy it again if it came from elsewhere)",
            )
    if isinstance(obj, dict) and obj.get("format") in OLD_FORMATS:
        raise CheckpointError(
            f"written by genfw 0.1 (format {obj['format']}), which this genfw cannot read",
            where=str(path),
            fix="export or sample it with genfw 0.1 (its generator.onnx still works with this genfw's "
            "runtime), or train it again",
        )
    if not isinstance(obj, dict) or obj.get("format") not in formats:
        raise CheckpointError(
            f"not a genfw file of format {' or '.join(formats)}",
            where=str(path),
            fix="pass a run directory, generator.pt or checkpoints/last.pt",
        )
    return obj


def recorded_data_spec(obj: dict[str, Any], path: Path) -> DataSpec:
    """The data spec an artifact records (files from before data specs: their image shape only)."""
    try:
        if "data" in obj:
            return DataSpec.from_json(json.loads(obj["data"]))
        return DataSpec(tuple(int(x) for x in obj["image_shape"]))  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(
            "the file does not record its data spec (image shape, classes)",
            where=str(path),
            fix="pass a file written by genfw",
        ) from None


def generator_payload(
    generator: nn.Module,
    latent: LatentSpec,
    data: DataSpec,
    config: dict[str, Any],
    provenance: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The content of ``generator.pt``."""
    return {
        "format": GENERATOR_FORMAT,
        "state_dict": {k: v.detach().cpu() for k, v in generator.state_dict().items()},
        "config": json.dumps(config),
        "latent": json.dumps(latent.spec()),
        "data": json.dumps(data.to_json()),
        "provenance": json.dumps(provenance or {}),
    }


def warn_if_plugins_changed(resolved: Any, obj: dict[str, Any], path: Path) -> None:
    """One warning line when the plugins that load an artifact are not those that wrote it."""
    try:
        recorded = json.loads(obj.get("provenance") or "{}")
    except (TypeError, json.JSONDecodeError):
        return
    changes = resolved.provenance_changes(recorded)
    if changes:
        warn(f"{path} was written with {'; '.join(changes)}; its results may differ")


def state_dict_mismatch(exc: BaseException) -> str:
    """torch's load_state_dict error is a header line plus one line per problem: the first problem."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return (lines[1] if len(lines) > 1 else lines[0] if lines else "unknown")[:240]
