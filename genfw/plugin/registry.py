"""Typed registries: name -> component factory, with its params model and where it came from.

A leaf of the plugin system: it knows components by name and their params *models*; validating a
config's values against them is the config layer's work (``genfw.config.resolution``)."""

from __future__ import annotations

import difflib
import inspect
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from genfw.errors import GenfwUsageError, PluginError, UnknownComponentError
from genfw.names import NAME, NAME_RULE

T = TypeVar("T")

#: The kinds of component a plugin can register; each has a ``register_<kind>`` hook.
KINDS = ("datasets", "latent_codes", "networks", "losses", "augmentations", "models", "loggers")

#: Singular names for messages ("unknown latent code 'gausian'").
KIND_LABELS = {
    "datasets": "dataset",
    "latent_codes": "latent code type",
    "networks": "network",
    "losses": "loss",
    "augmentations": "augmentation",
    "models": "model",
    "loggers": "logger",
}


def params_model_of(factory: Any) -> type[BaseModel] | None:
    """The pydantic model a factory takes its params as: the annotation of its first parameter
    (for a class, of ``__init__``'s first parameter after ``self``), or, for a class whose
    ``__init__`` is inherited from a genfw base class, its ``params: Model`` class annotation.
    None when neither names a concrete pydantic model."""

    def concrete(t: Any) -> type[BaseModel] | None:
        return t if isinstance(t, type) and issubclass(t, BaseModel) and t is not BaseModel else None

    def hints(obj: Any) -> dict[str, Any]:
        try:
            return typing.get_type_hints(obj)
        except Exception:  # an annotation that does not resolve (e.g. a TYPE_CHECKING-only name)
            return {}

    if isinstance(factory, type):
        found = concrete(hints(factory).get("params"))
        if found is not None:
            return found
        target: Any = factory.__init__  # type: ignore[misc]  # the class's own, read for its signature
        skip = 1  # self
    else:
        target, skip = factory, 0
    try:
        names = list(inspect.signature(target).parameters)[skip:]
    except (TypeError, ValueError):
        return None
    return concrete(hints(target).get(names[0])) if names else None


@dataclass(frozen=True)
class Source:
    """Where a registered component came from."""

    plugin: str  # the plugin's name in the plugin manager, e.g. "genfw.builtins" or an entry point's name
    distribution: str | None = None  # e.g. "genfw 0.1.0"; None for a local plugin file
    origin: str = "builtin"  # "builtin", "entrypoint" or "local"

    def describe(self) -> str:
        if self.distribution:
            return f"{self.plugin} ({self.distribution})"
        return f"{self.plugin} ({self.origin})"


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered component."""

    kind: str
    name: str
    factory: T
    params: type[BaseModel]
    description: str
    source: Source


class Registry(Generic[T]):
    """The components of one kind, by name."""

    def __init__(self, kind: str):
        if kind not in KINDS:
            raise ValueError(f"unknown registry kind {kind!r}")
        self.kind = kind
        self.label = KIND_LABELS[kind]
        self._entries: dict[str, Entry[T]] = {}
        #: Appended to unknown-name errors, e.g. the installed plugins that were not loaded.
        self.plugins_note = ""

    def add(self, name: str, factory: T, *, description: str | None, source: Source) -> Entry[T]:
        """Add a component; a name registered twice is an error naming both plugins."""
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise PluginError(
                f"plugin {source.describe()} registered a {self.label} with an invalid name {name!r}",
                fix=f"use {NAME_RULE}",
            )
        if not callable(factory):
            raise PluginError(
                f"plugin {source.describe()} registered {self.label} {name!r} with a non-callable factory"
            )
        params = params_model_of(factory)
        if params is None:
            raise PluginError(
                f"plugin {source.describe()} registered {self.label} {name!r} without a pydantic params model",
                fix="annotate the factory's first parameter with a pydantic.BaseModel subclass: "
                "def factory(params: MyParams, ctx)",
            )
        if name in self._entries:
            first = self._entries[name].source
            raise PluginError(
                f"{self.label} {name!r} is registered by two plugins: {first.describe()} and {source.describe()}",
                fix="uninstall or disable one of them (GENFW_LOAD_PLUGINS / GENFW_DISABLE_PLUGINS)",
            )
        if description is None:
            # The factory's own docstring only: inspect.getdoc would show a base class's text.
            own = factory.__dict__.get("__doc__") if isinstance(factory, type) else getattr(factory, "__doc__", None)
            # Its first paragraph, as one line (a sentence may wrap over lines).
            description = " ".join(inspect.cleandoc(own or "").strip().split("\n\n")[0].split()).replace("``", "`")
        entry = Entry[T](self.kind, name, factory, params, description, source)
        self._entries[name] = entry
        return entry

    def get(self, name: str, *, where: str | None = None) -> Entry[T]:
        """Look a name up; an unknown name lists the known ones and suggests close matches."""
        try:
            return self._entries[name]
        except KeyError:
            pass
        known = sorted(self._entries)
        close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        by_plugin: dict[str, list[str]] = {}
        for entry in self:
            by_plugin.setdefault(entry.source.describe(), []).append(entry.name)
        providers = "; ".join(f"{plugin}: {', '.join(names)}" for plugin, names in by_plugin.items()) or "none"
        raise UnknownComponentError(
            f"unknown {self.label} {name!r}",
            where=where,
            fix=f"{hint}{self.label}s by plugin: {providers}{self.plugins_note}; a plugin that provides it must be "
            "installed or loaded, see `genfw plugins`",
        )

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return sorted(self._entries)


class Registries:
    """One registry per kind: ``registries.latent_codes.get("categorical")``."""

    def __init__(self) -> None:
        self.datasets: Registry[Callable[..., Any]] = Registry("datasets")
        self.latent_codes: Registry[Callable[..., Any]] = Registry("latent_codes")
        self.networks: Registry[Callable[..., Any]] = Registry("networks")
        self.losses: Registry[Callable[..., Any]] = Registry("losses")
        self.augmentations: Registry[Callable[..., Any]] = Registry("augmentations")
        self.models: Registry[Callable[..., Any]] = Registry("models")
        self.loggers: Registry[Callable[..., Any]] = Registry("loggers")

    def by_kind(self, kind: str) -> Registry[Any]:
        if kind not in KINDS:
            raise GenfwUsageError(f"unknown component kind {kind!r}", fix=f"one of {', '.join(KINDS)}")
        return getattr(self, kind)

    def __iter__(self) -> Iterator[Registry[Any]]:
        return (getattr(self, k) for k in KINDS)
