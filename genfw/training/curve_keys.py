"""Whether a model's loss-curve panels name keys the run logs, checked by ``genfw validate``: a
misspelled key (``g_los``) is one line naming it and what the run does log, instead of a panel
that silently stays empty.

What a run logs is found the way a run finds it: one training step (``batch.step`` 0, on a few
real images) of a copy of the model, the model's per-epoch metrics on a few held-out images, and
the learning rates of the roles with a schedule. The copy, a private random generator and
``fork_rng`` leave the model and every global random state untouched.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from genfw.contexts import EvalContext
from genfw.data.base import Dataset
from genfw.errors import PluginError
from genfw.networks.fit import PROBE_BATCH, probe_batch

#: Held-out images the per-epoch metrics are probed on.
PROBE_HELD_OUT = 64


def logged_keys(model: Any, data: Dataset, seed: int) -> set[str] | None:
    """The keys one training step and the per-epoch metrics log; None when the probe step fails
    (training reports that failure better than a guess here)."""
    twin = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        twin.train()
        try:
            out = twin.train_step(
                probe_batch(data.train, min(PROBE_BATCH, len(data.train))), torch.Generator().manual_seed(0)
            )
            ctx = EvalContext(
                twin, twin.latent, data.held_out_limited(PROBE_HELD_OUT), seed=seed, samples=PROBE_HELD_OUT
            )
            metrics = twin.epoch_metrics(ctx)
        except Exception:
            return None
    return set(out) | set(metrics)


def check_curve_keys(resolved: Any, model: Any, data: Dataset) -> None:
    """Raise a one-line :class:`PluginError` when ``model.curves()`` names a key the run never logs."""
    curves = model.curves()
    if not curves:
        return
    logged = logged_keys(model, data, resolved.config.seed)
    if logged is None:
        return
    missing = [(title, key) for title, keys in curves.items() for key in keys if key not in logged]
    if missing:
        title, key = missing[0]
        shown = ", ".join(sorted(logged)) or "nothing"
        raise PluginError(
            f"model {resolved.model.type!r} from plugin {resolved.model.entry.source.describe()} plots "
            f"{key!r} in its loss-curve panel {title!r}, but the run never logs it (it logs: {shown})",
            where=f"{resolved.source}: model",
            fix="this is a bug in that plugin (its curves() must name "
            "keys its train_step or epoch_metrics return); report it to its author",
        )
