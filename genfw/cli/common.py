"""What every command shares: lazy loading, one-line errors and exit codes.

Exit codes: 0 success, 2 usage or config error (one line on stderr, no traceback), 1 runtime
failure (training diverged, a full disk, ...), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM);
training saves a checkpoint before exiting with 130 or 143.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import click

from genfw.errors import GenfwError, GenfwUsageError, single_line
from genfw.training.launch import (
    BUG,
    ERROR,
    LOST,
    ProcessesLostError,
    launcher_reports_errors,
    record_failure,
    started_by_torchrun,
)

_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


class GenfwGroup(click.Group):
    """A click group whose commands are imported only when used."""

    def __init__(self, *args: Any, lazy_commands: dict[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands or {}

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """click's main, except that its usage errors (a bad option or argument) are one line on
        stderr like genfw's own errors, instead of usage text plus the error."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _NO_ARGS_IS_HELP as exc:  # bare `genfw` (click >= 8.2): the help, as older clicks print it
            click.echo(exc.format_message())
            sys.exit(0)
        except click.UsageError as exc:
            where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
            fail(exc.format_message() + where, exc.exit_code)
        except click.ClickException as exc:
            fail(exc.format_message(), exc.exit_code)
        except click.exceptions.Abort:
            fail("interrupted", 130)
        sys.exit(code if isinstance(code, int) else 0)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy_commands:
            module, attr = self.lazy_commands[name].split(":")
            try:
                return getattr(importlib.import_module(module), attr)
            except ModuleNotFoundError as exc:
                if exc.name and exc.name.startswith("genfw.cli"):
                    return None  # a command not built yet is simply not there
                raise
        return super().get_command(ctx, name)


def is_main_process() -> bool:
    """Whether this process speaks for the command: rank 0 under torchrun, or alone (torch-free)."""
    return os.environ.get("RANK", "0") in ("0", "")


def speaks_for_the_command() -> bool:
    """Whether this process prints errors: alone, or rank 0 under torchrun (every process fails
    the same way on the same input, and one line is what a person should read); under genfw's own
    launcher none does, since the launcher prints the one line, whichever process found it."""
    return is_main_process() and not launcher_reports_errors()


#: How long a torchrun process other than rank 0 waits, once it has recorded its failure, before it
#: exits. torchrun stops every process as soon as one exits, so a process that found the error
#: before rank 0 did would otherwise cut rank 0 off before it prints the one line. When rank 0
#: fails too (a bad config fails every process), torchrun ends the wait as soon as rank 0 exits;
#: the wait is spent in full only when the failure is this process's alone. Not after a signal
#: (exit 128 + its number): torchrun sent it to every process and waits for them all anyway.
RANK_0_GRACE_S = 20.0


def _exit(code: int) -> None:
    if (
        started_by_torchrun()
        and not is_main_process()
        and not launcher_reports_errors()  # genfw's own launcher reads every error file
        and code <= 128
    ):
        time.sleep(RANK_0_GRACE_S)
    sys.exit(code)


def fail(message: str, code: int = 2, kind: str = ERROR) -> None:
    """Print one line to stderr and exit. Under torchrun the line is also written to the process's
    error file, where torchrun's agent (and genfw's launcher) read why a process stopped."""
    line = single_line(message)
    record_failure(line, code, kind)
    if speaks_for_the_command():
        click.echo(f"Error: {line}", err=True)
    _exit(code)


def fail_with_traceback(exc: Exception) -> None:
    """A bug in one of torchrun's processes: its traceback goes to the error file, and is printed
    once (by rank 0, or by genfw's launcher), not once per process."""
    details = traceback.format_exc()
    record_failure(single_line(f"{type(exc).__name__}: {exc}"), 1, BUG, details)
    if speaks_for_the_command():
        sys.stderr.write(details)
    _exit(1)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn genfw's errors into one line and an exit code; anything else is a bug (exit 1, with its
    traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GenfwUsageError as exc:
            fail(exc.one_line(), 2)
        except ProcessesLostError as exc:
            fail(str(exc), exc.exit_code, LOST)
        except GenfwError as exc:
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except MemoryError:
            fail("out of memory (ask for fewer images or a smaller batch)", 1)
        except Exception as exc:
            if not started_by_torchrun():
                raise  # alone: Python prints the traceback, as for any bug
            fail_with_traceback(exc)

    return wrapper


#: A seed as torch and numpy take it (the config's ``seed`` has the same range).
SEED = click.IntRange(0, 2**63 - 1)

plugins_dir_option = click.option(
    "--plugins-dir",
    "plugins_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    help="A folder of local plugins (*.py files and packages); may be repeated.",
)

trust_option = click.option(
    "--trust-recorded-plugins",
    "trust_recorded",
    is_flag=True,
    help="Also import the local plugin folders the run recorded (genfw never imports code because a file names it, "
    "unless you say so; or pass them with --plugins-dir).",
)

set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="PATH=VALUE",
    help="Override a config value, e.g. --set train.max_steps=20 (value parsed as JSON); may be repeated.",
)
