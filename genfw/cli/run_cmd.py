"""``genfw run CONFIG``: train a model; ``genfw run --resume RUN_DIR`` continues one."""

from __future__ import annotations

from pathlib import Path

import click

from genfw.cli.common import fail, handle_errors, plugins_dir_option, set_option, trust_option


@click.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), help="Continue the run in this directory.")
@set_option
@plugins_dir_option
@trust_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or messages.")
@handle_errors
def run(config: str | None, resume_dir: str | None, overrides: tuple[str, ...], plugins_dirs: tuple[str, ...],
        trust_recorded: bool, quiet: bool) -> None:
    """Train the model CONFIG describes, writing a run directory.

    \b
    genfw run CONFIG
    genfw run CONFIG --set train.max_steps=20
    genfw run --resume RUN_DIR
    """
    from genfw.config import load_config_and_plugins
    from genfw.training.run import execute, resume_config

    if (config is None) == (resume_dir is None):
        fail("give a CONFIG to start a run, or --resume RUN_DIR to continue one (one of the two)")
    if resume_dir is not None:
        resolved = resume_config(Path(resume_dir), overrides, plugins_dirs, trust_recorded=trust_recorded)
        run_dir = execute(resolved, resume_dir=Path(resume_dir), quiet=quiet)
    else:
        _, resolved = load_config_and_plugins(config, overrides, plugins_dirs)
        run_dir = execute(resolved, quiet=quiet)
    click.echo(str(run_dir))
