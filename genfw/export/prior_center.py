"""The center of a code's prior, as its spec states it: the value a reconstruction gives a code
the encoder does not predict (``genfw.runtime.reconstruct``, ``eval.json``'s ``reconstruction``).
Torch-free (numpy), so the runtime and the evaluation compute the same numbers."""

from __future__ import annotations

from typing import Any

import numpy as np


def prior_center(prior: dict[str, Any], dim: int) -> np.ndarray | None:
    """The mean of the prior, float32 ``[dim]``: a normal's mean, the middle of a uniform, a
    Bernoulli's p, a categorical's probabilities (uniform unless ``probs`` says otherwise: the
    blend of all categories, not one of them); None for a kind the contract does not name."""
    kind = prior.get("kind")
    if kind == "normal":
        return np.full(dim, prior.get("mean", 0.0), np.float32)
    if kind == "uniform":
        return np.full(dim, (prior.get("low", -1.0) + prior.get("high", 1.0)) / 2, np.float32)
    if kind == "bernoulli":
        return np.full(dim, prior.get("p", 0.5), np.float32)
    if kind == "categorical":
        probs = prior.get("probs")
        weights = np.full(dim, 1.0) if probs is None else np.asarray(probs, np.float64)
        return (weights / weights.sum()).astype(np.float32)
    return None
