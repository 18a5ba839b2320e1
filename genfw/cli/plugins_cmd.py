"""``genfw plugins``: every registered component, with its kind, plugin and description."""

from __future__ import annotations

import json

import click

from genfw.cli.common import handle_errors, plugins_dir_option


def _defaults(params_model) -> dict[str, str]:
    """Each optional field's default as JSON text, default factories included (``weights = {}``)."""
    out = {}
    for name, field in params_model.model_fields.items():
        if not field.is_required():  # default=str: a value JSON cannot show is shown as text
            out[name] = json.dumps(field.get_default(call_default_factory=True), default=str)
    return out


@click.command()
@plugins_dir_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--params", "show_params", is_flag=True, help="Also list each component's parameters.")
@handle_errors
def plugins(plugins_dirs: tuple[str, ...], as_json: bool, show_params: bool) -> None:
    """List loaded plugins and the components they register."""
    from genfw.plugin.loading import load_plugins
    from genfw.plugin.registry import KIND_LABELS

    loaded = load_plugins(plugins_dirs)
    rows = []
    for registry in loaded.registries:
        for e in registry:
            rows.append(
                {
                    "kind": KIND_LABELS[e.kind],
                    "name": e.name,
                    "plugin": e.source.plugin,
                    "distribution": e.source.distribution,
                    "origin": e.source.origin,
                    "description": e.description,
                    "params": e.params.model_json_schema().get("properties", {}),
                    "defaults": _defaults(e.params),
                }
            )
    if as_json:
        click.echo(json.dumps({"plugins": loaded.plugin_rows(), "components": rows}, indent=2))
        return
    headers = ("KIND", "NAME", "PLUGIN", "SOURCE", "DESCRIPTION")
    table = [(r["kind"], r["name"], r["plugin"], r["distribution"] or r["origin"], r["description"]) for r in rows]
    widths = [max(len(h), *(len(str(t[i])) for t in table)) if table else len(h) for i, h in enumerate(headers[:-1])]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths) + "  {}"
    click.echo(fmt.format(*headers))
    for r, t in zip(rows, table):
        click.echo(fmt.format(*t))
        if show_params:
            for pname, prop in r["params"].items():
                default = f" = {r['defaults'][pname]}" if pname in r["defaults"] else " (required)"
                click.echo(f"{'':{widths[0]}}    {pname}{default}  {prop.get('description', '')}")
