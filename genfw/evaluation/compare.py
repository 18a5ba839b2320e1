"""``genfw eval --compare A B``: two reports' scores side by side, when they may be compared.

A score is any number in a report's sections (``samples.frechet_ratio``,
``disentanglement.mig``, a model's ``q_on_real.digit.accuracy``), except the bookkeeping
(:data:`SKIPPED`: seeds, counts, timings, per-metric details). Reports whose provenance differs in
a way that changes the numbers (:mod:`genfw.evaluation.provenance`) are refused in one line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from genfw.errors import CheckpointError
from genfw.evaluation.provenance import mismatches

#: Sections and keys that are bookkeeping, not scores, at any depth: left out of the comparison.
SKIPPED = frozenset(
    {
        "run_dir",
        "seed",
        "provenance",
        "reference_net",
        "model_sections",
        "seconds",
        "details",
        "representation",
        "class_histogram",
        "variant",
    }
)
#: Numbers that count or configure rather than score (a section may share the name: ``samples``).
COUNTS = frozenset({"samples", "n", "points", "train_points", "test_points", "k", "precision_recall_k", "max_entropy"})


def read_report(path: str | Path) -> dict[str, Any]:
    """A run's eval.json (``path`` is the run folder or the file itself), or one line saying why not."""
    path = Path(path)
    file = path / "eval.json" if path.is_dir() else path
    try:
        report = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError("no eval.json", where=str(file), fix=f"run `genfw eval {path}` first") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(
            f"not a readable eval.json ({exc})", where=str(file), fix="run genfw eval on the run again to rewrite it"
        ) from None
    if not isinstance(report, dict):
        raise CheckpointError("not an eval.json (not a JSON object)", where=str(file))
    return report


def scores(report: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    """Every score of a report as (dotted name, value), in the report's order."""
    for key, value in report.items():
        if key in SKIPPED or (key in COUNTS and not isinstance(value, dict)):
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from scores(value, f"{name}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            yield name, float(value)


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, float | None, float | None]]:
    """The rows ``(score, value in a, value in b)`` of two reports, a's order first; a score one of
    them lacks has None there."""
    ours, theirs = dict(scores(a)), dict(scores(b))
    names = list(ours) + [n for n in theirs if n not in ours]
    return [(n, ours.get(n), theirs.get(n)) for n in names]


def refuse_mismatched(a: dict[str, Any], b: dict[str, Any], where: str) -> None:
    """One line when the two reports' scores were made differently enough to change them."""
    differ = mismatches(a, b)
    if differ:
        raise CheckpointError(
            f"these scores were not made the same way, so they do not compare: {'; '.join(differ)}",
            where=where,
            fix="evaluate both runs with the same settings (genfw eval RUN --samples N "
            "--seed S), on the same reference classifier",
        )


def format_rows(rows: list[tuple[str, float | None, float | None]], names: tuple[str, str]) -> str:
    width = max([len(r[0]) for r in rows] + [5])

    def cell(v: float | None) -> str:
        return f"{v:>14.6g}" if v is not None else f"{'-':>14}"

    lines = [f"{'score':<{width}}  {names[0][-14:]:>14}  {names[1][-14:]:>14}  {'b - a':>12}"]
    for name, x, y in rows:
        delta = f"{y - x:>12.4g}" if x is not None and y is not None else f"{'':>12}"
        lines.append(f"{name:<{width}}  {cell(x)}  {cell(y)}  {delta}")
    return "\n".join(lines)
