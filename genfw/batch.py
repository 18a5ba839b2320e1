"""What a model's ``train_step`` receives: one batch of the training data and where training is."""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: The label of an image whose label the model may not see (unlabelled data, or withheld for
#: semi-supervised training).
UNLABELLED = -1


@dataclass(frozen=True)
class Batch:
    """One batch of training images, with the annotations the dataset has.

    ``images`` float ``[n, C, H, W]`` in [0, 1]. ``labels`` int64 ``[n]`` class indices, where
    :data:`UNLABELLED` (-1) marks an image whose label is not given (a semi-supervised run sees
    only a share of them); None when the dataset has no labels. ``factors`` int64 ``[n, F]``, the
    ground-truth factors of a synthetic dataset, or None. ``step`` counts the batches trained
    before this one (0 for the first, the same on every process), ``epoch`` the full passes over
    the data before it. Unsupervised models read ``images`` only.

    ``supervised``: when the run keeps only some labels (a code with ``labelled_count``), a batch
    of the same size drawn from the labelled images alone (seeded per step), so a
    semi-supervised loss sees labels every step even when 100 of 60,000 images have them.
    """

    images: torch.Tensor
    step: int = 0
    epoch: int = 0
    labels: torch.Tensor | None = None
    factors: torch.Tensor | None = None
    supervised: Batch | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def labelled(self) -> torch.Tensor:
        """Which images carry a label, bool ``[n]`` (all False without labels)."""
        if self.labels is None:
            return torch.zeros(len(self), dtype=torch.bool, device=self.images.device)
        return self.labels != UNLABELLED
