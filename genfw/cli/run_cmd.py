"""``genfw run CONFIG``: train a model; ``genfw run --resume RUN_DIR`` continues one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from genfw.cli.common import fail, handle_errors, is_main_process, plugins_dir_option, set_option, trust_option


@click.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), help="Continue the run in this directory.")
@set_option
@plugins_dir_option
@trust_option
@click.option(
    "--nproc",
    type=click.IntRange(min=1, max=1024),
    default=1,
    show_default=True,
    help="Train with this many processes on this machine, started by torchrun's launcher (as `torchrun "
    "--standalone --nproc_per_node N -m genfw run ...`; one per GPU, or CPU processes with gloo).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or messages.")
@handle_errors
def run(
    config: str | None,
    resume_dir: str | None,
    overrides: tuple[str, ...],
    plugins_dirs: tuple[str, ...],
    trust_recorded: bool,
    nproc: int,
    quiet: bool,
) -> None:
    """Train the model CONFIG describes, writing a run directory.

    \b
    genfw run CONFIG
    genfw run CONFIG --set train.max_steps=20
    genfw run --resume RUN_DIR
    genfw run CONFIG --nproc 2          (the same as: torchrun --nproc_per_node 2 -m genfw run CONFIG)
    """
    from genfw.session import load_config_and_plugins
    from genfw.training.run import execute, resume_config

    if (config is None) == (resume_dir is None):
        fail("give a CONFIG to start a run, or --resume RUN_DIR to continue one (one of the two)")
    if resume_dir is not None:
        resolved = resume_config(Path(resume_dir), overrides, plugins_dirs, trust_recorded=trust_recorded)
    else:
        assert config is not None  # one of the two, checked above
        _, resolved = load_config_and_plugins(config, overrides, plugins_dirs)
    if nproc > 1:
        _run_on_processes(resolved, nproc, config, resume_dir, overrides, plugins_dirs, trust_recorded, quiet)
    run_dir = execute(resolved, resume_dir=Path(resume_dir) if resume_dir else None, quiet=quiet)
    if is_main_process():
        click.echo(str(run_dir))


def _run_on_processes(
    resolved, nproc: int, config, resume_dir, overrides, plugins_dirs, trust_recorded, quiet
) -> NoReturn:
    """Run the same command (without ``--nproc``) on ``nproc`` processes through torchrun's
    launcher, and exit as one process would: one line and genfw's exit code, whichever process
    failed (:mod:`genfw.training.launch`). The config was validated here first, so a bad one is
    one line before any process starts."""
    from genfw.errors import ConfigError
    from genfw.training.launch import launch

    batch = resolved.config.train.batch_size
    if batch % nproc:
        raise ConfigError(
            f"train.batch_size {batch} does not split over {nproc} processes",
            where=f"{resolved.source}: train.batch_size",
            fix=f"use a multiple of {nproc}, or another --nproc",
        )
    args = [config] if config else ["--resume", resume_dir]
    for item in overrides:
        args += ["--set", item]
    for folder in plugins_dirs:
        args += ["--plugins-dir", folder]
    args += ["--trust-recorded-plugins"] if trust_recorded else []
    args += ["--quiet"] if quiet else []
    verdict = launch(nproc, [str(a) for a in args])
    sys.stderr.write(verdict.traceback)
    if verdict.line is not None:
        fail(verdict.line, verdict.exit_code)
    sys.exit(verdict.exit_code)
