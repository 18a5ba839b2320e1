"""How an export fails: :class:`ExportError` (exit 1) carrying the exporter's output, which
:func:`_quiet` keeps out of sight in a log, and the one line it says (:func:`_reason`)."""

from __future__ import annotations

import contextlib
import io
import warnings

from genfw.errors import GenfwError


class ExportError(GenfwError):
    """The export or its verification failed (a bug or an unsupported network: exit 1).

    ``log`` holds what the exporter printed, which is hidden unless something goes wrong.
    """

    def __init__(self, message: str, log: str = ""):
        super().__init__(message)
        self.log = log


@contextlib.contextmanager
def _quiet(log: io.StringIO):
    """Hide the exporter's progress lines and deprecation warnings; they are kept in ``log``."""
    with (
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        try:
            yield
        finally:
            log.writelines(f"{w.category.__name__}: {w.message}\n" for w in caught)


def _reason(exc: BaseException) -> str:
    """The root cause's first line: the exporter wraps the real problem in pages of advice."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0].strip() if lines else ''}"[:300]
