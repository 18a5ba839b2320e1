"""The example plugin package docs/examples/genfw-bernoulli, as a user gets it: built and installed
by pip into a fresh target, found through its entry point, validated and trained on real MNIST.
Plus unit tests of BernoulliCode itself, the tutorial's own test, the other-kinds examples in
docs/examples/my_plugins, and checks that docs/writing-plugins.md shows the files and outputs as
they are."""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from genfw.model import Batch, DataSpec

from genfw_testing import REPO, base_config, error_line, genfw_env, require_mnist, run_genfw, with_pythonpath

EXAMPLE = REPO / "docs" / "examples" / "genfw-bernoulli"
EXAMPLE_CONFIG = EXAMPLE / "infogan_mnist_bernoulli.json"
MY_PLUGINS = REPO / "docs" / "examples" / "my_plugins"
DOC = REPO / "docs" / "writing-plugins.md"
CONFIG_ARG = str(EXAMPLE_CONFIG.relative_to(REPO))  # as the tutorial types it, from the repo root


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def console_block(doc: str, command: str) -> list[str]:
    """The output lines the tutorial shows under ``$ <command>`` (up to the next prompt or fence)."""
    lines = doc.splitlines()
    start = lines.index(f"$ {command}") + 1
    out = []
    for line in lines[start:]:
        if line.startswith("$ ") or line.startswith("```"):
            break
        out.append(line)
    return out


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
    assert not (target / "test_bernoulli.py").exists()  # the package's test is not installed
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
@pytest.mark.slow
def test_plugins_lists_bernoulli_from_its_distribution(site, doc):
    env = with_pythonpath(site)
    proc = run_genfw("plugins", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    (entry,) = [c for c in listing["components"] if c["name"] == "bernoulli"]
    assert entry["kind"] == "latent code type"
    assert (entry["plugin"], entry["distribution"], entry["origin"]) == (
        "bernoulli", "genfw-bernoulli 0.2.0", "entrypoint")
    assert entry["defaults"] == {"dim": "1", "p": "0.5"}
    assert entry["params"]["p"]["description"] and entry["params"]["dim"]["description"]
    assert {"name": "bernoulli", "origin": "entrypoint", "distribution": "genfw-bernoulli 0.2.0",
            "hooks": ["register_latent_codes"]} in listing["plugins"]

    text = run_genfw("plugins", env=env).stdout
    (line,) = [ln for ln in text.splitlines() if " bernoulli " in ln]
    assert line.split()[:6] == ["latent", "code", "type", "bernoulli", "bernoulli", "genfw-bernoulli"]
    assert line in console_block(doc, "genfw plugins")  # the row the tutorial shows


@pytest.mark.slow
def test_example_config_validates(site, doc):
    env = with_pythonpath(site)
    proc = run_genfw("validate", CONFIG_ARG, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "style_bits:bernoulli" in proc.stdout
    assert console_block(doc, f"genfw validate {CONFIG_ARG}") == [proc.stdout.strip()]

    printed = run_genfw("validate", EXAMPLE_CONFIG, "--print", env=env)
    assert printed.returncode == 0, printed.stderr
    resolved = json.loads(printed.stdout)
    assert resolved["latent"][-1] == {"name": "style_bits", "type": "bernoulli", "dim": 2, "p": 0.5}
    assert json.dumps(resolved["latent"][-1]) in doc  # as the tutorial shows it


def test_example_config_is_the_mnist_config_with_a_bernoulli_code():
    example = json.loads(EXAMPLE_CONFIG.read_text())
    original = base_config()
    assert [c["type"] for c in example["latent"]] == ["noise", "categorical", "gaussian", "bernoulli"]
    assert example["latent"][:3] == original["latent"][:3]
    assert example["latent"][3] == {"name": "style_bits", "type": "bernoulli", "dim": 2, "p": 0.5}
    assert set(example) == set(original)
    for key in set(original) - {"name", "latent"}:
        assert example[key] == original[key], key


@pytest.mark.slow
def test_bad_bernoulli_params_are_config_errors_as_the_tutorial_shows(site, doc):
    env = with_pythonpath(site)
    for override, expected in (("latent[3].p=1.5", "latent[3].p: Input should be less than 1"),
                               ("latent[3].pp=0.3", "latent[3].pp: unknown key (did you mean 'p'?")):
        line = error_line(run_genfw("validate", CONFIG_ARG, "--set", override, env=env))
        assert f"{CONFIG_ARG}: {expected}" in line
        assert console_block(doc, f"genfw validate {CONFIG_ARG} --set '{override}'") == [line]


@pytest.mark.slow
def test_without_the_plugin_bernoulli_is_unknown(site):
    for env in ({}, {**with_pythonpath(site), "GENFW_DISABLE_PLUGINS": "bernoulli"}):
        line = error_line(run_genfw("validate", EXAMPLE_CONFIG, env=env))
        assert f"{EXAMPLE_CONFIG}: latent[3].type: unknown latent code type 'bernoulli'" in line


@pytest.mark.slow
def test_two_steps_on_real_mnist(site, tmp_path):
    data = require_mnist()
    runs = tmp_path / "runs"
    proc = run_genfw(
        "run", EXAMPLE_CONFIG, "-q",
        "--set", f"dataset.root={data}", "--set", "dataset.download=false",
        "--set", "train.max_steps=2", "--set", "train.batch_size=16",
        "--set", "export.onnx=false", "--set", "eval.at_end=false", "--set", "eval.per_epoch=false",
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
    assert steps[-1]["mi_style_bits"] <= 2 * math.log(2) + 1e-6
    assert (run_dir / "checkpoints" / "last.pt").is_file()
    assert (run_dir / "samples" / "final.png").is_file()
    assert (run_dir / "traversals" / "style_bits.png").is_file()
    assert not (run_dir / "generator.onnx").exists()


# -- BernoulliCode, in process ----------------------------------------------------------------------
def make(bern, dim=2, p=0.5, name="bits"):
    from genfw.latent import CodeContext

    return bern.BernoulliCode(bern.BernoulliParams(dim=dim, p=p), CodeContext(name))


def test_params(bern):
    from pydantic import ValidationError

    from genfw.plugin.registry import params_model_of

    assert params_model_of(bern.BernoulliCode) is bern.BernoulliParams  # found from the class annotation
    params = bern.BernoulliParams()
    assert (params.dim, params.p) == (1, 0.5)
    for bad in ({"p": 0.0}, {"p": 1.0}, {"p": -0.1}, {"dim": 0}, {"dim": -2}, {"q": 0.5}):
        with pytest.raises(ValidationError):
            bern.BernoulliParams(**bad)


def test_the_three_sides(bern):
    code = make(bern, dim=3, p=0.3)
    assert (code.role, code.continuous, code.one_hot) == ("control", False, False)
    # parameters: 0/1 bits
    x = code.sample(7, torch.Generator().manual_seed(0))
    assert x.shape == (7, 3) and x.dtype == torch.float32
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    # encoding: -1/+1, as wide as the parameters
    assert code.input_dim == 3 and torch.equal(code.encode(x), x * 2 - 1)
    # likelihood: one logit per bit
    assert (code.prediction_dim, code.predictable) == (3, True)
    q = torch.randn(7, 3)
    assert code.nll(q, x).shape == (7,)
    pred = code.predict(q)
    assert pred.shape == (7, 3) and pred.dtype == torch.float32
    assert torch.equal(pred, (q > 0).float())
    assert code.nll(q[:1], x[:1]).shape == (1,) and code.predict(q[:1]).shape == (1, 3)  # batch size 1


def test_traversal_steps_through_the_bit_patterns(bern):
    t = make(bern, dim=2).traversal(9)
    assert t.values.shape == (1, 4, 2) and t.row_labels == ["bits"]
    assert t.values[0].tolist() == [[0, 0], [1, 0], [0, 1], [1, 1]]
    assert t.column_labels == ["00", "10", "01", "11"]
    # More patterns than columns: a row per bit, switched off then on, the others at center().
    many = make(bern, dim=4).traversal(9)
    assert many.values.shape == (4, 2, 4) and many.row_labels == [f"bits[{j}]" for j in range(4)]
    assert many.values[2].tolist() == [[0, 0, 0, 0], [0, 0, 1, 0]]
    assert make(bern, dim=2, p=0.5).center().tolist() == [0.0, 0.0]
    assert make(bern, dim=2, p=0.8).center().tolist() == [1.0, 1.0]
    assert make(bern).traversal_range() == (0.0, 1.0)


def test_nll_matches_a_hand_computation(bern):
    code = make(bern, dim=2)
    logits = torch.tensor([[2.0, -1.0], [0.0, 3.0]])
    value = torch.tensor([[1.0, 0.0], [0.0, 0.0]])

    def sigmoid(t):
        return 1 / (1 + math.exp(-t))

    # -log P(bit): -log s(l) for a 1, -log(1 - s(l)) for a 0; summed over the bits.
    row0 = -math.log(sigmoid(2.0)) - math.log(1 - sigmoid(-1.0))
    row1 = -math.log(1 - sigmoid(0.0)) - math.log(1 - sigmoid(3.0))
    assert torch.allclose(code.nll(logits, value), torch.tensor([row0, row1]), atol=1e-6)
    # A prediction that knows nothing (logits 0) costs exactly the prior entropy of fair bits: dim * ln 2.
    assert math.isclose(float(code.nll(torch.zeros(1, 2), value[:1])), 2 * math.log(2), rel_tol=1e-6)
    assert torch.isfinite(code.nll(torch.tensor([[1e4, -1e4]]).bfloat16(), torch.tensor([[0.0, 1.0]]))).all()


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


def test_prior_and_spec(bern, doc):
    code = make(bern, dim=2, p=0.5, name="style_bits")
    assert code.prior() == {"kind": "bernoulli", "p": 0.5}
    spec = code.spec()
    assert spec == {"name": "style_bits", "type": "bernoulli", "dim": 2, "role": "control",
                    "prior": {"kind": "bernoulli", "p": 0.5}, "range": [0.0, 1.0], "p": 0.5, "values": [0.0, 1.0]}
    assert json.dumps(spec) in doc  # the entry the tutorial shows from generator.json


def test_trains_an_infogan_step_with_a_bernoulli_code(bern):
    """Registered next to the built-ins, the example config builds and trains one step in process."""
    from genfw.building import build_latent, build_model
    from genfw.config.resolution import validate_config
    from genfw.plugin.loading import load_plugins
    from genfw.plugin.registry import Source

    registries = load_plugins().registries
    if "bernoulli" not in registries.latent_codes:  # e.g. the package is installed in this environment
        registries.latent_codes.add("bernoulli", bern.BernoulliCode, description=None,
                                    source=Source("bernoulli", "genfw-bernoulli 0.2.0", "entrypoint"))
    resolved = validate_config(json.loads(EXAMPLE_CONFIG.read_text()), registries)
    latent = build_latent(resolved)
    assert latent.input_dim == 62 + 10 + 1 + 2 and latent.prediction_dim == 10 + 2 + 2
    assert [c.name for c in latent.predictable] == ["digit", "c1", "style_bits"]
    codes = latent.sample(4, torch.Generator().manual_seed(0))
    assert set(latent.encode(codes)[:, -2:].unique().tolist()) <= {-1.0, 1.0}  # the bits, encoded
    torch.manual_seed(0)
    model = build_model(resolved, latent, DataSpec((1, 28, 28)))
    out = model.train_step(Batch(torch.rand(4, 1, 28, 28)), torch.Generator().manual_seed(0))
    assert "info_style_bits" in out and torch.isfinite(out["info_style_bits"]) and "mi_style_bits" in out
    q = model.predict_codes(torch.rand(3, 1, 28, 28))
    assert tuple(q["style_bits"].shape) == (3, 2)


def test_the_tutorials_own_test_passes():
    sys.path.insert(0, str(EXAMPLE))
    try:
        spec = importlib.util.spec_from_file_location("tutorial_test_bernoulli", EXAMPLE / "test_bernoulli.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.test_bernoulli_code()
    finally:
        sys.path.remove(str(EXAMPLE))


def test_tutorial_shows_the_example_files_as_they_are(doc):
    """docs/writing-plugins.md lists the package's files in full: they must not drift apart."""
    for path in ("genfw_bernoulli/code.py", "genfw_bernoulli/__init__.py", "pyproject.toml", "test_bernoulli.py",
                 "infogan_mnist_bernoulli.json"):
        assert (EXAMPLE / path).read_text().rstrip("\n") in doc, path
    for path in ("squares.py", "hflip.py", "best.py"):
        assert (MY_PLUGINS / path).read_text().rstrip("\n") in doc, path
    assert "[project.entry-points.genfw]\nbernoulli = \"genfw_bernoulli\"" in doc
    assert "(writing-models.md)" in doc and (REPO / "docs" / "writing-models.md").is_file()
    for old in ("params=", "q_dim", "traverse(", "informative", "q_out"):  # the API before genfw 0.2
        assert old not in doc, old


# -- the other kinds, in process ----------------------------------------------------------------------
def test_the_other_kinds_examples_load_and_work(tmp_path):
    from genfw.config.reading import strict_validate
    from genfw.contexts import AugmentationContext, DatasetContext, LoggerContext
    from genfw.plugin.loading import load_plugins

    registries = load_plugins([MY_PLUGINS]).registries
    squares = registries.datasets.get("squares")
    assert squares.source.origin == f"local {MY_PLUGINS / 'squares.py'}"
    data = squares.factory(strict_validate(squares.params, {"n": 100}), DatasetContext(seed=3))
    assert (len(data.train), len(data.test), data.image_shape) == (90, 10, (1, 28, 28))
    again = squares.factory(strict_validate(squares.params, {"n": 100}), DatasetContext(seed=3))
    assert torch.equal(data.train.images, again.train.images)  # seeded by the run

    hflip = registries.augmentations.get("hflip")
    flip = hflip.factory(strict_validate(hflip.params, {"p": 1.0}), AugmentationContext((1, 28, 28), "discriminator"))
    x = torch.rand(2, 1, 28, 28, requires_grad=True)
    y = flip(x, torch.Generator().manual_seed(0))
    assert torch.equal(y, x.flip(3))
    y.sum().backward()
    assert x.grad is not None

    best = registries.loggers.get("best")
    logger = best.factory(strict_validate(best.params, {"key": "g_loss"}), LoggerContext(tmp_path, 10, 0))
    for step, value in ((2, 1.5), (4, 0.5), (6, 0.9)):
        logger.log_scalars(step, {"step": step, "g_loss": value}, "train")
    logger.close()
    assert json.loads((tmp_path / "best.json").read_text()) == {"key": "g_loss", "value": 0.5, "step": 4}


# -- as a local plugin folder ------------------------------------------------------------------------
@pytest.mark.slow
def test_a_run_records_its_local_plugin_folder(tmp_path):
    """Trained with --plugins-dir, the run records the folder; export and resume load it again
    only when told (--trust-recorded-plugins or --plugins-dir), as the tutorial says; test files
    beside the plugin are not loaded as plugins; naming the same folder twice is one folder."""
    data = require_mnist()
    folder = tmp_path / "my plugins"
    shutil.copytree(EXAMPLE / "genfw_bernoulli", folder / "genfw_bernoulli")
    shutil.copy(EXAMPLE / "test_bernoulli.py", folder / "test_bernoulli.py")  # only importable when installed
    runs = tmp_path / "runs"
    proc = run_genfw(
        "run", EXAMPLE_CONFIG, "-q", "--plugins-dir", folder, "--plugins-dir", str(folder) + "/.",
        "--set", f"dataset.root={data}", "--set", "dataset.download=false",
        "--set", "train.max_steps=2", "--set", "train.batch_size=16",
        "--set", "export.onnx=false", "--set", "eval.at_end=false", "--set", "eval.per_epoch=false",
        "--set", f"output.dir={runs}",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    assert json.loads((run_dir / "config.json").read_text())["plugins_dirs"] == [str(folder.resolve())]

    line = error_line(run_genfw("export", run_dir, "-o", tmp_path / "bits.onnx"))  # never on a file's say-so
    assert "unknown latent code type 'bernoulli'" in line and "--trust-recorded-plugins" in line, line
    exported = run_genfw("export", run_dir, "-o", tmp_path / "bits.onnx", "--trust-recorded-plugins")
    assert exported.returncode == 0, exported.stderr

    moved = tmp_path / "moved"
    folder.rename(moved)
    line = error_line(run_genfw("run", "--resume", run_dir, "-q", "--trust-recorded-plugins"))
    assert "unknown latent code type 'bernoulli'" in line and f"{folder.resolve()}, which is gone" in line, line
    resumed = run_genfw("run", "--resume", run_dir, "-q", "--set", "train.max_steps=3", "--plugins-dir", moved)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run_dir / "config.json").read_text())["plugins_dirs"] == [str(moved.resolve())]
