"""Atomic file writes: readers see the old file or the new one, never half of one.

Torch-free on purpose, so ``genfw.runtime`` (numpy + onnxruntime only) can use it too.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from genfw.errors import GenfwUsageError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def publish(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Give a finished temp file normal permissions (mkstemp makes it 0600) and move it into place."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def _temp_beside(path: Path) -> tuple[int, str]:
    """A new temp file in ``path``'s folder (made if missing); a one-line usage error if that
    folder cannot be made or written, since the destination is the user's choice."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise GenfwUsageError(f"cannot write here ({exc.strerror or exc})", where=str(path),
                              fix="choose a path in a folder you can write to") from None


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write a file so that readers see either the old or the new content, never half of it."""
    path = Path(path)
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, doc: Any) -> None:
    atomic_write_text(path, json.dumps(doc, indent=2) + "\n")


def atomic_write_via(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Let ``write(tmp_path)`` write a temp file in the same folder, then move it into place."""
    path = Path(path)
    fd, tmp = _temp_beside(path)
    os.close(fd)
    try:
        write(tmp)
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
