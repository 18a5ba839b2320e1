"""Checks on what a data file holds, made where it enters genfw: labels, factors, the memory a
dataset will take, and file names as they may be shown.

Each check names the file (and the dataset inside it) and the first bad index, in one
:class:`~genfw.errors.DataError`: the data is the user's, so is the fix. Everything after these
checks (training, ``genfw eval``) may take labels as class indices ``0..K-1`` and factors as
finite numbers.
"""

from __future__ import annotations

import os
import unicodedata

import numpy as np

from genfw.errors import DataError

#: The most classes genfw takes (one logit each in the reference classifier, a histogram of this
#: size per batch): a label beyond it is a damaged or mistaken file, not a class.
MAX_CLASSES = 1 << 16
INT64_MAX = np.iinfo(np.int64).max


def shown(name: str) -> str:
    """A file name as messages show it: bytes that are not UTF-8 (which Python keeps as
    surrogates) as ``\\xff``, control and format characters (terminal escape sequences, bidi
    overrides) as ``\\x1b``, so a name can neither break a message nor drive the terminal. (Unlike a
    whole message's one-line form, a newline in a name is shown as ``\\n``, not as a space.)"""
    text = os.fsencode(name).decode("utf-8", "backslashreplace")
    return "".join(
        ch.encode("unicode_escape").decode("ascii") if unicodedata.category(ch) in ("Cc", "Cf") else ch for ch in text
    )


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask.reshape(len(mask), -1).any(axis=1))[0])


def checked_labels(
    values: np.ndarray, *, source: str, where: str, fix: str, num_classes: int | None = None
) -> np.ndarray:
    """``values`` as int64 class indices, after checking each one is an integer in ``0..K-1``
    (``K = num_classes``, or :data:`MAX_CLASSES` when the classes are not named). ``source``
    names the file (and the dataset inside it) in the message."""
    values = np.asarray(values).reshape(-1)
    if values.dtype.kind not in "iu":
        raise DataError(f"the labels in {source} are {values.dtype}, not integers", where=where, fix=fix)
    if values.dtype == np.uint64 and (values > INT64_MAX).any():  # would wrap to negatives as int64
        i = _first(values > INT64_MAX)
        raise DataError(f"label {int(values[i])} at index {i} of {source} does not fit in int64", where=where, fix=fix)
    values = values.astype(np.int64, copy=False)
    if (values < 0).any():
        i = _first(values < 0)
        raise DataError(f"label {int(values[i])} at index {i} of {source} is negative", where=where, fix=fix)
    limit = MAX_CLASSES if num_classes is None else num_classes
    if (values >= limit).any():
        i = _first(values >= limit)
        known = (
            f"there are {num_classes} classes (0..{num_classes - 1})"
            if num_classes is not None
            else f"genfw takes at most {MAX_CLASSES:,} classes"
        )
        raise DataError(
            f"label {int(values[i])} at index {i} of {source} is out of range: {known}", where=where, fix=fix
        )
    return values


def check_finite_factors(values: np.ndarray, *, source: str, where: str, fix: str) -> None:
    """Refuse factor values that are NaN or infinite, naming the first such row and column."""
    if values.dtype.kind != "f":
        return
    bad = ~np.isfinite(values)
    if bad.any():
        i = _first(bad)
        column = int(np.flatnonzero(bad.reshape(len(bad), -1)[i])[0])
        raise DataError(
            f"factor {values.reshape(len(values), -1)[i, column]} at index {i} (column {column}) of {source} "
            "is not a finite number",
            where=where,
            fix=fix,
        )


def check_memory_for(needed: int, *, what: str, where: str, fix: str) -> None:
    """Refuse up front a dataset that would take more memory than this process can still get
    (genfw holds a dataset in memory), instead of a MemoryError half-way through reading it."""
    from genfw.runtime import available_memory, size_text  # the one place that knows how to ask the system

    available = available_memory()
    if available is not None and needed > available:
        raise DataError(
            f"{what} would take {size_text(needed)} of memory (genfw holds a dataset in memory), and "
            f"{size_text(available)} is available",
            where=where,
            fix=fix,
        )
