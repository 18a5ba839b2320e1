"""Deprecated: loading plugins is ``genfw.plugin.loading``."""

from genfw.deprecation import warn_moved
from genfw.plugin.loading import (
    BUILTIN_PLUGINS,
    ENTRY_POINT_GROUP,
    ENV_DISABLE,
    ENV_LOAD,
    LoadedPlugins,
    describe_exception,
    load_plugins,
    unique_folders,
)

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "ENV_DISABLE",
    "ENV_LOAD",
    "LoadedPlugins",
    "describe_exception",
    "load_plugins",
    "unique_folders",
]

warn_moved(__name__, "import from genfw.plugin.loading (plugins need none of it: they import from genfw.api)")
