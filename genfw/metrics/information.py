"""Information-theoretic estimates for latent codes."""

from __future__ import annotations

from typing import Any

import numpy as np


def mutual_information_lower_bound(entropy: float, nll: Any) -> float:
    """Variational lower bound on the mutual information I(c; x) between a latent code c and the
    generated sample x = G(z, c), in nats:

        I(c; x) = H(c) - H(c | x) >= H(c) + E[log Q(c | x)] = H(c) - mean(nll)

    where ``entropy`` is H(c) of the code's prior (e.g. ln 10 for a uniform 10-way categorical)
    and ``nll`` holds the per-sample negative log-likelihoods -log Q(c_i | x_i) in nats, from any
    recognition network Q (the bound of Barber & Agakov). It holds
    for every Q because H(c | x) <= E[-log Q(c | x)] (cross-entropy >= entropy), and is tight
    when Q equals the true posterior. For continuous codes use differential entropies; the bound
    can then be negative.
    """
    values = np.asarray(nll, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("nll is empty")
    if not np.isfinite(values).all() or not np.isfinite(entropy):
        raise ValueError("entropy and nll must be finite")
    return float(entropy - values.mean())
