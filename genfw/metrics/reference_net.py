"""A small deterministic classifier for any labelled image dataset: the feature space of a Frechet
classifier distance and the judge of generated samples.

For MNIST-shaped data (1x28x28, at most 10 classes) it is exactly genfw's original MNIST net, with
the same weights cache key, so MNIST numbers do not move. For any other shape or number of
classes (:func:`spec_for`) the same two conv/BN/ReLU/pool stages are followed by one more stage
per halving that keeps the map at least 16 pixels wide (64x64: 3 stages, 8x8), then adaptive
average pooling to a fixed 4x4 map, the same 128-d features and one logit per class; small
datasets train for at least :data:`MIN_STEPS` steps.

Training is CPU-only and reproducible: the weights are initialised under ``torch.manual_seed(seed)``
inside ``torch.random.fork_rng()`` (so the caller's global RNG is untouched) and batches are
shuffled by an explicit ``torch.Generator``. The net contains no dropout, so nothing else draws
random numbers. bf16 autocast is not used: on CPUs without native bf16 it is slower, not faster.

``load_or_train_reference_net`` caches the trained weights under a key made of a sha256 of the
training data and :data:`REFERENCE_NET_VERSION`, so a different training set or a changed
recipe never reuses stale weights; the SHA-256 of the weights file is recorded next to it and
checked on every load, so a damaged file is trained again (with a warning), never used.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from genfw.atomic import atomic_write_bytes, atomic_write_json
from genfw.data.base import ImageDataset
from genfw.errors import warn

# Bump whenever the architecture or the training recipe changes: it is part of the cache key.
REFERENCE_NET_VERSION = "refnet-v1:c16-bn-c32-bn-fc128:adam-onecycle-4e-3:e3:b128"
#: The recipe of the net for any other shape or number of classes (also part of its cache key).
GENERAL_VERSION = "refnet-general-v1:c16-c32-c64-c128-bn-adaptive4x4-fc128:adam-onecycle-4e-3:e3-min300steps:b128"
FEATURE_DIM = 128
#: The MNIST net's input shape and classes: data of that shape with at most 10 classes uses it.
MNIST_SHAPE, MNIST_CLASSES = (1, 28, 28), 10
#: Training steps the general net takes at least (small datasets get more epochs).
MIN_STEPS = 300
# MNIST pixel statistics; the net normalises internally so callers pass images in [0, 1].
_MNIST_MEAN, _MNIST_STD = 0.1307, 0.3081
_GENERAL_MEAN, _GENERAL_STD = 0.5, 0.5


def spec_for(image_shape: tuple[int, int, int], num_classes: int) -> tuple[tuple[int, int, int], int]:
    """The (image shape, classes) a reference net is built for: MNIST's net (10 classes) for any
    1x28x28 data with at most 10 classes, else exactly the data's."""
    shape = tuple(int(v) for v in image_shape)
    if shape == MNIST_SHAPE and num_classes <= MNIST_CLASSES:
        return MNIST_SHAPE, MNIST_CLASSES
    return shape, int(num_classes)  # type: ignore[return-value]


def _general_stages(h: int, w: int) -> int:
    """conv/pool stages of the general net: 2, plus one per halving that keeps the map >= 16 px
    (at most 5), fewer for images too small to halve twice."""
    k = 2
    while k < 5 and min(h, w) // 2**k >= 16:
        k += 1
    while k > 0 and min(h, w) // 2**k < 1:
        k -= 1
    return k


class ReferenceNet(nn.Module):
    """MNIST (the default): conv(16) -> BN -> ReLU -> pool -> conv(32) -> BN -> ReLU -> pool ->
    fc 128 -> ReLU -> fc 10. Any other ``image_shape`` / ``num_classes``: conv stages of 16, 32,
    64, 128 channels (each conv -> BN -> ReLU -> pool), adaptive average pooling to 4x4, fc 128 ->
    ReLU -> fc ``num_classes``.

    Input: float images ``[N, C, H, W]`` in [0, 1]. ``forward`` returns logits ``[N, classes]``;
    ``features`` returns the 128-d penultimate layer *before* its ReLU: post-ReLU, some units are
    dead (constant 0), which makes feature covariances singular and Frechet distances unstable.
    """

    def __init__(self, image_shape: tuple[int, int, int] = MNIST_SHAPE, num_classes: int = MNIST_CLASSES) -> None:
        super().__init__()
        self.image_shape, self.num_classes = spec_for(image_shape, num_classes)
        self.mnist = (self.image_shape, self.num_classes) == (MNIST_SHAPE, MNIST_CLASSES)
        if self.mnist:
            self.body = nn.Sequential(
                nn.Conv2d(1, 16, 3, padding=1, bias=False),
                nn.BatchNorm2d(16),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),  # 28 -> 14
                nn.Conv2d(16, 32, 3, padding=1, bias=False),
                nn.BatchNorm2d(32),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),  # 14 -> 7
                nn.Flatten(),
                nn.Linear(32 * 7 * 7, FEATURE_DIM),
            )
            self.mean, self.std = _MNIST_MEAN, _MNIST_STD
        else:
            c, h, w = self.image_shape
            layers: list[nn.Module] = []
            channels = c
            for stage in range(_general_stages(h, w)):
                out = min(16 * 2**stage, 128)
                layers += [
                    nn.Conv2d(channels, out, 3, padding=1, bias=False),
                    nn.BatchNorm2d(out),
                    nn.ReLU(inplace=True),
                    nn.MaxPool2d(2),
                ]
                channels = out
            layers += [nn.AdaptiveAvgPool2d((4, 4)), nn.Flatten(), nn.Linear(channels * 16, FEATURE_DIM)]
            self.body = nn.Sequential(*layers)
            self.mean, self.std = _GENERAL_MEAN, _GENERAL_STD
        self.head = nn.Linear(FEATURE_DIM, self.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 128-d penultimate pre-activations of images in [0, 1]."""
        return self.body((x - self.mean) / self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.relu(self.features(x)))


def _as_float_images(images: torch.Tensor | np.ndarray, channels: int = 1) -> torch.Tensor:
    """Images as float32 ``[N, C, H, W]`` in [0, 1]; uint8 input is divided by 255."""
    x = torch.as_tensor(images)
    if x.dim() == 3 and channels == 1:  # [N, H, W]
        x = x.unsqueeze(1)
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"expected images [N, {channels}, H, W], got {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x.float()


def train_reference_net(
    train: ImageDataset,
    *,
    seed: int = 0,
    epochs: int = 3,
    batch_size: int = 128,
    lr: float = 4e-3,
    threads: int | None = None,
    num_classes: int | None = None,
) -> ReferenceNet:
    """Train the reference classifier on a labelled dataset; returns the model in eval mode.

    Deterministic for a given (data, seed, threads). ``threads`` sets torch's intra-op threads
    for the duration of training only (default: the current setting, e.g. the run's
    ``train.threads``); the previous setting is restored afterwards. ``num_classes`` defaults to
    the dataset's. The general (non-MNIST) net trains at least :data:`MIN_STEPS` steps.
    """
    if train.labels is None:
        raise ValueError(f"dataset {train.name!r} has no labels; the reference net needs them")
    classes = num_classes or _num_classes(train)
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(threads or prev_threads)
    try:
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
            torch.manual_seed(seed)
            model = ReferenceNet(train.image_shape, classes)
        # channels_last makes the CPU convolutions about twice as fast.
        model = model.to(memory_format=torch.channels_last)
        x_all = _as_float_images(train.images, model.image_shape[0]).contiguous(memory_format=torch.channels_last)
        y_all = train.labels.long()
        n = len(train)
        steps_per_epoch = (n + batch_size - 1) // batch_size
        if not model.mnist:
            epochs = max(epochs, -(-MIN_STEPS // steps_per_epoch))
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=0.2)
        gen = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(epochs):
            perm = torch.randperm(n, generator=gen)
            for i in range(steps_per_epoch):
                idx = perm[i * batch_size : (i + 1) * batch_size]
                loss = F.cross_entropy(model(x_all[idx]), y_all[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
    finally:
        torch.set_num_threads(prev_threads)
    return model.eval()


def _num_classes(ds: ImageDataset) -> int:
    """How many classes a labelled split has (its class names, else the largest label + 1)."""
    assert ds.labels is not None
    top = int(ds.labels.max()) + 1 if len(ds.labels) else 0
    return max(len(ds.class_names or ()), top)


@torch.inference_mode()
def _batched(model: ReferenceNet, images: torch.Tensor | np.ndarray, fn: str, batch_size: int) -> torch.Tensor:
    model.eval()
    x = _as_float_images(images, model.image_shape[0])
    outs = [getattr(model, fn)(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)]
    if not outs:
        return torch.empty(0, FEATURE_DIM if fn == "features" else model.num_classes)
    return torch.cat(outs)


def features(model: ReferenceNet, images: torch.Tensor | np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Penultimate-layer features (pre-ReLU) of images ``[N, C, H, W]`` in [0, 1] (uint8 accepted):
    float64 ``[N, 128]``, ready for :func:`genfw.metrics.frechet_distance`."""
    return _batched(model, images, "features", batch_size).double().numpy()


def predict(model: ReferenceNet, images: torch.Tensor | np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Predicted classes (int64 ``[N]``) of images ``[N, C, H, W]`` in [0, 1] (uint8 accepted)."""
    return _batched(model, images, "forward", batch_size).argmax(1).numpy()


def accuracy(model: ReferenceNet, ds: ImageDataset) -> float:
    """Fraction (0..1) of ``ds`` the model classifies correctly."""
    if ds.labels is None:
        raise ValueError(f"dataset {ds.name!r} has no labels")
    return float((predict(model, ds.images) == ds.labels.numpy()).mean())


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
    shape, classes = spec_for(train_ds.image_shape, _num_classes(train_ds))
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


@dataclass
class ReferenceClassifier:
    """A trained reference classifier for one dataset: its feature space is where Frechet
    distances are measured, its predictions judge generated samples."""

    net: ReferenceNet
    info: dict[str, Any]
    num_classes: int

    @property
    def accuracy(self) -> float:
        return float(self.info["accuracy"])

    def features(self, images: torch.Tensor | np.ndarray) -> np.ndarray:
        return features(self.net, images)

    def predict(self, images: torch.Tensor | np.ndarray) -> np.ndarray:
        return predict(self.net, images)


def reference_for(data) -> ReferenceClassifier | str:
    """The reference classifier for a ``genfw.data.base.Dataset`` (trained once, then cached), or
    a string saying why this dataset has none: it needs a held-out split, labels on both splits
    and at least two classes. Any image shape and number of classes works (:func:`spec_for`)."""
    train, test = data.train, data.test
    if test is None:
        return "the dataset has no held-out split"
    if train.labels is None or test.labels is None:
        return "the dataset has no labels"
    classes = max(_num_classes(train), _num_classes(test))
    if len(train.labels) and int(train.labels.min()) < 0:
        return "the dataset's labels are negative"
    if classes < 2:
        return "the dataset's labels hold a single class"
    net, info = load_or_train_reference_net(train, test)
    return ReferenceClassifier(net, info, net.num_classes)
