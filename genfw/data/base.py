"""The dataset contract: the whole set in memory as one uint8 tensor, batches sliced from it."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ImageDataset:
    """An image dataset held in memory.

    ``images`` is uint8 ``[N, C, H, W]``; ``labels`` is int64 ``[N]`` or None for unlabelled data
    (labels are only ever used for evaluation, never for training an unsupervised model).
    """

    name: str
    images: torch.Tensor
    labels: torch.Tensor | None = None
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be uint8 [N, C, H, W], got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels is not None and self.labels.shape[0] != self.images.shape[0]:
            raise ValueError("labels and images differ in length")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width)."""
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    def to_float(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 -> float32 in [0, 1], the range every genfw generator outputs."""
        return images.float().div_(255.0)
