"""Old module paths kept importable for one release: a shim re-exports its names from their new
places and warns once, on import, saying where to import them from now."""

from __future__ import annotations

import warnings


def warn_moved(old: str, new: str) -> None:
    """One DeprecationWarning for importing the module ``old``, pointing at the code that
    imported it (Python skips its own import machinery's frames)."""
    warnings.warn(f"{old} is deprecated and goes away in the next release: {new}", DeprecationWarning, stacklevel=3)
