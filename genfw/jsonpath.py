"""Tiny helpers for the JSON paths genfw prints in errors and accepts in ``--set``: ``latent[2].dim``."""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

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


def parse_value(text: str) -> Any:
    """A ``--set`` value: JSON if it parses (``20``, ``true``, ``[1,2]``, ``null``), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def set_path(doc: Any, path: list[str | int], value: Any) -> None:
    """Set ``doc[path] = value``, creating missing objects along the way (not list items)."""
    node = doc
    for i, key in enumerate(path):
        last = i == len(path) - 1
        where = format_path(path[: i + 1])
        if isinstance(key, int):
            if not isinstance(node, list):
                raise ValueError(f"{format_path(path[:i]) } is not a list")
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
