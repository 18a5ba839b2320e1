"""The reference classifier's on-disk cache: trained once per training set and recipe, then loaded.

``load_or_train_reference_net`` caches the trained weights under a key made of a sha256 of the
recipe, the training seed and the training data (images and labels). The recipe is
:data:`genfw.metrics.reference_training.REFERENCE_NET_VERSION` for MNIST-shaped data (the
original key, so MNIST caches stay valid) and ``GENERAL_VERSION`` with the net's input shape and
class count for any other data, so a different training set, seed or recipe never reuses stale
weights. The SHA-256 of the weights file is recorded next to it and checked on every load, so a
damaged file is trained again (with a warning), never used.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genfw.atomic import atomic_write_bytes, atomic_write_json
from genfw.data.base import ImageDataset
from genfw.errors import warn
from genfw.metrics.reference_net import MNIST_CLASSES, MNIST_SHAPE, ReferenceNet, accuracy, num_classes_of, spec_for
from genfw.metrics.reference_training import GENERAL_VERSION, REFERENCE_NET_VERSION, train_reference_net


def dataset_digest(ds: ImageDataset) -> str:
    """sha256 (hex) of a dataset's image and label bytes, shapes included."""
    h = hashlib.sha256()
    h.update(repr(tuple(ds.images.shape)).encode())
    h.update(ds.images.contiguous().numpy().tobytes())
    if ds.labels is not None:
        h.update(ds.labels.contiguous().numpy().astype(np.int64).tobytes())
    return h.hexdigest()


def default_cache_dir() -> Path:
    """``$GENFW_CACHE`` if set, else ``~/.cache/genfw``."""
    return Path(os.environ.get("GENFW_CACHE") or Path.home() / ".cache" / "genfw").expanduser()


def _try_load(
    path: Path, checksum: Any, image_shape: tuple[int, int, int] = MNIST_SHAPE, num_classes: int = MNIST_CLASSES
) -> ReferenceNet | None:
    """The cached model, or None (and a warning) when the file is missing, does not match the
    SHA-256 recorded when it was written, or is unreadable: flipped bits in a weights file still
    load, and would quietly move every Frechet distance measured with it."""
    if not path.is_file():
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        warn(f"the cached reference network {path} cannot be read ({exc.strerror}); training it again")
        return None
    if checksum != hashlib.sha256(data).hexdigest():
        why = "does not match its checksum" if checksum else "has no checksum (cached by an older genfw)"
        warn(f"the cached reference network {path} {why}; training it again (the same recipe gives the same weights)")
        return None
    try:
        state = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")  # the bytes just checked
        model = ReferenceNet(image_shape, num_classes)
        model.load_state_dict(state)
    except Exception as exc:  # a foreign file that its checksum was recorded for: retrain instead of failing
        warn(f"the cached reference network {path} is unreadable ({type(exc).__name__}); training it again")
        return None
    return model.to(memory_format=torch.channels_last).eval()


def _save_weights(model: ReferenceNet, path: Path) -> str:
    """Write the model's weights atomically; returns the SHA-256 of the bytes written."""
    buf = io.BytesIO()
    torch.save({k: v.contiguous() for k, v in model.state_dict().items()}, buf)
    atomic_write_bytes(path, buf.getbuffer())
    return hashlib.sha256(buf.getbuffer()).hexdigest()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


@contextlib.contextmanager
def _cache_entry_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` for as long as the block runs; the kernel drops it when
    the process ends however it ends. A cache folder that cannot hold a lock file is used unlocked."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def load_or_train_reference_net(
    train_ds: ImageDataset,
    test_ds: ImageDataset,
    cache_dir: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    threads: int | None = None,
) -> tuple[ReferenceNet, dict[str, Any]]:
    """The reference net for ``train_ds``, trained once and then loaded from the cache.

    Returns ``(model, info)``; ``info`` has ``accuracy`` (fraction of ``test_ds`` classified
    correctly), ``from_cache`` (bool), ``train_seconds`` (0.0 when loaded), ``path`` (the weights
    file) and ``key``. The weights go to ``<cache_dir>/reference_net/<key>.pt`` and their SHA-256
    and the measured accuracy to ``<key>.json`` next to them; weights that do not match their
    SHA-256 (or have none recorded) are trained again, with a warning.
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    folder = root / "reference_net"
    folder.mkdir(parents=True, exist_ok=True)
    shape, classes = spec_for(train_ds.image_shape, num_classes_of(train_ds))
    if (shape, classes) == (MNIST_SHAPE, MNIST_CLASSES):  # the original key: MNIST caches stay valid
        recipe = REFERENCE_NET_VERSION
    else:
        recipe = f"{GENERAL_VERSION}|shape={'x'.join(map(str, shape))}|classes={classes}"
    key = hashlib.sha256(f"{recipe}|seed={seed}|{dataset_digest(train_ds)}".encode()).hexdigest()[:32]
    weights, meta_path = folder / f"{key}.pt", folder / f"{key}.json"
    test_digest = dataset_digest(test_ds)

    # One process trains a missing net while others that need the same one wait for it (parallel
    # runs, evaluations or test workers), instead of each training its own copy.
    with _cache_entry_lock(folder / f"{key}.lock"):
        meta = _read_json(meta_path)
        model = _try_load(weights, meta.get("weights_sha256"), shape, classes)
        from_cache = model is not None
        train_seconds = 0.0
        if model is None:
            t0 = time.perf_counter()
            model = train_reference_net(train_ds, seed=seed, threads=threads, num_classes=classes)
            train_seconds = time.perf_counter() - t0
            meta = {"weights_sha256": _save_weights(model, weights)}
            atomic_write_json(meta_path, meta)

        if meta.get("test_digest") == test_digest and isinstance(meta.get("accuracy"), float):
            acc = meta["accuracy"]
        else:  # new weights, a different test set, or an unreadable JSON: measure again
            acc = accuracy(model, test_ds)
            meta = {
                "version": recipe,
                "seed": seed,
                "train_name": train_ds.name,
                "train_size": len(train_ds),
                "test_name": test_ds.name,
                "test_digest": test_digest,
                "accuracy": acc,
                "train_seconds": train_seconds or meta.get("train_seconds"),
                "weights_sha256": meta["weights_sha256"],
            }
            atomic_write_json(meta_path, meta)
    info = {"accuracy": acc, "from_cache": from_cache, "train_seconds": train_seconds, "path": str(weights), "key": key}
    return model, info
