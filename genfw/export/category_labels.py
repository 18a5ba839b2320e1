"""What each code came to mean, as the model reads it from its run's evaluation, written into the
spec of an export (new or existing): the class each category of a categorical code draws
(``labels``, ``classes``), and the image property each dimension of a continuous control code
moves (``meaning``)."""

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
    return _read_meanings(run_dir, model_type, "category_meanings", dict)


def _read_meanings(run_dir: str | Path, model_type: Any, hook_name: str, kind: type) -> dict[str, Any]:
    """``model_type.<hook_name>(sections of RUN_DIR/eval.json)``, its entries of type ``kind``."""
    try:
        report = json.loads((Path(run_dir) / "eval.json").read_text(encoding="utf-8"))
        names = report["model_sections"]
        sections = {name: report[name] for name in names if isinstance(name, str) and name in report}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        return {}
    hook = getattr(model_type, hook_name, None)
    try:
        meanings = hook(sections) if hook is not None else {}
    except Exception as exc:  # a plugin's hook failing costs the labels, not the export
        warn(
            f"the codes are left undescribed: model {getattr(model_type, '__name__', model_type)}'s "
            f"{hook_name} failed ({type(exc).__name__}: {exc})"
        )
        return {}
    if not isinstance(meanings, dict):
        return {}
    return {name: value for name, value in meanings.items() if isinstance(name, str) and isinstance(value, kind)}


#: How a statistic is written in a label.
STATISTIC_SYMBOLS = {"spearman": "ρ", "pearson": "r", "circular_linear": "r"}


def control_meanings(run_dir: str | Path, model_type: Any) -> dict[str, list[dict[str, Any]]]:
    """What each continuous control code does, as the model reads it from ``RUN_DIR/eval.json``
    (``Model.control_meanings``): ``{code: [{"property", "statistic", "correlation"} per
    dimension]}``. Empty when there is nothing to read; never a reason to fail an export."""
    return _read_meanings(run_dir, model_type, "control_meanings", list)


def code_meanings(run_dir: str | Path, model_type: Any) -> dict[str, Any]:
    """Both kinds of meaning, by code name (names are unique): :func:`category_meanings` and
    :func:`control_meanings`, what :func:`describe_code` takes."""
    return {**control_meanings(run_dir, model_type), **category_meanings(run_dir, model_type)}


def describe_code(code: dict[str, Any], meaning: Any) -> bool:
    """Write ``meaning`` into a code's spec: a categorical code's categories are labelled
    (:func:`label_categories`), a continuous code gets ``meaning`` (:func:`describe_control`)."""
    if "k" in code:
        return isinstance(meaning, dict) and label_categories(code, meaning)
    return isinstance(meaning, list) and describe_control(code, meaning)


def describe_control(code: dict[str, Any], per_dim: list[Any]) -> bool:
    """Give a continuous code's spec ``meaning``: per dimension, the image property it moves most,
    the statistic and its value, and a label for a slider (``"slant (ρ = -0.91)"``). False
    (nothing changed) when ``per_dim`` does not fit the code."""
    try:
        read = [(str(m["property"]), str(m["statistic"]), float(m["correlation"])) for m in per_dim]
    except (KeyError, TypeError, ValueError):
        return False
    if len(read) != int(code.get("dim", 0)) or not all(math.isfinite(r) and -1 <= r <= 1 for _, _, r in read):
        return False
    code["meaning"] = [
        {
            "property": prop,
            "statistic": statistic,
            "correlation": round(r, 3),
            "label": f"{prop.replace('_', ' ')} ({STATISTIC_SYMBOLS.get(statistic, statistic)} = {r:.2f})",
        }
        for prop, statistic, r in read
    ]
    return True


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
    # Labels are replaced when they are the positions or what an earlier evaluation wrote (its
    # classes' labels, either rule); names the config gave are kept.
    earlier = code.get("classes") if isinstance(code.get("classes"), list) else None
    ours = [[str(v) for v in range(k)]]
    if earlier:
        try:
            ours += [_category_labels(earlier), [f"{c['label']} ({c['share']:.0%})" for c in earlier]]
        except (KeyError, TypeError, ValueError):
            pass
    code["classes"] = classes
    if code.get("labels") is None or code.get("labels") in ours:
        code["labels"] = _category_labels(classes)
    return True


def _category_labels(classes: list[dict[str, Any]]) -> list[str]:
    """``"8 (99%)"`` per category; a class that several categories draw gets each one's index too."""
    names = [c["label"] for c in classes]
    return [
        f"{c['label']} ({c['share']:.0%})" if names.count(c["label"]) == 1 else f"{c['label']} ({c['share']:.0%}, #{v})"
        for v, c in enumerate(classes)
    ]


def relabel_export(path: str | Path, categories: dict[str, Any]) -> bool:
    """Describe the codes of an existing export (and its sidecar) with what they came to mean
    (``categories``: :func:`code_meanings`, or :func:`category_meanings` alone), e.g. after
    ``genfw eval``; the weights are untouched. False when the file is not a genfw export or
    nothing changed."""
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
        if code.get("name") in categories:
            before = json.dumps(code)
            changed |= describe_code(code, categories[code["name"]]) and json.dumps(code) != before
    if not changed:
        return False
    sidecar["latent"] = spec
    sidecar.pop("sha256", None)
    for p in model.metadata_props:
        if p.key == META_LATENT:
            p.value = json.dumps(spec)
    write_pair(path, model.SerializeToString(), sidecar)
    return True
