"""Per-image shape statistics of grayscale digit images, for measuring what a latent code controls.

Images are numpy float arrays ``[N, H, W]`` or ``[N, 1, H, W]`` with ink in [0, 1] (values are
clipped to that range) on a 0 background; torch tensors are accepted. Coordinates: x is the
column index (to the right), y points *up* (minus the row index). Images without ink give NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats


def _as_images(images: Any) -> np.ndarray:
    arr = np.asarray(images, dtype=np.float64)
    if arr.ndim == 4:
        if arr.shape[1] != 1:
            raise ValueError(f"expected one channel, got images of shape {arr.shape}")
        arr = arr[:, 0]
    if arr.ndim != 3:
        raise ValueError(f"expected images [N, H, W] or [N, 1, H, W], got shape {arr.shape}")
    return np.clip(arr, 0.0, 1.0)


def _central_moments(img: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ink mass and the intensity-weighted central second moments var(x), var(y), cov(x, y)
    (in pixels^2, y pointing up), each ``[N]``; NaN where there is no ink."""
    _, h, w = img.shape
    xs = np.arange(w, dtype=np.float64)
    ys = -np.arange(h, dtype=np.float64)  # row index grows downwards; y up
    mass = img.sum((1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        px = img.sum(1) / mass[:, None]  # marginal over x, [N, W]
        py = img.sum(2) / mass[:, None]  # marginal over y, [N, H]
        mx, my = px @ xs, py @ ys
        dx, dy = xs[None, :] - mx[:, None], ys[None, :] - my[:, None]
        var_x = (px * dx**2).sum(1)
        var_y = (py * dy**2).sum(1)
        cov_xy = np.einsum("nhw,nh,nw->n", img, dy, dx) / mass
    return mass, var_x, var_y, cov_xy


def slant(images: Any, *, method: str = "principal") -> np.ndarray:
    """Slant of each image in radians from vertical, positive when the top leans right ("/"),
    ``[N]`` float64.

    ``method="principal"`` (default): the orientation of the principal (major) axis of the ink's
    second-moment ellipse, ``0.5 * atan2(2 cov(x,y), var(y) - var(x))``, in (-pi/2, pi/2]; exact
    for a rotated bar of any thickness; ill-defined for round blobs.
    ``method="shear"``: ``atan(cov(x,y) / var(y))``, the angle of the least-squares line x(y),
    i.e. the shear that MNIST deskewing removes; exact for thin strokes, in (-pi/2, pi/2).
    """
    _, var_x, var_y, cov_xy = _central_moments(_as_images(images))
    if method == "principal":
        return 0.5 * np.arctan2(2.0 * cov_xy, var_y - var_x)
    if method == "shear":
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.arctan(cov_xy / var_y)
    raise ValueError(f"method must be 'principal' or 'shear', got {method!r}")


def ink_width(images: Any) -> np.ndarray:
    """Horizontal extent of the ink: the intensity-weighted standard deviation of x (square root
    of the central second moment along x), in pixels, ``[N]`` float64."""
    _, var_x, _, _ = _central_moments(_as_images(images))
    return np.sqrt(var_x)


def _total_variation(img: np.ndarray) -> np.ndarray:
    """Sum of ``sqrt(dx^2 + dy^2)`` over forward differences of zero-padded images, ``[N]``.
    For a binary image this approximates its boundary length in pixels at any orientation (a 45
    degree staircase step counts sqrt(2), like the edge it approximates); it is short at convex
    corners, where one difference counts sqrt(2) for two unit edges (a lone pixel: 2 + sqrt(2),
    not 4), which is why stroke widths are close rather than exact."""
    p = np.pad(img, ((0, 0), (1, 1), (1, 1)))
    gx = p[:, :-1, 1:] - p[:, :-1, :-1]
    gy = p[:, 1:, :-1] - p[:, :-1, :-1]
    return np.sqrt(gx**2 + gy**2).sum((1, 2))


def stroke_width(images: Any, *, threshold: float = 0.3) -> np.ndarray:
    """Mean stroke thickness in pixels, ``[N]`` float64: total ink divided by stroke length.

    Stroke length is half the perimeter of the ink region ``{pixel > threshold}``, measured by
    :func:`_total_variation`. A stroke of length L and width w has ink L*w and perimeter about
    2(L + w), so this gives about w * L / (L + w): close to w for long strokes and increasing in
    w. The perimeter is taken on the thresholded region because on grayscale ink it would shrink
    with contrast: a faint, anti-aliased 1-pixel line would read as 2 pixels wide.
    """
    img = _as_images(images)
    perimeter = _total_variation((img > threshold).astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(perimeter > 0, 2.0 * img.sum((1, 2)) / perimeter, np.nan)


def code_effect(code_values: Any, stat_values: Any) -> dict[str, float]:
    """How an image statistic follows a swept code value.

    Returns ``{"spearman", "spearman_p", "pearson", "pearson_p", "n"}``: Spearman's rank and
    Pearson's linear correlation in [-1, 1] with their two-sided p-values, over the ``n`` pairs
    where both values are finite. Correlations are NaN when either side is constant or n < 3.
    """
    c = np.asarray(code_values, dtype=np.float64).ravel()
    s = np.asarray(stat_values, dtype=np.float64).ravel()
    if c.shape != s.shape:
        raise ValueError(f"code_values and stat_values differ in length: {c.size} != {s.size}")
    keep = np.isfinite(c) & np.isfinite(s)
    c, s = c[keep], s[keep]
    out = {"spearman": np.nan, "spearman_p": np.nan, "pearson": np.nan, "pearson_p": np.nan, "n": int(c.size)}
    if c.size < 3 or np.ptp(c) == 0 or np.ptp(s) == 0:  # scipy would warn and return NaN anyway
        return out
    rho, rho_p = stats.spearmanr(c, s)
    r, r_p = stats.pearsonr(c, s)
    out.update(spearman=float(rho), spearman_p=float(rho_p), pearson=float(r), pearson_p=float(r_p))
    return out
