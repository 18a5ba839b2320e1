"""Portable seeds: the one random number generator of the ONNX contract (docs/onnx.md, "Seeds").

A seed must give the same codes, and so the same images, in ``genfw.runtime`` (numpy) and in
genfw-web.js (JavaScript), and in any app that reimplements this page of arithmetic. So the draws
use SplitMix64 (Steele, Lea and Flood 2014; integer arithmetic modulo 2^64 only), counter-based:

- ``splitmix64(s, c)`` is output number ``c`` (from 0) of SplitMix64 seeded with ``s``:
  ``mix64(s + GAMMA * (c + 1))`` modulo 2^64;
- the code at input position ``j`` draws from its own stream, keyed ``key = splitmix64(seed, j)``;
- draw number ``c`` of a code is the uniform ``u(c) = (splitmix64(key, c) >> 11) * 2^-53`` in [0, 1)
  (53 bits: every such float64 is exact in every language);
- the priors use these counters, sample ``i`` (from 0) and dimension ``d`` of a code of width
  ``dim``: uniform ``low + (high - low) * u(i*dim + d)``; normal (Box-Muller)
  ``mean + std * sqrt(-2 ln(1 - u(2m))) * cos(2 pi u(2m + 1))`` with ``m = i*dim + d``; bernoulli
  ``1.0 if u(i*dim + d) < p else 0.0``; categorical one index per sample: the first ``k`` with
  ``u(i) * total < cum[k]`` (``cum`` the running sums of ``probs`` from the left in float64,
  ``total`` the last; the last category if none), fed one-hot. All in float64, then rounded to float32.

So sample ``i`` does not depend on how many are drawn (the first 16 of 64 draws are the 16 draws),
and fixing one code leaves every other code's draws as they were. This is the runtime's stream
only: training draws with torch's generator, as before.
"""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np

MASK64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
#: 2^-53: the spacing of the uniform floats in [0, 1).
UNIT = 2.0**-53
#: Seeds are the integers 0 .. 2^64 - 1 (JavaScript: a Number up to 2^53 - 1, or a BigInt).
MAX_SEED = MASK64


def _mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function on uint64 arrays (wrapping multiplication, as the algorithm wants)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(MIX1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(MIX2)
    return z ^ (z >> np.uint64(31))


def splitmix64(seed: int, counters: np.ndarray) -> np.ndarray:
    """Outputs number ``counters`` (uint64 array) of SplitMix64 seeded with ``seed``."""
    with np.errstate(over="ignore"):
        return _mix64(np.uint64(seed) + np.uint64(GAMMA) * (np.asarray(counters, np.uint64) + np.uint64(1)))


def stream_key(seed: int, position: int) -> int:
    """The key of the code at input ``position``: its own stream of draws."""
    return int(splitmix64(seed, np.array([position], np.uint64))[0])


def uniforms(key: int, counters: np.ndarray) -> np.ndarray:
    """``u(c)`` for each counter: float64 in [0, 1), multiples of 2^-53."""
    return (splitmix64(key, counters) >> np.uint64(11)).astype(np.float64) * UNIT


def check_seed(seed: Any) -> int:
    """A seed as an integer 0 .. 2^64 - 1; None draws a fresh one (never repeated on purpose)."""
    if seed is None:
        return secrets.randbits(64)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"a seed is an integer from 0 to 2^64 - 1, not {seed!r}")
    return int(seed)


def draw_prior(prior: dict[str, Any], dim: int, n: int, seed: int, position: int) -> np.ndarray:
    """``n`` draws ``[n, dim]`` (float32) of a prior of a named kind for the code at ``position``."""
    key = stream_key(seed, position)
    kind = prior["kind"]
    cells = np.arange(n * dim, dtype=np.uint64)
    if kind == "uniform":
        low, high = float(prior.get("low", -1.0)), float(prior.get("high", 1.0))
        x = low + (high - low) * uniforms(key, cells)
    elif kind == "normal":
        u1, u2 = 1.0 - uniforms(key, 2 * cells), uniforms(key, 2 * cells + np.uint64(1))
        x = float(prior.get("mean", 0.0)) + float(prior.get("std", 1.0)) * (
            np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
        )
    elif kind == "bernoulli":
        x = (uniforms(key, cells) < float(prior.get("p", 0.5))).astype(np.float64)
    elif kind == "categorical":
        probs = [float(p) for p in prior.get("probs") or [1.0 / dim] * dim]
        cum = np.cumsum(probs)  # left to right, like a loop: the same sums as in any language
        index = np.searchsorted(cum, uniforms(key, np.arange(n, dtype=np.uint64)) * cum[-1], side="right")
        x = np.eye(dim)[np.minimum(index, dim - 1)]
    else:
        raise KeyError(kind)
    return np.asarray(x, np.float32).reshape(n, dim)
