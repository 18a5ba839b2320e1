"""Checking a run before it runs: build everything a run builds, train nothing, write nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genfw.building import build_dataset, build_latent, build_loggers, build_model, build_network, seeded_init
from genfw.config.resolution import ResolvedConfig
from genfw.contexts import LoggerContext
from genfw.networks.fit import check_networks_fit
from genfw.schedules import build_schedulers
from genfw.training.curve_keys import check_curve_keys
from genfw.training.steps import total_steps


def check_run(resolved: ResolvedConfig) -> dict[str, Any]:
    """Load the dataset, build the latent spec, the model (its ``check`` first, then its
    networks, losses and augmentations) and the loggers, so every error a run would hit before
    its first step is raised now, including networks that do not fit the dataset's images
    (``genfw.networks.fit``). Returns a summary: image shape, parameter count, dataset size."""
    data = build_dataset(resolved)
    spec = data.spec
    latent = build_latent(resolved, spec)
    with seeded_init(resolved.config.seed):
        model = build_model(resolved, latent, spec)
        networks = {role: build_network(resolved, role, latent, spec) for role in resolved.networks}
    check_networks_fit(resolved, model, networks, latent, data)
    check_curve_keys(resolved, model, data)
    build_schedulers(
        dict(resolved.optimizers),
        model.optimizers(),
        total_steps(resolved.config.train, len(data.train)),
        resolved.source,
    )
    build_loggers(resolved, LoggerContext(Path(resolved.config.output.dir), 1, 0, quiet=True))
    return {
        "image_shape": data.image_shape,
        "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "train_images": len(data.train),
        "held_out_images": len(data.test) if data.test is not None else 0,
    }
