"""Deprecated: the hook specifications are ``genfw.plugin.hookspecs``; plugins import from ``genfw.api``."""

from genfw.deprecation import warn_moved
from genfw.plugin.hookspecs import *  # noqa: F403  (a shim: every name the new module exports)
from genfw.plugin.hookspecs import __all__  # noqa: F401

warn_moved(
    __name__,
    "import hookimpl and the Register* types from genfw.api (e.g. from genfw.api import hookimpl, RegisterModels)",
)
