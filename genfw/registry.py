"""Typed registries: name -> component factory, with its params model and where it came from."""

from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, TypeVar

from pydantic import BaseModel

from genfw.errors import GenfwUsageError, PluginError, UnknownComponentError

T = TypeVar("T")

#: The kinds of component a plugin can register; each has a ``register_<kind>`` hook.
KINDS = ("datasets", "latent_codes", "networks", "losses", "models")

#: Singular names for messages ("unknown latent code 'gausian'").
KIND_LABELS = {
    "datasets": "dataset",
    "latent_codes": "latent code type",
    "networks": "network",
    "losses": "loss",
    "models": "model",
}


@dataclass(frozen=True)
class Source:
    """Where a registered component came from."""

    plugin: str  # the plugin's name in the plugin manager, e.g. "infogan" or "genfw.codes"
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

    def validate_params(self, values: dict[str, Any]) -> BaseModel:
        """Validate raw params with this component's model (raises pydantic.ValidationError)."""
        return self.params.model_validate(values)


class Registry(Generic[T]):
    """The components of one kind, by name."""

    def __init__(self, kind: str):
        if kind not in KINDS:
            raise ValueError(f"unknown registry kind {kind!r}")
        self.kind = kind
        self.label = KIND_LABELS[kind]
        self._entries: dict[str, Entry[T]] = {}

    def add(self, name: str, factory: T, *, params: type[BaseModel], description: str | None, source: Source) -> Entry[T]:
        """Add a component; a name registered twice is an error naming both plugins."""
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            raise PluginError(f"plugin {source.describe()} registered a {self.label} with an invalid name {name!r}")
        if not (isinstance(params, type) and issubclass(params, BaseModel)):
            raise PluginError(
                f"plugin {source.describe()} registered {self.label} {name!r} without a pydantic params model",
                fix="pass params=<a pydantic.BaseModel subclass> to register()",
            )
        if not callable(factory):
            raise PluginError(f"plugin {source.describe()} registered {self.label} {name!r} with a non-callable factory")
        if name in self._entries:
            first = self._entries[name].source
            raise PluginError(
                f"{self.label} {name!r} is registered by two plugins: {first.describe()} and {source.describe()}",
                fix="uninstall or disable one of them (GENFW_LOAD_PLUGINS / GENFW_DISABLE_PLUGINS)",
            )
        if description is None:
            # The factory's own docstring only: inspect.getdoc would show a base class's text.
            own = factory.__dict__.get("__doc__") if isinstance(factory, type) else getattr(factory, "__doc__", None)
            description = inspect.cleandoc(own or "").strip().splitlines()[0:1]
            description = description[0] if description else ""
        entry = Entry(self.kind, name, factory, params, description, source)
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
        raise UnknownComponentError(
            f"unknown {self.label} {name!r}",
            where=where,
            fix=f"{hint}known: {', '.join(known) or 'none'}; a plugin that provides it must be installed, "
            "see `genfw plugins`",
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
        self.models: Registry[Callable[..., Any]] = Registry("models")

    def by_kind(self, kind: str) -> Registry[Any]:
        if kind not in KINDS:
            raise GenfwUsageError(f"unknown component kind {kind!r}", fix=f"one of {', '.join(KINDS)}")
        return getattr(self, kind)

    def __iter__(self) -> Iterator[Registry[Any]]:
        return (getattr(self, k) for k in KINDS)
