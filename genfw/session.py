"""A command's session: reading a config or an artifact's recorded config, loading the plugins it
needs (and only those the user trusts), and validating it against their registries.

The layer above config and the plugin system: the config layer knows no plugin loading, and the
plugin system knows no config. Artifacts are data, never code: the local plugin folders a run
recorded load only when the user passes them (``--plugins-dir``) or says so
(``--trust-recorded-plugins``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genfw.config.reading import apply_overrides, read_config_file
from genfw.config.resolution import ResolvedConfig, validate_config
from genfw.errors import ConfigError, UnknownComponentTypeError
from genfw.plugin.loading import LoadedPlugins, load_plugins, unique_folders


def load_config_and_plugins(
    path: str | Path, overrides: Sequence[str] = (), plugins_dirs: Sequence[str] = ()
) -> tuple[LoadedPlugins, ResolvedConfig]:
    """Read a config, load the plugins it needs (``--plugins-dir`` folders plus the config's own
    ``plugins_dirs``, relative to the config file) and validate it. Returns (plugins, resolved).

    The resolved config's ``plugins_dirs`` lists every folder used, as absolute paths, so a run
    that records it can be resumed, exported and evaluated with the same plugins.
    """
    doc = apply_overrides(read_config_file(path), overrides, str(path))
    dirs = [Path(d).expanduser().resolve() for d in plugins_dirs]
    extra = doc.get("plugins_dirs", [])
    if isinstance(extra, list) and all(isinstance(d, str) for d in extra):  # anything else: validate_config reports it
        base = Path(path).resolve().parent
        for i, d in enumerate(extra):
            folder = (base / Path(d).expanduser()).resolve()
            if not folder.is_dir():
                raise ConfigError(
                    f"plugin folder {folder} does not exist",
                    where=f"{path}: plugins_dirs[{i}]",
                    fix="paths are relative to the config file; fix or remove the entry",
                )
            dirs.append(folder)
        doc = {**doc, "plugins_dirs": [str(d) for d in unique_folders(dirs)]}
    plugins = load_plugins(dirs)
    return plugins, validate_config(doc, plugins.registries, source=str(path))


def validate_recorded_config(
    doc: dict[str, Any], plugins_dirs: Sequence[str], source: str, *, trust_recorded: bool = False
) -> ResolvedConfig:
    """Validate a config read from an artifact (a run's config.json, a checkpoint, generator.pt)
    against the installed plugins and the ``--plugins-dir`` folders the user passed.

    Artifacts are data, never code: the local plugin folders a run recorded are imported only
    when the user passes them again or confirms with ``trust_recorded`` (the CLI's
    ``--trust-recorded-plugins``), so a downloaded file cannot make genfw import anything. When a
    component is then unknown, the error names the recorded folders and both ways to load them.
    """
    listed = doc.get("plugins_dirs")
    recorded = [d for d in listed if isinstance(d, str)] if isinstance(listed, list) else []
    given = set(unique_folders(plugins_dirs))
    not_given = [d for d in recorded if Path(d).expanduser().resolve() not in given]
    missing = [d for d in not_given if not Path(d).is_dir()]
    trusted = [d for d in not_given if d not in missing] if trust_recorded else []
    used = [str(d) for d in unique_folders([*plugins_dirs, *trusted])]
    plugins = load_plugins(used)
    try:
        # The config records the folders actually loaded now, so a run resumed with a moved
        # plugin folder goes on with the new place.
        return validate_config({**doc, "plugins_dirs": used}, plugins.registries, source=source)
    except UnknownComponentTypeError as exc:
        if missing:
            hint = f"the run used local plugins from {', '.join(missing)}, which is gone: pass its new place with --plugins-dir"
        elif not_given and not trust_recorded:
            hint = (
                f"the run was trained with local plugins from {', '.join(not_given)}, which genfw does not import from "
                f"a file's say-so: pass --plugins-dir {not_given[0]} (or --trust-recorded-plugins) if you trust them"
            )
        else:
            hint = "a local plugin's folder can be given with --plugins-dir"
        raise UnknownComponentTypeError(
            exc.problem, where=exc.where, fix=f"{exc.fix}; {hint}" if exc.fix else hint
        ) from None
