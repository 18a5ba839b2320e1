"""``eval_mode(module)``: a module in eval mode for the length of a ``with`` block."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn


@contextlib.contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """Put ``modules`` in eval mode (BatchNorm uses its running statistics, dropout is off) and
    restore each one's own mode afterwards, also when the block raises."""
    modes = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, was_training in zip(modules, modes):
            m.train(was_training)
