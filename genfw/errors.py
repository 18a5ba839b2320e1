"""The errors genfw reports to users.

Every error a user can cause (a config, a file, a plugin, a checkpoint, a CLI argument) is a
``GenfwUsageError``: the CLI prints its one-line message and exits with code 2, no traceback.
"""

from __future__ import annotations

import unicodedata


class GenfwError(Exception):
    """Base class of genfw's own errors. ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class GenfwUsageError(GenfwError):
    """Bad input from the user: printed as one line, exit code 2.

    ``where`` names the file and/or JSON path, ``fix`` says how to fix it; both are optional
    but should be given whenever known.
    """

    exit_code = 2

    def __init__(self, problem: str, *, where: str | None = None, fix: str | None = None):
        self.problem = problem
        self.where = where
        self.fix = fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = f"{self.where}: {self.problem}" if self.where else self.problem
        if self.fix:
            text = f"{text} ({self.fix})"
        return single_line(text)


class ConfigError(GenfwUsageError):
    """A run config that does not validate."""


class UnknownComponentError(GenfwUsageError):
    """A name that no loaded plugin registered."""


class UnknownComponentTypeError(ConfigError):
    """A config whose component ``type`` no loaded plugin registered (often: a plugin not loaded)."""


class PluginError(GenfwUsageError):
    """A plugin that could not be imported or registered."""


class DataError(GenfwUsageError):
    """A dataset that cannot be found or read."""


class CheckpointError(GenfwUsageError):
    """A checkpoint or run directory that cannot be read."""


class ConfigValueError(ValueError):
    """What a component factory or a model's ``check`` raises to reject a config, pointing at
    the place in the config that is wrong: ``path`` is a JSON path such as ``latent[1].prior``
    (``genfw.latent.LatentSpec.path_of(name)`` gives a code's). Without ``path`` the error is
    reported at the component's own path, as for a plain ``ValueError``."""

    def __init__(self, message: str, *, path: str | None = None):
        super().__init__(message)
        self.path = path


class DivergenceError(GenfwError):
    """Training produced a non-finite or exploding value; the run stopped (exit 1) and its last
    good checkpoint is kept."""


class DiskFullError(GenfwError):
    """A file could not be written for lack of space (or a file-size limit); nothing half-written
    is left behind (exit 1)."""


class TerminatedError(GenfwError):
    """The run was stopped by SIGTERM after saving a checkpoint (exit 143, like a process killed by
    SIGTERM, so schedulers see the usual code)."""

    exit_code = 143


def single_line(message: object) -> str:
    """``message`` as one printable line: whitespace runs become one space, and any other control
    or format character (a terminal escape sequence, a bidi override) in a file name or label is
    shown escaped (``\\x1b``), so nothing a file is called can drive the user's terminal."""
    words = " ".join(str(message).split())
    return "".join(
        ch.encode("unicode_escape").decode("ascii") if unicodedata.category(ch) in ("Cc", "Cf") else ch for ch in words
    )


def warn(message: str) -> None:
    """One warning line on stderr (for things that do not stop a command)."""
    import sys

    print(f"Warning: {single_line(message)}", file=sys.stderr, flush=True)
