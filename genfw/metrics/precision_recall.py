"""Precision and recall for generative models (Kynkäänniemi et al. 2019, "Improved precision and
recall metric for assessing generative models").

Each set of feature vectors estimates its own manifold as the union of balls around its points,
each ball reaching that point's k-th nearest neighbour in the same set. Precision is the share of
generated samples inside the real manifold (fidelity: do samples look real?); recall is the share
of real samples inside the generated manifold (coverage: is every kind of real sample generated?).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genfw.metrics.distances import _pair


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise squared Euclidean distances ``[len(a), len(b)]`` (float64, clipped at 0)."""
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def knn_radii(feats: np.ndarray, k: int, batch: int = 1024) -> np.ndarray:
    """Each row's squared distance to its k-th nearest other row, ``[N]``."""
    n = feats.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k must be in [1, {n - 1}] for {n} points, got {k}")
    out = np.empty(n)
    for start in range(0, n, batch):
        d = _squared_distances(feats[start : start + batch], feats)
        # The point itself is at distance 0, so the k-th nearest *other* point is the (k+1)-th smallest.
        out[start : start + batch] = np.partition(d, k, axis=1)[:, k]
    return out


def _inside(points: np.ndarray, centres: np.ndarray, radii: np.ndarray, batch: int = 1024) -> np.ndarray:
    """Whether each point lies in at least one ball (centre, squared radius)."""
    inside = np.zeros(points.shape[0], dtype=bool)
    for start in range(0, points.shape[0], batch):
        d = _squared_distances(points[start : start + batch], centres)
        inside[start : start + batch] = (d <= radii[None, :]).any(1)
    return inside


#: The neighbourhood size of the paper (Kynkäänniemi et al. 2019) and of its official code.
DEFAULT_K = 3


def precision_recall(real: Any, fake: Any, *, k: int = DEFAULT_K) -> dict[str, float]:
    """``{"precision", "recall"}`` in [0, 1] of feature sets ``real`` and ``fake`` (``[N, D]``
    each, rows are samples) with k-nearest-neighbour manifolds (the paper uses k = 3).
    Identical sets score 1 and 1; a generator that drops half of the real modes scores a recall
    of about 0.5 and a precision of about 1. Deterministic (no randomness)."""
    r, f = _pair(real, fake)
    precision = float(_inside(f, r, knn_radii(r, k)).mean())
    recall = float(_inside(r, f, knn_radii(f, k)).mean())
    return {"precision": precision, "recall": recall, "k": k, "real": int(r.shape[0]), "fake": int(f.shape[0])}
