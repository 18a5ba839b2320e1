"""`genfw eval` on a real (tiny) run: eval.json has every figure, with sample counts and seeds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from genfw_testing import assert_no_count_is_a_score, cli_in_process, run_genfw


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("eval") / "run"
    r = run_genfw("run", "configs/infogan_mnist.json", "--set", "dataset.limit=512", "--set", "train.batch_size=64",
                  "--set", "train.max_steps=4", "--set", "export.onnx=false", "--set", "eval.at_end=false",
                  "--set", "train.sample_every_epoch=false", "--set", f"output.run_dir={run_dir}", "-q")
    assert r.returncode == 0, r.stderr
    return run_dir


@pytest.mark.slow
def test_eval_writes_every_figure(tiny_run):
    r = cli_in_process("eval", str(tiny_run), "--samples", "500", "--seed", "7")
    assert r.returncode == 0, r.stderr
    assert "Frechet classifier distance" in r.stdout and "floor" in r.stdout
    report = json.loads((tiny_run / "eval.json").read_text())
    assert report["reference_net"]["accuracy"] >= 0.99
    # InfoGAN's own sections (Model.evaluate) sit beside genfw's, listed in model_sections.
    assert report["model_sections"] == ["q_on_real", "code_consistency", "continuous_codes"]
    assert "Q on real test set, code digit: accuracy" in r.stdout and "code consistency, digit:" in r.stdout
    assert "continuous c1: strongest" in r.stdout

    q = report["q_on_real"]["digit"]
    assert 0.1 <= q["accuracy"] <= 1 and 0 <= q["nmi"] <= 1 and -1 <= q["ari"] <= 1
    assert q["n"] == 10000  # evaluation uses the whole test split, whatever limit training had

    consistency = report["code_consistency"]["digit"]
    assert set(consistency["per_value"]) == {str(i) for i in range(10)}
    assert consistency["samples_per_value"] == 50 and consistency["seed"] == 7

    s = report["samples"]
    assert s["samples"] == 500 and s["seed"] == 8
    # An untrained generator is far from the data; real digits are close to each other.
    assert s["frechet_classifier_distance"] > 5 * s["frechet_floor_real_vs_real"]
    assert 0 <= s["predicted_class_entropy"] <= s["max_entropy"] == pytest.approx(math.log(10))
    assert sum(s["class_histogram"]) == 500

    for name in ("c1", "c2"):
        c = report["continuous_codes"][name]
        assert set(c["effects"]) == {"slant", "stroke_width", "ink_width"}
        assert c["strongest"] in c["effects"] and c["seed"] == 9
    assert_no_count_is_a_score(report)


def test_eval_of_a_folder_that_is_not_a_run(tmp_path):
    r = cli_in_process("eval", str(tmp_path))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


@pytest.mark.slow
def test_eval_held_out_limits_the_held_out_images_a_smoke_run_measures(tmp_path):
    run_dir = tmp_path / "run"
    r = cli_in_process("run", "configs/infogan_mnist.json", "--set", "dataset.limit=256", "--set", "train.batch_size=64",
                       "--set", "train.max_steps=2", "--set", "export.onnx=false", "--set", "eval.samples=200",
                       "--set", "eval.held_out=300", "--set", "train.sample_every_epoch=false",
                       "--set", f"output.run_dir={run_dir}", "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads((run_dir / "eval.json").read_text())
    assert report["q_on_real"]["digit"]["n"] == 300  # not the test split's 10,000
    assert report["samples"]["samples"] == 200


def test_compare_leaves_out_the_numbers_a_section_marks_as_not_scores_and_keeps_a_then_b_order():
    from genfw.evaluation.compare import compare

    a = {"vae": {"neg_elbo": 101.3, "beta": 1.0, "images": 10000, "not_scores": ["beta", "images"]},
         "continuous_codes": {"c1": {"effects": {"slant": {"spearman": 0.9}}, "styles": 8, "steps": 9,
                                     "not_scores": ["styles", "steps"]}},
         "only_a": {"score": 1.0}}
    b = {"only_b": {"score": 2.0}, "vae": {"neg_elbo": 99.0, "beta": 4.0, "images": 10000, "not_scores": ["beta", "images"]}}
    assert compare(a, b) == [("vae.neg_elbo", 101.3, 99.0), ("continuous_codes.c1.effects.slant.spearman", 0.9, None),
                             ("only_a.score", 1.0, None), ("only_b.score", None, 2.0)]
    # A malformed marker is no score and hides nothing.
    assert compare({"s": {"x": 1.0, "not_scores": "x"}}, {}) == [("s.x", 1.0, None)]
    # A mark is a path relative to its dict (* for any key): it hides that path, not the name elsewhere.
    c = {"digit": {"per_value": {"3": {"class": 8, "share": 0.9}}, "samples_per_value": 50,
                   "not_scores": ["samples_per_value", "per_value.*.class"]},
         "vae": {"beta": 4.0, "kl_per_dim": {"beta": 0.5}, "not_scores": ["beta"]}}
    assert compare(c, c) == [("digit.per_value.3.share", 0.9, 0.9), ("vae.kl_per_dim.beta", 0.5, 0.5)]


@pytest.mark.parametrize("content, words", [
    (None, "no eval.json"),
    ("{", "not a readable eval.json"),
    (b"\xff\xfe", "not a readable eval.json"),
    ("[1, 2]", "not an eval.json (not a JSON object)"),
])
def test_eval_compare_with_a_report_it_cannot_read_is_one_line_and_exit_2(tmp_path, content, words):
    good = tmp_path / "good"
    good.mkdir()
    (good / "eval.json").write_text(json.dumps({"seed": 1000, "samples": {"frechet_ratio": 4.0}}))
    bad = tmp_path / "bad"
    bad.mkdir()
    if content is not None:
        (bad / "eval.json").write_bytes(content if isinstance(content, bytes) else content.encode())
    for a, b in ((good, bad), (bad, good)):
        proc = cli_in_process("eval", a, "--compare", b)
        assert proc.returncode == 2 and proc.stdout == "", proc.stdout
        [line] = proc.stderr.strip().splitlines()
        assert words in line and str(bad / "eval.json") in line and "Traceback" not in line
        assert "genfw eval" in line  # how to fix it


def test_eval_compare_prints_two_reports_side_by_side_and_refuses_different_provenance(tmp_path):
    provenance = {"seed": 1000, "samples": 10000, "reference_split": {"name": "mnist-test", "images": 10000},
                  "reference_net": {"weights_sha256": "ab" * 32, "accuracy": 0.99}, "disentanglement_variant": "reference",
                  "precision_recall_k": 3, "precision": "fp32", "libraries": {"torch": "2.14.1"}}

    def report(folder: str, ratio: float, **changed) -> Path:
        run = tmp_path / folder
        run.mkdir()
        doc = {"run_dir": str(run), "seed": 1000, "provenance": {**provenance, **changed},
               "samples": {"frechet_ratio": ratio, "recall": 0.5, "samples": 10000}, "q": {"accuracy": 0.9}}
        (run / "eval.json").write_text(json.dumps(doc))
        return run

    a, b = report("a", 4.0), report("b", 3.0, libraries={"torch": "2.15.0"})  # versions differ: shown, not refused
    proc = cli_in_process("eval", a, "--compare", b)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:3] == [f"a: {a}", f"b: {b}", lines[2]] and lines[2].split() == ["score", "a", "b", "b", "-", "a"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:]}
    assert rows["samples.frechet_ratio"] == ["4", "3", "-1"] and rows["q.accuracy"][:2] == ["0.9", "0.9"]
    assert "samples.samples" not in rows  # a count, not a score
    c = report("c", 3.0, samples=500)
    proc = cli_in_process("eval", a, "--compare", c)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "do not compare: samples (10000 against 500)" in proc.stderr
