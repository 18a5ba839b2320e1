"""The logger contract."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np


class Logger:
    """Receives what a run records. Every method has a do-nothing default, so a logger writes
    only what it cares about. Only the process that writes the run (rank 0) calls loggers."""

    def start(self) -> None:
        """Training is about to start (or resume) at ``ctx.start_step``."""

    def on_step(self, step: int) -> None:
        """Called after every training step: keep it cheap (no I/O every step)."""

    def log_scalars(self, step: int, values: Mapping[str, Any], kind: str) -> None:
        """A record of numbers at ``step``: ``kind`` is ``"train"`` (averages over the last
        ``train.log_every`` steps, as in metrics.jsonl) or ``"epoch"`` (per-epoch metrics)."""

    def log_image(self, step: int, name: str, pixels: np.ndarray) -> None:
        """A rendered figure (uint8 RGB ``[H, W, 3]``), e.g. ``samples`` after each epoch or
        ``traversals/c1`` at the end."""

    def message(self, text: str) -> None:
        """A line for people (e.g. "stopped at step 200")."""

    def close(self) -> None:
        """The run is over (or stopped); flush and release files."""
