"""Optimizers built from config, per role: ``"optimizers": {"generator": {"type": "adam", "lr": 1e-3}}``.

A model declares its optimizer roles and their defaults (``Model.optimizer_defaults``); the
config may override any field of a role. The resolved config records every field, so a run
says exactly how it was optimised. A role's ``schedule`` (:mod:`genfw.schedules`) changes its lr
over the training steps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from genfw.schedules import ScheduleConfig

if TYPE_CHECKING:  # torch is imported when an optimizer is built: configs validate without it
    import torch

Beta = Annotated[float, Field(ge=0, lt=1)]


class OptimizerConfig(BaseModel):
    """One optimizer: its algorithm and hyper-parameters."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["adam", "adamw", "sgd", "rmsprop"] = Field("adam", description="The algorithm (torch.optim)")
    lr: float = Field(1e-3, gt=0, le=10, description="Learning rate")
    betas: tuple[Beta, Beta] = Field((0.9, 0.999), description="Adam/AdamW betas, each in [0, 1)")
    eps: float = Field(1e-8, gt=0, le=1, description="Added to denominators for numerical stability")
    weight_decay: float = Field(0.0, ge=0, le=1, description="L2 penalty (AdamW: decoupled weight decay)")
    momentum: float = Field(0.0, ge=0, lt=1, description="SGD/RMSprop momentum")
    fused: bool = Field(True, description="Adam/AdamW: torch's fused kernel (the same update, faster)")
    schedule: ScheduleConfig | None = Field(
        None,
        description="How the learning rate changes over the training steps (genfw.schedules); null: the constant lr",
    )

    @field_validator("lr", "eps", "weight_decay", "momentum")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v


def build_optimizer(config: OptimizerConfig, parameters: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The torch optimizer ``config`` describes, over ``parameters``."""
    import torch

    params = list(parameters)
    if config.type in ("adam", "adamw"):
        cls = torch.optim.Adam if config.type == "adam" else torch.optim.AdamW
        fused = config.fused and _fused_supported(params)
        kwargs: dict[str, Any] = {
            "lr": config.lr,
            "betas": config.betas,
            "eps": config.eps,
            "weight_decay": config.weight_decay,
        }
        return cls(params, fused=fused or None, **kwargs)  # None: torch's default implementation
    if config.type == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    return torch.optim.RMSprop(
        params, lr=config.lr, eps=config.eps, momentum=config.momentum, weight_decay=config.weight_decay
    )


def _fused_supported(params: list[torch.nn.Parameter]) -> bool:
    """torch's fused Adam takes floating-point parameters on the CPU or CUDA."""
    return bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
