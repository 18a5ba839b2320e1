"""genfw: a plugin-based generative modeling framework.

The package is import-light on purpose: ``import genfw`` pulls in neither torch nor the plugins,
so ``genfw.runtime`` (numpy + onnxruntime only) can live in the same distribution. Plugin
authors import from :mod:`genfw.api`; ``genfw.hookimpl`` and the ``genfw.Register*`` types are
forwarded there for one release, with a DeprecationWarning.
"""

from __future__ import annotations

from typing import Any

from genfw.version import __version__

__all__ = ["__version__"]


def __getattr__(name: str) -> Any:
    from genfw.plugin import hookspecs  # pluggy only: still no torch

    if name not in hookspecs.PLUGIN_NAMES:
        raise AttributeError(f"module 'genfw' has no attribute {name!r}")
    from genfw.deprecation import warn_moved

    warn_moved(f"genfw.{name}", f"use genfw.api.{name} (from genfw.api import {name})")
    return getattr(hookspecs, name)
