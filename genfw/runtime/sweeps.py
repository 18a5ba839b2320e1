"""Walks through the latent space of a :class:`~genfw.runtime.generator.Generator`: several codes
traversed at once (a grid with a row per code), a path between two latents (linear or spherical),
and the frames of an animation that sweeps one code back and forth.

Each returns codes the generator can run, so an app can show them, save them or feed them to
:meth:`Generator.run`; :func:`genfw.runtime.images.save_gif` writes frames as an animated GIF.
genfw-web.js has the same functions with the same rules (``traverseCodes``, ``interpolate``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np

from genfw.runtime.codes import _is_categorical
from genfw.runtime.errors import CodeError
from genfw.runtime.generator import Batch, Generator

Method = Literal["auto", "linear", "spherical"]
METHODS = ("auto", "linear", "spherical")


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise CodeError(f"{what} must be a positive integer, not {value!r}")
    return int(value)


class Grid(NamedTuple):
    """What :func:`traverse_codes` returns: ``images [rows * columns, C, H, W]`` row by row, the
    codes that made them, and each row's code name."""

    images: np.ndarray
    codes: dict[str, np.ndarray]
    rows: list[str]
    columns: int


def traverse_codes(
    generator: Generator,
    names: Sequence[str] | None = None,
    steps: int = 9,
    seed: int | None = None,
    fixed: Mapping[str, Any] | None = None,
    dtype: str = "float32",
) -> Grid:
    """One row per code in ``names`` (default: every control code not in ``fixed``, else every
    code not in it), each sweeping its code (:meth:`Generator.sweep_values`: a categorical code
    steps through its categories, a continuous one goes over its range) while every other code
    keeps one draw from ``seed`` (or its ``fixed`` value), the same for every row, so the rows
    compare the codes on one image. Every row has the same number of columns: ``steps``, or more
    when a categorical row has more categories (so every category shows; a continuous row then
    takes as many steps)."""
    fixed = dict(fixed or {})
    if names is None:
        free = [c for c in generator.codes if c["name"] not in fixed]
        names = [c["name"] for c in free if c.get("role") == "control"] or [c["name"] for c in free]
    names = list(names)
    if not names:
        raise CodeError("traverse_codes needs at least one code name")
    for name in names:
        generator.code(name)  # an unknown name: one line listing the valid ones
        if name in fixed:
            raise CodeError(f"code {name!r} is both traversed and fixed", fix="leave it out of fixed")
    steps = _count(steps, "steps")
    columns = max([steps] + [generator.code(n)["dim"] for n in names if _is_categorical(generator.code(n))])
    base = generator._sample(1, seed, fixed)  # not sample_codes(**fixed): a code may be named "n" or "seed"
    blocks: list[dict[str, np.ndarray]] = []
    for name in names:
        values = generator.sweep_values(name, columns)
        block = {k: np.repeat(v, len(values), axis=0) for k, v in base.items()}
        block[name] = np.concatenate([generator.code_values(name, v, 1) for v in values], axis=0)
        blocks.append(block)
    codes = {k: np.concatenate([b[k] for b in blocks], axis=0) for k in base}
    return Grid(generator.run(codes, dtype=dtype), codes, names, columns)


def _slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation of the rows ``a`` and ``b`` ``[1, d]`` at fractions ``t [s]``:
    ``[s, d]``. The norm changes linearly between theirs, the direction along the great circle;
    nearly parallel (or zero) vectors fall back to the linear path."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na < 1e-12 or nb < 1e-12:
        return a + (b - a) * t[:, None]
    cos = float(np.clip(np.dot(a[0] / na, b[0] / nb), -1.0, 1.0))
    omega = float(np.arccos(cos))
    if omega < 1e-6 or np.pi - omega < 1e-6:  # parallel, or opposite: no unique great circle
        return a + (b - a) * t[:, None]
    ua, ub = a / na, b / nb
    direction = (np.sin((1 - t) * omega)[:, None] * ua + np.sin(t * omega)[:, None] * ub) / np.sin(omega)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    return direction * ((1 - t) * na + t * nb)[:, None]


def _shortest_arc(a: np.ndarray, b: np.ndarray, t: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """A periodic code (an angle) the short way round its range (low, high]."""
    low, high = (float(x) for x in spec.get("range", (-np.pi, np.pi)))
    period = high - low
    delta = (b - a + period / 2) % period - period / 2
    out = a + delta * t[:, None]
    return high - (high - out) % period


def interpolate(
    generator: Generator,
    start: Mapping[str, Any],
    end: Mapping[str, Any],
    steps: int = 9,
    method: Method = "auto",
    dtype: str = "float32",
) -> Batch:
    """Images along a path from the codes ``start`` to the codes ``end`` (each a full set, e.g.
    ``generator.sample_codes(1, seed=3)``, or values :meth:`Generator.sample_codes` accepts), both
    ends included, ``steps >= 2`` images.

    ``method``: ``linear`` moves every code in a straight line (a categorical code blends its two
    categories); ``spherical`` moves each code's vector along a great circle, keeping its norm in
    between (what a normal prior expects of a latent: a straight line passes through unlikely,
    short vectors); ``auto`` is spherical for codes with a normal prior and linear for the rest.
    A periodic code (an angle) always goes the short way round.
    """
    if method not in METHODS:
        raise CodeError(f"unknown interpolation method {method!r}", fix=f"use one of: {', '.join(METHODS)}")
    steps = _count(steps, "steps")
    if steps < 2:
        raise CodeError(f"an interpolation needs steps >= 2 (its two ends), not {steps}")
    for which, given in (("start", start), ("end", end)):
        missing = [c["name"] for c in generator.codes if c["name"] not in given]
        if missing:
            raise CodeError(
                f"the {which} of an interpolation gives no value for code(s) {', '.join(missing)}",
                fix="give every code, e.g. generator.sample_codes(1, seed=0)",
            )
    t = np.linspace(0.0, 1.0, steps)
    codes: dict[str, np.ndarray] = {}
    for spec in generator.codes:
        name = spec["name"]
        a, b = generator.code_values(name, start[name], 1), generator.code_values(name, end[name], 1)
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        spherical = method == "spherical" or (method == "auto" and spec.get("prior", {}).get("kind") == "normal")
        if spec.get("periodic"):
            path = _shortest_arc(a64, b64, t, spec)
        elif spherical and not _is_categorical(spec):
            path = _slerp(a64, b64, t)
        else:
            path = a64 + (b64 - a64) * t[:, None]
        codes[name] = path.astype(np.float32)
    return Batch(generator.run(codes, dtype=dtype), codes)


def animation_codes(
    generator: Generator,
    code_name: str,
    frames: int = 24,
    n: int = 16,
    seed: int | None = None,
    fixed: Mapping[str, Any] | None = None,
) -> list[dict[str, np.ndarray]]:
    """The codes of ``frames`` frames of ``n`` images each: every other code keeps its draw from
    ``seed`` (``n`` different images), while ``code_name`` goes over its range and back (a
    triangle wave: the loop has no jump; an angle turns once, the same way), exactly ``frames``
    frames; a categorical code steps through its categories once instead (k frames, whatever
    ``frames`` is)."""
    fixed = dict(fixed or {})
    if code_name in fixed:
        raise CodeError(f"code {code_name!r} is both animated and fixed", fix="leave it out of the fixed codes")
    frames = _count(frames, "frames")
    n = _count(n, "the number of images")
    spec = generator.code(code_name)
    if _is_categorical(spec) or spec.get("periodic"):
        values = generator.sweep_values(code_name, None if _is_categorical(spec) else frames)
    else:  # there and back: frame i is 2i/frames of the way up, then down again
        low, high = generator.sweep_values(code_name, 2)
        values = [low + (high - low) * (1 - abs(1 - 2 * i / frames)) for i in range(frames)]
    base = generator._sample(n, seed, fixed)
    out = []
    for value in values:
        codes = dict(base)
        codes[code_name] = generator.code_values(code_name, value, n)
        out.append(codes)
    return out
