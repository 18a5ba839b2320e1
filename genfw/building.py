"""Building a run's components from a resolved config, in a fixed order, because parameter
initialisation draws from torch's global generator under the run's seed: latent codes, then the
model's ``check``, then networks (config order), losses, augmentations, and the model. Each
factory receives its context (``genfw.contexts``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from genfw.config.resolution import ResolvedComponent, ResolvedConfig
from genfw.contexts import (
    AugmentationContext,
    CodeContext,
    DatasetContext,
    LoggerContext,
    LossContext,
    ModelContext,
    NetworkContext,
)
from genfw.data.base import Dataset
from genfw.data.spec import DATA_NEEDS, DataSpec
from genfw.errors import ConfigError, ConfigValueError, GenfwUsageError, PluginError
from genfw.latent import LatentSpec
from genfw.plugin.loading import describe_exception
from genfw.plugin.registry import KIND_LABELS

if TYPE_CHECKING:
    from genfw.model import Model

__all__ = [
    "build_augmentations",
    "build_dataset",
    "build_latent",
    "build_loggers",
    "build_losses",
    "build_model",
    "build_network",
    "check_model",
    "check_model_needs",
    "seeded_init",
]


@contextlib.contextmanager
def _factory_errors_as_one_line(resolved: ResolvedConfig, path: str, rc: ResolvedComponent) -> Iterator[None]:
    """A factory that rejects its parameters or context with ValueError (the documented way,
    see genfw.plugin.hookspecs) becomes a one-line config error naming the component's JSON path (or
    the path a ``ConfigValueError`` names); the factory's message says what is wrong and how to
    fix it. A genfw error the factory raises (e.g. ``DataError`` on the user's files) already says
    what is wrong and whose it is, and passes through. Any other exception is a bug in the plugin:
    one line naming the plugin and where it raised, not a traceback."""
    try:
        yield
    except GenfwUsageError as exc:  # a factory's own genfw error (a DataError on the user's files) says whose it is
        if exc.where is not None and exc.where.split(".")[0].split("[")[0] == path.split(".")[0].split("[")[0]:
            exc.where = f"{resolved.source}: {exc.where}"  # a JSON path of this component: name the config file too
            exc.args = (exc.one_line(),)
        raise
    except ValueError as exc:
        at = exc.path if isinstance(exc, ConfigValueError) and exc.path else path
        raise ConfigError(str(exc), where=f"{resolved.source}: {at}") from None
    except Exception as exc:
        raise PluginError(
            f"{KIND_LABELS[rc.entry.kind]} {rc.type!r} from plugin {rc.entry.source.describe()} failed to build: "
            f"{describe_exception(exc)}",
            where=f"{resolved.source}: {path}",
            fix="this is a bug in that plugin; report it to its author",
        ) from None


def build_latent(resolved: ResolvedConfig, data: DataSpec | None = None) -> LatentSpec:
    """Construct every latent code, in config order; ``data`` is what the dataset provides (a
    code fed by the labels takes its categories from it)."""
    if data is not None:  # the model's needs first: they name the model, not a code, as the reason
        check_model_needs(resolved, data)
    codes = []
    for i, (name, rc) in enumerate(resolved.latent):
        with _factory_errors_as_one_line(resolved, f"latent[{i}]", rc):
            codes.append(rc.entry.factory(rc.params, CodeContext(name, data)))
    with _factory_errors_as_one_line(resolved, "latent", resolved.model):
        return LatentSpec(codes)


def check_model_needs(resolved: ResolvedConfig, data: DataSpec) -> None:
    """What the model needs from the data (``Model.needs``): one line when the dataset lacks it."""
    model_cls = resolved.model.entry.factory
    for need in getattr(model_cls, "needs", ()):
        if need not in DATA_NEEDS:
            raise PluginError(
                f"model {resolved.model.type!r} from plugin {resolved.model.entry.source.describe()} "
                f"declares it needs {need!r}, which no dataset provides (known: {', '.join(DATA_NEEDS)})",
                where=f"{resolved.source}: model",
                fix="this is a bug in that plugin; report it to its author",
            )
        if not data.provides(need):
            raise ConfigError(
                f"dataset {resolved.dataset.type!r} provides no {need} with this config; model "
                f"{resolved.model.type!r} needs them",
                where=f"{resolved.source}: dataset",
                fix=f"use a dataset with {need} (see docs/datasets.md), or a model that does not need them",
            )


def check_model(resolved: ResolvedConfig, latent: LatentSpec, data: DataSpec) -> None:
    """What the model needs from the data (``Model.needs``), then its own requirements on the
    latent spec and the data (``Model.check``)."""
    check_model_needs(resolved, data)
    model_cls = resolved.model.entry.factory
    check = getattr(model_cls, "check", None)
    if check is not None:
        with _factory_errors_as_one_line(resolved, "model", resolved.model):
            check(resolved.model.params, latent, data)


def build_dataset(resolved: ResolvedConfig, purpose: Literal["train", "evaluate"] = "train") -> Dataset:
    """The config's dataset; ``purpose="evaluate"`` ignores smoke-test limits."""
    rc = resolved.dataset
    with _factory_errors_as_one_line(resolved, "dataset", rc):
        data = rc.entry.factory(rc.params, DatasetContext(seed=resolved.config.seed, purpose=purpose))
    if not isinstance(data, Dataset):
        raise PluginError(
            f"dataset {rc.type!r} from plugin {rc.entry.source.describe()} returned a "
            f"{type(data).__name__}, not a genfw.data.base.Dataset",
            where=f"{resolved.source}: dataset",
            fix="this is a bug in that plugin; report it to its author",
        )
    return data


def _network_outputs(resolved: ResolvedConfig, latent: LatentSpec) -> dict[str, int]:
    ask = getattr(resolved.model.entry.factory, "network_outputs", None)
    if ask is None:
        return {}
    with _factory_errors_as_one_line(resolved, "model", resolved.model):
        return dict(ask(resolved.model.params, latent))


def build_network(resolved: ResolvedConfig, role: str, latent: LatentSpec, data: DataSpec) -> nn.Module:
    """The network the config names for ``role`` (e.g. "generator"), freshly initialised."""
    rc = resolved.networks[role]
    ctx = NetworkContext(latent, data, role, _network_outputs(resolved, latent).get(role))
    with _factory_errors_as_one_line(resolved, f"networks.{role}", rc):
        return rc.entry.factory(rc.params, ctx)


def build_losses(resolved: ResolvedConfig, latent: LatentSpec) -> dict[str, Any]:
    """The config's losses by role."""
    losses = {}
    for role, rc in resolved.losses.items():
        with _factory_errors_as_one_line(resolved, f"losses.{role}", rc):
            losses[role] = rc.entry.factory(rc.params, LossContext(latent, role))
    return losses


def build_augmentations(resolved: ResolvedConfig, image_shape: tuple[int, int, int]) -> dict[str, Any]:
    """The config's augmentations by role."""
    out = {}
    for role, rc in resolved.augmentations.items():
        with _factory_errors_as_one_line(resolved, f"augmentations.{role}", rc):
            out[role] = rc.entry.factory(rc.params, AugmentationContext(image_shape, role))
    return out


def build_model(
    resolved: ResolvedConfig,
    latent: LatentSpec,
    data: DataSpec,
    *,
    adapt_network: Callable[[nn.Module], nn.Module] | None = None,
) -> Model:
    """Check the model's requirements, build networks, losses and augmentations, then the model
    that owns them. Parameters are initialised from torch's global generator, which the caller
    seeds (:func:`seeded_init`). ``adapt_network`` (the trainer's, e.g. synchronised BatchNorm
    across processes) is applied to every network before the model sees it, so the model's
    optimizers hold the final parameters."""
    check_model(resolved, latent, data)
    networks = {role: build_network(resolved, role, latent, data) for role in resolved.networks}
    if adapt_network is not None:
        networks = {role: adapt_network(net) for role, net in networks.items()}
    ctx = ModelContext(
        latent,
        data,
        networks,
        build_losses(resolved, latent),
        build_augmentations(resolved, data.image_shape),
        dict(resolved.optimizers),
    )
    with _factory_errors_as_one_line(resolved, "model", resolved.model):
        model = resolved.model.entry.factory(resolved.model.params, ctx)
    if not callable(getattr(model, "curves", None)):  # the contract before version 1 had an attribute
        raise PluginError(
            f"model {resolved.model.type!r} from plugin {resolved.model.entry.source.describe()} declares "
            "`curves` as an attribute; it is a method now (`def curves(self)`, see docs/writing-models.md: "
            "porting)",
            where=f"{resolved.source}: model",
            fix="this is a bug in that plugin; report it to its author",
        )
    return model


def build_loggers(resolved: ResolvedConfig, ctx: LoggerContext) -> list[Any]:
    """The config's loggers, in order."""
    loggers = []
    for i, rc in enumerate(resolved.loggers):
        with _factory_errors_as_one_line(resolved, f"loggers[{i}]", rc):
            loggers.append(rc.entry.factory(rc.params, ctx))
    return loggers


@contextlib.contextmanager
def seeded_init(seed: int) -> Iterator[None]:
    """A context in which global-RNG draws (parameter init) are seeded, without leaking the state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
