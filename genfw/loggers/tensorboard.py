"""``tensorboard``: every scalar and figure of a run as TensorBoard event files.

Uses torch's ``torch.utils.tensorboard.SummaryWriter``, which needs the ``tensorboard`` package
(``pip install 'genfw[tensorboard]'``). View with ``tensorboard --logdir RUN_DIR/tensorboard``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from genfw.contexts import LoggerContext
from genfw.loggers.base import FOLDER_NAME, Logger, folder_in_run, folder_name

if TYPE_CHECKING:  # tensorboard is optional: imported when the logger starts
    from torch.utils.tensorboard import SummaryWriter


class TensorBoardParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subdir: Annotated[str, AfterValidator(folder_name)] = Field(
        "tensorboard",
        description="Folder inside the run directory for the event files (one name, no path)",
        json_schema_extra={"pattern": f"^{FOLDER_NAME.pattern}$"},
    )
    flush_secs: int = Field(30, gt=0, le=3600, description="Seconds between flushes to disk")


class TensorBoardLogger(Logger):
    """Scalars (``train/<key>``, ``epoch/<key>``) and figures as TensorBoard events."""

    def __init__(self, params: TensorBoardParams, ctx: LoggerContext):
        try:
            import tensorboard  # noqa: F401  (SummaryWriter needs it)
        except ImportError:
            raise ValueError(
                "the tensorboard logger needs the tensorboard package: pip install 'genfw[tensorboard]' "
                "(or remove it from loggers)"
            ) from None
        self.params = params
        self.path = folder_in_run(ctx.run_dir, params.subdir)
        self._writer: SummaryWriter | None = None

    def start(self) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(log_dir=str(self.path), flush_secs=self.params.flush_secs)

    def log_scalars(self, step: int, values: Mapping[str, Any], kind: str) -> None:
        if self._writer is None:
            return
        for key, value in values.items():
            if key in ("step", "epoch", "event") or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if math.isfinite(value):
                self._writer.add_scalar(f"{kind}/{key}", value, step)

    def log_image(self, step: int, name: str, pixels: np.ndarray) -> None:
        if self._writer is not None:
            self._writer.add_image(name, pixels, step, dataformats="HWC")

    def close(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
            self._writer = None
