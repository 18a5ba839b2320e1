"""Freezing the other player: no gradient is computed for frozen parameters, and none is kept."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch


@contextlib.contextmanager
def frozen(parameters: Iterable[torch.nn.Parameter]) -> Iterator[None]:
    """Turn off ``requires_grad`` of ``parameters`` inside the block (e.g. the discriminator's in
    the generator's step), then turn it back on, whatever happens inside.

    Cheaper than computing their gradients and throwing them away, and it makes a generator
    step unable to move the discriminator by mistake.
    """
    params = list(parameters)
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)
