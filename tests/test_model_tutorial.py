"""docs/writing-models.md and its example package docs/examples/genfw-wae, as a reader gets them:
the package built and installed by pip into a fresh target, found through its entry point,
validated (and rejected with the one-line error the tutorial shows), trained a few steps on real
MNIST, exported and evaluated with the model's own sections. The tutorial shows the package's
files in full: they must be the files in the package."""

from __future__ import annotations

import importlib
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from genfw_testing import REPO, error_line, genfw_env, require_mnist, run_genfw, with_pythonpath

EXAMPLE = REPO / "docs" / "examples" / "genfw-wae"
CONFIG = EXAMPLE / "wae_mnist.json"
DOC = REPO / "docs" / "writing-models.md"
#: What the tutorial's failing `genfw validate` sets: a latent code the WAE cannot use.
CATEGORICAL = 'latent[0]={"name": "digit", "type": "categorical", "k": 10}'
PACKAGE_FILES = ("pyproject.toml", "wae_mnist.json", "genfw_wae/__init__.py", "genfw_wae/mmd.py", "genfw_wae/model.py")


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The example installed with pip into a fresh target folder (from a copy, so the build leaves
    nothing in the repo; no index, no build isolation: nothing is downloaded)."""
    tmp = tmp_path_factory.mktemp("wae")
    source = tmp / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
         "--target", str(target), str(source)],
        capture_output=True, text=True, env=genfw_env({"PIP_NO_INPUT": "1"}), timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (target / "genfw_wae" / "model.py").is_file()
    (dist_info,) = target.glob("genfw_wae-*.dist-info")
    assert "wae = genfw_wae" in (dist_info / "entry_points.txt").read_text()
    return target


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


# -- the tutorial shows the package as it is -----------------------------------------------------------
def test_the_tutorial_shows_the_package_files_as_they_are(doc):
    for path in PACKAGE_FILES:
        assert (EXAMPLE / path).read_text(encoding="utf-8").rstrip("\n") in doc, path
    assert '[project.entry-points.genfw]\nwae = "genfw_wae"' in doc
    for folder in ("plugins/genfw_betavae", "plugins/genfw_dcgan", "plugins/genfw_infogan"):
        assert folder in doc and (REPO / folder).is_dir(), folder
    assert (REPO / "docs" / "writing-plugins.md").is_file() and "writing-plugins.md" in doc


# -- installed, through the CLI --------------------------------------------------------------------------
@pytest.mark.slow
def test_plugins_lists_the_model_from_its_distribution(site, doc):
    proc = run_genfw("plugins", "--json", env=with_pythonpath(site))
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    (entry,) = [c for c in listing["components"] if c["name"] == "wae"]
    assert (entry["kind"], entry["plugin"], entry["distribution"], entry["origin"]) == (
        "model", "wae", "genfw-wae 0.1.0", "entrypoint")
    assert entry["defaults"] == {"mmd_weight": "10.0", "kernel_scale": "1.0"}
    assert {"name": "wae", "origin": "entrypoint", "distribution": "genfw-wae 0.1.0",
            "hooks": ["register_models"]} in listing["plugins"]
    # The row the tutorial shows, as `genfw plugins` prints it (columns padded to the widest entry).
    (row,) = [ln for ln in console_block(doc, "genfw plugins | grep -E '^(KIND|model)'") if " wae " in ln]
    assert row.split()[:4] == ["model", "wae", "wae", "genfw-wae"] and row.endswith(entry["description"])


@pytest.mark.slow
def test_the_config_validates_as_the_tutorial_shows(site, doc):
    proc = run_genfw("validate", CONFIG.relative_to(REPO), env=with_pythonpath(site))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() in console_block(doc, "genfw validate docs/examples/genfw-wae/wae_mnist.json")
    assert "(model wae, dataset mnist 1x28x28," in proc.stdout


def test_a_code_the_model_cannot_use_is_a_one_line_error_at_its_path(doc):
    """The model's check, run by validate before anything is built; the plugin loaded from the
    example's folder (as the tutorial's last section does)."""
    command = f"genfw validate docs/examples/genfw-wae/wae_mnist.json --set '{CATEGORICAL}'"
    line = error_line(run_genfw("validate", CONFIG.relative_to(REPO), "--set", CATEGORICAL, "--plugins-dir",
                                EXAMPLE.relative_to(REPO)))
    assert line.startswith("Error: docs/examples/genfw-wae/wae_mnist.json: latent[0].type: the WAE's encoder "), line
    assert console_block(doc, command) == [line]


@pytest.mark.slow
def test_a_short_run_trains_exports_and_evaluates(site, tmp_path):
    """A few steps on real MNIST (epochs of 4 steps, so the per-epoch metrics run), then the
    export and the evaluation at the end of the run, with the model's own section."""
    data = require_mnist()
    runs = tmp_path / "runs"
    proc = run_genfw(
        "run", CONFIG,
        "--set", f"dataset.root={data}", "--set", "dataset.download=false", "--set", "dataset.limit=128",
        "--set", "train.batch_size=32", "--set", "train.max_steps=4", "--set", "train.log_every=2",
        "--set", "eval.samples=100", "--set", f"output.dir={runs}",
        env=with_pythonpath(site),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    assert run_dir.parent == runs and run_dir.is_dir()
    assert re.search(r"^run directory: .*\(model wae, 4 steps, 4 per epoch, (fp32|bf16) on cpu; auto: ", proc.stderr, re.M), proc.stderr
    assert re.search(r"epoch 1 \(step 4\): test_reconstruction=\S+ test_mmd=\S+", proc.stderr), proc.stderr
    assert re.search(r"^  WAE on 10000 held-out images: reconstruction \d+\.\d\d nats, squared error \d+\.\d\d; "
                     r"MMD to the prior -?\d\.\d{4} \(100 codes, seed 1021\)$", proc.stdout, re.M), proc.stdout

    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"] == {"type": "wae", "mmd_weight": 10.0, "kernel_scale": 1.0}
    assert config["optimizers"]["autoencoder"]["lr"] == 0.001
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    steps = [r for r in records if "event" not in r]
    assert [r["step"] for r in steps] == [2, 4]
    assert all(math.isfinite(r[k]) for r in steps for k in ("loss", "reconstruction", "mmd"))
    (epoch,) = [r for r in records if r.get("event") == "epoch_end"]
    assert epoch["step"] == 4 and epoch["test_reconstruction"] > 0 and math.isfinite(epoch["test_mmd"])

    for path in ("loss_curve.png", "traversals/z.png", "figures/reconstructions.png", "samples/epoch_001.png",
                 "samples/final.png", "checkpoints/last.pt", "generator.pt", "generator.onnx", "generator.json"):
        assert (run_dir / path).is_file(), path
    report = json.loads((run_dir / "eval.json").read_text())
    assert report["model_sections"] == ["wae"]
    wae = report["wae"]
    assert (wae["images"], wae["mmd_samples"], wae["split"], wae["seed"]) == (10000, 100, "held-out", 1021)
    assert wae["reconstruction"] > 0 and wae["squared_error"] > 0
    assert report["samples"]["samples"] == 100  # genfw's generic section, there for every model

    sidecar = json.loads((run_dir / "generator.json").read_text())
    assert [c["name"] for c in sidecar["latent"]["codes"]] == ["z"] and sidecar["inputs"] == ["z"]
    sampled = run_genfw("sample", run_dir, "--n", "4", "--code", "z=[2,0,0,0,0,0,0,0]", "-o", tmp_path / "z.png")
    assert sampled.returncode == 0, sampled.stderr
    assert (tmp_path / "z.png").is_file()


# -- the model in process (fast) -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def wae():
    """The plugin's modules, imported from the source tree (sys.path restored afterwards)."""
    sys.path.insert(0, str(EXAMPLE))
    try:
        return importlib.import_module("genfw_wae.model"), importlib.import_module("genfw_wae.mmd")
    finally:
        sys.path.remove(str(EXAMPLE))


def test_mmd_tells_one_distribution_from_another(wae):
    import torch

    _, mmd = wae
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(300, 8, generator=g), torch.randn(300, 8, generator=g)
    assert abs(float(mmd.imq_mmd(x, y))) < 0.02
    assert float(mmd.imq_mmd(x + 1, y)) > 0.3
    z = x.clone().requires_grad_()
    mmd.imq_mmd(z, y).backward()
    assert torch.isfinite(z.grad).all()


def test_check_names_the_first_code_without_a_continuous_prior(wae):
    from genfw.errors import ConfigValueError
    from genfw.latent import LatentSpec, CodeContext
    from genfw.codes.categorical import CategoricalCode, CategoricalParams
    from genfw.codes.gaussian import GaussianCode, GaussianParams
    from genfw.codes.noise import NoiseCode, NoiseParams
    from genfw.data.spec import DataSpec

    model, _ = wae
    ok = [GaussianCode(GaussianParams(dim=2, prior="uniform"), CodeContext("c")),
          NoiseCode(NoiseParams(dim=3), CodeContext("z"))]
    model.WAE.check(model.WAEParams(), LatentSpec(ok), DataSpec((1, 28, 28)))
    bad = LatentSpec([*ok, CategoricalCode(CategoricalParams(k=4), CodeContext("digit"))])
    with pytest.raises(ConfigValueError) as info:
        model.WAE.check(model.WAEParams(), bad, DataSpec((1, 28, 28)))
    assert info.value.path == "latent[2].type" and "'digit' of type 'categorical'" in str(info.value)
    assert model.WAE.network_outputs(model.WAEParams(), LatentSpec(ok)) == {"encoder": 5}
