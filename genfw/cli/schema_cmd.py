"""``genfw schema``: the JSON Schema of run configs, for editors and validators."""

from __future__ import annotations

import json

import click

from genfw.cli.common import handle_errors, plugins_dir_option


@click.command()
@plugins_dir_option
@handle_errors
def schema(plugins_dirs: tuple[str, ...]) -> None:
    """Print the JSON Schema of a run config, with each registered component's parameters."""
    from genfw.plugin.loading import load_plugins
    from genfw.config.json_schema import run_config_schema

    click.echo(json.dumps(run_config_schema(load_plugins(plugins_dirs).registries), indent=2))
