"""Resolving a config: every component is looked up in the registries and its parameters are
validated by the params model its plugin registered; the model's roles are checked against what
the config fills, and its optimizer defaults are merged with the config's ``optimizers``.

The result, :class:`ResolvedConfig`, holds the config with every default filled in; that is what
a run saves as ``config.json``.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from genfw.config.reading import apply_overrides, first_error, read_config_file, strict_validate
from genfw.config.schema import Component, RunConfig
from genfw.errors import ConfigError, UnknownComponentError, UnknownComponentTypeError
from genfw.jsonpath import NumberError, format_path
from genfw.optim import OptimizerConfig
from genfw.plugin.registry import KIND_LABELS, Entry, Registries


@dataclass
class ResolvedComponent:
    """A component with its registry entry and validated params."""

    path: str  # JSON path in the config, for messages
    entry: Entry
    params: BaseModel

    @property
    def type(self) -> str:
        return self.entry.name


@dataclass
class ResolvedConfig:
    """A validated config with every component resolved against the registries."""

    config: RunConfig
    source: str  # the file it came from, for messages
    dataset: ResolvedComponent
    latent: list[tuple[str, ResolvedComponent]]  # (code name, component)
    model: ResolvedComponent
    networks: dict[str, ResolvedComponent]
    losses: dict[str, ResolvedComponent]
    augmentations: dict[str, ResolvedComponent]
    optimizers: dict[str, OptimizerConfig]
    loggers: list[ResolvedComponent]

    def to_json(self) -> dict[str, Any]:
        """The config with all defaults filled in (round-trips through :func:`validate_config`)."""
        doc = self.config.model_dump(mode="json")
        doc["dataset"] = _component_json(self.dataset)
        doc["latent"] = [{"name": name, **_component_json(rc)} for name, rc in self.latent]
        doc["model"] = _component_json(self.model)
        doc["networks"] = {role: _component_json(rc) for role, rc in self.networks.items()}
        doc["losses"] = {role: _component_json(rc) for role, rc in self.losses.items()}
        doc["augmentations"] = {role: _component_json(rc) for role, rc in self.augmentations.items()}
        doc["optimizers"] = {role: opt.model_dump(mode="json") for role, opt in self.optimizers.items()}
        doc["loggers"] = [_component_json(rc) for rc in self.loggers]
        return doc

    def provenance(self) -> dict[str, str]:
        """Where each component came from: ``{"model dcgan": "dcgan (genfw 0.2.0)", ...}``.
        Artifacts record it, so loading one with other plugin versions can say so."""
        parts = [
            self.dataset,
            self.model,
            *(rc for _, rc in self.latent),
            *self.networks.values(),
            *self.losses.values(),
            *self.augmentations.values(),
            *self.loggers,
        ]
        return {f"{KIND_LABELS[rc.entry.kind]} {rc.type}": rc.entry.source.describe() for rc in parts}

    def provenance_changes(self, recorded: Any) -> list[str]:
        """The components whose plugin or version differs from what an artifact recorded."""
        if not isinstance(recorded, dict):
            return []
        now = self.provenance()
        return [
            f"{key} from {was} (now {now[key]})"
            for key, was in recorded.items()
            if isinstance(was, str) and key in now and now[key] != was
        ]


def _component_json(rc: ResolvedComponent) -> dict[str, Any]:
    return {"type": rc.type, **rc.params.model_dump(mode="json")}


def _resolve(
    registries: Registries,
    kind: str,
    comp: Component,
    prefix: list[str | int],
    where: str,
    reserved: Sequence[str] = ("type",),
) -> ResolvedComponent:
    registry = registries.by_kind(kind)
    path = format_path(prefix)
    try:
        entry = registry.get(comp.type, where=f"{where}: {format_path(prefix + ['type'])}")
    except UnknownComponentError as exc:
        raise UnknownComponentTypeError(exc.problem, where=exc.where, fix=exc.fix) from None
    params = {k: v for k, v in comp.params_dict().items() if k not in reserved}
    try:
        return ResolvedComponent(path, entry, strict_validate(entry.params, params))
    except ValidationError as exc:
        raise first_error(exc, where, prefix, entry.params) from None


def validate_config(doc: dict[str, Any], registries: Registries, *, source: str = "<config>") -> ResolvedConfig:
    """Validate a parsed config against its schema and the registries."""
    try:
        config = strict_validate(RunConfig, doc)
    except ValidationError as exc:
        raise first_error(exc, source, [], RunConfig) from None
    except NumberError as exc:
        raise ConfigError(str(exc), where=source, fix="use a finite number in range") from None

    dataset = _resolve(registries, "datasets", config.dataset, ["dataset"], source)
    latent = []
    seen: dict[str, int] = {}
    for i, code in enumerate(config.latent):
        if code.name == "image":  # the ONNX export's output is called image
            raise ConfigError(
                "a latent code cannot be named 'image' (the exported model's output has that name)",
                where=f"{source}: latent[{i}].name",
                fix="choose another name",
            )
        if code.name in seen:
            raise ConfigError(
                f"duplicate latent code name {code.name!r} (also latent[{seen[code.name]}])",
                where=f"{source}: latent[{i}].name",
                fix="give every code a unique name",
            )
        seen[code.name] = i
        latent.append((code.name, _resolve(registries, "latent_codes", code, ["latent", i], source, ("type", "name"))))
    model = _resolve(registries, "models", config.model, ["model"], source)
    networks = {
        role: _resolve(registries, "networks", c, ["networks", role], source) for role, c in config.networks.items()
    }
    losses = {role: _resolve(registries, "losses", c, ["losses", role], source) for role, c in config.losses.items()}
    augmentations = {
        role: _resolve(registries, "augmentations", c, ["augmentations", role], source)
        for role, c in config.augmentations.items()
    }
    loggers = [_resolve(registries, "loggers", c, ["loggers", i], source) for i, c in enumerate(config.loggers)]

    # A model declares the roles it needs and those it can use, so a missing role or one the
    # model would silently ignore (a typo) is a config error, not a crash or a no-op later.
    factory = model.entry.factory
    for section, kind, have in (
        ("networks", "network", networks),
        ("losses", "loss", losses),
        ("augmentations", "augmentation", augmentations),
    ):
        roles = getattr(factory, f"{kind}_roles", None)
        if roles is None:  # a plain-function factory declares nothing
            continue
        missing = [r for r in roles.required if r not in have]
        if missing:
            raise ConfigError(
                f"model {model.type!r} needs {section} roles {', '.join(map(repr, missing))}",
                where=f"{source}: {section}",
                fix=f'add {section}.{missing[0]} = {{"type": ...}}',
            )
        unknown = [r for r in have if r not in roles.all]
        if unknown:
            raise ConfigError(
                f"model {model.type!r} has no {kind} role {unknown[0]!r}",
                where=f"{source}: {section}.{unknown[0]}",
                fix=f"{_did_you_mean(unknown[0], roles.all)}roles it uses: {', '.join(roles.all) or '(none)'}",
            )
    optimizers = _resolve_optimizers(config, model, source)
    return ResolvedConfig(config, source, dataset, latent, model, networks, losses, augmentations, optimizers, loggers)


def _resolve_optimizers(config: RunConfig, model: ResolvedComponent, source: str) -> dict[str, OptimizerConfig]:
    """The model's optimizer defaults, each overridden by the config's ``optimizers.<role>``."""
    defaults = dict(getattr(model.entry.factory, "optimizer_defaults", {}) or {})
    for role in config.optimizers:
        if role not in defaults:
            raise ConfigError(
                f"model {model.type!r} has no optimizer role {role!r}",
                where=f"{source}: optimizers.{role}",
                fix=f"{_did_you_mean(role, list(defaults))}roles it uses: {', '.join(defaults) or '(none)'}",
            )
    out: dict[str, OptimizerConfig] = {}
    for role, base in defaults.items():
        try:
            out[role] = strict_validate(OptimizerConfig, {**dict(base), **config.optimizers.get(role, {})})
        except ValidationError as exc:
            raise first_error(exc, source, ["optimizers", role], OptimizerConfig) from None
    return out


def _did_you_mean(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def load_config(path: str | Path, registries: Registries, overrides: Sequence[str] = ()) -> ResolvedConfig:
    """Read, override and validate a config file."""
    doc = apply_overrides(read_config_file(path), overrides, str(path))
    return validate_config(doc, registries, source=str(path))
