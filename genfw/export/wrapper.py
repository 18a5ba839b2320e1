"""The module that is exported: the generator behind one input per latent code (the contract's
inputs), and draws of those inputs to trace and check it with."""

from __future__ import annotations

import torch
from torch import nn

from genfw.latent import LatentSpec


# -- the module that is exported -----------------------------------------------------------------
class CodesToImage(nn.Module):
    """Takes one tensor of parameters per latent code (config order), encodes each as its code
    does (``LatentCode.encode``: identity, or e.g. an angle's cosine and sine) and feeds their
    concatenation to the generator.

    Separate inputs are the contract: an app names what it sets (``digit``, ``c1``) instead of
    knowing offsets into one long vector, and it handles parameters only: the encodings are ops
    in the graph.
    """

    def __init__(self, generator: nn.Module, latent: LatentSpec):
        super().__init__()
        self.generator = generator
        self.codes = list(latent)

    def forward(self, *values: torch.Tensor) -> torch.Tensor:
        return self.generator(torch.cat([code.encode(v) for code, v in zip(self.codes, values)], dim=1))


def sample_inputs(latent: LatentSpec, n: int, seed: int = 0) -> list[torch.Tensor]:
    """Draws from each code's prior, one ``[n, dim]`` float32 tensor per code."""
    gen = torch.Generator().manual_seed(seed)
    return [c.sample(n, gen).float() for c in latent]
