"""Learning-rate schedules, one per optimizer role: ``"optimizers": {"generator": {"schedule": {...}}}``.

A schedule changes an optimizer's learning rate over the training steps (one step = one batch,
however many optimizer steps a model takes per batch); without one the lr stays constant. As a
user writes it in a config::

    "optimizers": {"generator": {"lr": 1e-3, "schedule": {"type": "multistep", "milestones": [3000, 6000],
                                                          "gamma": 0.3, "warmup_steps": 200}}}

warms the lr up linearly from 1e-5 (``warmup_start_factor`` 0.01 times the lr) to 1e-3 over
steps 0..200, then multiplies it by 0.3 at steps 3000 and 6000. Step numbers count from the start
of training (0); "the lr at step s" is the lr the optimizer holds while training on batch s.

:func:`build_scheduler` turns a :class:`ScheduleConfig` into one of torch's own
``torch.optim.lr_scheduler`` schedulers (a warm-up is a ``LinearLR`` followed by the main schedule
in a ``SequentialLR``). Step it once per training step, after that step's optimizer steps; a
checkpoint must keep both ``optimizer.state_dict()`` (it holds the current lr) and
``scheduler.state_dict()``, and a resumed run builds the optimizer and the scheduler afresh, then
loads both.
"""

from __future__ import annotations

import itertools
import sys
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:  # torch is imported when a scheduler is built: configs validate without it
    import torch

ScheduleType = Literal["constant", "step", "multistep", "cosine"]

#: The fields that only some types use (all others apply to every type).
_USED_BY: dict[str, tuple[ScheduleType, ...]] = {
    "step_size": ("step",),
    "milestones": ("multistep",),
    "gamma": ("step", "multistep"),
    "min_lr_factor": ("cosine",),
    "cosine_steps": ("cosine",),
}


class ScheduleConfig(BaseModel):
    """One optimizer's learning-rate schedule over the training steps."""

    model_config = ConfigDict(extra="forbid")

    type: ScheduleType = Field(
        "constant",
        description="constant: the lr throughout; step: times gamma every step_size steps; "
        "multistep: times gamma at each of the milestones; cosine: a half cosine from the lr down to lr * min_lr_factor",
    )
    step_size: Annotated[int, Field(gt=0)] | None = Field(
        None,
        description="type step: the lr is multiplied by gamma every step_size steps after the warm-up "
        "(at steps warmup_steps + step_size, warmup_steps + 2 * step_size, ...)",
    )
    milestones: Annotated[list[Annotated[int, Field(gt=0)]], Field(min_length=1)] | None = Field(
        None,
        description="type multistep: the steps (from the start of training, after the warm-up) at which "
        "the lr is multiplied by gamma; strictly increasing",
    )
    gamma: float = Field(
        0.1, gt=0, le=1, description="type step/multistep: the factor the lr is multiplied by at each decay"
    )
    min_lr_factor: float = Field(
        0.0,
        ge=0,
        le=1,
        description="type cosine: the lr at the end of the cosine, as a fraction of the lr (it stays there afterwards)",
    )
    cosine_steps: Annotated[int, Field(gt=0)] | None = Field(
        None, description="type cosine: the cosine's length in steps, after the warm-up; null: to the end of training"
    )
    warmup_steps: int = Field(
        0,
        ge=0,
        description="Linear warm-up from warmup_start_factor * lr at step 0 to the lr at this step, "
        "where the main schedule starts; 0: no warm-up",
    )
    warmup_start_factor: float = Field(
        0.01, gt=0, le=1, description="The lr at step 0 of the warm-up, as a fraction of the lr"
    )

    @field_validator("milestones")
    @classmethod
    def _increasing(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and any(b <= a for a, b in itertools.pairwise(v)):
            raise ValueError(
                f"milestones must be strictly increasing (got {v}): list each step once, in order, "
                f"e.g. {sorted(set(v))}"
            )
        return v

    @model_validator(mode="after")
    def _consistent(self) -> ScheduleConfig:
        # A field of another type is rejected unless it holds its default, so the config a run
        # records (every field, defaults included) validates again.
        for name, types in _USED_BY.items():
            if self.type not in types and getattr(self, name) != type(self).model_fields[name].default:
                users = " and ".join(repr(t) for t in types)
                to = f"to {users}" if len(types) == 1 else "to one of them"
                raise ValueError(
                    f"{name} is used only by type{'s' if len(types) > 1 else ''} {users}, not by "
                    f"{self.type!r}: remove {name}, or set type {to}"
                )
        if self.type == "step" and self.step_size is None:
            raise ValueError(
                "type 'step' requires step_size: the number of steps between two decays (e.g. \"step_size\": 1000)"
            )
        if self.type == "multistep" and self.milestones is None:
            raise ValueError(
                "type 'multistep' requires milestones: the steps at which the lr is multiplied by gamma "
                '(e.g. "milestones": [3000, 6000])'
            )
        if self.milestones is not None and self.milestones[0] <= self.warmup_steps:
            raise ValueError(
                f"milestone {self.milestones[0]} is not after the warm-up (warmup_steps "
                f"{self.warmup_steps}): milestones count from the start of training; move them past "
                f"step {self.warmup_steps} or shorten the warm-up"
            )
        if (
            self.warmup_steps == 0
            and self.warmup_start_factor != type(self).model_fields["warmup_start_factor"].default
        ):
            raise ValueError(
                "warmup_start_factor applies only with a warm-up: set warmup_steps > 0, or remove warmup_start_factor"
            )
        return self


def build_schedulers(
    configs: dict[str, Any], optimizers: dict[str, torch.optim.Optimizer], total_steps: int, source: str = "<config>"
) -> dict[str, torch.optim.lr_scheduler.LRScheduler]:
    """The schedule of every optimizer role whose config (``genfw.optim.OptimizerConfig``) has one,
    by role; a schedule that does not fit the run (a warm-up longer than the training) is one
    ``ConfigError`` line at its JSON path."""
    from genfw.errors import ConfigError

    schedulers = {}
    for role, opt in optimizers.items():
        config = configs.get(role)
        if config is not None and config.schedule is not None:
            try:
                schedulers[role] = build_scheduler(config.schedule, opt, total_steps)
            except ValueError as exc:
                raise ConfigError(str(exc), where=f"{source}: optimizers.{role}.schedule") from None
    return schedulers


def build_scheduler(
    config: ScheduleConfig, optimizer: torch.optim.Optimizer, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """torch's scheduler for ``config`` over ``optimizer``, for a training of ``total_steps`` steps.

    The optimizer's current lr (its ``initial_lr`` if a scheduler already ran on it) is the lr the
    schedule scales. Build it before loading a checkpoint's optimizer and scheduler state: building
    sets the optimizer's lr to the step-0 value.
    """
    from torch.optim import lr_scheduler

    if total_steps < 0:
        raise ValueError(f"total_steps must be >= 0 (got {total_steps})")
    warmup = config.warmup_steps
    schedulers: list[lr_scheduler.LRScheduler] = []
    milestones: list[int] = []  # SequentialLR: the step at which each scheduler after the first starts
    if warmup:
        schedulers.append(
            lr_scheduler.LinearLR(
                optimizer, start_factor=config.warmup_start_factor, end_factor=1.0, total_iters=warmup
            )
        )
        milestones.append(warmup)
    # Every scheduler after the first restarts its count at its milestone, so the main schedule
    # counts from the end of the warm-up.
    if config.type == "constant":
        schedulers.append(lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0))
    elif config.type == "step":
        assert config.step_size is not None  # the config's validation
        schedulers.append(lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma))
    elif config.type == "multistep":
        assert config.milestones is not None
        schedulers.append(
            lr_scheduler.MultiStepLR(optimizer, milestones=[m - warmup for m in config.milestones], gamma=config.gamma)
        )
    else:
        length = config.cosine_steps if config.cosine_steps is not None else total_steps - warmup
        if length <= 0:
            raise ValueError(
                f"a cosine schedule to the end of training needs more training steps ({total_steps}) "
                f"than warm-up steps ({warmup}): train longer, shorten the warm-up or set cosine_steps"
            )
        schedulers.append(
            lr_scheduler.CosineAnnealingLR(optimizer, T_max=length, eta_min=_eta_min(optimizer, config.min_lr_factor))
        )
        # CosineAnnealingLR is periodic: after its half cosine it would climb back, so hold the end value.
        schedulers.append(lr_scheduler.ConstantLR(optimizer, factor=config.min_lr_factor, total_iters=sys.maxsize))
        milestones.append(warmup + length)
    if len(schedulers) == 1:
        return schedulers[0]
    return lr_scheduler.SequentialLR(optimizer, schedulers=schedulers, milestones=milestones)


def _eta_min(optimizer: torch.optim.Optimizer, factor: float) -> float:
    """lr * factor: CosineAnnealingLR takes one eta_min for all parameter groups."""
    lrs = {float(group.get("initial_lr", group["lr"])) for group in optimizer.param_groups}
    if factor == 0:
        return 0.0
    if len(lrs) != 1:
        raise ValueError(
            f"a cosine schedule with min_lr_factor > 0 needs one lr for all parameter groups "
            f"(got {sorted(lrs)}): use min_lr_factor 0 or one lr"
        )
    return lrs.pop() * factor
