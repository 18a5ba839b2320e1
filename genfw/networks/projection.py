"""The projection head of a class-conditional discriminator (Miyato & Koyama 2018, "cGANs with
Projection Discriminator"): D(x, y) = d_head(h) + <embed(y), h>, with h = trunk(x).

The inner product asks D whether an image is a real member of *its* class, so a generator is
pushed toward each class's full variety, not only toward images that are real and of some class.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from genfw.errors import ConfigValueError


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
    """The width of the features a D head reads: a Linear's ``in_features``, or the first module's
    of a Sequential; a head that appends more inputs of its own (a minibatch spread) says how many
    it reads as ``features``. A head of another shape is a config error at ``networks.discriminator``
    (the projection's width must be known before the first step)."""
    features = getattr(head, "features", None)
    if isinstance(features, int):
        return features
    if isinstance(head, nn.Linear):
        return int(head.in_features)
    if isinstance(head, nn.Sequential) and len(head) > 0:
        return features_read_by(head[0])
    raise ConfigValueError(
        f"a projection needs the width of the features the discriminator's d_head reads, and a "
        f"{type(head).__name__} head does not say: use a discriminator network whose d_head is (or starts with) "
        "an nn.Linear, or give the head an int attribute `features`",
        path="networks.discriminator",
    )
