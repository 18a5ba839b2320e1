"""What every command shares: lazy loading, one-line errors and exit codes.

Exit codes: 0 success, 2 usage or config error (one line on stderr, no traceback), 1 runtime
failure, 130 interrupted.
"""

from __future__ import annotations

import functools
import importlib
import sys
from typing import Any, Callable

import click

from genfw.errors import GenfwError, GenfwUsageError


class GenfwGroup(click.Group):
    """A click group whose commands are imported only when used."""

    def __init__(self, *args: Any, lazy_commands: dict[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands or {}

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


def fail(message: str, code: int = 2) -> None:
    """Print one line to stderr and exit."""
    click.echo(f"Error: {' '.join(str(message).split())}", err=True)
    sys.exit(code)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn genfw's errors into one line and an exit code; anything else is a bug (exit 1)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GenfwUsageError as exc:
            fail(exc.one_line(), 2)
        except GenfwError as exc:
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", 130)

    return wrapper


plugins_dir_option = click.option(
    "--plugins-dir",
    "plugins_dirs",
    multiple=True,
    type=click.Path(file_okay=False),
    help="A folder of local plugins (*.py files and packages); may be repeated.",
)

set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="PATH=VALUE",
    help="Override a config value, e.g. --set train.max_steps=20 (value parsed as JSON); may be repeated.",
)
