"""``console``: progress on stderr. On a terminal, a progress bar with the ETA and the latest
numbers; elsewhere (CI logs, nohup, a scheduler), one line every ``every`` steps."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from genfw.contexts import LoggerContext
from genfw.loggers.base import Logger

if TYPE_CHECKING:  # click is imported when a bar is drawn
    from click._termui_impl import ProgressBar


class ConsoleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    every: int = Field(
        100, gt=0, le=10_000_000, description="Steps between progress lines when stderr is not a terminal"
    )
    bar: bool = Field(True, description="Show a progress bar when stderr is a terminal")
    keys: list[str] | None = Field(None, description="Numbers to show (default: the model's progress_keys)")


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def _numbers(values: Mapping[str, Any], keys: list[str] | None) -> str:
    chosen = (
        keys
        if keys is not None
        else [k for k in values if k not in ("step", "epoch", "train_s", "images_per_s", "event")][:4]
    )
    shown = []
    for k in chosen:
        v = values.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            shown.append(f"{k}={v:.4g}" if math.isfinite(v) else f"{k}={v}")
    return " ".join(shown)


class ConsoleLogger(Logger):
    """Progress on stderr: a bar on a terminal, a line every N steps elsewhere."""

    def __init__(self, params: ConsoleParams, ctx: LoggerContext):
        self.params = params
        self.ctx = ctx
        self.keys = params.keys if params.keys is not None else (list(ctx.progress_keys) if ctx.progress_keys else None)
        self.tty = sys.stderr.isatty()
        self._bar: ProgressBar[int] | None = None
        self._latest: dict[str, Any] = {}
        self._last_line_step = ctx.start_step
        self._started = 0.0

    def start(self) -> None:
        self._started = time.perf_counter()
        if self.ctx.quiet:
            return
        if self.tty and self.params.bar:
            import click

            self._bar = click.progressbar(
                length=self.ctx.total_steps,
                label="training",
                file=sys.stderr,
                show_eta=True,
                show_percent=True,
                show_pos=True,
                item_show_func=lambda _: _numbers(self._latest, self.keys),
            )
            self._bar.__enter__()
            self._bar.update(self.ctx.start_step)

    def on_step(self, step: int) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def log_scalars(self, step: int, values: Mapping[str, Any], kind: str) -> None:
        if self.ctx.quiet:
            return
        if kind == "train":
            self._latest = dict(values)
            due = step - self._last_line_step >= self.params.every or step >= self.ctx.total_steps
            if self._bar is None and due:
                self._last_line_step = step
                self._print_progress(step, values)
        elif self._bar is None:
            epoch = values.get("epoch")
            extra = {k: v for k, v in values.items() if k not in ("step", "epoch", "event", "train_s")}
            print(f"epoch {epoch} (step {step}): {_numbers(extra, None) or 'done'}", file=sys.stderr, flush=True)

    def _print_progress(self, step: int, values: Mapping[str, Any]) -> None:
        total, start = self.ctx.total_steps, self.ctx.start_step
        elapsed = time.perf_counter() - self._started
        done = step - start
        eta = elapsed / done * (total - step) if done > 0 else float("nan")
        rate = values.get("images_per_s")
        parts = [f"step {step}/{total} ({100 * step / max(total, 1):.0f}%)"]
        if isinstance(rate, (int, float)):
            parts.append(f"{rate:.0f} images/s")
        if math.isfinite(eta):
            parts.append(f"ETA {_duration(eta)}")
        numbers = _numbers(values, self.keys)
        print("  ".join(parts) + (f"  {numbers}" if numbers else ""), file=sys.stderr, flush=True)

    def message(self, text: str) -> None:
        if not self.ctx.quiet:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None
