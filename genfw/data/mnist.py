"""MNIST through torchvision, held in memory as one uint8 tensor.

The data root is, in order: the config's ``dataset.root``, the ``GENFW_DATA`` environment
variable, ``./data``. torchvision's layout is used: ``<root>/MNIST/raw/<the four IDX files>``.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from genfw.data.base import Dataset, DatasetContext, ImageDataset
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
    split: str = Field("train", pattern="^(train|test)$",
                       description="The split to train on: 'train' (60k; the 10k test split is held out) or 'test'")
    download: bool = Field(True, description="Download the IDX files when they are missing")
    limit: int | None = Field(None, gt=0, description="Train on only the first N images (smoke tests; evaluation "
                              "still uses every image)")


def resolve_root(root: str | os.PathLike | None) -> Path:
    """The data root: the given one, else $GENFW_DATA, else ./data."""
    if root:
        return Path(root).expanduser()
    return Path(os.environ.get("GENFW_DATA") or "data").expanduser()


#: Sizes of the uncompressed IDX files, to name a truncated or damaged one instead of failing later.
IDX_BYTES = {
    "train-images-idx3-ubyte": 47_040_016,
    "train-labels-idx1-ubyte": 60_008,
    "t10k-images-idx3-ubyte": 7_840_016,
    "t10k-labels-idx1-ubyte": 10_008,
}


#: The IDX magic numbers: 0x0803 for image files (3 dimensions), 0x0801 for label files.
IDX_MAGIC = {"images": 2051, "labels": 2049}


def _check_raw_files(raw: Path) -> None:
    for name, size in IDX_BYTES.items():
        path = raw / name
        if not path.is_file():  # absent: the .gz is there instead, which torchvision checks as it unpacks
            continue
        actual = path.stat().st_size
        if actual != size:
            raise DataError(f"{name} is truncated or damaged ({actual:,} bytes, expected {size:,})", where=str(path),
                            fix="replace it with a good copy, or delete it (and its .gz) so genfw downloads it again")
        expected = IDX_MAGIC["images" if "images" in name else "labels"]
        try:
            with open(path, "rb") as f:
                magic = int.from_bytes(f.read(4), "big")
        except OSError as exc:
            raise DataError(f"cannot read {name} ({exc.strerror or exc})", where=str(path), fix="check its permissions") from None
        if magic != expected:
            raise DataError(f"{name} is not an IDX file of its kind (magic number {magic:#x}, expected {expected:#x})",
                            where=str(path), fix="replace it with a good copy, or delete it so genfw downloads it again")


def _missing_dirs(path: Path) -> list[Path]:
    """``path`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def _have_raw_files(root: Path) -> bool:
    raw = root / "MNIST" / "raw"
    return all((raw / name).is_file() or (raw / f"{name}.gz").is_file() for name in IDX_FILES)


def load_mnist(root: str | os.PathLike | None = None, split: str = "train", download: bool = True,
               limit: int | None = None) -> ImageDataset:
    """Load an MNIST split into memory: images uint8 ``[N, 1, 28, 28]``, labels int64 ``[N]``."""
    from torchvision.datasets import MNIST  # imported here: torchvision is slow to import

    base = resolve_root(root)
    have = _have_raw_files(base)
    if not have and not download:
        raise DataError(
            f"MNIST not found under {base / 'MNIST' / 'raw'}",
            fix=f"put the four IDX files ({', '.join(IDX_FILES)}) there, set GENFW_DATA or dataset.root, "
            "or allow dataset.download",
        )
    raw = base / "MNIST" / "raw"
    if have:
        _check_raw_files(raw)
    fetch = download and not have
    created = _missing_dirs(raw) if fetch else []
    try:
        ds = MNIST(root=str(base), train=(split == "train"), download=fetch)
    except (OSError, RuntimeError, ValueError, AssertionError) as exc:  # no network, a proxy, a read-only folder, a bad file
        for folder in created:  # leave no empty folders behind from a download that failed
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        first = " ".join(str(exc).split())[:240] or type(exc).__name__
        if fetch:
            raise DataError(
                f"could not download MNIST into {raw} ({first})",
                fix=f"on a machine without network, copy the four IDX files ({', '.join(IDX_FILES)}) there "
                "yourself, or point GENFW_DATA / dataset.root at a folder that has MNIST/raw/",
            ) from None
        raise DataError(f"could not read MNIST from {raw} ({first})",
                        fix="replace the IDX files there with good copies, or delete them so genfw downloads them again") from None
    images = ds.data[:limit].unsqueeze(1).contiguous()  # [N, 28, 28] uint8 -> [N, 1, 28, 28]
    return ImageDataset(
        name=f"mnist-{split}",
        images=images,
        labels=ds.targets[:limit].long(),
        class_names=tuple(str(d) for d in range(10)),
    )


def mnist_dataset(params: MNISTParams, ctx: DatasetContext) -> Dataset:
    """MNIST handwritten digits (torchvision), 1x28x28, in memory; the test split is held out."""
    limit = params.limit if ctx.purpose == "train" else None
    train = load_mnist(params.root, params.split, params.download, limit)
    test = load_mnist(params.root, "test", params.download) if params.split == "train" else None
    return Dataset(train, test)
