"""What a run leaves that other commands read back: the generator file and checkpoints.

``generator.pt`` holds only tensors and JSON-able values (no pickled objects), so it is read
with ``torch.load(..., weights_only=True)``: the generator's state dict, the resolved config it
was trained with, the latent spec and what the training data provided (``genfw.data.spec``:
image shape, class names and counts). Rebuilding the network needs the
plugins that registered it, which are loaded the usual way.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
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
        raise CheckpointError("file not found", where=str(path), fix="pass a run directory, generator.pt or a checkpoint")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, not a torch file, or holding pickled objects
        raise CheckpointError(f"not a readable genfw file ({type(exc).__name__})", where=str(path),
                              fix="pass a file written by genfw; it may be truncated or corrupted") from None
    formats = (expect_format,) if isinstance(expect_format, str) else expect_format
    if isinstance(obj, dict) and obj.get("format") in formats:
        stored = obj.pop("checksum", None)
        if stored != content_digest(obj):
            raise CheckpointError("the file is corrupted: its content does not match the checksum it was written with",
                                  where=str(path), fix="use an intact copy (a run keeps its last good checkpoint in "
                                  "checkpoints/last.pt; copy it again if it came from elsewhere)")
    if isinstance(obj, dict) and obj.get("format") in OLD_FORMATS:
        raise CheckpointError(f"written by genfw 0.1 (format {obj['format']}), which this genfw cannot read", where=str(path),
                              fix="export or sample it with genfw 0.1 (its generator.onnx still works with this genfw's "
                              "runtime), or train it again")
    if not isinstance(obj, dict) or obj.get("format") not in formats:
        raise CheckpointError(f"not a genfw file of format {' or '.join(formats)}", where=str(path),
                              fix="pass a run directory, generator.pt or checkpoints/last.pt")
    return obj


@dataclass
class LoadedGenerator:
    """A generator rebuilt from a run, in eval mode on the CPU."""

    generator: nn.Module
    latent: LatentSpec
    data: DataSpec  # what the training data provided
    config: dict[str, Any]  # the resolved config it was trained with
    source: Path
    model_type: type  # the model class that trained it (for its hooks, e.g. category meanings)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.data.image_shape


def recorded_data_spec(obj: dict[str, Any], path: Path) -> DataSpec:
    """The data spec an artifact records (files from before data specs: their image shape only)."""
    try:
        if "data" in obj:
            return DataSpec.from_json(json.loads(obj["data"]))
        return DataSpec(tuple(int(x) for x in obj["image_shape"]))  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError):
        raise CheckpointError("the file does not record its data spec (image shape, classes)", where=str(path),
                              fix="pass a file written by genfw") from None


def generator_payload(generator: nn.Module, latent: LatentSpec, data: DataSpec, config: dict[str, Any],
                      provenance: dict[str, str] | None = None) -> dict[str, Any]:
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


def load_generator(path: str | os.PathLike, plugins_dirs: tuple[str, ...] = (), *, trust_recorded: bool = False) -> LoadedGenerator:
    """Rebuild the generator from a run directory, its ``generator.pt`` or a checkpoint.

    The model is rebuilt from the recorded config and asked for its generator (whatever that is
    built from: one network, a moving average of one, several composed), into which the stored
    generator weights are loaded.
    """
    from genfw.components import build_latent, build_model
    from genfw.config import validate_recorded_config

    path = Path(path)
    if path.is_dir():
        candidates = [path / GENERATOR_FILE, path / CHECKPOINT_DIR / LAST_CHECKPOINT]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise CheckpointError("not a genfw run directory: it has no generator.pt or checkpoints/last.pt", where=str(path),
                                  fix="pass a directory written by `genfw run` that finished or saved a checkpoint")
        path = found
    obj = safe_torch_load(path, expect_format=(GENERATOR_FORMAT, CHECKPOINT_FORMAT))
    try:
        config = json.loads(obj["config"])
        state = obj["state_dict"] if obj["format"] == GENERATOR_FORMAT else obj["generator"]
    except (KeyError, TypeError, json.JSONDecodeError):
        raise CheckpointError("the file lacks its config or weights", where=str(path), fix="re-export it from the run") from None
    resolved = validate_recorded_config(config, plugins_dirs, source=f"{path} (recorded config)", trust_recorded=trust_recorded)
    warn_if_plugins_changed(resolved, obj, path)
    data = recorded_data_spec(obj, path)
    latent = build_latent(resolved, data)
    model = build_model(resolved, latent, data)
    generator = model.generator
    try:
        generator.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"weights do not fit the recorded network: {state_dict_mismatch(exc)}", where=str(path),
                              fix="the file's weights and its recorded config disagree; use the file as the run wrote it") from None
    generator.eval()
    return LoadedGenerator(generator, latent, data, config, path, type(model))
