"""The logger contract, and the rule for loggers that write files: only inside the run folder."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

#: A folder a logger keeps in the run folder: one plain name ("tensorboard"), never a path, so
#: not "..", "." or a hidden name, and no "/" (an absolute path or a way out of the run folder).
FOLDER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}")


def folder_name(value: str) -> str:
    """Check a logger's folder parameter (use as a pydantic ``AfterValidator``): loggers write
    only inside the run folder, so the parameter names one folder in it."""
    from genfw.artifacts import RUN_LAYOUT  # imported when called: the file format needs torch

    if not FOLDER_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a folder name inside the run folder, and loggers write only inside it "
            '(use one name of letters, digits and _ . - such as "tensorboard": no / and not . or ..)'
        )
    if value in RUN_LAYOUT:
        raise ValueError(
            f"{value!r} is where the run keeps its own {value}, not a logger's folder (use another name, "
            'such as "tensorboard")'
        )
    return value


def folder_in_run(run_dir: Path, name: str) -> Path:
    """``run_dir/name``, checked before a logger writes there: a file of that name, or a symbolic
    link out of the run folder, is refused (``ValueError``: one line at the logger's JSON path)."""
    path = run_dir / folder_name(name)
    real, root = Path(os.path.realpath(path)), Path(os.path.realpath(run_dir))
    if root not in real.parents:
        raise ValueError(
            f"{path} is a symbolic link to {real}, not a folder inside the run folder, and loggers write "
            "only inside it (remove the link: the logger makes the folder itself)"
        )
    if path.exists() and not path.is_dir():
        raise ValueError(
            f"{path} is a file, where the logger writes its folder (move the file out of the run folder, "
            "or name another folder in the logger's parameters)"
        )
    return path


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
