"""Deprecated: the hook specifications are ``genfw.plugin.hookspecs``; plugins import from ``genfw.api``."""

from genfw.deprecation import warn_moved
from genfw.plugin.hookspecs import (
    PROJECT_NAME,
    Register,
    RegisterAugmentations,
    RegisterDatasets,
    RegisterLatentCodes,
    RegisterLoggers,
    RegisterLosses,
    RegisterModels,
    RegisterNetworks,
    hookimpl,
    hookspec,
)

__all__ = [
    "PROJECT_NAME",
    "Register",
    "RegisterAugmentations",
    "RegisterDatasets",
    "RegisterLatentCodes",
    "RegisterLoggers",
    "RegisterLosses",
    "RegisterModels",
    "RegisterNetworks",
    "hookimpl",
    "hookspec",
]

warn_moved(
    __name__,
    "import hookimpl and the Register* types from genfw.api (e.g. from genfw.api import hookimpl, RegisterModels)",
)
