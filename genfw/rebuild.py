"""Rebuilding a trained generator from what a run left (``genfw.artifacts``' files): the recorded
config is validated against the plugins the user trusts (``genfw.session``), the model is built
from it and the stored weights are loaded into its generator.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from genfw.artifacts import (
    CHECKPOINT_DIR,
    CHECKPOINT_FORMAT,
    GENERATOR_FILE,
    GENERATOR_FORMAT,
    LAST_CHECKPOINT,
    recorded_data_spec,
    safe_torch_load,
    state_dict_mismatch,
    warn_if_plugins_changed,
)
from genfw.building import build_latent, build_model
from genfw.data.spec import DataSpec
from genfw.errors import CheckpointError
from genfw.latent import LatentSpec
from genfw.session import validate_recorded_config


@dataclass
class LoadedGenerator:
    """A generator rebuilt from a run, in eval mode on the CPU."""

    generator: nn.Module
    latent: LatentSpec
    data: DataSpec  # what the training data provided
    config: dict[str, Any]  # the resolved config it was trained with
    source: Path
    model_type: type  # the model class that trained it (for its hooks, e.g. category meanings)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.data.image_shape


def load_generator(
    path: str | os.PathLike, plugins_dirs: tuple[str, ...] = (), *, trust_recorded: bool = False
) -> LoadedGenerator:
    """Rebuild the generator from a run directory, its ``generator.pt`` or a checkpoint.

    The model is rebuilt from the recorded config and asked for its generator (whatever that is
    built from: one network, a moving average of one, several composed), into which the stored
    generator weights are loaded.
    """
    path = Path(path)
    if path.is_dir():
        candidates = [path / GENERATOR_FILE, path / CHECKPOINT_DIR / LAST_CHECKPOINT]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise CheckpointError(
                "not a genfw run directory: it has no generator.pt or checkpoints/last.pt",
                where=str(path),
                fix="pass a directory written by `genfw run` that finished or saved a checkpoint",
            )
        path = found
    obj = safe_torch_load(path, expect_format=(GENERATOR_FORMAT, CHECKPOINT_FORMAT))
    try:
        config = json.loads(obj["config"])
        state = obj["state_dict"] if obj["format"] == GENERATOR_FORMAT else obj["generator"]
    except (KeyError, TypeError, json.JSONDecodeError):
        raise CheckpointError(
            "the file lacks its config or weights", where=str(path), fix="re-export it from the run"
        ) from None
    resolved = validate_recorded_config(
        config, plugins_dirs, source=f"{path} (recorded config)", trust_recorded=trust_recorded
    )
    warn_if_plugins_changed(resolved, obj, path)
    data = recorded_data_spec(obj, path)
    latent = build_latent(resolved, data)
    model = build_model(resolved, latent, data)
    generator = model.generator
    try:
        generator.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(
            f"weights do not fit the recorded network: {state_dict_mismatch(exc)}",
            where=str(path),
            fix="the file's weights and its recorded config disagree; use the file as the run wrote it",
        ) from None
    generator.eval()
    return LoadedGenerator(generator, latent, data, config, path, type(model))
