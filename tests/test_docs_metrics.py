"""docs/metrics.md lists each claim of the metrics' docstrings with the test that holds it: every
test it names exists, and every module of genfw/metrics and genfw/evaluation has its section."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "metrics.md"
# ``tests/test_x.py::test_name`` or, later in the same table cell, ``::test_name`` (same file)
REFERENCE = re.compile(r"(tests/[\w/]+\.py)?::(test_\w+)")


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def test_every_test_the_page_names_exists():
    named: list[tuple[str, str]] = []
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        for cell in line.split(" | "):
            current = None
            for match in REFERENCE.finditer(cell):
                current = match.group(1) or current
                assert current, f"docs/metrics.md: '::{match.group(2)}' names no file before it: {cell[:80]}"
                named.append((current, match.group(2)))
    assert len(named) > 80  # the page is the claim list, not a stub
    missing = [f"{file}::{name}" for file, name in named if name not in _tests_in(REPO / file)]
    assert not missing, f"docs/metrics.md names tests that do not exist: {missing}"


def test_every_metrics_module_has_its_section():
    headings = set(re.findall(r"^## (genfw/\S+\.py)$", PAGE.read_text(encoding="utf-8"), flags=re.M))
    modules = {
        str(p.relative_to(REPO))
        for folder in ("genfw/metrics", "genfw/evaluation")
        for p in (REPO / folder).glob("*.py")
        if p.name != "context.py"  # a deprecated re-export, no metric
    }
    assert modules <= headings, f"docs/metrics.md has no section for {sorted(modules - headings)}"
