"""Deprecated: the contexts are in ``genfw.api`` (``genfw.contexts``), the builders in ``genfw.building``."""

from genfw import building, contexts
from genfw.building import *  # noqa: F403  (a shim: every name the new modules export)
from genfw.contexts import *  # noqa: F403
from genfw.deprecation import warn_moved

__all__ = [*building.__all__, *contexts.__all__]

warn_moved(
    __name__,
    "import NetworkContext, LossContext, AugmentationContext, ModelContext, LoggerContext, "
    "CodeContext and DatasetContext from genfw.api (e.g. from genfw.api import NetworkContext)",
)
