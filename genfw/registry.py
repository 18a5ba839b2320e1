"""Deprecated: the registries are ``genfw.plugin.registry``."""

from genfw.deprecation import warn_moved
from genfw.plugin.registry import KIND_LABELS, KINDS, Entry, Registries, Registry, Source, params_model_of

__all__ = ["KINDS", "KIND_LABELS", "Entry", "Registries", "Registry", "Source", "params_model_of"]

warn_moved(__name__, "import from genfw.plugin.registry (plugins need none of it: they import from genfw.api)")
