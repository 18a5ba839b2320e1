"""Reading a config strictly and applying ``--set`` overrides.

Strict means: duplicate keys, NaN/Infinity and numbers beyond float32 are errors, and pydantic
validates in strict mode (``"128"`` is no integer). A pydantic error becomes one
:class:`genfw.errors.ConfigError` line naming the file and the JSON path (``latent[2].dim``),
the problem and the fix.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from genfw import jsonpath
from genfw.errors import ConfigError
from genfw.jsonpath import NumberError, format_path, parse_path, parse_value, set_path
from genfw.names import NAME_PATTERN, NAME_RULE

M = TypeVar("M", bound=BaseModel)


class _DuplicateKey(ValueError):
    """A key twice in one JSON object (in a file or a ``--set`` value); its text is the error's."""

    fix = "keep one of them; a JSON reader would silently take the last"

    def __init__(self, key: str):
        super().__init__(f"the key {key!r} appears twice in one object")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for key, value in pairs:
        if key in doc:
            raise _DuplicateKey(key)
        doc[key] = value
    return doc


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a config file as JSON, with a one-line error for a missing file or bad JSON."""
    path = Path(path)
    if not path.exists():
        raise ConfigError("config file not found", where=str(path), fix="check the path")
    if not path.is_file():
        raise ConfigError("is not a file", where=str(path), fix="pass a JSON config file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError("is not a text file (not UTF-8)", where=str(path), fix="pass a JSON config file") from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read the file ({exc.strerror or exc})", where=str(path), fix="check its permissions"
        ) from None
    try:
        doc = jsonpath.loads(text, object_pairs_hook=_no_duplicate_keys)
    except NumberError as exc:
        located = jsonpath.locate_rejected(text)
        where = f"{path}: {located[0]}" if located else str(path)
        raise ConfigError(str(exc), where=where, fix="use a finite number in range") from None
    except RecursionError:
        raise ConfigError(
            "the JSON is nested too deeply", where=str(path), fix="a config is a few levels deep"
        ) from None
    except _DuplicateKey as exc:
        raise ConfigError(str(exc), where=str(path), fix=exc.fix) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            where=str(path),
            fix="fix the JSON syntax there",
        ) from None
    if not isinstance(doc, dict):
        raise ConfigError("the config must be a JSON object", where=str(path), fix="wrap it in {...}")
    return doc


def apply_overrides(doc: dict[str, Any], overrides: Sequence[str], source: str | None = None) -> dict[str, Any]:
    """Apply ``--set path=value`` overrides (value parsed as JSON, else taken as a string).

    ``source`` (the config file) is named in errors."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--set {item!r} is not of the form path=value", where=source, fix="e.g. --set train.max_steps=20"
            )
        try:
            set_path(doc, parse_path(key), parse_value(raw, _no_duplicate_keys))
        except NumberError as exc:
            raise ConfigError(f"--set {item[:80]!r}: {exc}", where=source, fix="use a finite number in range") from None
        except _DuplicateKey as exc:
            raise ConfigError(f"--set {item[:80]!r}: {exc}", where=source, fix=exc.fix) from None
        except ValueError as exc:
            raise ConfigError(
                f"--set {item!r}: {exc}", where=source, fix="paths look like train.max_steps or latent[1].k"
            ) from None
    return doc


def strict_validate(model_cls: type[M], values: dict[str, Any]) -> M:
    """Validate JSON data in pydantic's strict mode: ``"128"`` or ``true`` is no integer and
    ``"0.5"`` no number, while JSON arrays still fill tuple fields. Numbers must be finite and
    fit float32 (:class:`genfw.jsonpath.NumberError` otherwise)."""
    text = json.dumps(values)
    jsonpath.loads(text)  # the number checks, for data that did not come from a file (e.g. tests)
    return model_cls.model_validate_json(text, strict=True)


def first_error(
    exc: ValidationError, where: str, prefix: Sequence[str | int], model_cls: type[BaseModel]
) -> ConfigError:
    err = exc.errors(include_url=False)[0]
    loc = list(prefix) + [p for p in err["loc"] if not isinstance(p, str) or not p.startswith("function-")]
    path = format_path(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model_cls, err["loc"][:-1])
        close = difflib.get_close_matches(str(err["loc"][-1]), allowed, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        fix = f"{hint}allowed keys: {', '.join(allowed)}" if allowed else "it takes no other keys: remove this one"
        return ConfigError("unknown key", where=f"{where}: {path}", fix=fix)
    if kind == "missing":
        if err["loc"] and isinstance(err["loc"][-1], int):
            return ConfigError("the list is too short: this item is missing", where=f"{where}: {path}", fix="add it")
        return ConfigError("required key is missing", where=f"{where}: {path}", fix="add it")
    got = err.get("input")
    msg = err["msg"].removeprefix("Value error, ")
    if kind == "value_error":  # a validator's own message already says what is wrong and how to fix it
        return ConfigError(msg, where=f"{where}: {path}")
    shown = json.dumps(got) if isinstance(got, (int, float, str, bool, type(None))) else type(got).__name__
    if len(shown) > 60:
        shown = f"{shown[:40]}... ({len(shown)} characters)"
    if kind == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") == NAME_PATTERN:
        return ConfigError(f"not a valid name (got {shown})", where=f"{where}: {path}", fix=f"use {NAME_RULE}")
    return ConfigError(f"{msg} (got {shown})", where=f"{where}: {path}", fix="fix the value")


def _allowed_keys(model_cls: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The field names of the (nested) model at ``loc``, for 'allowed keys' hints."""
    cls: Any = model_cls
    for part in loc:
        if isinstance(part, int) or cls is None:
            continue
        field = getattr(cls, "model_fields", {}).get(part)
        if field is None:  # a dict key (e.g. a network role)
            continue
        cls = _model_in(field.annotation)
    return sorted(getattr(cls, "model_fields", {})) if cls is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
