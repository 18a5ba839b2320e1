"""MNIST through torchvision, held in memory as one uint8 tensor.

The data root is, in order: the config's ``dataset.root``, the ``GENFW_DATA`` environment
variable, ``./data``. torchvision's layout is used: ``<root>/MNIST/raw/<the four IDX files>``.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from genfw.data.base import ImageDataset
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
    split: str = Field("train", pattern="^(train|test)$", description="'train' (60k) or 'test' (10k)")
    download: bool = Field(True, description="Download the IDX files when they are missing")
    limit: int | None = Field(None, gt=0, description="Use only the first N images (for smoke tests)")


def resolve_root(root: str | os.PathLike | None) -> Path:
    """The data root: the given one, else $GENFW_DATA, else ./data."""
    if root:
        return Path(root).expanduser()
    return Path(os.environ.get("GENFW_DATA") or "data").expanduser()


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
    try:
        ds = MNIST(root=str(base), train=(split == "train"), download=download and not have)
    except (OSError, RuntimeError) as exc:  # no network, a proxy, a read-only folder, a bad file
        raise DataError(
            f"could not download or read MNIST into {base / 'MNIST' / 'raw'}: {exc}",
            fix=f"on a machine without network, copy the four IDX files ({', '.join(IDX_FILES)}) there "
            "yourself, or point GENFW_DATA / dataset.root at a folder that has MNIST/raw/",
        ) from None
    images = ds.data[:limit].unsqueeze(1).contiguous()  # [N, 28, 28] uint8 -> [N, 1, 28, 28]
    return ImageDataset(
        name=f"mnist-{split}",
        images=images,
        labels=ds.targets[:limit].long(),
        class_names=tuple(str(d) for d in range(10)),
    )


def mnist_dataset(params: MNISTParams) -> ImageDataset:
    """The registered factory of ``mnist``."""
    return load_mnist(params.root, params.split, params.download, params.limit)
