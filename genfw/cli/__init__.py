"""The ``genfw`` command line. Each command lives in a module of its own in this package."""

from __future__ import annotations

import click

from genfw.cli.common import GenfwGroup
from genfw.version import __version__

# name -> "module:attribute"; imported only when the command runs, so `genfw --help` is fast.
COMMANDS = {
    "run": "genfw.cli.run_cmd:run",
    "validate": "genfw.cli.validate_cmd:validate",
    "plugins": "genfw.cli.plugins_cmd:plugins",
    "schema": "genfw.cli.schema_cmd:schema",
    "export": "genfw.cli.export_cmd:export",
    "sample": "genfw.cli.sample_cmd:sample",
    "eval": "genfw.cli.eval_cmd:eval_",
    "demo": "genfw.cli.demo_cmd:demo",
}


@click.group(cls=GenfwGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="genfw")
def main() -> None:
    """genfw: plugin-based generative models, exported to ONNX.

    \b
    Start with:  genfw run CONFIG            (the shipped ones are in configs/)
    Smoke test:  genfw run CONFIG --set train.max_steps=20
    What is installed:  genfw plugins
    """
