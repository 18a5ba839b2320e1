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

from genfw.artifacts import CHECKPOINT_FORMAT, atomic_torch_save, safe_torch_load, state_dict_mismatch
from genfw.errors import CheckpointError
from genfw.model import Model


def save_checkpoint(path: Path, model: Model, *, step: int, rng: torch.Generator, config: dict[str, Any],
                    image_shape: tuple[int, int, int], scaler: torch.amp.GradScaler | None = None,
                    train_seconds: float = 0.0) -> None:
    payload = {
        "format": CHECKPOINT_FORMAT,
        "step": step,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizers": {name: opt.state_dict() for name, opt in model.optimizers().items()},
        "rng": rng.get_state(),
        "generator": {k: v.detach().cpu() for k, v in model.generator.state_dict().items()},
        "config": json.dumps(config),
        "image_shape": list(image_shape),
        "grad_scaler": scaler.state_dict() if scaler is not None else {},
        "train_seconds": float(train_seconds),
    }
    atomic_torch_save(payload, path)


def load_checkpoint(path: Path, model: Model, rng: torch.Generator, scaler: torch.amp.GradScaler | None = None) -> tuple[int, float]:
    """Restore ``model`` (weights, optimizers) and ``rng`` in place; returns the step to continue
    from and the training seconds spent so far."""
    obj = safe_torch_load(path, expect_format=CHECKPOINT_FORMAT)
    try:
        model.load_state_dict(obj["model"])
        for name, opt in model.optimizers().items():
            opt.load_state_dict(obj["optimizers"][name])
        rng.set_state(obj["rng"])
        if scaler is not None and obj.get("grad_scaler"):
            scaler.load_state_dict(obj["grad_scaler"])
        return int(obj["step"]), float(obj.get("train_seconds", 0.0))
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint does not fit this model: {state_dict_mismatch(exc)}", where=str(path),
                              fix="resume with the config the run was started with") from None


def checkpoint_config(path: Path) -> dict[str, Any]:
    """The resolved config recorded in a checkpoint."""
    obj = safe_torch_load(path, expect_format=CHECKPOINT_FORMAT)
    return json.loads(obj["config"])


def load_trained_model(path: Path, plugins_dirs: tuple[str, ...] = ()):
    """Rebuild a whole model (all networks, e.g. InfoGAN's Q) from a run directory or checkpoint.

    Returns ``(resolved config, latent spec, model)`` with the model in eval mode on the CPU.
    """
    from genfw.artifacts import CHECKPOINT_DIR, LAST_CHECKPOINT
    from genfw.components import build_latent, build_model
    from genfw.config import validate_recorded_config

    path = Path(path)
    ckpt = path / CHECKPOINT_DIR / LAST_CHECKPOINT if path.is_dir() else path
    obj = safe_torch_load(ckpt, expect_format=CHECKPOINT_FORMAT)
    resolved = validate_recorded_config(json.loads(obj["config"]), plugins_dirs, source=f"{ckpt} (recorded config)")
    latent = build_latent(resolved)
    model = build_model(resolved, latent, tuple(obj["image_shape"]))
    try:
        model.load_state_dict(obj["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"weights do not fit the recorded model: {state_dict_mismatch(exc)}", where=str(ckpt),
                              fix="the file's weights and its recorded config disagree; use the file as the run wrote it") from None
    return resolved, latent, model.eval()
