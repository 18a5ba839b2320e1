"""The top-level names of eval.json that genfw writes itself, and a model's sections may not take:
the list docs/writing-models.md gives, the constant ``genfw.evaluation.RESERVED_SECTIONS``, the
keys ``genfw.evaluation.evaluate_model`` writes, and the clash check must all agree."""

from __future__ import annotations

import ast
import re
from types import SimpleNamespace

import pytest

from genfw_testing import REPO

DOC = REPO / "docs" / "writing-models.md"
EVALUATION = REPO / "genfw" / "evaluation" / "__init__.py"
#: The docs name the constant, then list the names in backquotes up to the end of the sentence.
MARKER = "`genfw.evaluation.RESERVED_SECTIONS`:"


def documented_sections() -> list[str]:
    """The names docs/writing-models.md lists after MARKER, in the order written."""
    text = " ".join(DOC.read_text(encoding="utf-8").split())  # one line: the list may wrap
    assert text.count(MARKER) == 1, f"docs/writing-models.md should name {MARKER} once"
    listing = re.split(r"\.(?:\s|$)", text.split(MARKER, 1)[1], maxsplit=1)[0]
    return re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", listing)


def written_by_evaluate_model() -> set[str]:
    """The top-level keys ``evaluate_model`` puts into its report itself: the keys of the dict it
    starts from and every ``report["name"] = ...``."""
    tree = ast.parse(EVALUATION.read_text(encoding="utf-8"))
    (fn,) = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "evaluate_model"]
    keys: set[str] = set()
    for node in ast.walk(fn):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id == "report" and isinstance(node.value, ast.Dict):
                    keys |= {k.value for k in node.value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
                if (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)
                        and target.value.id == "report" and isinstance(target.slice, ast.Constant)):
                    keys.add(target.slice.value)
    return keys


def test_the_docs_list_the_reserved_sections():
    from genfw.evaluation import RESERVED_SECTIONS

    documented = documented_sections()
    assert documented, "no names listed after the marker"
    assert len(set(documented)) == len(documented), documented
    assert isinstance(RESERVED_SECTIONS, tuple) and all(isinstance(n, str) for n in RESERVED_SECTIONS)
    assert len(set(RESERVED_SECTIONS)) == len(RESERVED_SECTIONS), RESERVED_SECTIONS
    assert set(documented) == set(RESERVED_SECTIONS), (documented, RESERVED_SECTIONS)


def test_every_name_genfw_writes_is_reserved():
    from genfw.evaluation import RESERVED_SECTIONS

    written = written_by_evaluate_model()
    assert {"run_dir", "seed", "reference_net", "samples", "model_sections", "seconds"} <= written, written
    assert written <= set(RESERVED_SECTIONS), sorted(written - set(RESERVED_SECTIONS))


@pytest.fixture
def light_evaluation(monkeypatch):
    """``evaluate_model`` with the generic measures stubbed out: only the report's assembly runs."""
    from genfw.evaluation import disentanglement, reconstruction, sample_quality

    monkeypatch.setattr(sample_quality, "sample_quality", lambda ctx: {"samples": 0})
    monkeypatch.setattr(disentanglement, "has_factors", lambda ctx: False)
    monkeypatch.setattr(reconstruction, "has_encoder", lambda ctx: False)

    def evaluate(sections: dict) -> dict:
        from genfw.evaluation import evaluate_model

        model = SimpleNamespace(evaluate=lambda ctx: sections)
        ctx = SimpleNamespace(seed=1, samples=100, held_out=None, disentanglement="reference", autocast=None,
                              model=model, reference=lambda: "stubbed")
        return evaluate_model(ctx, "run")

    return evaluate


def test_a_model_section_may_take_any_other_name(light_evaluation):
    report = light_evaluation({"mine": {"x": 1}})
    assert report["model_sections"] == ["mine"] and report["mine"] == {"x": 1}


def test_a_model_section_with_a_reserved_name_is_refused(light_evaluation):
    from genfw.evaluation import RESERVED_SECTIONS

    for name in RESERVED_SECTIONS:
        with pytest.raises(Exception) as info:
            light_evaluation({name: {"x": 1}})
        assert name in str(info.value), (name, str(info.value))
