"""Run configs: one JSON file, validated in two passes.

1. ``genfw.config.schema``: the file's shape, :class:`RunConfig` (pydantic, ``extra="forbid"``).
2. ``genfw.config.reading``: reading it strictly and applying ``--set`` overrides; pydantic
   errors as one line naming the file and the JSON path.
3. ``genfw.config.resolution``: every component looked up in the registries, its params
   validated by its plugin's params model, the model's roles and optimizers checked.

Loading the plugins a config needs is the session's work (``genfw.session``), a layer above.
The names this module used to hold are forwarded for one release, with a DeprecationWarning.
"""

from __future__ import annotations

import importlib
from typing import Any

from genfw.deprecation import warn_moved

#: Old name -> the module that holds it now.
_MOVED = {
    **dict.fromkeys(
        (
            "Component",
            "LatentEntry",
            "TrainConfig",
            "OutputConfig",
            "ExportConfig",
            "EvalConfig",
            "RunConfig",
            "config_json_schema",
            "NAME_PATTERN",
            "NAME_RULE",
        ),
        "genfw.config.schema",
    ),
    **dict.fromkeys(("read_config_file", "apply_overrides", "strict_validate"), "genfw.config.reading"),
    **dict.fromkeys(
        ("ResolvedComponent", "ResolvedConfig", "validate_config", "load_config"), "genfw.config.resolution"
    ),
    **dict.fromkeys(("load_config_and_plugins", "validate_recorded_config"), "genfw.session"),
}


def __getattr__(name: str) -> Any:
    if name not in _MOVED:
        raise AttributeError(f"module 'genfw.config' has no attribute {name!r}")
    warn_moved(f"genfw.config.{name}", f"import it from {_MOVED[name]}")
    return getattr(importlib.import_module(_MOVED[name]), name)
