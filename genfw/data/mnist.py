"""MNIST through torchvision, held in memory as one uint8 tensor; the loader is shared by every
dataset in MNIST's IDX format (``fashion_mnist`` uses it too, see :class:`IDXFormat`).

The data root is, in order: the config's ``dataset.root``, the ``GENFW_DATA`` environment
variable, ``./data``. torchvision's layout is used: ``<root>/MNIST/raw/<the four IDX files>``
(``<root>/FashionMNIST/raw/`` for Fashion-MNIST).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from genfw.data.base import Dataset, DatasetContext, ImageDataset
from genfw.data.checks import checked_labels
from genfw.errors import DataError

IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class MNISTParams(BaseModel):
    """Parameters of the ``mnist`` dataset."""

    model_config = ConfigDict(extra="forbid")

    root: str | None = Field(None, description="Data root; default $GENFW_DATA, else ./data")
    split: str = Field(
        "train",
        pattern="^(train|test)$",
        description="The split to train on: 'train' (60k; the 10k test split is held out) or 'test'",
    )
    download: bool = Field(True, description="Download the IDX files when they are missing")
    limit: int | None = Field(
        None, gt=0, description="Train on only the first N images (smoke tests; evaluation still uses every image)"
    )


def resolve_root(root: str | os.PathLike | None) -> Path:
    """The data root: the given one, else $GENFW_DATA, else ./data."""
    if root:
        return Path(root).expanduser()
    return Path(os.environ.get("GENFW_DATA") or "data").expanduser()


#: The prefix of each split's IDX files.
SPLIT_PREFIX = {"train": "train", "test": "t10k"}
#: The IDX magic numbers: 0x0803 for image files (3 dimensions), 0x0801 for label files.
IDX_MAGIC = {"images": 2051, "labels": 2049}


@dataclass(frozen=True)
class IDXFormat:
    """A dataset distributed as MNIST's four IDX files, read through a torchvision class."""

    title: str  # for messages: "MNIST"
    folder: str  # torchvision's folder under the root: <root>/<folder>/raw/
    torchvision_class: str  # the class in torchvision.datasets
    name: str  # split names: "<name>-train"
    class_names: tuple[str, ...]


MNIST = IDXFormat("MNIST", "MNIST", "MNIST", "mnist", tuple(str(d) for d in range(10)))


def _expected_size(header: bytes) -> int | None:
    """The size an IDX file must have by its header (magic, then one big-endian uint32 per
    dimension): header plus one byte per element. None when the header itself is cut short."""
    ndim = header[3]
    if len(header) < 4 + 4 * ndim:
        return None
    count = 1
    for i in range(ndim):
        count *= int.from_bytes(header[4 + 4 * i : 8 + 4 * i], "big")
    return 4 + 4 * ndim + count


def _check_raw_files(raw: Path) -> None:
    """Name a damaged IDX file before torchvision fails on it: a wrong magic number, or a size
    that is not what the file's own header says (truncated, or with bytes to spare)."""
    for name in IDX_FILES:
        path = raw / name
        if not path.is_file():  # absent: the .gz is there instead, which torchvision checks as it unpacks
            continue
        expected = IDX_MAGIC["images" if "images" in name else "labels"]
        try:
            actual = path.stat().st_size
            with open(path, "rb") as f:
                header = f.read(4 + 4 * 3)
        except OSError as exc:
            raise DataError(
                f"cannot read {name} ({exc.strerror or exc})", where=str(path), fix="check its permissions"
            ) from None
        magic = int.from_bytes(header[:4], "big") if len(header) >= 4 else None
        if magic is None:
            raise DataError(
                f"{name} is truncated or damaged ({actual:,} bytes, shorter than an IDX header)",
                where=str(path),
                fix="replace it with a good copy, or delete it (and its .gz) so genfw downloads it again",
            )
        if magic != expected:
            raise DataError(
                f"{name} is not an IDX file of its kind (magic number {magic:#x}, expected {expected:#x})",
                where=str(path),
                fix="replace it with a good copy, or delete it so genfw downloads it again",
            )
        size = _expected_size(header)
        if size != actual:
            wanted = f"expected {size:,}" if size is not None else "shorter than its header"
            raise DataError(
                f"{name} is truncated or damaged ({actual:,} bytes, {wanted})",
                where=str(path),
                fix="replace it with a good copy, or delete it (and its .gz) so genfw downloads it again",
            )


def _missing_dirs(path: Path) -> list[Path]:
    """``path`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def _unpack_gz(raw: Path) -> None:
    """Unpack IDX files that are there only as ``.gz`` (as torchvision's download does), since
    torchvision reads the uncompressed files."""
    for name in IDX_FILES:
        packed = raw / f"{name}.gz"
        if not (raw / name).is_file() and packed.is_file():
            import gzip

            from genfw.atomic import atomic_write_via

            def unpack(tmp: str, packed: Path = packed) -> None:
                with gzip.open(packed, "rb") as src, open(tmp, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)

            try:
                atomic_write_via(raw / name, unpack)
            except (OSError, EOFError) as exc:
                raise DataError(
                    f"cannot unpack {packed.name} ({exc})",
                    where=str(packed),
                    fix="replace it with a good copy, or put the uncompressed file beside it",
                ) from None


def _have_raw_files(root: Path, folder: str = MNIST.folder) -> bool:
    raw = root / folder / "raw"
    return all((raw / name).is_file() or (raw / f"{name}.gz").is_file() for name in IDX_FILES)


def load_idx_split(
    fmt: IDXFormat,
    root: str | os.PathLike | None = None,
    split: str = "train",
    download: bool = True,
    limit: int | None = None,
) -> ImageDataset:
    """Load one split of an IDX-format dataset into memory: images uint8 ``[N, 1, H, W]``, labels
    int64 ``[N]``; ``limit`` keeps the first N."""
    import torchvision.datasets  # imported here: torchvision is slow to import

    base = resolve_root(root)
    have = _have_raw_files(base, fmt.folder)
    raw = base / fmt.folder / "raw"
    if not have and not download:
        raise DataError(
            f"{fmt.title} not found under {raw}",
            fix=f"put the four IDX files ({', '.join(IDX_FILES)}) there, set GENFW_DATA or dataset.root, "
            "or allow dataset.download",
        )
    if have:
        _unpack_gz(raw)
        _check_raw_files(raw)
    fetch = download and not have
    created = _missing_dirs(raw) if fetch else []
    try:
        ds = getattr(torchvision.datasets, fmt.torchvision_class)(
            root=str(base), train=(split == "train"), download=fetch
        )
    except (
        OSError,
        RuntimeError,
        ValueError,
        AssertionError,
    ) as exc:  # no network, a proxy, a read-only folder, a bad file
        for folder in created:  # leave no empty folders behind from a download that failed
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        first = _short_reason(exc)
        if fetch:
            raise DataError(
                f"could not download {fmt.title} into {raw} ({first})",
                fix=f"on a machine without network, copy the four IDX files ({', '.join(IDX_FILES)}) there "
                f"yourself, or point GENFW_DATA / dataset.root at a folder that has {fmt.folder}/raw/",
            ) from None
        raise DataError(
            f"could not read {fmt.title} from {raw} ({first})",
            fix="replace the IDX files there with good copies, or delete them so genfw downloads them again",
        ) from None
    labels = _checked_labels(fmt, raw, split, ds.targets, len(ds.data))
    images = ds.data[:limit].unsqueeze(1).contiguous()  # [N, H, W] uint8 -> [N, 1, H, W]
    return ImageDataset(
        name=f"{fmt.name}-{split}", images=images, labels=torch.from_numpy(labels[:limit]), class_names=fmt.class_names
    )


#: How torchvision reports each mirror it tried: "Tried URL, got: REASON".
_MIRROR_FAILURE = re.compile(r"Tried \S+, got: <?(.*?)>?(?= Tried \S+, got:|$)")


def _short_reason(exc: BaseException, limit: int = 200) -> str:
    """What went wrong, in a few words: the reasons torchvision got from its mirrors, each once,
    without the mirrors' addresses; other messages are cut at a word, not mid-word."""
    text = " ".join(str(exc).split())
    reasons = _MIRROR_FAILURE.findall(text)
    if reasons:
        text = "; ".join(dict.fromkeys(reasons))
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + " ..."
    return text or type(exc).__name__


def _checked_labels(fmt: IDXFormat, raw: Path, split: str, targets: torch.Tensor, images: int) -> np.ndarray:
    """A split's labels, one per image and each one of the format's classes (a label file is
    one byte a label: 200 is a valid byte, not a class), or one line naming the file and index."""
    path = raw / f"{SPLIT_PREFIX[split]}-labels-idx1-ubyte"
    fix = "replace it with a good copy, or delete it (and its .gz) so genfw downloads it again"
    if len(targets) != images:
        raise DataError(f"{path.name} holds {len(targets):,} labels for {images:,} images", where=str(path), fix=fix)
    return checked_labels(targets.numpy(), source=path.name, where=str(path), fix=fix, num_classes=len(fmt.class_names))


def load_mnist(
    root: str | os.PathLike | None = None, split: str = "train", download: bool = True, limit: int | None = None
) -> ImageDataset:
    """Load an MNIST split into memory: images uint8 ``[N, 1, 28, 28]``, labels int64 ``[N]``."""
    return load_idx_split(MNIST, root, split, download, limit)


def idx_dataset(fmt: IDXFormat, params: MNISTParams, ctx: DatasetContext) -> Dataset:
    """The training split (limited for smoke tests, never for evaluation) and, when training on
    the train split, the whole test split held out."""
    limit = params.limit if ctx.purpose == "train" else None
    train = load_idx_split(fmt, params.root, params.split, params.download, limit)
    test = load_idx_split(fmt, params.root, "test", params.download) if params.split == "train" else None
    return Dataset(train, test)


def mnist_dataset(params: MNISTParams, ctx: DatasetContext) -> Dataset:
    """MNIST handwritten digits (torchvision), 1x28x28, in memory; the test split is held out."""
    return idx_dataset(MNIST, params, ctx)
