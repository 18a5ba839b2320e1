"""Distances between two sets of feature vectors (rows are samples): Frechet distance and KID.

Both take arrays ``[N, D]`` (numpy or torch) and compute in float64. Neither is a metric on
samples; they compare the two distributions the rows were drawn from.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import linalg


def _as_features(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D [N, D], got shape {arr.shape}")
    if arr.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 rows, got {arr.shape[0]}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def _pair(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    fa, fb = _as_features(a, "feats_a"), _as_features(b, "feats_b")
    if fa.shape[1] != fb.shape[1]:
        raise ValueError(f"feature dimensions differ: {fa.shape[1]} != {fb.shape[1]}")
    return fa, fb


def frechet_distance(feats_a: Any, feats_b: Any, *, eps: float = 1e-6) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (the formula of FID):

    ``|mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2))``, in squared feature units; 0 for
    identical sets. When the product of covariances is singular (e.g. dead feature dimensions, or
    fewer samples than dimensions) ``eps`` is added to both diagonals before the square root. Imaginary parts that round-off leaves in the
    square root are discarded; large ones raise ValueError.
    """
    fa, fb = _pair(feats_a, feats_b)
    mu_a, mu_b = fa.mean(0), fb.mean(0)
    cov_a = np.atleast_2d(np.cov(fa, rowvar=False))
    cov_b = np.atleast_2d(np.cov(fb, rowvar=False))
    with warnings.catch_warnings():
        warnings.simplefilter("error", linalg.LinAlgWarning)  # scipy's "matrix is singular"
        try:
            covmean = linalg.sqrtm(cov_a @ cov_b)
            singular = not np.isfinite(covmean).all()
        except linalg.LinAlgWarning:
            singular = True
    if singular:
        offset = np.eye(cov_a.shape[0]) * eps
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", linalg.LinAlgWarning)
            covmean = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    if np.iscomplexobj(covmean):
        # The product of two PSD matrices has a real square root; imaginary parts are round-off.
        scale = max(1.0, float(np.abs(covmean).max()))
        if np.abs(covmean.imag).max() > 1e-3 * scale:
            raise ValueError(f"sqrtm left a large imaginary part ({np.abs(covmean.imag).max():.3g})")
        covmean = covmean.real
    diff = mu_a - mu_b
    value = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean)
    return float(max(value, 0.0))  # the true value is >= 0; round-off can dip just below


def _polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic kernel k(u, v) = (u.v / d + 1)^3."""
    m, d = x.shape
    k_xx = (x @ x.T / d + 1.0) ** 3
    k_yy = (y @ y.T / d + 1.0) ** 3
    k_xy = (x @ y.T / d + 1.0) ** 3
    # Unbiased: the diagonal k(x_i, x_i) terms are left out of the within-set means.
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.mean())


def kernel_inception_distance(
    feats_a: Any,
    feats_b: Any,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """Kernel Inception Distance (Binkowski et al. 2018) between two feature sets.

    Returns ``(mean, std)`` over ``subsets`` random subsets (drawn without replacement from
    each set by ``rng``) of the unbiased MMD^2 with the cubic polynomial kernel, in kernel units;
    about 0 for sets from the same distribution. When the two sets share rows (e.g. a set with
    itself) the subsets overlap and the estimate comes out slightly negative. ``subset_size`` is
    clipped to the size of the smaller set.
    """
    fa, fb = _pair(feats_a, feats_b)
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator")
    if subsets < 1:
        raise ValueError(f"subsets must be >= 1, got {subsets}")
    m = min(subset_size, fa.shape[0], fb.shape[0])
    if m < 2:
        raise ValueError(f"subset_size must be >= 2, got {subset_size}")
    values = np.empty(subsets)
    for i in range(subsets):
        x = fa[rng.choice(fa.shape[0], m, replace=False)]
        y = fb[rng.choice(fb.shape[0], m, replace=False)]
        values[i] = _polynomial_mmd2(x, y)
    return float(values.mean()), float(values.std())


def per_class_frechet(
    feats_a: Any, classes_a: Any, feats_b: Any, classes_b: Any, *, min_samples: int = 10
) -> dict[int, dict[str, Any]]:
    """Frechet distance between the rows of each class in two labelled feature sets (e.g.
    generated samples by the class a classifier assigns, against real images by their label):
    ``{class: {"frechet": value or None, "a": count, "b": count}}``. A class with fewer than
    ``min_samples`` rows on either side gets ``None`` (too few to fit a covariance)."""
    fa, fb = _pair(feats_a, feats_b)
    ca, cb = np.asarray(classes_a).ravel(), np.asarray(classes_b).ravel()
    if ca.shape[0] != fa.shape[0] or cb.shape[0] != fb.shape[0]:
        raise ValueError("each feature set needs one class per row")
    out: dict[int, dict[str, Any]] = {}
    for c in sorted(set(ca.tolist()) | set(cb.tolist())):
        a, b = fa[ca == c], fb[cb == c]
        value = frechet_distance(a, b) if min(len(a), len(b)) >= max(min_samples, 2) else None
        out[int(c)] = {"frechet": value, "a": len(a), "b": len(b)}
    return out
