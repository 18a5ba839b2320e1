"""Atomic file writes: readers see the old file or the new one, never half of one.

Torch-free on purpose, so ``genfw.runtime`` (numpy + onnxruntime only) can use it too.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genfw.errors import DiskFullError, GenfwUsageError

#: Write failures that mean "the disk (or a quota, or a file-size limit) is full".
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
#: Temp files this module makes: ``.<name>.<random>.tmp`` beside the destination.
TEMP_GLOB = ".*.tmp"


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
        raise GenfwUsageError(
            f"cannot write here ({exc.strerror or exc})",
            where=str(path),
            fix="choose a path in a folder you can write to",
        ) from None


def free_bytes(folder: str | os.PathLike) -> int | None:
    """Free space in the file system holding ``folder`` (None when it cannot be told)."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def disk_full(path: Path, needed: int | None, cause: str = "no space left on device") -> DiskFullError:
    """The one-line error for a write that ran out of space."""
    size = f"; {needed / 1e6:.1f} MB needed" if needed else ""
    free = free_bytes(path.parent)
    have = f", {free / 1e6:.1f} MB free" if free is not None else ""
    return DiskFullError(
        f"{cause} while writing {path}{size}{have} (nothing was half-written; free some space and "
        "run the command again)"
    )


def check_space(path: str | os.PathLike, needed: int) -> None:
    """Refuse to start writing ``needed`` bytes to ``path`` when its file system has less free."""
    path = Path(path)
    free = free_bytes(path.parent if path.parent.exists() else Path.cwd())
    if free is not None and free < needed:
        raise disk_full(path, needed)


def atomic_write_bytes(path: str | os.PathLike, data: bytes | memoryview) -> None:
    """Write a file so that readers see either the old or the new content, never half of it."""
    path = Path(path)
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        publish(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.errno in _FULL:
            raise disk_full(path, len(data), os.strerror(exc.errno).lower()) from None
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, doc: Any) -> None:
    atomic_write_text(path, json.dumps(doc, indent=2) + "\n")


def atomic_write_via(path: str | os.PathLike, write: Callable[[str], None], needed: int | None = None) -> None:
    """Let ``write(tmp_path)`` write a temp file in the same folder, then move it into place.

    ``needed`` (bytes, an estimate) is checked against the free space first and named in the
    error if the disk fills up anyway. Libraries report a full disk in their own ways (torch: a
    RuntimeError about the zip writer's position); when a write fails and the disk is then
    nearly full, the failure is reported as a full disk."""
    path = Path(path)
    if needed:
        check_space(path, needed)
    fd, tmp = _temp_beside(path)
    os.close(fd)
    try:
        write(tmp)
        publish(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.errno in _FULL:
            raise disk_full(path, needed, os.strerror(exc.errno).lower()) from None
        raise
    except RuntimeError:
        Path(tmp).unlink(missing_ok=True)
        free = free_bytes(path.parent)
        if free is not None and free < max(needed or 0, 1 << 20):
            raise disk_full(path, needed) from None
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Delete the temp files a killed writer left under ``folder`` (call only while no other
    process writes there, e.g. holding the run's lock); returns what was removed."""
    removed = []
    for tmp in Path(folder).rglob(TEMP_GLOB):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed
