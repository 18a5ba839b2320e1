"""Latent codes as the runtime takes them: the checks a code's spec must pass to fit its model
(``CODE_CHECKS``, priors included), draws from a code's prior with the portable generator, and
the values a caller gives for a code, turned into the model's input (float32 ``[n, dim]``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from genfw.export.seeds import draw_prior
from genfw.runtime.errors import CodeError
from genfw.runtime.file_contract import _short

# -- priors and values -----------------------------------------------------------------------------
PRIOR_KINDS = ("normal", "uniform", "categorical", "bernoulli")
#: How far from 1 a probability vector given for a categorical code may sum (typed by hand: 0.333 x 3).
PROBABILITY_SUM_TOLERANCE = 0.01

FLOAT32_MAX = float(np.finfo(np.float32).max)


def _finite(x: Any) -> bool:
    try:
        return bool(np.all(np.isfinite(np.asarray(x, np.float64))))
    except (TypeError, ValueError):
        return False


def _prior_problem(spec: dict[str, Any]) -> str | None:
    """What is wrong with a code's prior as metadata states it, or None (unknown kinds are left
    to the caller: their values must be given)."""
    prior, dim = spec.get("prior"), spec["dim"]
    if not isinstance(prior, dict):
        return "it is not an object"
    kind = prior.get("kind")
    if kind in PRIOR_KINDS and any(np.ndim(prior.get(field, 0.0)) for field in ("low", "high", "mean", "std", "p")):
        return "low, high, mean, std and p are numbers (the same for every dimension)"
    if kind == "categorical":
        probs = prior.get("probs")
        if probs is not None and (
            not isinstance(probs, list) or len(probs) != dim or not _finite(probs) or min(probs) < 0 or sum(probs) <= 0
        ):
            return f"probs must be {dim} non-negative numbers with a positive sum"
    elif kind == "normal":
        if not (
            _finite(prior.get("mean", 0.0))
            and _finite(prior.get("std", 1.0))
            and np.all(np.asarray(prior.get("std", 1.0), float) >= 0)
        ):
            return "mean and std must be finite, std >= 0"
    elif kind == "uniform":
        low, high = prior.get("low", -1.0), prior.get("high", 1.0)
        if not (_finite(low) and _finite(high) and np.all(np.asarray(low, float) <= np.asarray(high, float))):
            return "low and high must be finite, low <= high"
    elif kind == "bernoulli":
        p = prior.get("p", 0.5)
        if not (_finite(p) and np.all((np.asarray(p, float) >= 0) & (np.asarray(p, float) <= 1))):
            return "p must be in [0, 1]"
    return None


def _is_range(r: Any) -> bool:
    """A spec's suggested range: two finite numbers, low < high."""
    return isinstance(r, (list, tuple)) and len(r) == 2 and _finite(r) and float(r[0]) < float(r[1])


def _positive_int(value: Any) -> int:
    """A size a spec states: a whole number >= 1 (JSON may write it as 10 or 10.0)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 1:
        raise ValueError(value)
    return int(value)


def _shape_text(shape: list[Any]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _is_categorical(spec: dict[str, Any]) -> bool:
    """Whether a code takes categories (an index, a label, a probability vector)."""
    prior = spec.get("prior")
    return (
        (isinstance(prior, dict) and prior.get("kind") == "categorical")
        or spec.get("type") == "categorical"
        or "k" in spec
    )


def _dim_problem(spec: dict[str, Any], shape: list[Any]) -> str | None:
    """The code's width against the model's input ``[batch, dim]``."""
    if len(shape) != 2:
        return f"the model's input {spec['name']!r} has shape {_shape_text(shape)}, not [batch, dim]"
    if isinstance(shape[1], int) and shape[1] != spec["dim"]:
        return f"it says {spec['dim']} but the model's input {spec['name']!r} is [batch, {shape[1]}]"
    return None


def _k_problem(spec: dict[str, Any], shape: list[Any]) -> str | None:
    """A categorical code has one input per category: k = dim."""
    if not _is_categorical(spec):
        return None
    k = spec.get("k", spec["dim"])
    if isinstance(k, bool) or not isinstance(k, (int, float)) or k != spec["dim"]:
        return f"k = {_short(k)} but the model takes {spec['dim']} numbers for it (one per category)"
    return None


def _labels_problem(spec: dict[str, Any], shape: list[Any]) -> str | None:
    """One label (and one ``classes`` entry) per category: they become the page's buttons."""
    if not _is_categorical(spec):
        return None
    for key in ("labels", "classes"):
        value = spec.get(key)
        if value is not None and (not isinstance(value, list) or len(value) != spec["dim"]):
            count = f"{len(value)} entries" if isinstance(value, list) else _short(value)
            return f"{key} has {count} for {spec['dim']} categories"
    if not all(isinstance(label, str) for label in spec.get("labels") or []):
        return "labels must be text"
    return None


def _range_problem(spec: dict[str, Any], shape: list[Any]) -> str | None:
    """A slider's range: two finite numbers, low < high."""
    if "range" not in spec or _is_range(spec["range"]):
        return None
    return f"{_short(spec['range'])} is not [low, high] with finite low < high"


#: What each code of a spec must satisfy to fit the model it came with, in the order reported.
CODE_CHECKS = (
    ("dim", _dim_problem),
    ("prior", lambda spec, shape: _prior_problem(spec)),
    ("k", _k_problem),
    ("label list", _labels_problem),
    ("range", _range_problem),
)


def _draw(spec: dict[str, Any], n: int, seed: int, position: int) -> np.ndarray:
    """``n`` draws of a code from its prior with the portable generator (genfw.export.seeds)."""
    if (spec.get("prior") or {}).get("kind") not in PRIOR_KINDS:  # never drawn as something else: give its values
        raise CodeError(
            f"code {spec['name']!r} has a prior of kind {(spec.get('prior') or {}).get('kind')!r} that "
            "genfw.runtime cannot sample",
            fix=f"pass its values explicitly, e.g. {spec['name']}=<[n, {spec['dim']}] array>",
        )
    return draw_prior(spec["prior"], spec["dim"], n, seed, position)


def _categorical_values(spec: dict[str, Any], value: Any, n: int) -> np.ndarray:
    name, k = spec["name"], int(spec.get("k", spec["dim"]))
    labels = [str(x) for x in spec.get("labels") or range(k)]
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)  # 3.0 is category 3
    if (np.ndim(value) == 0 and not isinstance(value, (str, int, np.integer))) or isinstance(value, bool):
        i = min(3, k - 1)
        example = f"{name}={i}" + (f" or {name}={labels[i]}" if labels[i] != str(i) else "")
        raise CodeError(
            f"code {name!r} takes a category index 0..{k - 1}, a label or a length-{k} vector, not {value!r}",
            fix=f"e.g. {example}",
        )
    if isinstance(value, (str, int, np.integer)):
        if isinstance(value, str):
            if value in labels:
                index = labels.index(value)
            else:
                try:
                    index = int(value)
                except ValueError:
                    raise CodeError(
                        f"code {name!r} has no category {value!r}",
                        fix=f"use an index 0..{k - 1} or a label: {', '.join(labels)}",
                    ) from None
        else:
            index = int(value)
        if not 0 <= index < k:
            raise CodeError(f"category {index} is out of range for code {name!r}", fix=f"valid range: 0..{k - 1}")
        return np.repeat(np.eye(k, dtype=np.float32)[index][None], n, axis=0)
    probs = _array_values(spec, value, n, what="a category index, a label, or a one-hot/probability vector")
    problem = _probability_problem(probs, per_sample=np.ndim(value) == 2 and n > 1)
    if problem:
        raise CodeError(
            f"code {name!r} takes a probability vector (k = {k} numbers >= 0 that sum to 1): {problem}",
            fix=f"e.g. {name}=3 for one category, or [0.5, 0.5, 0, ...] to blend two",
        )
    return probs


def _probability_problem(rows: np.ndarray, per_sample: bool) -> str | None:
    """What makes rows of a categorical code's values not probability vectors (finite is checked already)."""
    if (rows < 0).any():
        return f"it has a negative value ({float(rows.min()):g})"
    sums = rows.sum(axis=1, dtype=np.float64)
    worst = int(np.argmax(np.abs(sums - 1.0)))
    if abs(sums[worst] - 1.0) > PROBABILITY_SUM_TOLERANCE:
        return f"it sums to {sums[worst]:g}" + (f" (row {worst})" if per_sample else "")
    return None


def _continuous_values(spec: dict[str, Any], value: Any, n: int) -> np.ndarray:
    if np.ndim(value) == 0 and not isinstance(value, bool):
        try:
            value = float(value)  # also "0.5", "inf" as a command line gives them
        except (TypeError, ValueError):
            raise CodeError(
                f"code {spec['name']!r} needs a number, a vector or an array, not {value!r}"[:200],
                fix=f"e.g. {spec['name']}=0.5",
            ) from None
        if not np.isfinite(value) or abs(value) > FLOAT32_MAX:
            raise CodeError(
                f"code {spec['name']!r} has a value {value:g} that is not a finite float32 number",
                fix="give a finite number within +-3.4e38",
            )
        return np.full((n, spec["dim"]), value, np.float32)
    if np.ndim(value) == 1 and not isinstance(value, str):
        # A vector's meaning depends on its length: 1 (a number for every dimension and sample),
        # dim (one sample's parameters, for every sample) or, for a dim-1 code, n (a value per
        # sample). Any other length is refused, never broadcast.
        length, dim = len(value), spec["dim"]
        if length == 1 and dim != 1:
            value = [value[0]] * dim
        elif dim == 1 and length == n:
            value = np.asarray(value).reshape(n, 1)
        elif length != dim:
            if dim == 1:
                fix = f"give a number, or {n} numbers (one per sample)" if n > 1 else "give a number"
            else:
                fix = f"give a number, a vector of length {dim} or an [n, {dim}] array"
            angle = (
                f"; {spec['name']!r} is an angle in radians, the model computes its cos and sin itself"
                if spec.get("periodic")
                else ""
            )
            raise CodeError(f"code {spec['name']!r} has dim {dim}: got a vector of length {length}{angle}", fix=fix)
    return _array_values(spec, value, n, what="a number (for every dimension), a vector or an array")


def _array_values(spec: dict[str, Any], value: Any, n: int, what: str) -> np.ndarray:
    name, dim = spec["name"], spec["dim"]
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise CodeError(f"code {name!r} needs {what}, not {value!r}"[:200]) from None
    if arr.shape == (dim,):
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != dim or arr.shape[0] not in (1, n):
        raise CodeError(
            f"code {name!r} has dim {dim}: got shape {list(arr.shape)}",
            fix=f"give {what}: [{dim}], [1, {dim}] or [{n}, {dim}]",
        )
    if not np.all(np.isfinite(arr)):
        raise CodeError(
            f"code {name!r} has non-finite values (or values beyond the float32 range, +-3.4e38)",
            fix="give finite numbers",
        )
    return np.ascontiguousarray(np.broadcast_to(arr, (n, dim)), dtype=np.float32)
