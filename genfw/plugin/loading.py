"""Finding and loading plugins, then filling the registries from their hooks.

Three sources, loaded in this order:

1. built-ins (``BUILTIN_PLUGINS``, ``genfw.plugin.builtins``): genfw's own datasets, latent codes, networks, GAN losses,
   augmentations and loggers;
2. installed distributions that declare an entry point in the group ``genfw``, one at a time;
3. local plugin folders (``--plugins-dir`` or the config's ``plugins_dirs``): every ``*.py`` file
   and every package (a folder with ``__init__.py``) in the folder, except names starting with
   ``_`` or ``.`` and test files (``test_*.py``, ``*_test.py``, ``conftest.py``).

Environment variables, for when a broken plugin stands in the way:

- ``GENFW_LOAD_PLUGINS=a,b``: load only these entry-point plugins (empty: none of them);
- ``GENFW_DISABLE_PLUGINS=a,b``: skip these entry-point or local plugins.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from genfw.errors import GenfwUsageError, PluginError
from genfw.plugin import hookspecs
from genfw.plugin.registry import KINDS, Registries, Source
from genfw.version import __version__

ENTRY_POINT_GROUP = "genfw"
#: Plugin name -> module. The name is what artifacts record as a component's provenance, so it
#: stays "genfw.builtins" wherever the module lives.
BUILTIN_PLUGINS = {"genfw.builtins": "genfw.plugin.builtins"}
ENV_LOAD = "GENFW_LOAD_PLUGINS"
ENV_DISABLE = "GENFW_DISABLE_PLUGINS"


@dataclass
class LoadedPlugins:
    """The plugin manager after loading, and the registries its hooks filled."""

    manager: pluggy.PluginManager
    registries: Registries
    sources: dict[str, Source] = field(default_factory=dict)  # plugin name -> where it came from

    def plugin_rows(self) -> list[dict[str, Any]]:
        """One row per loaded plugin: name, origin, distribution, hooks it implements."""
        rows = []
        for name, source in self.sources.items():
            plugin = self.manager.get_plugin(name)
            hooks = sorted(h.name for h in (self.manager.get_hookcallers(plugin) or []))
            rows.append({"name": name, "origin": source.origin, "distribution": source.distribution, "hooks": hooks})
        return rows


def _env_list(name: str) -> list[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def describe_exception(exc: BaseException) -> str:
    """The original error as one line: type, message, and the plugin-side line that raised it."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _register(
    manager: pluggy.PluginManager, module: ModuleType | object, name: str, source: Source, how_to_disable: str
) -> None:
    try:
        manager.register(module, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {source.describe()} is invalid: {exc}", fix=how_to_disable) from None
    except ValueError as exc:  # pluggy: the same name or object registered twice
        raise PluginError(f"plugin {source.describe()} could not be registered: {exc}", fix=how_to_disable) from None


def _load_entry_points(manager: pluggy.PluginManager, sources: dict[str, Source]) -> list[str]:
    """Load the entry-point plugins; returns those installed but skipped (by the env switches)."""
    only = _env_list(ENV_LOAD)
    disabled = set(_env_list(ENV_DISABLE) or [])
    skipped = []
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else None
        if (only is not None and ep.name not in only) or ep.name in disabled:
            skipped.append(f"{ep.name} ({dist})" if dist else ep.name)
            continue
        source = Source(plugin=ep.name, distribution=dist, origin="entrypoint")
        fix = f"fix or uninstall it, or skip it with {ENV_DISABLE}={ep.name}"
        if ep.name in sources:
            raise PluginError(
                f"two plugins are named {ep.name!r}: {sources[ep.name].describe()} and {source.describe()}", fix=fix
            )
        try:
            module = ep.load()
        except (Exception, SystemExit) as exc:  # a plugin may fail in any way (even exit); report it, do not crash
            raise PluginError(
                f"plugin {source.describe()} failed to load: {describe_exception(exc)}", fix=fix
            ) from None
        _register(manager, module, ep.name, source, fix)
        sources[ep.name] = source
    return skipped


def _is_test_file(path: Path) -> bool:
    """pytest's files, which may sit beside a plugin without being one."""
    return path.name == "conftest.py" or path.name.startswith("test_") or path.stem.endswith("_test")


def _local_plugin_paths(folder: Path) -> list[Path]:
    paths = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith((".", "_")) or (path.is_file() and _is_test_file(path)):
            continue
        if (path.is_file() and path.suffix == ".py") or (path.is_dir() and (path / "__init__.py").is_file()):
            paths.append(path)
    return paths


def _import_local(path: Path) -> ModuleType:
    module_name = f"genfw_local_plugins.{path.stem}"
    if path.is_dir():
        spec = importlib.util.spec_from_file_location(
            module_name, path / "__init__.py", submodule_search_locations=[str(path)]
        )
    else:
        spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # so relative imports inside a package plugin work
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def unique_folders(folders: Iterable[str | os.PathLike]) -> list[Path]:
    """The folders in order, each once (the same folder named twice, e.g. relative and absolute)."""
    seen: dict[Path, None] = {}
    for folder in folders:
        seen.setdefault(Path(folder).expanduser().resolve(), None)
    return list(seen)


def _load_local(
    manager: pluggy.PluginManager, folders: Iterable[str | os.PathLike], sources: dict[str, Source]
) -> None:
    disabled = set(_env_list(ENV_DISABLE) or [])
    for folder in unique_folders(folders):
        if not folder.is_dir():
            raise GenfwUsageError(
                f"plugin folder {folder} does not exist or is not a folder",
                fix="pass an existing folder to --plugins-dir / plugins_dirs",
            )
        for path in _local_plugin_paths(folder):
            name = path.stem
            if name in disabled:
                continue
            source = Source(plugin=name, distribution=None, origin=f"local {path}")
            fix = f"fix or remove {path}, or skip it with {ENV_DISABLE}={name}"
            if name in sources:
                raise PluginError(
                    f"two plugins are named {name!r}: {sources[name].describe()} and {source.describe()}", fix=fix
                )
            try:
                module = _import_local(path)
            except (Exception, SystemExit) as exc:
                raise PluginError(f"local plugin {path} failed to load: {describe_exception(exc)}", fix=fix) from None
            _register(manager, module, name, source, fix)
            sources[name] = source


def _fill_registries(manager: pluggy.PluginManager, sources: dict[str, Source]) -> Registries:
    registries = Registries()
    for kind in KINDS:
        registry = registries.by_kind(kind)
        caller = getattr(manager.hook, f"register_{kind}")
        # Call each plugin's implementation on its own, so every entry knows which plugin made it.
        for impl in caller.get_hookimpls():  # in registration order: built-ins, entry points, local
            source = sources[impl.plugin_name]

            def register(name, factory, *, description=None, _source=source, _registry=registry):
                _registry.add(name, factory, description=description, source=_source)

            try:
                impl.function(register=register)
            except GenfwUsageError:
                raise
            except Exception as exc:
                raise PluginError(
                    f"plugin {source.describe()} failed in register_{kind}: {describe_exception(exc)}",
                    fix=f"fix the plugin, or skip it with {ENV_DISABLE}={impl.plugin_name}",
                ) from None
    return registries


def load_plugins(plugin_dirs: Iterable[str | os.PathLike] = ()) -> LoadedPlugins:
    """Load built-in, installed and local plugins and fill the registries.

    Raises :class:`genfw.errors.PluginError` (one line, exit code 2 in the CLI) for a plugin that
    fails to import, implements a hook that does not exist (e.g. a misspelled name), or registers
    a name another plugin already registered.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    sources: dict[str, Source] = {}
    for name, module_name in BUILTIN_PLUGINS.items():
        source = Source(plugin=name, distribution=f"genfw {__version__}", origin="builtin")
        _register(manager, importlib.import_module(module_name), name, source, "this is a genfw bug; please report it")
        sources[name] = source
    skipped = _load_entry_points(manager, sources)
    _load_local(manager, plugin_dirs, sources)
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        plugin_name = manager.get_name(exc.plugin) if exc.plugin is not None else None
        unknown = sources.get(plugin_name) if plugin_name else None
        hook_names = ", ".join(f"register_{k}" for k in KINDS)
        raise PluginError(
            f"plugin {unknown.describe() if unknown else plugin_name} implements an unknown hook: {exc}",
            fix=f"the hooks are: {hook_names}; check the spelling",
        ) from None
    registries = _fill_registries(manager, sources)
    if skipped:
        note = f"; installed but not loaded: {', '.join(skipped)} (check {ENV_LOAD} / {ENV_DISABLE})"
        for registry in registries:
            registry.plugins_note = note
    return LoadedPlugins(manager, registries, sources)
