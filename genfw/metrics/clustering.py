"""Clustering metrics: how well unsupervised cluster assignments match ground-truth labels.

Inputs are 1-D integer arrays of equal length (numpy arrays, lists or torch tensors). Label and
cluster ids may be any integers; they need not be 0..k-1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


def _as_int_1d(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _pair(labels: Any, clusters: Any) -> tuple[np.ndarray, np.ndarray]:
    y, c = _as_int_1d(labels, "labels"), _as_int_1d(clusters, "clusters")
    if y.shape[0] != c.shape[0]:
        raise ValueError(f"labels and clusters differ in length: {y.shape[0]} != {c.shape[0]}")
    if y.shape[0] == 0:
        raise ValueError("labels and clusters are empty")
    return y, c


def _hungarian(y: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cluster ids, label ids, the cluster x label count table, and the matched (row, col) pairs."""
    label_ids, y_idx = np.unique(y, return_inverse=True)
    cluster_ids, c_idx = np.unique(c, return_inverse=True)
    counts = np.zeros((cluster_ids.size, label_ids.size), dtype=np.int64)
    np.add.at(counts, (c_idx, y_idx), 1)
    # linear_sum_assignment handles rectangular tables: it matches min(#clusters, #labels) pairs.
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return cluster_ids, label_ids, counts, rows, cols


def cluster_matching(labels: Any, clusters: Any) -> dict[int, int]:
    """The one-to-one cluster -> label mapping that maximises the number of agreeing points
    (Hungarian matching on the cluster x label contingency table).

    Returns ``{cluster_id: label_id}``. When there are more clusters than labels, only
    ``#labels`` clusters are matched; the others are absent from the dict (their points count as
    errors in :func:`cluster_accuracy`). With more labels than clusters, some labels go unused.
    """
    cluster_ids, label_ids, _, rows, cols = _hungarian(*_pair(labels, clusters))
    return {int(cluster_ids[r]): int(label_ids[k]) for r, k in zip(rows, cols)}


def cluster_accuracy(labels: Any, clusters: Any) -> float:
    """Unsupervised clustering accuracy in [0, 1]: the fraction of points whose cluster is
    mapped to their label under the best one-to-one matching (:func:`cluster_matching`)."""
    y, c = _pair(labels, clusters)
    _, _, counts, rows, cols = _hungarian(y, c)
    return float(counts[rows, cols].sum() / y.size)


def nmi(labels: Any, clusters: Any) -> float:
    """Normalized mutual information in [0, 1] (scikit-learn, arithmetic normalisation);
    1 means the clustering determines the labels and vice versa."""
    y, c = _pair(labels, clusters)
    return float(normalized_mutual_info_score(y, c))


def ari(labels: Any, clusters: Any) -> float:
    """Adjusted Rand index (scikit-learn): 1 for identical partitions, about 0 for random ones,
    negative when worse than chance."""
    y, c = _pair(labels, clusters)
    return float(adjusted_rand_score(y, c))


def prediction_entropy(clusters: Any, k: int) -> float:
    """Entropy, in nats, of the histogram of predicted classes ``0..k-1``.

    ``ln k`` means all k classes are predicted equally often; 0 means one class only (collapse).
    """
    c = _as_int_1d(clusters, "clusters")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if c.size == 0:
        raise ValueError("clusters is empty")
    if c.min() < 0 or c.max() >= k:
        raise ValueError(f"cluster ids must lie in [0, {k}), got [{c.min()}, {c.max()}]")
    p = np.bincount(c, minlength=k) / c.size
    p = p[p > 0]  # 0 log 0 = 0
    return float(-(p * np.log(p)).sum())
