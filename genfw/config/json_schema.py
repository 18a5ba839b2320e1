"""The JSON Schema of run configs, including the parameters every loaded plugin registered.

The component sections (``dataset``, ``latent[]``, ``model``, ``networks.*``, ``losses.*``,
``augmentations.*``, ``loggers[]``) become
``oneOf`` over the registered components of their kind, keyed by ``type``, so an editor can
complete and check plugin parameters too.
"""

from __future__ import annotations

from typing import Any

from genfw.config.schema import RunConfig
from genfw.names import NAME_PATTERN
from genfw.plugin.registry import Registries


def _component_schema(registry, *, with_name: bool) -> dict[str, Any]:
    variants = []
    for entry in registry:
        params = entry.params.model_json_schema()
        props = {"type": {"const": entry.name, "description": entry.description}}
        if with_name:
            props["name"] = {"type": "string", "pattern": NAME_PATTERN}
        props.update(params.get("properties", {}))
        required = ["type"] + (["name"] if with_name else []) + list(params.get("required", []))
        variant = {
            "type": "object",
            "title": entry.name,
            "properties": props,
            "required": required,
            "additionalProperties": False,
        }
        if "$defs" in params:
            variant["$defs"] = params["$defs"]
        variants.append(variant)
    return {"oneOf": variants} if variants else {"type": "object"}


def run_config_schema(registries: Registries) -> dict[str, Any]:
    schema = RunConfig.model_json_schema()
    props = schema["properties"]
    props["dataset"] = _component_schema(registries.datasets, with_name=False)
    props["model"] = _component_schema(registries.models, with_name=False)
    props["latent"] = {
        "type": "array",
        "minItems": 1,
        "items": _component_schema(registries.latent_codes, with_name=True),
        "description": props["latent"].get("description", ""),
    }
    props["networks"] = {
        "type": "object",
        "additionalProperties": _component_schema(registries.networks, with_name=False),
    }
    props["losses"] = {"type": "object", "additionalProperties": _component_schema(registries.losses, with_name=False)}
    props["augmentations"] = {
        "type": "object",
        "description": props["augmentations"].get("description", ""),
        "additionalProperties": _component_schema(registries.augmentations, with_name=False),
    }
    props["loggers"] = {
        "type": "array",
        "description": props["loggers"].get("description", ""),
        "items": _component_schema(registries.loggers, with_name=False),
    }
    schema.setdefault("$defs", {}).pop("Component", None)
    schema["$defs"].pop("LatentEntry", None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
