"""The runtime's errors: each one line (what, where, how to fix), a usage error (exit 2) and a
ValueError for plain Python callers."""

from __future__ import annotations

from genfw.errors import GenfwUsageError  # torch-free (genfw/__init__ and genfw.errors import no torch)


class RuntimeUsageError(GenfwUsageError, ValueError):
    """A bad argument or file given to the runtime: one line, and a ValueError for plain Python callers."""


class GeneratorFileError(RuntimeUsageError):
    """The file is missing, not ONNX, or an ONNX model that is not a genfw generator."""


class CodeError(RuntimeUsageError):
    """A code name, value, category or shape that does not fit the generator's latent spec."""


class MemoryNeedError(RuntimeUsageError):
    """A request for more images than the memory this process has left can hold."""


class UnverifiedError(GeneratorFileError):
    """The file cannot be checked against its sidecar (none, unreadable, or without a SHA-256)."""
