"""An exponential moving average of a network's weights (e.g. a GAN's generator).

Progressive GANs and StyleGAN sample from such an average: it smooths out the generator's
step-to-step jitter without changing training. Any model can keep one and return its
``average`` as the run's generator.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import cast

import torch
from torch import nn
from torch.optim.swa_utils import update_bn


class ExponentialMovingAverage(nn.Module):
    """``average`` follows ``source``'s weights with ``decay``; call :meth:`update` after each step.

    The decay ramps up as (1 + t) / (10 + t) to ``decay``, so the random initial weights do not
    linger. Buffers (BatchNorm statistics) are copied, not averaged: they are the source's
    statistics, not the average's own, until :meth:`recompute_batchnorm` measures those. The
    update count is a buffer, so a resumed run continues the same average.
    """

    def __init__(self, source: nn.Module, decay: float):
        super().__init__()
        if not 0 < decay < 1:
            raise ValueError(f"the decay of a moving average must be in (0, 1), not {decay}")
        self.decay = decay
        self.average = copy.deepcopy(source).requires_grad_(False)
        self.register_buffer("updates", torch.zeros((), dtype=torch.float32))

    @torch.no_grad()
    def update(self, source: nn.Module) -> None:
        """Move the average toward ``source`` (whose structure it copies)."""
        updates = cast(torch.Tensor, self.updates)  # a registered buffer (nn.Module types it loosely)
        updates += 1
        t = updates
        weight = 1 - torch.clamp((1 + t) / (10 + t), max=self.decay)  # a tensor: no host sync
        for avg, p in zip(self.average.parameters(), source.parameters()):
            avg.lerp_(p, weight)
        for avg_buffer, b in zip(self.average.buffers(), source.buffers()):
            avg_buffer.copy_(b)

    def recompute_batchnorm(self, inputs: Iterable[torch.Tensor]) -> None:
        """Measure the average's own BatchNorm statistics on ``inputs`` (batches of what its
        forward takes), replacing the source's copied ones. The averaged weights differ from the
        source's, so the source's statistics misnormalise them; a model calls this before its
        average is sampled or saved (``Model.prepare_generator``). torch's SWA ``update_bn``:
        a cumulative mean over the batches, with forward passes in train mode (so other
        train-mode state, such as a spectral norm's power iteration, advances too; the shipped
        generators have none). Without BatchNorm, nothing is drawn from ``inputs``."""
        update_bn(inputs, self.average)

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.average(*args)
