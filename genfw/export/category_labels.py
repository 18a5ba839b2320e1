"""Labels for the categories of categorical codes: what each category came to mean, as the
model reads it from its run's evaluation, written into the spec of an export (new or existing)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from genfw.errors import warn
from genfw.export.contract import META_LATENT, sidecar_path
from genfw.export.pair import write_pair


# -- category labels from an evaluation --------------------------------------------------------------
def category_meanings(run_dir: str | Path, model_type: Any) -> dict[str, dict[str, Any]]:
    """What each category of each categorical code came to mean, as the model that trained the
    run reads it from the sections it wrote into ``RUN_DIR/eval.json``
    (``Model.category_meanings``): ``{code: per_value}`` with ``per_value["3"] = {"class": 8,
    "share": 0.99, "label": "8"}``. Empty when the run has no evaluation, an unreadable one, or
    the model reads none from it: labels are a convenience, never a reason to fail an export."""
    try:
        report = json.loads((Path(run_dir) / "eval.json").read_text(encoding="utf-8"))
        names = report["model_sections"]
        sections = {name: report[name] for name in names if isinstance(name, str) and name in report}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        return {}
    hook = getattr(model_type, "category_meanings", None)
    try:
        meanings = hook(sections) if hook is not None else {}
    except Exception as exc:  # a plugin's hook failing costs the labels, not the export
        warn(
            f"the categories are left unlabelled: model {getattr(model_type, '__name__', model_type)}'s "
            f"category_meanings failed ({type(exc).__name__}: {exc})"
        )
        return {}
    if not isinstance(meanings, dict):
        return {}
    return {
        name: per_value for name, per_value in meanings.items() if isinstance(name, str) and isinstance(per_value, dict)
    }


def label_categories(code: dict[str, Any], per_value: dict[str, Any]) -> bool:
    """Label a categorical code's spec with the class each category came to mean: ``labels``
    become ``"8 (99%)"`` (the class's name and the share of the category's samples a reference
    classifier read as it) and ``classes`` keeps the raw mapping ``[{"class", "label", "share"}]``
    in category order. Labels the config named are kept. False (nothing changed) when
    ``per_value`` does not fit the code."""
    if code.get("from_labels"):  # its categories are the data's classes, named already
        return False
    k = int(code.get("k", code.get("dim", 0)))
    try:
        rows = [per_value[str(v)] for v in range(k)]
        classes: list[dict[str, Any]] = [
            {"class": int(r["class"]), "label": str(r.get("label", r["class"])), "share": float(r["share"])}
            for r in rows
        ]
    except (KeyError, TypeError, ValueError):
        return False
    if k < 1 or not all(math.isfinite(c["share"]) and 0 <= c["share"] <= 1 for c in classes):
        return False
    code["classes"] = classes
    if code.get("labels") in (None, [str(v) for v in range(k)]):  # the positions, not names the config gave
        texts = [f"{c['label']} ({c['share']:.0%})" for c in classes]
        code["labels"] = [t if texts.count(t) == 1 else f"{t[:-1]}, #{v})" for v, t in enumerate(texts)]
    return True


def relabel_export(path: str | Path, categories: dict[str, Any]) -> bool:
    """Label the categories of an existing export (and its sidecar) with what they came to mean
    (:func:`category_meanings`), e.g. after ``genfw eval``; the weights are untouched. False when
    the file is not a genfw export or nothing changed."""
    import onnx

    path = Path(path)
    try:
        model = onnx.load(str(path))
        props = {p.key: p.value for p in model.metadata_props}
        spec = json.loads(props[META_LATENT])
        sidecar = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
    except Exception:
        return False
    changed = False
    for code in spec.get("codes", []):
        if code.get("name") in categories and "k" in code:
            before = json.dumps(code)
            changed |= label_categories(code, categories[code["name"]]) and json.dumps(code) != before
    if not changed:
        return False
    sidecar["latent"] = spec
    sidecar.pop("sha256", None)
    for p in model.metadata_props:
        if p.key == META_LATENT:
            p.value = json.dumps(spec)
    write_pair(path, model.SerializeToString(), sidecar)
    return True
