"""The example plugin package docs/examples/genfw-bernoulli, as a user gets it: built and installed
by pip into a fresh target, found through its entry point, validated and trained on real MNIST.
Plus unit tests of BernoulliCode itself."""

from __future__ import annotations

import importlib
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import REPO, base_config, error_line, genfw_env, require_mnist, run_genfw, with_pythonpath, write_json

EXAMPLE = REPO / "docs" / "examples" / "genfw-bernoulli"
EXAMPLE_CONFIG = EXAMPLE / "infogan_mnist_bernoulli.json"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The example installed with pip into a fresh target folder (from a copy, so the build leaves
    nothing in the repo; no index, no build isolation: nothing is downloaded)."""
    tmp = tmp_path_factory.mktemp("bernoulli")
    source = tmp / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
         "--target", str(target), str(source)],
        capture_output=True, text=True, env=genfw_env({"PIP_NO_INPUT": "1"}), timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (target / "genfw_bernoulli" / "code.py").is_file()
    (dist_info,) = target.glob("genfw_bernoulli-*.dist-info")
    assert "bernoulli = genfw_bernoulli" in (dist_info / "entry_points.txt").read_text()
    return target


@pytest.fixture(scope="module")
def bern():
    """The plugin's code module, imported from the source tree (sys.path restored afterwards)."""
    sys.path.insert(0, str(EXAMPLE))
    try:
        return importlib.import_module("genfw_bernoulli.code")
    finally:
        sys.path.remove(str(EXAMPLE))


# -- installed, through the CLI ---------------------------------------------------------------------
def test_plugins_lists_bernoulli_from_its_distribution(site):
    env = with_pythonpath(site)
    proc = run_genfw("plugins", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    (entry,) = [c for c in doc["components"] if c["name"] == "bernoulli"]
    assert entry["kind"] == "latent code type"
    assert (entry["plugin"], entry["distribution"], entry["origin"]) == ("bernoulli", "genfw-bernoulli 0.1.0", "entrypoint")
    assert entry["params"]["dim"]["default"] == 1 and entry["params"]["p"]["default"] == 0.5
    assert entry["params"]["p"]["description"] and entry["params"]["dim"]["description"]
    assert {"name": "bernoulli", "origin": "entrypoint", "distribution": "genfw-bernoulli 0.1.0",
            "hooks": ["register_latent_codes"]} in doc["plugins"]

    text = run_genfw("plugins", env=env).stdout
    (line,) = [ln for ln in text.splitlines() if " bernoulli " in ln]
    assert line.split()[:6] == ["latent", "code", "type", "bernoulli", "bernoulli", "genfw-bernoulli"]


def test_example_config_validates_and_round_trips(site, tmp_path):
    env = with_pythonpath(site)
    proc = run_genfw("validate", EXAMPLE_CONFIG, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "style_bits:bernoulli" in proc.stdout

    printed = run_genfw("validate", EXAMPLE_CONFIG, "--print", env=env)
    assert printed.returncode == 0, printed.stderr
    resolved = json.loads(printed.stdout)
    assert resolved["latent"][-1] == {"name": "style_bits", "type": "bernoulli", "dim": 2, "p": 0.5}
    again = run_genfw("validate", write_json(tmp_path / "resolved.json", resolved), "--print", env=env)
    assert again.returncode == 0 and json.loads(again.stdout) == resolved


def test_example_config_is_the_mnist_config_with_a_bernoulli_code():
    example = json.loads(EXAMPLE_CONFIG.read_text())
    original = base_config()
    assert [c["type"] for c in example["latent"]] == ["noise", "categorical", "gaussian", "bernoulli"]
    assert example["latent"][:3] == original["latent"][:3]
    assert example["latent"][3] == {"name": "style_bits", "type": "bernoulli", "dim": 2, "p": 0.5}
    for key in ("dataset", "model", "networks", "losses"):
        assert example[key] == original[key], key


def test_bad_bernoulli_params_are_config_errors(site):
    env = with_pythonpath(site)
    line = error_line(run_genfw("validate", EXAMPLE_CONFIG, "--set", "latent[3].p=1.0", env=env))
    assert f"{EXAMPLE_CONFIG}: latent[3].p: Input should be less than 1" in line
    line = error_line(run_genfw("validate", EXAMPLE_CONFIG, "--set", "latent[3].dim=0", env=env))
    assert f"{EXAMPLE_CONFIG}: latent[3].dim: Input should be greater than 0" in line
    line = error_line(run_genfw("validate", EXAMPLE_CONFIG, "--set", "latent[3].pp=0.3", env=env))
    assert f"{EXAMPLE_CONFIG}: latent[3].pp: unknown key (did you mean 'p'?" in line


def test_without_the_plugin_bernoulli_is_unknown(site):
    for env in ({}, {**with_pythonpath(site), "GENFW_DISABLE_PLUGINS": "bernoulli"}):
        line = error_line(run_genfw("validate", EXAMPLE_CONFIG, env=env))
        assert f"{EXAMPLE_CONFIG}: latent[3].type: unknown latent code type 'bernoulli'" in line


def test_two_steps_on_real_mnist(site, tmp_path):
    data = require_mnist()
    runs = tmp_path / "runs"
    proc = run_genfw(
        "run", EXAMPLE_CONFIG, "-q",
        "--set", f"dataset.root={data}", "--set", "dataset.download=false",
        "--set", "train.max_steps=2", "--set", "train.batch_size=16",
        "--set", "export.onnx=false", "--set", "eval.at_end=false", "--set", "eval.per_epoch_q_accuracy=false",
        "--set", f"output.dir={runs}",
        env=with_pythonpath(site),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    assert run_dir.parent == runs and run_dir.is_dir()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["latent"][-1] == {"name": "style_bits", "type": "bernoulli", "dim": 2, "p": 0.5}
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    steps = [r for r in records if "info_style_bits" in r]
    assert steps and steps[-1]["step"] == 2
    assert math.isfinite(steps[-1]["info_style_bits"]) and steps[-1]["info_style_bits"] > 0
    assert (run_dir / "checkpoints" / "last.pt").is_file()
    assert (run_dir / "samples" / "final.png").is_file()
    assert not (run_dir / "generator.onnx").exists()


# -- BernoulliCode, in process ----------------------------------------------------------------------
def make(bern, dim=2, p=0.5, name="bits"):
    return bern.BernoulliCode(name, bern.BernoulliParams(dim=dim, p=p))


def test_params(bern):
    from pydantic import ValidationError

    params = bern.BernoulliParams()
    assert (params.dim, params.p) == (1, 0.5)
    for bad in ({"p": 0.0}, {"p": 1.0}, {"p": -0.1}, {"dim": 0}, {"dim": -2}, {"q": 0.5}):
        with pytest.raises(ValidationError):
            bern.BernoulliParams(**bad)


def test_shapes_and_dtypes(bern):
    code = make(bern, dim=3, p=0.3)
    assert (code.dim, code.q_dim, code.informative, code.continuous) == (3, 3, True, False)
    x = code.sample(7, torch.Generator().manual_seed(0))
    assert x.shape == (7, 3) and x.dtype == torch.float32
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    q = torch.randn(7, 3)
    assert code.nll(q, x).shape == (7,)
    pred = code.predict(q)
    assert pred.shape == (7, 3) and pred.dtype == torch.float32
    assert torch.equal(pred, (q > 0).float())
    t = code.traverse(5)
    assert t.shape == (5, 3) and t.dtype == torch.float32


def test_traverse_cycles_through_the_bit_patterns(bern):
    assert make(bern, dim=2).traverse(6).tolist() == [[0, 0], [1, 0], [0, 1], [1, 1], [0, 0], [1, 0]]
    assert make(bern, dim=1).traverse(4).tolist() == [[0], [1], [0], [1]]


def test_nll_matches_a_hand_computation(bern):
    code = make(bern, dim=2)
    logits = torch.tensor([[2.0, -1.0], [0.0, 3.0]])
    value = torch.tensor([[1.0, 0.0], [0.0, 0.0]])

    def sigmoid(t):
        return 1 / (1 + math.exp(-t))

    # -log P(bit) under Q: -log s(l) for a 1, -log(1 - s(l)) for a 0; summed over the bits.
    row0 = -math.log(sigmoid(2.0)) - math.log(1 - sigmoid(-1.0))
    row1 = -math.log(1 - sigmoid(0.0)) - math.log(1 - sigmoid(3.0))
    assert torch.allclose(code.nll(logits, value), torch.tensor([row0, row1]), atol=1e-6)
    # Q knowing nothing (logits 0) costs exactly the prior entropy of fair bits: dim * ln 2.
    assert math.isclose(float(code.nll(torch.zeros(1, 2), value[:1])), 2 * math.log(2), rel_tol=1e-6)


def test_entropy(bern):
    assert math.isclose(make(bern, dim=2, p=0.5).entropy(), 2 * math.log(2))
    h = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert math.isclose(make(bern, dim=3, p=0.25).entropy(), 3 * h)


def test_seeded_sampling_is_reproducible_and_uses_only_the_generator(bern):
    code = make(bern, dim=4, p=0.3)
    a = code.sample(64, torch.Generator().manual_seed(123))
    b = code.sample(64, torch.Generator().manual_seed(123))
    c = code.sample(64, torch.Generator().manual_seed(124))
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.manual_seed(5)
    state = torch.get_rng_state()
    code.sample(10, torch.Generator().manual_seed(0))
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG was not touched


def test_sample_frequency_matches_p(bern):
    x = make(bern, dim=1, p=0.2).sample(20000, torch.Generator().manual_seed(0))
    assert abs(x.mean().item() - 0.2) < 0.015


def test_prior_and_spec(bern):
    code = make(bern, dim=2, p=0.25, name="style_bits")
    assert code.prior() == {"kind": "bernoulli", "p": 0.25}
    spec = code.spec()
    assert {"name": "style_bits", "type": "bernoulli", "dim": 2, "prior": {"kind": "bernoulli", "p": 0.25}}.items() <= spec.items()
    assert spec["p"] == 0.25 and spec["values"] == [0.0, 1.0]
    json.dumps(spec)  # JSON-ready


def test_trains_an_infogan_step_with_a_bernoulli_code(bern):
    """Registered next to the built-ins, the example config builds and trains one step in process."""
    from genfw.components import build_latent, build_model
    from genfw.config import validate_config
    from genfw.plugins import load_plugins
    from genfw.registry import Source

    registries = load_plugins().registries
    if "bernoulli" not in registries.latent_codes:  # e.g. the package is installed in this environment
        registries.latent_codes.add("bernoulli", bern.BernoulliCode, params=bern.BernoulliParams, description=None,
                                    source=Source("bernoulli", "genfw-bernoulli 0.1.0", "entrypoint"))
    resolved = validate_config(json.loads(EXAMPLE_CONFIG.read_text()), registries)
    latent = build_latent(resolved)
    assert latent.dim == 62 + 10 + 1 + 2 and latent.q_dim == 10 + 2 + 2
    torch.manual_seed(0)
    model = build_model(resolved, latent, (1, 28, 28))
    out = model.train_step(torch.rand(4, 1, 28, 28), torch.Generator().manual_seed(0))
    assert "info_style_bits" in out and torch.isfinite(out["info_style_bits"])
    q = model.infer_codes(torch.rand(3, 1, 28, 28))
    assert tuple(q["style_bits"].shape) == (3, 2)


def test_tutorial_shows_the_example_files_as_they_are():
    """docs/writing-plugins.md lists the package's files in full: they must not drift apart."""
    doc = (REPO / "docs" / "writing-plugins.md").read_text()
    for path in ("genfw_bernoulli/code.py", "genfw_bernoulli/__init__.py", "pyproject.toml"):
        assert (EXAMPLE / path).read_text() in doc, path
    assert EXAMPLE_CONFIG.read_text().rstrip("\n") in doc
    assert "[project.entry-points.genfw]\nbernoulli = \"genfw_bernoulli\"" in doc


# -- as a local plugin folder ------------------------------------------------------------------------
def test_a_run_remembers_its_local_plugin_folder(tmp_path):
    """Trained with --plugins-dir, the run is exported and resumed without it; test files beside
    the plugin are not loaded as plugins; naming the same folder twice is one folder."""
    data = require_mnist()
    folder = tmp_path / "my plugins"
    shutil.copytree(EXAMPLE / "genfw_bernoulli", folder / "genfw_bernoulli")
    (folder / "test_bernoulli.py").write_text("import genfw_bernoulli  # only importable when installed\n")
    runs = tmp_path / "runs"
    proc = run_genfw(
        "run", EXAMPLE_CONFIG, "-q", "--plugins-dir", folder, "--plugins-dir", str(folder) + "/.",
        "--set", f"dataset.root={data}", "--set", "dataset.download=false",
        "--set", "train.max_steps=2", "--set", "train.batch_size=16",
        "--set", "export.onnx=false", "--set", "eval.at_end=false", "--set", "eval.per_epoch_q_accuracy=false",
        "--set", f"output.dir={runs}",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    assert json.loads((run_dir / "config.json").read_text())["plugins_dirs"] == [str(folder.resolve())]

    exported = run_genfw("export", run_dir, "-o", tmp_path / "bits.onnx")
    assert exported.returncode == 0, exported.stderr
    resumed = run_genfw("run", "--resume", run_dir, "-q", "--set", "train.max_steps=3")
    assert resumed.returncode == 0, resumed.stderr

    moved = tmp_path / "moved"
    folder.rename(moved)
    line = error_line(run_genfw("export", run_dir, "-o", tmp_path / "again.onnx"))
    assert "unknown latent code type 'bernoulli'" in line and f"{folder.resolve()}, which is gone" in line, line
    assert run_genfw("export", run_dir, "-o", tmp_path / "again.onnx", "--plugins-dir", moved).returncode == 0
