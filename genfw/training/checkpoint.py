"""Checkpoints: everything needed to continue a run bit-for-bit, with no pickled objects.

A checkpoint holds the model's state dict (all networks and buffers), each optimizer's state,
the step, the training RNG state and the generator weights on their own (so ``genfw export``
and ``genfw sample`` can read a checkpoint of an unfinished run). It is written atomically and
read with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from genfw.artifacts import (
    CHECKPOINT_FORMAT,
    atomic_torch_save,
    recorded_data_spec,
    safe_torch_load,
    state_dict_mismatch,
    warn_if_plugins_changed,
)
from genfw.data.spec import DataSpec
from genfw.errors import CheckpointError, DivergenceError
from genfw.model import Model


def non_finite_tensors(state: dict[str, torch.Tensor]) -> list[str]:
    """The names of floating-point tensors in a state dict that hold NaN or infinity."""
    return [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]


def save_checkpoint(
    path: Path,
    model: Model,
    *,
    step: int,
    rng: torch.Generator,
    config: dict[str, Any],
    data: DataSpec,
    scaler: torch.amp.GradScaler | None = None,
    train_seconds: float = 0.0,
    provenance: dict[str, str] | None = None,
    rank_rngs: list[torch.Tensor] | None = None,
    schedulers: dict[str, Any] | None = None,
) -> None:
    """Write a checkpoint, unless the weights are not finite: a diverged model never replaces the
    last good checkpoint (DivergenceError instead). ``rank_rngs``: every process's training-RNG
    state when several train together (rank 0's is also ``rng``)."""
    bad = non_finite_tensors(model.state_dict())
    if bad:
        raise DivergenceError(
            f"training diverged by step {step}: {bad[0]} holds NaN or infinity (and {len(bad) - 1} "
            f"more tensors); the last good checkpoint {path} is kept (lower the learning rate, or "
            "resume from it with other settings)"
        )
    payload = {
        "format": CHECKPOINT_FORMAT,
        "step": step,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizers": {name: opt.state_dict() for name, opt in model.optimizers().items()},
        "schedulers": {role: s.state_dict() for role, s in (schedulers or {}).items()},
        "rng": rng.get_state(),
        "rank_rngs": list(rank_rngs or []),
        "generator": {k: v.detach().cpu() for k, v in model.generator.state_dict().items()},
        "config": json.dumps(config),
        "data": json.dumps(data.to_json()),
        "grad_scaler": scaler.state_dict() if scaler is not None else {},
        "train_seconds": float(train_seconds),
        "provenance": json.dumps(provenance or {}),
    }
    atomic_torch_save(payload, path)


def load_checkpoint(
    path: Path,
    model: Model,
    rng: torch.Generator,
    scaler: torch.amp.GradScaler | None = None,
    rank: int = 0,
    schedulers: dict[str, Any] | None = None,
) -> tuple[int, float, bool]:
    """Restore ``model`` (weights, optimizers) and ``rng`` in place; returns the step to continue
    from, the training seconds spent so far and whether ``rng`` was restored: process ``rank``
    takes its own RNG state when the run was saved by at least that many processes (checkpoints
    do not depend on the number of processes)."""
    obj = safe_torch_load(path, expect_format=CHECKPOINT_FORMAT)
    try:
        model.load_state_dict(obj["model"])
        for name, opt in model.optimizers().items():
            opt.load_state_dict(obj["optimizers"][name])
        for role, scheduler in (schedulers or {}).items():  # after its optimizer: the lr lives in both
            scheduler.load_state_dict(obj["schedulers"][role])
        states = obj.get("rank_rngs") or []
        restored = rank == 0 or rank < len(states)
        if restored:
            rng.set_state(obj["rng"] if rank == 0 else states[rank])
        if scaler is not None and obj.get("grad_scaler"):
            scaler.load_state_dict(obj["grad_scaler"])
        return int(obj["step"]), float(obj.get("train_seconds", 0.0)), restored
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise CheckpointError(
            f"checkpoint does not fit this model: {state_dict_mismatch(exc)}",
            where=str(path),
            fix="resume with the config the run was started with",
        ) from None


def checkpoint_config(path: Path) -> dict[str, Any]:
    """The resolved config recorded in a checkpoint."""
    obj = safe_torch_load(path, expect_format=CHECKPOINT_FORMAT)
    return json.loads(obj["config"])


def load_trained_model(path: Path, plugins_dirs: tuple[str, ...] = (), *, trust_recorded: bool = False):
    """Rebuild a whole model (all networks, not only the generator) from a run directory or checkpoint.

    Returns ``(resolved config, latent spec, model)`` with the model in eval mode on the CPU.
    """
    from genfw.artifacts import CHECKPOINT_DIR, LAST_CHECKPOINT
    from genfw.building import build_latent, build_model
    from genfw.session import validate_recorded_config

    path = Path(path)
    ckpt = path / CHECKPOINT_DIR / LAST_CHECKPOINT if path.is_dir() else path
    obj = safe_torch_load(ckpt, expect_format=CHECKPOINT_FORMAT)
    try:
        config = json.loads(obj["config"])
        assert isinstance(config, dict)
    except (KeyError, TypeError, ValueError, AssertionError):
        raise CheckpointError(
            "the file lacks its config", where=str(ckpt), fix="pass a checkpoint written by genfw"
        ) from None
    data = recorded_data_spec(obj, ckpt)
    resolved = validate_recorded_config(
        config, plugins_dirs, source=f"{ckpt} (recorded config)", trust_recorded=trust_recorded
    )
    warn_if_plugins_changed(resolved, obj, ckpt)
    latent = build_latent(resolved, data)
    model = build_model(resolved, latent, data)
    try:
        model.load_state_dict(obj["model"])
    except RuntimeError as exc:
        raise CheckpointError(
            f"weights do not fit the recorded model: {state_dict_mismatch(exc)}",
            where=str(ckpt),
            fix="the file's weights and its recorded config disagree; use the file as the run wrote it",
        ) from None
    model.global_step = int(obj.get("step", 0))
    return resolved, latent, model.eval()
