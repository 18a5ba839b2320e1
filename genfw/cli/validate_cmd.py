"""``genfw validate CONFIG``: check a config without running it."""

from __future__ import annotations

import json

import click

from genfw.cli.common import handle_errors, plugins_dir_option, set_option


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@set_option
@plugins_dir_option
@click.option("--print", "print_resolved", is_flag=True, help="Print the resolved config (all defaults filled in).")
@handle_errors
def validate(config: str, overrides: tuple[str, ...], plugins_dirs: tuple[str, ...], print_resolved: bool) -> None:
    """Validate CONFIG against its schema, the loaded plugins, the dataset and the model's own
    requirements, by building everything a run builds (nothing is trained or written); exit 0 if
    it is valid, 2 if not. The dataset is loaded (downloaded if the config allows it)."""
    from genfw.session import load_config_and_plugins
    from genfw.training.check import check_run

    _, resolved = load_config_and_plugins(config, overrides, plugins_dirs)
    summary = check_run(resolved)
    if print_resolved:
        click.echo(json.dumps(resolved.to_json(), indent=2))
    else:
        codes = ", ".join(f"{name}:{rc.type}" for name, rc in resolved.latent)
        click.echo(
            f"{config}: valid (model {resolved.model.type}, dataset {resolved.dataset.type} "
            f"{'x'.join(map(str, summary['image_shape']))}, {summary['parameters']:,} trainable parameters, latent {codes})"
        )
