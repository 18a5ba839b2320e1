"""Statistics for periodic values (angles), where a rank correlation of the raw angle is wrong:
-pi and pi are the same angle, and an effect that goes up and back down over a turn has no rank
trend at all."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def circular_linear_correlation(angles: Any, values: Any) -> dict[str, float]:
    """How strongly a linear quantity ``values`` depends on ``angles`` (radians): Mardia's
    circular-linear correlation r in [0, 1], the multiple correlation of ``values`` with
    ``cos(angle)`` and ``sin(angle)``. It does not depend on where the circle is cut, and it sees
    any effect of the form a cos(angle - phase) (one bump per turn). The p-value uses that
    n r^2 is chi-square with 2 degrees of freedom under independence (p = exp(-n r^2 / 2)).

    Returns ``{"circular_linear", "circular_linear_p", "n"}`` (NaN where undefined: fewer than 3
    finite pairs, or no variation).
    """
    a = np.asarray(angles, np.float64).ravel()
    x = np.asarray(values, np.float64).ravel()
    keep = np.isfinite(a) & np.isfinite(x)
    a, x = a[keep], x[keep]
    out = {"circular_linear": math.nan, "circular_linear_p": math.nan, "n": int(a.size)}
    if a.size < 3 or np.std(x) == 0:
        return out
    c, s = np.cos(a), np.sin(a)
    if np.std(c) == 0 or np.std(s) == 0:
        return out

    def corr(u: np.ndarray, v: np.ndarray) -> float:
        return float(np.corrcoef(u, v)[0, 1])

    rxc, rxs, rcs = corr(x, c), corr(x, s), corr(c, s)
    denom = 1.0 - rcs * rcs
    if denom <= 1e-12:
        return out
    r2 = max(0.0, (rxc * rxc + rxs * rxs - 2.0 * rxc * rxs * rcs) / denom)
    r = min(1.0, math.sqrt(r2))
    out.update(circular_linear=r, circular_linear_p=math.exp(-a.size * r * r / 2.0))
    return out
