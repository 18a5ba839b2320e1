"""Building a run's components from a resolved config: the contexts factories receive."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
from torch import nn

from genfw.config import ResolvedComponent, ResolvedConfig
from genfw.data.base import ImageDataset
from genfw.errors import ConfigError, PluginError
from genfw.latent import LatentSpec


@dataclass(frozen=True)
class NetworkContext:
    """What a network factory may size itself from."""

    latent: LatentSpec
    image_shape: tuple[int, int, int]  # (C, H, W)
    role: str  # the role it is built for, e.g. "generator"


@dataclass(frozen=True)
class LossContext:
    """What a loss factory may size itself from."""

    latent: LatentSpec
    role: str


@dataclass
class ModelContext:
    """What a model factory receives: its built networks and losses, by role."""

    latent: LatentSpec
    image_shape: tuple[int, int, int]
    networks: dict[str, nn.Module]
    losses: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def _factory_errors_as_one_line(resolved: ResolvedConfig, path: str, rc: ResolvedComponent) -> Iterator[None]:
    """A factory that rejects its parameters or context with ValueError (the documented way,
    see genfw.hookspecs) becomes a one-line config error naming the component's JSON path; the
    factory's message says what is wrong and how to fix it. Any other exception is a bug in the
    plugin: one line naming the plugin and where it raised, not a traceback."""
    try:
        yield
    except ValueError as exc:
        raise ConfigError(str(exc), where=f"{resolved.source}: {path}") from None
    except Exception as exc:
        from genfw.plugins import describe_exception
        from genfw.registry import KIND_LABELS

        raise PluginError(f"{KIND_LABELS[rc.entry.kind]} {rc.type!r} from plugin {rc.entry.source.describe()} failed to build: "
                          f"{describe_exception(exc)}", where=f"{resolved.source}: {path}",
                          fix="this is a bug in that plugin; report it to its author") from None


def build_latent(resolved: ResolvedConfig) -> LatentSpec:
    """Construct every latent code, in config order."""
    codes = []
    for i, (name, rc) in enumerate(resolved.latent):
        with _factory_errors_as_one_line(resolved, f"latent[{i}]", rc):
            codes.append(rc.entry.factory(name, rc.params))
    return LatentSpec(codes)


def build_losses(resolved: ResolvedConfig, latent: LatentSpec) -> dict[str, Any]:
    """The config's losses by role."""
    losses = {}
    for role, rc in resolved.losses.items():
        with _factory_errors_as_one_line(resolved, f"losses.{role}", rc):
            losses[role] = rc.entry.factory(rc.params, LossContext(latent, role))
    return losses


def build_dataset(resolved: ResolvedConfig) -> ImageDataset:
    return resolved.dataset.entry.factory(resolved.dataset.params)


def build_network(resolved: ResolvedConfig, role: str, latent: LatentSpec, image_shape: tuple[int, int, int]) -> nn.Module:
    """The network the config names for ``role`` (e.g. "generator"), freshly initialised."""
    rc = resolved.networks[role]
    with _factory_errors_as_one_line(resolved, f"networks.{role}", rc):
        return rc.entry.factory(rc.params, NetworkContext(latent, image_shape, role))


def build_model(resolved: ResolvedConfig, latent: LatentSpec, image_shape: tuple[int, int, int]):
    """Build networks and losses, then the model that owns them. Parameters are initialised
    from torch's global generator, which the caller seeds."""
    networks = {role: build_network(resolved, role, latent, image_shape) for role in resolved.networks}
    losses = build_losses(resolved, latent)
    with _factory_errors_as_one_line(resolved, "model", resolved.model):
        return resolved.model.entry.factory(resolved.model.params, ModelContext(latent, image_shape, networks, losses))


@contextlib.contextmanager
def seeded_init(seed: int) -> Iterator[None]:
    """A context in which global-RNG draws (parameter init) are seeded, without leaking the state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _dataset_variant(resolved: ResolvedConfig, **changes: Any) -> ImageDataset:
    """The run's dataset with some params changed (only those its params model has)."""
    params = resolved.dataset.params
    fields = type(params).model_fields
    update = {k: v for k, v in changes.items() if k in fields}
    return resolved.dataset.entry.factory(type(params).model_validate({**params.model_dump(), **update}))


def build_full_dataset(resolved: ResolvedConfig) -> ImageDataset:
    """The training split without a smoke-test ``limit``: what evaluation compares against."""
    return _dataset_variant(resolved, limit=None)


def build_eval_dataset(resolved: ResolvedConfig, *, full: bool = False) -> ImageDataset | None:
    """The held-out split of the training dataset, for datasets whose params have a ``split``
    (MNIST: ``test``); None when there is none or it has no labels. ``full`` drops a smoke-test
    ``limit`` (evaluation always uses the whole held-out split)."""
    if "split" not in type(resolved.dataset.params).model_fields:
        return None
    try:
        ds = _dataset_variant(resolved, split="test", **({"limit": None} if full else {}))
    except Exception:  # a dataset without a test split: evaluation is simply skipped
        return None
    return ds if ds.labels is not None else None
