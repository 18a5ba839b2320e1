"""The dataset contract: a training split and an optional held-out split, each in memory as one
uint8 tensor, batches sliced from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from genfw.data.spec import DataSpec


@dataclass(frozen=True)
class DatasetContext:
    """What a dataset factory receives besides its params.

    ``seed`` is the run's seed (for a seeded held-out fraction). ``purpose`` is ``"train"`` when
    a run trains on the data and ``"evaluate"`` when evaluation compares against it: a factory
    then ignores smoke-test limits, so evaluation always sees the whole dataset.
    """

    seed: int = 0
    purpose: Literal["train", "evaluate"] = "train"


@dataclass(frozen=True)
class ImageDataset:
    """One split of an image dataset, held in memory.

    ``images`` is uint8 ``[N, C, H, W]``. Optional annotations: ``labels`` int64 ``[N]`` (class
    indices) with ``class_names``, and ``factors`` ``[N, F]`` (the ground-truth generative
    factors of a synthetic dataset, one column per factor, int64 indices into each factor's
    values) with ``factor_names``. The trainer hands them to the model with every batch
    (``genfw.batch.Batch``); evaluation measures against them. Models that need them say so
    (``Model.needs``), and ``genfw validate`` checks the dataset has them (:meth:`spec`).
    """

    name: str
    images: torch.Tensor
    labels: torch.Tensor | None = None
    class_names: tuple[str, ...] | None = None
    factors: torch.Tensor | None = None
    factor_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be uint8 [N, C, H, W], got {self.images.dtype} {tuple(self.images.shape)}")
        n = self.images.shape[0]
        if self.labels is not None and self.labels.shape[0] != n:
            raise ValueError("labels and images differ in length")
        if self.factors is not None and (self.factors.dim() != 2 or self.factors.shape[0] != n):
            raise ValueError(f"factors must be [N, F] with N = {n}, got {tuple(self.factors.shape)}")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width)."""
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    @property
    def num_classes(self) -> int | None:
        """How many classes the labels distinguish (None without labels)."""
        if self.labels is None:
            return None
        if self.class_names:
            return len(self.class_names)
        return int(self.labels.max()) + 1 if len(self.labels) else 0

    def spec(self) -> DataSpec:
        """What this split provides: its image shape, class names with the images per class, and
        factor names."""
        counts = None
        if self.labels is not None:
            k = self.num_classes or 0
            known = self.labels[self.labels >= 0]
            counts = tuple(int(n) for n in torch.bincount(known, minlength=k)[:k]) if k else ()
        names = (
            self.class_names
            if self.class_names
            else (tuple(str(i) for i in range(self.num_classes or 0)) if self.labels is not None else None)
        )
        return DataSpec(self.image_shape, names, counts, self.factor_names)

    def head(self, n: int) -> ImageDataset:
        """The first ``n`` images (with their labels and factors)."""
        if n >= len(self):
            return self
        cut = lambda t: t[:n] if t is not None else None  # noqa: E731
        return ImageDataset(
            self.name, self.images[:n], cut(self.labels), self.class_names, cut(self.factors), self.factor_names
        )

    def to_float(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 -> float32 in [0, 1], the range every genfw generator outputs."""
        return images.float().div_(255.0)


@dataclass(frozen=True)
class Dataset:
    """What a dataset factory returns: the split a model trains on and, when the dataset has one,
    a held-out split that evaluation measures against (a given test set, or a seeded fraction)."""

    train: ImageDataset
    test: ImageDataset | None = None

    def __post_init__(self) -> None:
        if self.test is not None and self.test.image_shape != self.train.image_shape:
            raise ValueError(
                f"the held-out split's images are {self.test.image_shape}, the training split's "
                f"{self.train.image_shape}"
            )

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.train.image_shape

    @property
    def spec(self) -> DataSpec:
        """What the training split provides (what models and codes are checked against)."""
        return self.train.spec()

    def held_out_limited(self, n: int | None) -> Dataset:
        """The same data with at most ``n`` held-out images (None: all): quick smoke evaluations."""
        if n is None or self.test is None:
            return self
        return Dataset(self.train, self.test.head(n))
