"""Tiny helpers for the JSON paths genfw prints in errors and accepts in ``--set``: ``latent[2].dim``."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def format_path(loc: Sequence[str | int]) -> str:
    """``("latent", 2, "dim")`` -> ``latent[2].dim``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def parse_path(path: str) -> list[str | int]:
    """``latent[2].dim`` -> ``["latent", 2, "dim"]``; raises ValueError on a malformed path."""
    parts: list[str | int] = []
    pos = 0
    text = path.strip()
    while pos < len(text):
        if text[pos] == "." and parts:
            pos += 1
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"malformed path {path!r} at character {pos + 1}")
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if not parts:
        raise ValueError("empty path")
    return parts


#: The largest finite float32: every number genfw reads must fit, since tensors are float32.
FLOAT32_MAX = 3.4028234663852886e38
INT_LIMIT = 2**63


class NumberError(ValueError):
    """A JSON number genfw does not accept: not finite, or out of range."""


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or abs(value) > FLOAT32_MAX:
        raise NumberError(
            f"the number {text[:40]} is out of range (numbers must be finite and within +-3.4e38, the float32 range)"
        )
    return value


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > 19:  # before int(): Python refuses to convert very long digit strings at all
        raise NumberError(f"the integer {text[:20]}... ({len(text)} digits) is out of range (at most 2**63)")
    value = int(text)
    if abs(value) >= INT_LIMIT:
        raise NumberError(f"the integer {text} is out of range (at most 2**63)")
    return value


def _parse_constant(text: str) -> Any:
    raise NumberError(f"{text} is not a number genfw accepts (numbers must be finite)")


def loads(text: str, object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None) -> Any:
    """``json.loads`` that rejects NaN/Infinity, floats beyond float32 and integers beyond 2**63
    with :class:`NumberError` (instead of turning them into inf or a slow bignum)."""
    return json.loads(
        text,
        parse_float=_parse_float,
        parse_int=_parse_int,
        parse_constant=_parse_constant,
        object_pairs_hook=object_pairs_hook,
    )


class _Rejected:
    """Stands in for a number :func:`loads` rejects, so :func:`locate_rejected` can find its path."""

    def __init__(self, error: NumberError):
        self.error = error


def locate_rejected(text: str) -> tuple[str, NumberError] | None:
    """The JSON path and error of the first number :func:`loads` rejects in ``text`` (None if none)."""

    def lenient(parse: Callable[[str], Any]) -> Callable[[str], Any]:
        def wrapped(token: str) -> Any:
            try:
                return parse(token)
            except NumberError as exc:
                return _Rejected(exc)

        return wrapped

    try:
        doc = json.loads(
            text,
            parse_float=lenient(_parse_float),
            parse_int=lenient(_parse_int),
            parse_constant=lenient(_parse_constant),
        )
    except (ValueError, RecursionError):
        return None

    def find(node: Any, path: list[str | int]) -> tuple[str, NumberError] | None:
        if isinstance(node, _Rejected):
            return format_path(path), node.error
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            found = find(value, [*path, key])
            if found:
                return found
        return None

    return find(doc, [])


def parse_value(text: str, object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None) -> Any:
    """A ``--set`` value: JSON if it parses (``20``, ``true``, ``[1,2]``, ``null``), else the string.
    A number out of range raises :class:`NumberError`; ``object_pairs_hook`` is :func:`loads`'s."""
    try:
        return loads(text, object_pairs_hook)
    except json.JSONDecodeError:
        return text
    except RecursionError:
        raise NumberError("the value is nested too deeply") from None


def set_path(doc: Any, path: list[str | int], value: Any) -> None:
    """Set ``doc[path] = value``, creating missing objects along the way (not list items)."""
    node = doc
    for i, key in enumerate(path):
        last = i == len(path) - 1
        where = format_path(path[: i + 1])
        if isinstance(key, int):
            if not isinstance(node, list):
                raise ValueError(f"{format_path(path[:i])} is not a list")
            if not -len(node) <= key < len(node):
                raise ValueError(f"{where} is out of range (the list has {len(node)} items)")
        elif not isinstance(node, dict):
            raise ValueError(f"{format_path(path[:i])} is not an object")
        if last:
            node[key] = value
        else:
            if isinstance(key, str) and key not in node:
                node[key] = {}
            node = node[key]
