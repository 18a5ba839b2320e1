"""``genfw schema``: the JSON Schema of run configs (for editors and validators), or with
``--sidecar`` that of an exported generator's sidecar ``generator.json``, with
``--encoder-sidecar`` that of an exported encoder's ``encoder.json`` (docs/onnx.md)."""

from __future__ import annotations

import json

import click

from genfw.cli.common import handle_errors, plugins_dir_option


@click.command()
@plugins_dir_option
@click.option(
    "--sidecar",
    is_flag=True,
    help="Print the JSON Schema of an exported generator's sidecar (generator.json) instead of a run config's.",
)
@click.option(
    "--encoder-sidecar",
    is_flag=True,
    help="Print the JSON Schema of an exported encoder's sidecar (encoder.json) instead of a run config's.",
)
@handle_errors
def schema(plugins_dirs: tuple[str, ...], sidecar: bool, encoder_sidecar: bool) -> None:
    """Print the JSON Schema of a run config, with each registered component's parameters (--sidecar: of a
    generator's sidecar; --encoder-sidecar: of an encoder's)."""
    if sidecar and encoder_sidecar:
        from genfw.errors import GenfwUsageError

        raise GenfwUsageError("--sidecar and --encoder-sidecar print different schemas", fix="give one of them")
    if sidecar or encoder_sidecar:  # the same for every plugin set: the sidecars' shape is the ONNX contract's
        from genfw.export.sidecar_schema import encoder_sidecar_json_schema, sidecar_json_schema

        click.echo(json.dumps(encoder_sidecar_json_schema() if encoder_sidecar else sidecar_json_schema(), indent=2))
        return
    from genfw.config.json_schema import run_config_schema
    from genfw.plugin.loading import load_plugins

    click.echo(json.dumps(run_config_schema(load_plugins(plugins_dirs).registries), indent=2))
