"""What each code means, in the exported spec (issue #23, point 2): the property each continuous
control code moves ("slant (ρ = -0.91)"), category labels with their own fields and the rule for
a class two categories draw, and select(classLabel) in genfw.runtime and genfw-web.js."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from genfw_testing import REPO, export_small_generator, web_node_modules
from genfw_infogan.evaluation import control_meanings

from genfw.export.category_labels import describe_control, describe_code, label_categories
from genfw.export.sidecar_schema import validate_sidecar
from genfw.runtime import CodeError, Generator

#: eval.json's continuous_codes section as InfoGAN writes it (two codes; c3 has two dimensions).
SECTION = {
    "c1": {"strongest": "ink_width", "statistic": "spearman",
           "effects": {"slant": {"spearman": 0.67}, "ink_width": {"spearman": 0.917147}}},
    "c2": {"strongest": "slant", "statistic": "spearman", "effects": {"slant": {"spearman": -0.905879}}},
    "c3[0]": {"strongest": "slant", "statistic": "spearman", "effects": {"slant": {"spearman": 0.5}}},
    "c3[1]": {"strongest": "stroke_width", "statistic": "spearman", "effects": {"stroke_width": {"spearman": -0.4}}},
    "c4[1]": {"strongest": "slant", "statistic": "spearman", "effects": {"slant": {"spearman": 0.3}}},  # no c4[0]
    "c5": {"strongest": "slant", "statistic": "spearman", "effects": {"slant": {"spearman": float("nan")}}},
}
#: code_consistency's per_value for a digit code where categories 2, 3 and 5 all draw a 3.
PER_VALUE = {str(v): {"class": (3 if v in (2, 5) else v), "label": str(3 if v in (2, 5) else v), "share": 0.9}
             for v in range(10)}


def test_the_strongest_property_of_each_dimension_is_read_from_the_evaluation():
    meanings = control_meanings(SECTION)
    assert meanings["c1"] == [{"property": "ink_width", "statistic": "spearman", "correlation": 0.917147}]
    assert [m["property"] for m in meanings["c3"]] == ["slant", "stroke_width"]
    assert "c4" not in meanings and "c5" not in meanings  # a missing dimension, a NaN: left out
    assert control_meanings(None) == {} and control_meanings({"c1": {"strongest": 3}}) == {}


def test_a_control_gets_a_label_an_app_can_show():
    code = {"name": "c2", "dim": 1}
    assert describe_control(code, control_meanings(SECTION)["c2"])
    assert code["meaning"] == [{"property": "slant", "statistic": "spearman", "correlation": -0.906,
                                "label": "slant (ρ = -0.91)"}]
    assert not describe_control({"name": "c", "dim": 2}, control_meanings(SECTION)["c2"])  # one entry for 2 dims
    assert not describe_control({"name": "c", "dim": 1}, [{"property": "x", "statistic": "s", "correlation": 3}])
    assert not describe_code({"name": "c", "dim": 1}, PER_VALUE)  # a category table does not fit a control


def test_a_class_two_categories_draw_names_each_category():
    code = {"name": "digit", "dim": 10, "k": 10}
    assert label_categories(code, PER_VALUE)
    assert [code["labels"][v] for v in (2, 3, 5)] == ["3 (90%, #2)", "3 (90%, #3)", "3 (90%, #5)"]
    assert code["labels"][7] == "7 (90%)"  # a class one category draws: no index
    assert code["classes"][5] == {"class": 3, "label": "3", "share": 0.9}


@pytest.fixture(scope="module")
def described(tmp_path_factory) -> Path:
    """A small generator exported with meanings for every code, as `genfw export` writes them."""
    return export_small_generator(tmp_path_factory.mktemp("meanings"), {"digit": PER_VALUE, **control_meanings(SECTION)})


def test_the_export_carries_the_meanings_and_the_schema_accepts_them(described):
    sidecar = json.loads(described.with_suffix(".json").read_text())
    codes = {c["name"]: c for c in sidecar["latent"]["codes"]}
    assert codes["c1"]["meaning"][0]["label"] == "ink width (ρ = 0.92)"
    assert codes["c2"]["meaning"][0]["label"] == "slant (ρ = -0.91)"
    assert "meaning" not in codes["z"] and codes["digit"]["labels"][5] == "3 (90%, #5)"
    assert validate_sidecar(sidecar) is None
    broken = json.loads(json.dumps(sidecar))
    broken["latent"]["codes"][2]["meaning"][0]["correlation"] = 2.0
    assert "correlation" in (validate_sidecar(broken) or "")
    g = Generator.load(described)  # the pair still verifies: metadata and sidecar say the same
    assert g.code("c2")["meaning"][0]["property"] == "slant"


def test_select_finds_the_category_that_draws_a_class(described):
    g = Generator.load(described)
    assert g.select("digit", 7) == 7 and g.select("digit", "0") == 0
    assert g.select("digit", 3) == 2  # three categories draw a 3 with the same share: the first
    with pytest.raises(CodeError, match="no category of code 'digit' draws 'x'"):
        g.select("digit", "x")
    with pytest.raises(CodeError, match="code 'c1' has no category meanings"):
        g.select("c1", 1)
    images = g.generate(2, seed=0, digit=g.select("digit", 7)).codes["digit"]
    assert images.argmax(axis=1).tolist() == [7, 7]


NODE_SELECT = r"""
import * as ort from "onnxruntime-web";
import { loadGenerator } from "genfw-web";
ort.env.wasm.numThreads = 1;
const g = await loadGenerator(ort, process.argv[2]);
const out = { seven: g.select("digit", 7), three: g.select("digit", "3"), meaning: g.code("c2").meaning };
for (const [name, call] of [["unknown", () => g.select("digit", "x")], ["control", () => g.select("c1", 1)]]) {
  try { call(); out[name] = null; } catch (err) { out[name] = err.message; }
}
console.log(JSON.stringify(out));
"""


@pytest.mark.slow
def test_genfw_web_selects_as_python_does(described, tmp_path):
    app = tmp_path / "app"
    (app / "node_modules").mkdir(parents=True)
    (app / "node_modules" / "genfw-web").symlink_to(REPO / "web" / "genfw-web")
    (app / "node_modules" / "onnxruntime-web").symlink_to(web_node_modules() / "onnxruntime-web")
    (app / "main.mjs").write_text(NODE_SELECT)
    proc = subprocess.run(["node", "main.mjs", str(described)], cwd=app, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    g = Generator.load(described)
    assert out["seven"] == g.select("digit", 7) and out["three"] == g.select("digit", "3") == 2
    assert out["meaning"] == g.code("c2")["meaning"]
    assert out["unknown"].startswith("no category of code 'digit' draws 'x'") and "no category meanings" in out["control"]


def test_a_second_evaluation_relabels_what_the_first_wrote_but_keeps_the_configs_names():
    code = {"name": "digit", "dim": 10, "k": 10}
    assert label_categories(code, PER_VALUE) and code["labels"][7] == "7 (90%)"
    again = {v: {**row, "share": 0.5} for v, row in PER_VALUE.items()}
    assert label_categories(code, again) and code["labels"][7] == "7 (50%)" and code["classes"][7]["share"] == 0.5
    named = {"name": "digit", "dim": 10, "k": 10, "labels": [f"d{i}" for i in range(10)]}
    assert label_categories(named, PER_VALUE) and named["labels"][7] == "d7"
