"""The exported pair on disk: the .onnx file and its sidecar ``NAME.json``, which records the
file's SHA-256. Where the pair may go, and writing it so that a reader never trusts a stale sidecar."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from genfw.atomic import atomic_write_bytes, atomic_write_json
from genfw.errors import GenfwUsageError
from genfw.export.contract import sidecar_path


def _check_destination(path: Path) -> None:
    """Refuse an output that is not *.onnx, or whose sidecar would overwrite a file that is not a
    genfw sidecar (``-o my_config.onnx`` must not replace ``my_config.json``)."""
    if path.suffix.lower() != ".onnx" or not path.stem:
        raise GenfwUsageError(
            "the output must be an .onnx file",
            where=str(path) or "''",
            fix="name it NAME.onnx; the sidecar NAME.json is written next to it",
        )
    sidecar = sidecar_path(path)
    if sidecar.exists():
        try:
            doc = json.loads(sidecar.read_text(encoding="utf-8"))
            ours = isinstance(doc, dict) and {"latent", "image", "inputs"} <= set(doc)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            ours = False
        if not ours:
            raise GenfwUsageError(
                f"the sidecar would overwrite {sidecar}, which is not a genfw sidecar",
                where=str(path),
                fix="choose another output name, or move that file",
            )


def write_model(path: str | Path, model: Any, meta: dict[str, Any], report: dict[str, Any], started: float) -> None:
    """Write an exported ``model`` (an ``onnx.ModelProto``, verified) and its sidecar
    (:func:`write_pair`), and complete ``report`` with what was written: the file's size and
    SHA-256, and the seconds since ``started`` (a ``time.perf_counter()`` reading)."""
    data = model.SerializeToString()
    report["bytes"] = len(data)
    write_pair(path, data, meta)
    report["sha256"] = meta["sha256"]
    report["seconds"] = round(time.perf_counter() - started, 2)


def write_pair(path: str | Path, data: bytes, meta: dict[str, Any]) -> None:
    """Write the .onnx bytes and their sidecar, which records the bytes' SHA-256 (``meta`` gains
    ``sha256``). The .onnx goes first: a reader that finds a new .onnx next to an old sidecar
    refuses the pair (genfw.runtime, the web page) rather than trusting a stale spec."""
    meta["sha256"] = hashlib.sha256(data).hexdigest()
    atomic_write_bytes(path, data)
    atomic_write_json(sidecar_path(path), meta)
