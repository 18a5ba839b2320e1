"""Deprecated: the contexts are in ``genfw.api`` (``genfw.contexts``), the builders in ``genfw.building``."""

from genfw.building import (
    build_augmentations,
    build_dataset,
    build_latent,
    build_loggers,
    build_losses,
    build_model,
    build_network,
    check_model,
    seeded_init,
)
from genfw.contexts import (
    AugmentationContext,
    CodeContext,
    DatasetContext,
    LoggerContext,
    LossContext,
    ModelContext,
    NetworkContext,
)
from genfw.deprecation import warn_moved

__all__ = [
    "AugmentationContext",
    "CodeContext",
    "DatasetContext",
    "LoggerContext",
    "LossContext",
    "ModelContext",
    "NetworkContext",
    "build_augmentations",
    "build_dataset",
    "build_latent",
    "build_loggers",
    "build_losses",
    "build_model",
    "build_network",
    "check_model",
    "seeded_init",
]

warn_moved(
    __name__,
    "import NetworkContext, LossContext, AugmentationContext, ModelContext, LoggerContext, "
    "CodeContext and DatasetContext from genfw.api (e.g. from genfw.api import NetworkContext)",
)
