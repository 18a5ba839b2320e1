"""The maximum mean discrepancy between two samples, the WAE's distance between distributions."""

from __future__ import annotations

import torch

#: Multiples of the kernel's base width, summed (as in the WAE authors' code): no one width
#: fits every stage of training.
SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def squared_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """|x_i - y_j|^2 for every pair, ``[n, m]``. Element-wise, so it stays in float32 under
    autocast (a bf16 matmul would lose the small distances that matter)."""
    return (x.unsqueeze(1) - y.unsqueeze(0)).pow(2).sum(2)


def imq_mmd(x: torch.Tensor, y: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Unbiased estimate of MMD^2 between samples ``x [n, d]`` and ``y [m, d]`` under the
    inverse multiquadratic kernel k(a, b) = C / (C + |a - b|^2), summed over C = 2 d scale^2 s for
    s in SCALES (Tolstikhin et al. 2018). 0 in expectation when both come from one distribution."""
    n, m, d = x.shape[0], y.shape[0], x.shape[1]
    xx, yy, xy = squared_distances(x, x), squared_distances(y, y), squared_distances(x, y)
    total = x.new_zeros(())
    for s in SCALES:
        c = 2 * d * scale**2 * s
        kxx, kyy, kxy = c / (c + xx), c / (c + yy), c / (c + xy)
        total = (total + (kxx.sum() - kxx.diagonal().sum()) / max(n * (n - 1), 1)
                 + (kyy.sum() - kyy.diagonal().sum()) / max(m * (m - 1), 1) - 2 * kxy.mean())
    return total
