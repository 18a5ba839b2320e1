"""Training through the real CLI on the real MNIST: artifacts, resume, interruption."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
import torch
from genfw_testing import INFOGAN_CONFIG, REPO, TINY_RUN, cli_in_process, genfw_env, require_mnist, run_genfw, sets

CONFIG = INFOGAN_CONFIG
SMALL = sets(*TINY_RUN)  # 256 MNIST images, batch 32: an epoch is 8 steps


@pytest.fixture(scope="module", autouse=True)
def _need_mnist():
    require_mnist()


@pytest.mark.slow
def test_short_run_writes_every_artifact(tmp_path):
    run_dir = tmp_path / "run"
    r = run_genfw("run", str(CONFIG), *SMALL, "--set", "train.epochs=2", "--set", f"output.run_dir={run_dir}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == str(run_dir)
    for name in ["config.json", "environment.json", "metrics.jsonl", "generator.pt", "loss_curve.png",
                 "samples/epoch_001.png", "samples/epoch_002.png", "samples/final.png",
                 "traversals/digit.png", "traversals/c1.png", "traversals/c2.png", "checkpoints/last.pt"]:
        assert (run_dir / name).is_file(), name
    assert not list(run_dir.rglob("*.tmp")), "no temp files left behind"
    # A traversal per control code, none for noise; InfoGAN draws no figures of its own.
    assert sorted(p.name for p in (run_dir / "traversals").iterdir()) == ["c1.png", "c2.png", "digit.png"]
    assert not (run_dir / "figures").exists() or not list((run_dir / "figures").iterdir())

    config = json.loads((run_dir / "config.json").read_text())
    assert config["latent"][1] == {"name": "digit", "type": "categorical", "k": 10, "labels": None, "from_labels": False,
                                   "labelled_count": None, "labelled_fraction": None}  # defaults filled in
    env = json.loads((run_dir / "environment.json").read_text())
    assert env["device"] == "cpu" and env["packages"]["torch"]

    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "event" not in r]
    assert [r["step"] for r in steps] == list(range(2, 17, 2))
    for key in ["d_loss", "g_loss", "info_loss", "info_digit", "info_c1", "mi_digit", "images_per_s"]:
        assert all(isinstance(r[key], float) for r in steps), key
    assert all(r["mi_digit"] <= 2.3026 for r in steps)  # H(c) - CE can never exceed ln 10
    epochs = [r for r in records if r.get("event") == "epoch_end"]
    assert [r["epoch"] for r in epochs] == [1, 2]
    assert all(0.0 <= r["q_accuracy_digit"] <= 1.0 for r in epochs)

    payload = torch.load(run_dir / "generator.pt", weights_only=True)
    spec = json.loads(payload["latent"])
    assert [c["name"] for c in spec["codes"]] == ["z", "digit", "c1", "c2"]


@pytest.mark.slow
def test_resume_is_bit_identical(tmp_path):
    whole, half = tmp_path / "whole", tmp_path / "half"
    common = [*SMALL, "--set", "train.epochs=2", "--set", "train.sample_every_epoch=false", "-q"]
    assert run_genfw("run", str(CONFIG), *common, "--set", "train.max_steps=12", "--set", f"output.run_dir={whole}").returncode == 0
    r = run_genfw("run", str(CONFIG), *common, "--set", "train.max_steps=5", "--set", f"output.run_dir={half}")
    assert r.returncode == 0, r.stderr
    assert torch.load(half / "checkpoints" / "last.pt", weights_only=True)["step"] == 5
    r = run_genfw("run", "--resume", str(half), "--set", "train.max_steps=12", "-q")
    assert r.returncode == 0, r.stderr

    a = torch.load(whole / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(half / "checkpoints" / "last.pt", weights_only=True)
    assert a["step"] == b["step"] == 12
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert torch.equal(a["rng"], b["rng"])
    records = [json.loads(line) for line in (half / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if "event" not in r]
    assert steps == sorted(set(steps)), "a resumed run does not log a step twice"


def test_resume_rejects_a_folder_that_is_not_a_run(tmp_path):
    r = cli_in_process("run", "--resume", str(tmp_path))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "checkpoint" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_resumes(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "genfw", "run", str(CONFIG), *SMALL, "--set", "train.epochs=1000",
                             "--set", "train.sample_every_epoch=false", "--set", "eval.per_epoch=false",
                             "--set", f"output.run_dir={run_dir}"], cwd=REPO, env=genfw_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    metrics = run_dir / "metrics.jsonl"
    deadline = time.time() + 120
    while not (metrics.is_file() and metrics.stat().st_size > 0) and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "genfw run --resume" in err and "Traceback" not in err
    step = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["step"]
    assert step >= 2
    r = run_genfw("run", "--resume", str(run_dir), "--set", f"train.max_steps={step + 2}", "-q")
    assert r.returncode == 0, r.stderr
    assert torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["step"] == step + 2
