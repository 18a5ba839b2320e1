"""``genfw eval --compare A B``: two reports' scores side by side, when they may be compared.

A score is any number in a report's sections (``samples.frechet_ratio``,
``disentanglement.mig``, a model's ``q_on_real.digit.accuracy``), except the bookkeeping
(:data:`SKIPPED`: seeds, timings, per-metric details) and the numbers that count or configure
rather than score. Those a section marks itself: a dict (at any depth) may list them under
:data:`NOT_SCORES`, as paths relative to that dict, ``*`` for any key, e.g. ``{"neg_elbo": 101.3,
"beta": 1.0, "images": 10000, "not_scores": ["beta", "images"]}`` or, on a code's entry,
``"per_value.*.class"``; genfw's generic sections name theirs in :data:`COUNTS`. Reports whose provenance
differs in a way that changes the numbers (:mod:`genfw.evaluation.provenance`) are refused in one
line.
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
#: The counts and settings of genfw's generic sections (``samples``, ``disentanglement``), at any
#: depth (a section may share the name: ``samples``); other sections mark theirs (:data:`NOT_SCORES`).
COUNTS = frozenset({"samples", "n", "points", "train_points", "test_points", "k", "precision_recall_k", "max_entropy"})
#: The key under which a dict of a report lists the names of its numbers that are not scores.
NOT_SCORES = "not_scores"


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
        raise CheckpointError(
            "not an eval.json (not a JSON object)", where=str(file), fix="run genfw eval on the run again to rewrite it"
        )
    return report


def scores(
    report: dict[str, Any], prefix: str = "", marks: tuple[tuple[str, ...], ...] = ()
) -> Iterator[tuple[str, float]]:
    """Every score of a report as (dotted name, value), in the report's order. ``marks``: what the
    dicts above this one marked as not scores, as paths relative to this dict."""
    own = report.get(NOT_SCORES)
    if isinstance(own, list):
        marks = marks + tuple(tuple(m.split(".")) for m in own if isinstance(m, str) and m)
    for key, value in report.items():
        if key in SKIPPED or key == NOT_SCORES or (key in COUNTS and not isinstance(value, dict)):
            continue
        here = [m for m in marks if m[0] in (key, "*")]
        if any(len(m) == 1 for m in here):
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from scores(value, f"{name}.", tuple(m[1:] for m in here))
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
    """The rows as a table: what a and b are (their full names, on lines of their own), then a
    column per report and b - a."""
    width = max([len(r[0]) for r in rows] + [5])

    def cell(v: float | None) -> str:
        return f"{v:>14.6g}" if v is not None else f"{'-':>14}"

    lines = [f"a: {names[0]}", f"b: {names[1]}", f"{'score':<{width}}  {'a':>14}  {'b':>14}  {'b - a':>12}"]
    for name, x, y in rows:
        delta = f"{y - x:>12.4g}" if x is not None and y is not None else f"{'':>12}"
        lines.append(f"{name:<{width}}  {cell(x)}  {cell(y)}  {delta}")
    return "\n".join(lines)
