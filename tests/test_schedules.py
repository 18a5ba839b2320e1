"""Learning-rate schedules (genfw.schedules): the lr a real torch optimizer holds at each training
step under the scheduler build_scheduler returns, resuming from saved state, and config errors."""

from __future__ import annotations

import io
import itertools
import json
import math

import pytest
import torch
from genfw_testing import base_config
from pydantic import ValidationError

from genfw.optim import OptimizerConfig, build_optimizer
from genfw.schedules import ScheduleConfig, build_scheduler

# A scheduler warning (e.g. stepped before its optimizer) fails the test. torch releases before
# 2.9 warn about SequentialLR's own internal step(0) at each milestone: that one is torch's.
pytestmark = [pytest.mark.filterwarnings("error"),
              pytest.mark.filterwarnings("ignore:The epoch parameter in `scheduler.step\\(\\)`:UserWarning")]


def _optimizer(lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.ones(3))], lr=lr, momentum=0.5)


def _train(optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler, steps: int) -> list[float]:
    """The lr (of the first parameter group) at each of ``steps`` training steps: a real update,
    then the scheduler's step."""
    lrs = []
    for _ in range(steps):
        assert scheduler.get_last_lr() == [group["lr"] for group in optimizer.param_groups]
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.zero_grad()
        params = optimizer.param_groups[0]["params"]
        sum((p ** 2).sum() for p in params).backward()
        optimizer.step()
        scheduler.step()
    return lrs


def lrs(schedule: dict, steps: int, *, lr: float = 1.0, total_steps: int = 100) -> list[float]:
    """The lr at training steps 0 .. steps - 1 for a ``schedule`` written as in a config."""
    optimizer = _optimizer(lr)
    return _train(optimizer, build_scheduler(ScheduleConfig(**schedule), optimizer, total_steps), steps)


def warmup_lr(lr: float, start_factor: float, warmup_steps: int, step: int) -> float:
    return lr * (start_factor + (1 - start_factor) * step / warmup_steps)


def cosine_lr(lr: float, min_lr: float, length: int, step: int) -> float:
    return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * step / length)) / 2


# -- each type ---------------------------------------------------------------------------------------
def test_no_schedule_and_constant_keep_the_lr():
    assert OptimizerConfig().schedule is None
    assert lrs({}, 12, lr=0.3) == [0.3] * 12
    assert lrs({"type": "constant"}, 12, lr=0.3) == [0.3] * 12


def test_step_multiplies_by_gamma_every_step_size_steps():
    assert lrs({"type": "step", "step_size": 3, "gamma": 0.5}, 10) == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]


def test_multistep_halves_the_lr_exactly_at_the_milestones():
    got = lrs({"type": "multistep", "milestones": [3, 6], "gamma": 0.5}, 10, lr=0.8)
    assert got == [0.8] * 3 + [0.4] * 3 + [0.2] * 4


def test_warmup_reaches_the_lr_then_milestones_land_at_their_absolute_steps():
    schedule = {"type": "multistep", "milestones": [6, 9], "gamma": 0.5, "warmup_steps": 4, "warmup_start_factor": 0.1}
    got = lrs(schedule, 12, lr=0.2)
    assert got[:4] == pytest.approx([warmup_lr(0.2, 0.1, 4, s) for s in range(4)], rel=1e-12)
    assert got[0] == pytest.approx(0.02, rel=1e-12) and got[0] < got[1] < got[2] < got[3] < 0.2
    assert got[4:] == [0.2, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05]  # the lr at warmup_steps, then halved at 6 and 9


def test_warmup_with_a_constant_lr():
    got = lrs({"warmup_steps": 5}, 9, lr=0.5)
    assert got[:5] == pytest.approx([warmup_lr(0.5, 0.01, 5, s) for s in range(5)], rel=1e-12)
    assert got[5:] == [0.5] * 4


def test_step_with_warmup_counts_step_size_from_the_end_of_the_warmup():
    got = lrs({"type": "step", "step_size": 3, "gamma": 0.5, "warmup_steps": 2}, 10)
    assert got[2:] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]  # decays at steps 2 + 3 and 2 + 6


def test_cosine_reaches_lr_times_min_lr_factor_at_the_end_of_training():
    total = 20
    got = lrs({"type": "cosine", "min_lr_factor": 0.1}, total + 1, lr=0.5, total_steps=total)
    assert got == pytest.approx([cosine_lr(0.5, 0.05, total, s) for s in range(total + 1)], rel=1e-9)
    assert got[0] == 0.5 and got[-1] == pytest.approx(0.05, rel=1e-12)
    assert all(a > b for a, b in itertools.pairwise(got))


def test_cosine_after_warmup_for_cosine_steps_then_holds_the_minimum():
    schedule = {"type": "cosine", "min_lr_factor": 0.2, "warmup_steps": 3, "cosine_steps": 8}
    got = lrs(schedule, 20, lr=1.0, total_steps=1000)  # cosine_steps, not total_steps, sets the length
    assert got[:3] == pytest.approx([warmup_lr(1.0, 0.01, 3, s) for s in range(3)], rel=1e-12)
    assert got[3:11] == pytest.approx([cosine_lr(1.0, 0.2, 8, s) for s in range(8)], rel=1e-9)
    assert got[3] == 1.0
    assert got[11:] == pytest.approx([0.2] * 9, rel=1e-12)  # torch's cosine alone would climb back up


def test_cosine_down_to_zero():
    got = lrs({"type": "cosine", "warmup_steps": 2}, 13, lr=1e-3, total_steps=12)
    assert got[2] == 1e-3 and got[12] == pytest.approx(0.0, abs=1e-15)


def test_the_optimizer_config_builds_the_optimizer_the_schedule_runs_on():
    config = OptimizerConfig(type="adam", lr=0.01, schedule={"type": "multistep", "milestones": [2], "gamma": 0.5})
    optimizer = build_optimizer(config, [torch.nn.Parameter(torch.ones(2))])
    assert config.schedule is not None
    assert _train(optimizer, build_scheduler(config.schedule, optimizer, 10), 4) == [0.01, 0.01, 0.005, 0.005]


# -- resuming ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("schedule", [
    {},
    {"type": "step", "step_size": 4, "gamma": 0.5, "warmup_steps": 3},
    {"type": "multistep", "milestones": [5, 9, 15], "gamma": 0.3, "warmup_steps": 4},
    {"type": "cosine", "min_lr_factor": 0.1, "warmup_steps": 3},
    {"type": "cosine", "cosine_steps": 6},
], ids=["constant", "step", "multistep", "cosine", "cosine_steps"])
@pytest.mark.parametrize("stop", [2, 4, 7, 12])  # in the warm-up, at its end, in the main schedule, past milestones
def test_state_saved_midway_continues_with_exactly_the_same_lrs(schedule, stop):
    config, total = ScheduleConfig(**schedule), 20
    optimizer = _optimizer(0.1)
    scheduler = build_scheduler(config, optimizer, total)
    first = _train(optimizer, scheduler, stop)
    buffer = io.BytesIO()  # as a checkpoint: saved, and read back with weights_only=True
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, buffer)
    uninterrupted = first + _train(optimizer, scheduler, total - stop)

    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    fresh = _optimizer(0.1)
    resumed = build_scheduler(config, fresh, total)  # built first: building sets the optimizer's lr
    fresh.load_state_dict(saved["optimizer"])  # it holds the current lr, which the scheduler continues from
    resumed.load_state_dict(saved["scheduler"])
    assert first + _train(fresh, resumed, total - stop) == uninterrupted


# -- config round trip and errors ------------------------------------------------------------------------
@pytest.mark.parametrize("schedule", [
    {"type": "constant", "warmup_steps": 10, "warmup_start_factor": 0.5},
    {"type": "step", "step_size": 100, "gamma": 0.5},
    {"type": "multistep", "milestones": [3000, 6000], "gamma": 0.3, "warmup_steps": 200},
    {"type": "cosine", "min_lr_factor": 0.05, "cosine_steps": 5000},
])
def test_a_recorded_config_with_every_field_validates_again(schedule):
    config = OptimizerConfig(lr=1e-3, schedule=schedule)
    recorded = json.dumps(config.model_dump(mode="json"))  # every field, the defaults of other types included
    assert OptimizerConfig.model_validate_json(recorded, strict=True) == config


@pytest.mark.parametrize("schedule, expected", [
    ({"type": "step"}, ["type 'step' requires step_size", '"step_size": 1000']),
    ({"type": "multistep"}, ["type 'multistep' requires milestones", '"milestones": [3000, 6000]']),
    ({"type": "multistep", "milestones": [6, 3]}, ["milestones must be strictly increasing (got [6, 3])", "e.g. [3, 6]"]),
    ({"type": "multistep", "milestones": [3, 3, 6]}, ["strictly increasing", "list each step once"]),
    ({"type": "multistep", "milestones": [0, 3]}, ["greater than 0"]),
    ({"type": "multistep", "milestones": []}, ["at least 1 item"]),
    ({"type": "multistep", "milestones": [100, 300], "warmup_steps": 100},
     ["milestone 100 is not after the warm-up", "move them past step 100 or shorten the warm-up"]),
    ({"type": "cosine", "milestones": [3, 6]},
     ["milestones is used only by type 'multistep', not by 'cosine'", "remove milestones, or set type to 'multistep'"]),
    ({"type": "constant", "gamma": 0.5}, ["gamma is used only by types 'step' and 'multistep', not by 'constant'"]),
    ({"type": "multistep", "milestones": [3], "min_lr_factor": 0.1}, ["min_lr_factor is used only by type 'cosine'"]),
    ({"type": "step", "step_size": 3, "cosine_steps": 10}, ["cosine_steps is used only by type 'cosine', not by 'step'"]),
    ({"type": "cosine", "step_size": 3}, ["step_size is used only by type 'step'"]),
    ({"warmup_start_factor": 0.1}, ["warmup_start_factor applies only with a warm-up", "set warmup_steps > 0"]),
    ({"type": "linear"}, ["'constant', 'step', 'multistep' or 'cosine'"]),
    ({"type": "step", "step_size": 3, "gamma": 0}, ["greater than 0"]),
    ({"type": "step", "step_size": 3, "gamma": 1.5}, ["less than or equal to 1"]),
    ({"type": "cosine", "min_lr_factor": float("nan")}, ["Input should be"]),  # NaN fails the bounds
    ({"warmup_steps": -1}, ["greater than or equal to 0"]),
    ({"type": "cosine", "warmup": 10}, ["Extra inputs are not permitted"]),
])
def test_config_errors_say_what_is_wrong_and_how_to_fix_it(schedule, expected):
    with pytest.raises(ValidationError) as info:
        OptimizerConfig(schedule=schedule)
    errors = info.value.errors(include_url=False)
    assert len(errors) == 1 and errors[0]["loc"][0] == "schedule", errors
    for fragment in expected:
        assert fragment in errors[0]["msg"], errors[0]["msg"]


def test_an_error_in_a_run_config_names_the_schedule():
    """Through the real config path: one line naming the file and the JSON path."""
    from genfw.config.resolution import validate_config
    from genfw.errors import ConfigError
    from genfw.plugin.loading import load_plugins

    registries = load_plugins([]).registries
    doc = base_config()
    doc["optimizers"]["generator"]["schedule"] = {"type": "cosine", "milestones": [3000]}
    with pytest.raises(ConfigError) as info:
        validate_config(doc, registries, source="run.json")
    assert str(info.value).startswith("run.json: optimizers.generator.schedule: milestones is used only by type 'multistep'")
    doc["optimizers"]["generator"]["schedule"] = {"type": "multistep", "milestones": [3000], "gammma": 0.3}
    with pytest.raises(ConfigError) as info:
        validate_config(doc, registries, source="run.json")
    assert "optimizers.generator.schedule.gammma: unknown key" in str(info.value) and "did you mean 'gamma'?" in str(info.value)
    doc["optimizers"]["generator"]["schedule"] = {"type": "multistep", "milestones": [3000, 6000], "warmup_steps": 200}
    resolved = validate_config(doc, registries, source="run.json")
    assert resolved.optimizers["generator"].schedule == ScheduleConfig(type="multistep", milestones=[3000, 6000], warmup_steps=200)
    assert validate_config(resolved.to_json(), registries, source="config.json").optimizers == resolved.optimizers


def test_build_scheduler_errors():
    with pytest.raises(ValueError, match="needs more training steps \\(5\\) than warm-up steps \\(5\\)"):
        build_scheduler(ScheduleConfig(type="cosine", warmup_steps=5), _optimizer(0.1), 5)
    two_lrs = torch.optim.SGD([{"params": [torch.nn.Parameter(torch.ones(1))], "lr": 0.1},
                               {"params": [torch.nn.Parameter(torch.ones(1))], "lr": 0.2}])
    with pytest.raises(ValueError, match="one lr for all parameter groups"):
        build_scheduler(ScheduleConfig(type="cosine", min_lr_factor=0.1), two_lrs, 10)
    scheduler = build_scheduler(ScheduleConfig(type="cosine"), two_lrs, 10)  # min_lr_factor 0: any lrs
    assert _train(two_lrs, scheduler, 11)[-1] == pytest.approx(0.0, abs=1e-15)
    assert [g["lr"] for g in two_lrs.param_groups] == pytest.approx([0.0, 0.0], abs=1e-15)
