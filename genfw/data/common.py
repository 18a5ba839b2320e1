"""What the built-in datasets share: where their files are looked for, the held-out split rule,
and the cache folder with its atomic array files.

- **Paths.** An absolute (or ``~``) path is used as it is; a relative one is looked up in the
  current directory, then under ``$GENFW_DATA``.
- **Held-out split.** A dataset that does not come with a test split holds out a seeded fraction:
  :func:`held_out_split` picks it from the run's seed, so one run's training and evaluation (and
  a resumed run) see the same split. Within each split the original order is kept.
- **Cache.** ``$GENFW_CACHE`` (default ``~/.cache/genfw``); each dataset keeps its decoded or
  generated arrays in a folder of its own there, as ``.npy`` files (memory-mapped when read, so a
  split is gathered straight from the file) with a ``.json`` description written after them,
  which holds the ``.npy`` file's SHA-256. Both are written atomically; an entry whose JSON is
  missing or does not match (shape, type or checksum) is rebuilt, with a warning when the bytes
  changed. A cache folder that cannot be written costs a warning, never the dataset.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from genfw.atomic import atomic_write_json, atomic_write_via
from genfw.errors import DataError, GenfwError, warn

#: The stream of the split's generator, so it is independent of every other use of the run's seed.
SPLIT_STREAM = 0x5B117


def data_root() -> Path | None:
    """``$GENFW_DATA`` if set."""
    env = os.environ.get("GENFW_DATA")
    return Path(env).expanduser() if env else None


def resolve_data_path(path: str, *, what: str, where: str, fix: str, want_dir: bool) -> Path:
    """``path`` as a file system path: absolute as it is; relative, in the current directory, then
    under ``$GENFW_DATA``. A one-line :class:`DataError` naming every place looked when it is in
    none (or is a file where a folder is wanted, or the other way round)."""
    given = Path(path).expanduser()
    candidates = [given] if given.is_absolute() else [Path.cwd() / given]
    root = data_root()
    if not given.is_absolute() and root is not None:
        candidates.append(root / given)
    for candidate in candidates:
        if candidate.exists():
            if want_dir and not candidate.is_dir():
                raise DataError(f"{what} {candidate} is a file, not a folder", where=where, fix=fix)
            if not want_dir and candidate.is_dir():
                raise DataError(f"{what} {candidate} is a folder, not a file", where=where, fix=fix)
            return candidate
    looked = " and ".join(str(c) for c in candidates)
    env = "" if given.is_absolute() or root is not None else " ($GENFW_DATA is not set)"
    raise DataError(f"{what} not found: looked for {looked}{env}", where=where, fix=fix)


def held_out_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The held-out rule for a dataset without a given test split: ``round(n * fraction)`` items
    (at least 1 and at most n - 1 when ``fraction > 0`` and ``n >= 2``) drawn without
    replacement by a generator seeded with ``seed``. Returns ``(held_out, train)``, int64 indices,
    each in increasing order."""
    if fraction <= 0 or n < 2:
        return np.zeros(0, dtype=np.int64), np.arange(n, dtype=np.int64)
    k = min(max(int(round(n * fraction)), 1), n - 1)
    rng = np.random.default_rng([int(seed), SPLIT_STREAM])
    mask = np.zeros(n, dtype=bool)
    mask[rng.choice(n, size=k, replace=False)] = True
    return np.flatnonzero(mask).astype(np.int64), np.flatnonzero(~mask).astype(np.int64)


def seeded_subset(indices: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    """``limit`` of ``indices`` drawn by a generator seeded with ``seed`` (in increasing order), or
    all of them without a limit. Smoke tests train on such a subset; evaluation never does."""
    if limit is None or limit >= len(indices):
        return indices
    rng = np.random.default_rng([int(seed), SPLIT_STREAM, 1])
    return np.sort(rng.choice(indices, size=limit, replace=False))


def cache_root() -> Path:
    """``$GENFW_CACHE`` if set, else ``~/.cache/genfw``."""
    return Path(os.environ.get("GENFW_CACHE") or Path.home() / ".cache" / "genfw").expanduser()


def save_array(path: Path, array: np.ndarray) -> str:
    """Write ``array`` as a ``.npy`` file atomically (no reader ever sees half of it); returns the
    file's SHA-256."""
    from genfw.runtime import file_sha256

    digest = []

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)
        digest.append(file_sha256(tmp))  # of the bytes as written, before anyone else can see them

    atomic_write_via(path, write, needed=array.nbytes + 4096)
    return digest[0]


def save_cache_entry(folder: Path, key: str, array: np.ndarray, meta: dict[str, Any]) -> np.ndarray | None:
    """An array and its description under ``folder``: ``<key>.npy`` first, then ``<key>.json``
    (the array's shape, type and the file's SHA-256), so a reader that finds the JSON finds a
    whole array. Returns the entry memory-mapped (gather from it rather than hold the array twice),
    or None after one warning when the cache cannot be written there: the caller runs uncached."""
    array_path = folder / f"{key}.npy"
    try:
        digest = save_array(array_path, array)
        atomic_write_json(
            folder / f"{key}.json", {**meta, "shape": list(array.shape), "dtype": str(array.dtype), "sha256": digest}
        )
        return np.load(array_path, mmap_mode="r", allow_pickle=False)
    except (GenfwError, OSError) as exc:  # read-only, a file where the folder should be, a full disk
        warn(
            f"cannot write the cache in {folder} ({_short_reason(exc)}); running without it (set $GENFW_CACHE to a "
            "folder you can write to, or turn the dataset's cache off)"
        )
        return None


def _short_reason(exc: BaseException) -> str:
    """The system's words for why a write failed ("Permission denied"), which genfw's own write
    errors keep as their context; else the first clause of the error's message."""
    os_error = exc if isinstance(exc, OSError) else exc.__context__
    return getattr(os_error, "strerror", None) or str(exc).split(" (")[0]


def load_cache_entry(folder: Path, key: str, what: str) -> tuple[np.ndarray, dict[str, Any]] | None:
    """The cached array (memory-mapped, read-only) and its description, or None when the entry is
    missing, unreadable or does not match its description (then it is rebuilt). Bytes that do
    not match the recorded SHA-256 (a damaged disk, a changed file) are also named in a warning
    (``what`` says whose cache it is); an entry from before checksums is rebuilt quietly."""
    from genfw.runtime import file_sha256

    meta_path, array_path = folder / f"{key}.json", folder / f"{key}.npy"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        array = np.load(array_path, mmap_mode="r", allow_pickle=False)
        digest = file_sha256(array_path)
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or list(array.shape) != meta.get("shape") or str(array.dtype) != meta.get("dtype"):
        return None
    if meta.get("sha256") != digest:
        if "sha256" in meta:
            warn(
                f"the cached {what} {array_path} does not match its SHA-256 (damaged or changed since it was "
                "written); rebuilding it"
            )
        return None
    return array, meta


def gather_rows(source: np.ndarray, rows: np.ndarray, chunk_bytes: int = 64 << 20) -> np.ndarray:
    """``source[rows]`` (rows in any order) copied chunk by chunk into one new array, so a
    memory-mapped source is never read into memory whole."""
    out = np.empty((len(rows), *source.shape[1:]), dtype=source.dtype)
    per_row = max(int(np.prod(source.shape[1:])) * source.dtype.itemsize, 1)
    step = max(chunk_bytes // per_row, 1)
    for i in range(0, len(rows), step):
        part = rows[i : i + step]
        order = np.argsort(part, kind="stable")  # read the file front to back
        out[i : i + step][order] = source[part[order]]
    return out
