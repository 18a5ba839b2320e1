"""Run configs: one JSON file, validated in two passes.

1. The file's shape is validated by :class:`RunConfig` (pydantic, ``extra="forbid"``).
2. Every component (dataset, latent codes, model, networks, losses, augmentations, loggers) is
   looked up in the registries and its parameters are validated by the params model its plugin
   registered; the model's roles are checked against what the config fills, and its optimizer
   defaults are merged with the config's ``optimizers``.

Every error becomes one :class:`genfw.errors.ConfigError` line naming the file, the JSON path
(``latent[2].dim``), the problem and the fix. The result, :class:`ResolvedConfig`, holds the
config with every default filled in; that is what a run saves as ``config.json``.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from genfw.errors import ConfigError, UnknownComponentError, UnknownComponentTypeError
from genfw import jsonpath
from genfw.jsonpath import NumberError, format_path, parse_path, parse_value, set_path
from genfw.optim import OptimizerConfig
from genfw.registry import Entry, Registries

#: Names of runs and codes: they become folder, file and ONNX input names.
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$"
NAME_RULE = "1 to 64 letters, digits, '_' or '-', starting with a letter or '_'"


class Component(BaseModel):
    """A component reference: ``{"type": "<registered name>", ...its params}``."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(..., min_length=1, description="A registered name (see `genfw plugins`)")

    def params_dict(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class LatentEntry(Component):
    """One latent code: ``{"name": "digit", "type": "categorical", "k": 10}``."""

    name: str = Field(..., pattern=NAME_PATTERN, description=f"The code's name: an ONNX input name, used in --code ({NAME_RULE})")


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(128, gt=0, le=1_000_000, description="The global batch: with N processes, each takes "
                            "batch_size / N of it (batch_size must be divisible by N)")
    epochs: int = Field(1, ge=1, description="Passes over the dataset (an epoch = len(dataset) // batch_size steps)")
    max_steps: int | None = Field(None, gt=0, description="Stop after this many steps (overrides epochs when smaller)")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="auto: bf16 where the hardware has native bf16 (CUDA with bf16, CPUs with avx512_bf16 or "
        "amx_bf16), else fp32 (the run's first line says which and why); fp16 needs CUDA")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto: cuda if available, else cpu")
    threads: int | None = Field(None, gt=0, description="CPU threads for torch (default: all cores)")
    channels_last: bool = Field(False, description="Use channels-last memory format for conv layers")
    sync_batchnorm: bool = Field(True, description="With several processes (torchrun), BatchNorm uses the statistics "
                                 "of the whole global batch; false: each process's own slice")
    compile: bool = Field(False, description="Wrap the train step in torch.compile")
    log_every: int = Field(50, gt=0, description="Steps between metrics.jsonl lines (and divergence checks)")
    divergence_limit: float | None = Field(1e8, gt=0, description="Stop the run when a logged value's magnitude exceeds "
                                           "this (non-finite values always stop it); null: only non-finite values")
    checkpoint_every: int = Field(1000, gt=0, description="Steps between checkpoints (one is also written at the end)")
    sample_every_epoch: bool = Field(True, description="Write a sample grid from fixed latents after each epoch")
    progress: bool = Field(True, description="Show a progress bar on a terminal")


class OutputConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dir: str = Field("runs", description="Parent folder of run directories")
    run_dir: str | None = Field(None, description="Exact run directory (default: <dir>/<name>-<time>)")


class ExportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    onnx: bool = Field(True, description="Export generator.onnx at the end of the run")
    opset: int = Field(18, ge=18, description="ONNX opset")
    optimize: bool = Field(True, description="Fold BatchNorm and rewrite 1x1-input layers as matmuls")


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at_end: bool = Field(True, description="Run `genfw eval` at the end of the run")
    per_epoch: bool = Field(True, description="Log the model's per-epoch metrics (Model.epoch_metrics) each epoch")
    samples: int = Field(10000, ge=100, le=1_000_000, description="Generated samples for distance metrics (at least 100)")
    held_out: int | None = Field(None, ge=100, le=100_000_000, description="Measure on at most this many held-out "
                                 "images (smoke runs); null: the whole held-out split")
    disentanglement: Literal["reference", "fast"] = Field(
        "reference", description="Disentanglement metrics as the reference study computes them (disentanglement_lib: "
        "DCI with gradient-boosted classifiers, SAP discrete), or 'fast' (DCI with regression trees, SAP continuous: "
        "about 20x less CPU on dSprites, numbers not comparable with the literature)")


class RunConfig(BaseModel):
    """A whole run. See configs/ for examples and `genfw schema` for all fields."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., pattern=NAME_PATTERN, description=f"Run name; the run directory starts with it ({NAME_RULE})")
    seed: int = Field(0, ge=0, lt=2**63, description="The one seed that drives every random draw")
    dataset: Component
    latent: list[LatentEntry] = Field(..., min_length=1, description="The latent codes, in generator-input order")
    model: Component
    networks: dict[str, Component] = Field(..., description="Networks by role, e.g. generator, discriminator")
    losses: dict[str, Component] = Field(default_factory=dict, description="Losses by role, e.g. adversarial, info")
    augmentations: dict[str, Component] = Field(default_factory=dict, description="Augmentations by role, e.g. "
                                                "discriminator: what D sees")
    optimizers: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Optimizer settings by role "
                                                  "(overrides of the model's defaults: type, lr, betas, ...)")
    loggers: list[Component] = Field(default_factory=lambda: [Component(type="console")],
                                     description="Where scalars and figures go besides metrics.jsonl: console, tensorboard, ...")
    train: TrainConfig = Field(default_factory=TrainConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    plugins_dirs: list[str] = Field(
        default_factory=list,
        description="Local plugin folders (relative to the config file). A run records them, and any --plugins-dir, "
        "as absolute paths, so resume, export and eval find the same plugins.",
    )


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
        from genfw.registry import KIND_LABELS

        parts = [self.dataset, self.model, *(rc for _, rc in self.latent), *self.networks.values(), *self.losses.values(),
                 *self.augmentations.values(), *self.loggers]
        return {f"{KIND_LABELS[rc.entry.kind]} {rc.type}": rc.entry.source.describe() for rc in parts}

    def provenance_changes(self, recorded: Any) -> list[str]:
        """The components whose plugin or version differs from what an artifact recorded."""
        if not isinstance(recorded, dict):
            return []
        now = self.provenance()
        return [f"{key} from {was} (now {now[key]})" for key, was in recorded.items()
                if isinstance(was, str) and key in now and now[key] != was]


def _component_json(rc: ResolvedComponent) -> dict[str, Any]:
    return {"type": rc.type, **rc.params.model_dump(mode="json")}


# -- reading ---------------------------------------------------------------------------------------
class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


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
        raise ConfigError(f"cannot read the file ({exc.strerror or exc})", where=str(path), fix="check its permissions") from None
    try:
        doc = jsonpath.loads(text, object_pairs_hook=_no_duplicate_keys)
    except NumberError as exc:
        located = jsonpath.locate_rejected(text)
        where = f"{path}: {located[0]}" if located else str(path)
        raise ConfigError(str(exc), where=where, fix="use a finite number in range") from None
    except RecursionError:
        raise ConfigError("the JSON is nested too deeply", where=str(path), fix="a config is a few levels deep") from None
    except _DuplicateKey as exc:
        raise ConfigError(f"the key {exc.key!r} appears twice in one object", where=str(path),
                          fix="keep one of them; a JSON reader would silently take the last") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", where=str(path), fix="fix the JSON syntax there"
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
            raise ConfigError(f"--set {item!r} is not of the form path=value", where=source, fix="e.g. --set train.max_steps=20")
        try:
            set_path(doc, parse_path(key), parse_value(raw))
        except NumberError as exc:
            raise ConfigError(f"--set {item[:80]!r}: {exc}", where=source, fix="use a finite number in range") from None
        except ValueError as exc:
            raise ConfigError(f"--set {item!r}: {exc}", where=source, fix="paths look like train.max_steps or latent[1].k") from None
    return doc


# -- validation ------------------------------------------------------------------------------------
def strict_validate(model_cls: type[BaseModel], values: dict[str, Any]) -> BaseModel:
    """Validate JSON data in pydantic's strict mode: ``"128"`` or ``true`` is no integer and
    ``"0.5"`` no number, while JSON arrays still fill tuple fields. Numbers must be finite and
    fit float32 (:class:`genfw.jsonpath.NumberError` otherwise)."""
    text = json.dumps(values)
    jsonpath.loads(text)  # the number checks, for data that did not come from a file (e.g. tests)
    return model_cls.model_validate_json(text, strict=True)


def _first_error(exc: ValidationError, where: str, prefix: Sequence[str | int], model_cls: type[BaseModel]) -> ConfigError:
    err = exc.errors(include_url=False)[0]
    loc = list(prefix) + [p for p in err["loc"] if not isinstance(p, str) or not p.startswith("function-")]
    path = format_path(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model_cls, err["loc"][:-1])
        close = difflib.get_close_matches(str(err["loc"][-1]), allowed, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return ConfigError("unknown key", where=f"{where}: {path}", fix=f"{hint}allowed keys: {', '.join(allowed)}")
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


def _resolve(registries: Registries, kind: str, comp: Component, prefix: list[str | int], where: str, reserved: Sequence[str] = ("type",)) -> ResolvedComponent:
    registry = registries.by_kind(kind)
    path = format_path(prefix)
    try:
        entry = registry.get(comp.type, where=f"{where}: {format_path(prefix + ['type'])}")
    except UnknownComponentError as exc:
        raise UnknownComponentTypeError(exc.problem, where=exc.where, fix=exc.fix) from None
    params = {k: v for k, v in comp.params_dict().items() if k not in reserved}
    try:
        return ResolvedComponent(path, entry, entry.validate_params(params))
    except ValidationError as exc:
        raise _first_error(exc, where, prefix, entry.params) from None


def validate_config(doc: dict[str, Any], registries: Registries, *, source: str = "<config>") -> ResolvedConfig:
    """Validate a parsed config against its schema and the registries."""
    try:
        config = strict_validate(RunConfig, doc)
    except ValidationError as exc:
        raise _first_error(exc, source, [], RunConfig) from None
    except NumberError as exc:
        raise ConfigError(str(exc), where=source, fix="use a finite number in range") from None

    dataset = _resolve(registries, "datasets", config.dataset, ["dataset"], source)
    latent = []
    seen: dict[str, int] = {}
    for i, code in enumerate(config.latent):
        if code.name == "image":  # the ONNX export's output is called image
            raise ConfigError("a latent code cannot be named 'image' (the exported model's output has that name)",
                              where=f"{source}: latent[{i}].name", fix="choose another name")
        if code.name in seen:
            raise ConfigError(
                f"duplicate latent code name {code.name!r} (also latent[{seen[code.name]}])",
                where=f"{source}: latent[{i}].name",
                fix="give every code a unique name",
            )
        seen[code.name] = i
        latent.append((code.name, _resolve(registries, "latent_codes", code, ["latent", i], source, ("type", "name"))))
    model = _resolve(registries, "models", config.model, ["model"], source)
    networks = {role: _resolve(registries, "networks", c, ["networks", role], source) for role, c in config.networks.items()}
    losses = {role: _resolve(registries, "losses", c, ["losses", role], source) for role, c in config.losses.items()}
    augmentations = {role: _resolve(registries, "augmentations", c, ["augmentations", role], source)
                     for role, c in config.augmentations.items()}
    loggers = [_resolve(registries, "loggers", c, ["loggers", i], source) for i, c in enumerate(config.loggers)]

    # A model declares the roles it needs and those it can use, so a missing role or one the
    # model would silently ignore (a typo) is a config error, not a crash or a no-op later.
    factory = model.entry.factory
    for section, kind, have in (("networks", "network", networks), ("losses", "loss", losses),
                                ("augmentations", "augmentation", augmentations)):
        roles = getattr(factory, f"{kind}_roles", None)
        if roles is None:  # a plain-function factory declares nothing
            continue
        missing = [r for r in roles.required if r not in have]
        if missing:
            raise ConfigError(
                f"model {model.type!r} needs {section} roles {', '.join(map(repr, missing))}",
                where=f"{source}: {section}",
                fix=f"add {section}.{missing[0]} = {{\"type\": ...}}",
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
            raise ConfigError(f"model {model.type!r} has no optimizer role {role!r}", where=f"{source}: optimizers.{role}",
                              fix=f"{_did_you_mean(role, list(defaults))}roles it uses: {', '.join(defaults) or '(none)'}")
    out = {}
    for role, base in defaults.items():
        try:
            out[role] = strict_validate(OptimizerConfig, {**dict(base), **config.optimizers.get(role, {})})
        except ValidationError as exc:
            raise _first_error(exc, source, ["optimizers", role], OptimizerConfig) from None
    return out


def _did_you_mean(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def load_config(path: str | Path, registries: Registries, overrides: Sequence[str] = ()) -> ResolvedConfig:
    """Read, override and validate a config file."""
    doc = apply_overrides(read_config_file(path), overrides, str(path))
    return validate_config(doc, registries, source=str(path))


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema of the config file (component params are plugin-defined: see `genfw plugins`)."""
    return RunConfig.model_json_schema()


def load_config_and_plugins(path: str | Path, overrides: Sequence[str] = (), plugins_dirs: Sequence[str] = ()):
    """Read a config, load the plugins it needs (``--plugins-dir`` folders plus the config's own
    ``plugins_dirs``, relative to the config file) and validate it. Returns (plugins, resolved).

    The resolved config's ``plugins_dirs`` lists every folder used, as absolute paths, so a run
    that records it can be resumed, exported and evaluated with the same plugins.
    """
    from genfw.plugins import load_plugins, unique_folders

    doc = apply_overrides(read_config_file(path), overrides, str(path))
    dirs = [Path(d).expanduser().resolve() for d in plugins_dirs]
    extra = doc.get("plugins_dirs", [])
    if isinstance(extra, list) and all(isinstance(d, str) for d in extra):  # anything else: validate_config reports it
        base = Path(path).resolve().parent
        for i, d in enumerate(extra):
            folder = (base / Path(d).expanduser()).resolve()
            if not folder.is_dir():
                raise ConfigError(f"plugin folder {folder} does not exist", where=f"{path}: plugins_dirs[{i}]",
                                  fix="paths are relative to the config file; fix or remove the entry")
            dirs.append(folder)
        doc = {**doc, "plugins_dirs": [str(d) for d in unique_folders(dirs)]}
    plugins = load_plugins(dirs)
    return plugins, validate_config(doc, plugins.registries, source=str(path))


def validate_recorded_config(doc: dict[str, Any], plugins_dirs: Sequence[str], source: str, *,
                             trust_recorded: bool = False) -> ResolvedConfig:
    """Validate a config read from an artifact (a run's config.json, a checkpoint, generator.pt)
    against the installed plugins and the ``--plugins-dir`` folders the user passed.

    Artifacts are data, never code: the local plugin folders a run recorded are imported only
    when the user passes them again or confirms with ``trust_recorded`` (the CLI's
    ``--trust-recorded-plugins``), so a downloaded file cannot make genfw import anything. When a
    component is then unknown, the error names the recorded folders and both ways to load them.
    """
    from genfw.plugins import load_plugins, unique_folders

    recorded = doc.get("plugins_dirs") if isinstance(doc.get("plugins_dirs"), list) else []
    recorded = [d for d in recorded if isinstance(d, str)]
    given = set(unique_folders(plugins_dirs))
    not_given = [d for d in recorded if Path(d).expanduser().resolve() not in given]
    missing = [d for d in not_given if not Path(d).is_dir()]
    trusted = [d for d in not_given if d not in missing] if trust_recorded else []
    used = [str(d) for d in unique_folders([*plugins_dirs, *trusted])]
    plugins = load_plugins(used)
    try:
        # The config records the folders actually loaded now, so a run resumed with a moved
        # plugin folder goes on with the new place.
        return validate_config({**doc, "plugins_dirs": used}, plugins.registries, source=source)
    except UnknownComponentTypeError as exc:
        if missing:
            hint = f"the run used local plugins from {', '.join(missing)}, which is gone: pass its new place with --plugins-dir"
        elif not_given and not trust_recorded:
            hint = (f"the run was trained with local plugins from {', '.join(not_given)}, which genfw does not import from "
                    f"a file's say-so: pass --plugins-dir {not_given[0]} (or --trust-recorded-plugins) if you trust them")
        else:
            hint = "a local plugin's folder can be given with --plugins-dir"
        raise UnknownComponentTypeError(exc.problem, where=exc.where, fix=f"{exc.fix}; {hint}" if exc.fix else hint) from None
