"""A logger: writes best.json, the lowest value a logged number reached and at which step."""

import json
from typing import Any, Mapping

from pydantic import BaseModel, ConfigDict, Field

from genfw.api import Logger, LoggerContext, RegisterLoggers, hookimpl


class BestParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field("loss", description="The logged number to track (a key of metrics.jsonl)")


class BestLogger(Logger):
    """The lowest value of one logged number, written to best.json when the run ends."""

    def __init__(self, params: BestParams, ctx: LoggerContext):
        self.key, self.path = params.key, ctx.run_dir / "best.json"
        self.best: dict[str, Any] | None = None

    def log_scalars(self, step: int, values: Mapping[str, Any], kind: str) -> None:
        value = values.get(self.key)
        if isinstance(value, (int, float)) and (self.best is None or value < self.best["value"]):
            self.best = {"key": self.key, "value": value, "step": step}

    def close(self) -> None:
        if self.best is not None:
            self.path.write_text(json.dumps(self.best))


@hookimpl
def register_loggers(register: RegisterLoggers) -> None:
    register("best", BestLogger)
