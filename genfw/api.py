"""genfw's public API: the one module a plugin imports from.

Everything a plugin author names is here; the modules it comes from are genfw's inside and may
move between releases (old paths keep working for one release, with a DeprecationWarning that
names the name here). Plugins (the shipped ones in ``plugins/`` too) import ``genfw.api`` and
nothing else of genfw. Cheap to import: torch, pydantic and pluggy, but no onnx, matplotlib,
scipy or scikit-learn (the metrics below are imported on first use).

Hooks (reference: ``genfw.plugin.hookspecs``)
    ``hookimpl``; the ``register`` callables' types ``RegisterDatasets``, ``RegisterLatentCodes``,
    ``RegisterNetworks``, ``RegisterLosses``, ``RegisterAugmentations``, ``RegisterModels``,
    ``RegisterLoggers``.
Models (docs/writing-models.md)
    ``Model`` (the base class), ``Roles``, ``Batch`` (what ``train_step`` receives), ``DataSpec``
    (what a dataset provides), ``eval_mode``.
Latent codes
    ``LatentCode`` (the base class), ``LatentSpec`` (the ordered codes of a run), ``Traversal``,
    ``CodeRole``.
Contexts, what each factory receives as ``ctx``
    ``DatasetContext``, ``CodeContext``, ``NetworkContext``, ``LossContext``,
    ``AugmentationContext``, ``ModelContext``, ``LoggerContext``; and ``EvalContext``, what a
    model's ``evaluate``, ``epoch_metrics`` and ``figures`` work with.
Datasets and loggers
    ``Dataset``, ``ImageDataset``; ``Augmentation`` (the protocol), ``random_affine``;
    ``Logger``, ``folder_name``, ``folder_in_run``.
Figures
    ``ImageGrid`` (what ``Model.figures`` returns).
Errors
    ``ConfigValueError`` (a factory's rejection naming another JSON path), ``DataError``,
    ``ConfigError``, ``PluginError``, ``CheckpointError``, ``GenfwUsageError``, ``GenfwError``.
What GANs share
    ``AdversarialLoss``, ``NonSaturatingLoss``, ``NonSaturatingParams``, ``HingeLoss``,
    ``WassersteinGPLoss``, ``ExponentialMovingAverage``, ``frozen``; ``minibatch_stddev`` and
    ``MinibatchStdDev`` (a discriminator's view of a group's spread, Karras et al. 2018) and
    ``MinibatchStdGroup`` (the network parameter that turns it on, validated);
    ``DiscriminatorParts`` (a discriminator's trunk, D head and aux head, found and typed);
    ``ClassProjection`` (a projection discriminator's class embedding, Miyato & Koyama 2018) and
    ``features_read_by`` (the width of the features a D head reads, which it must match).
Metrics (pure functions, imported on first use)
    ``cluster_accuracy``, ``cluster_matching``, ``nmi``, ``ari``, ``slant``, ``stroke_width``,
    ``ink_width``, ``code_effect``, ``circular_linear_correlation``.
"""

from __future__ import annotations

import importlib
from typing import Any

from genfw.augmentations import Augmentation, random_affine
from genfw.batch import Batch
from genfw.contexts import (
    AugmentationContext,
    CodeContext,
    DatasetContext,
    EvalContext,
    LoggerContext,
    LossContext,
    ModelContext,
    NetworkContext,
)
from genfw.data.base import Dataset, ImageDataset
from genfw.data.spec import DataSpec
from genfw.errors import (
    CheckpointError,
    ConfigError,
    ConfigValueError,
    DataError,
    GenfwError,
    GenfwUsageError,
    PluginError,
)
from genfw.eval_mode import eval_mode
from genfw.gan.ema import ExponentialMovingAverage
from genfw.gan.freeze import frozen
from genfw.gan.losses import AdversarialLoss, HingeLoss, NonSaturatingLoss, NonSaturatingParams, WassersteinGPLoss
from genfw.latent import CodeRole, LatentCode, LatentSpec, Traversal
from genfw.loggers.base import Logger, folder_in_run, folder_name
from genfw.model import Model, Roles
from genfw.networks.minibatch_std import MinibatchStdDev, MinibatchStdGroup, minibatch_stddev
from genfw.networks.parts import DiscriminatorParts
from genfw.networks.projection import ClassProjection, features_read_by
from genfw.plots import ImageGrid
from genfw.plugin.hookspecs import (
    RegisterAugmentations,
    RegisterDatasets,
    RegisterLatentCodes,
    RegisterLoggers,
    RegisterLosses,
    RegisterModels,
    RegisterNetworks,
    hookimpl,
)

#: Metrics by name -> the module that holds them; imported on first use (scipy and scikit-learn
#: cost seconds, and most plugins measure nothing of their own).
_METRICS = {
    **dict.fromkeys(("cluster_accuracy", "cluster_matching", "nmi", "ari"), "genfw.metrics.clustering"),
    **dict.fromkeys(("slant", "stroke_width", "ink_width", "code_effect"), "genfw.metrics.image_stats"),
    "circular_linear_correlation": "genfw.metrics.circular",
}

__all__ = [
    # hooks
    "hookimpl",
    "RegisterAugmentations",
    "RegisterDatasets",
    "RegisterLatentCodes",
    "RegisterLoggers",
    "RegisterLosses",
    "RegisterModels",
    "RegisterNetworks",
    # models
    "Model",
    "Roles",
    "Batch",
    "DataSpec",
    "eval_mode",
    # latent codes
    "LatentCode",
    "LatentSpec",
    "Traversal",
    "CodeRole",
    # contexts
    "DatasetContext",
    "CodeContext",
    "NetworkContext",
    "LossContext",
    "AugmentationContext",
    "ModelContext",
    "LoggerContext",
    "EvalContext",
    # datasets, augmentations, loggers
    "Dataset",
    "ImageDataset",
    "Augmentation",
    "random_affine",
    "Logger",
    "folder_name",
    "folder_in_run",
    # figures
    "ImageGrid",
    # errors
    "ConfigValueError",
    "DataError",
    "ConfigError",
    "PluginError",
    "CheckpointError",
    "GenfwUsageError",
    "GenfwError",
    # GANs
    "AdversarialLoss",
    "NonSaturatingLoss",
    "NonSaturatingParams",
    "HingeLoss",
    "WassersteinGPLoss",
    "ExponentialMovingAverage",
    "frozen",
    "minibatch_stddev",
    "MinibatchStdDev",
    "MinibatchStdGroup",
    "DiscriminatorParts",
    "ClassProjection",
    "features_read_by",
    # metrics
    *_METRICS,
]


def __getattr__(name: str) -> Any:
    if name in _METRICS:
        return getattr(importlib.import_module(_METRICS[name]), name)
    raise AttributeError(f"module 'genfw.api' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
