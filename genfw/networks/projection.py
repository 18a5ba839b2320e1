"""The projection head of a class-conditional discriminator (Miyato & Koyama 2018, "cGANs with
Projection Discriminator"): D(x, y) = d_head(h) + <embed(y), h>, with h = trunk(x).

The inner product asks D whether an image is a real member of *its* class, so a generator is
pushed toward each class's full variety, not only toward images that are real and of some class.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn


class ClassProjection(nn.Embedding):
    """One embedding row per class, as wide as the features D's head reads, spectrally
    normalised like the rest of a discriminator (the parametrisation's state-dict keys are
    ``parametrizations.weight.original`` and the power iteration's vectors)."""

    def __init__(self, classes: int, features: int):
        super().__init__(classes, features)
        nn.utils.parametrizations.spectral_norm(self)
        parametrized = cast(nn.ModuleDict, self.parametrizations)
        nn.init.xavier_uniform_(cast(torch.Tensor, parametrized["weight"].original))

    def project(self, onehot: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """``<embed(y), h>`` per image, ``[n]`` float32, for one-hot (or soft) classes ``[n, classes]``
        and features ``[n, features]``; a zero row (an unknown class) projects onto nothing."""
        weight = self.weight.to(features.dtype)
        return (onehot.to(features.dtype) @ weight * features).sum(dim=1).float()


def features_read_by(head: nn.Module) -> int:
    """The width of the features a D head reads (a Linear, or a Sequential starting with one); a
    head that appends more inputs of its own (a minibatch spread) says how many it reads as
    ``features``."""
    for module in head.modules():
        if isinstance(module, nn.Linear):
            return int(getattr(module, "features", module.in_features))
    raise ValueError("the discriminator's d_head has no Linear layer to read its feature width from")
