"""Loggers: the console logger's progress lines off a terminal, and TensorBoard event files that
hold every scalar a run logs (read back with tensorboard's own event reader)."""

from __future__ import annotations

import json

import pytest
from conftest import REPO, require_mnist, run_genfw

from genfw.config import load_config_and_plugins
from genfw.training.run import execute


@pytest.fixture(scope="module")
def tb_run(tmp_path_factory):
    require_mnist()
    out = tmp_path_factory.mktemp("tb")
    overrides = ["train.max_steps=12", "train.log_every=4", "train.epochs=1", "eval.at_end=false", "export.onnx=false",
                 f"output.dir={out}", 'loggers=[{"type": "tensorboard", "flush_secs": 1}]', "dataset.limit=1536",
                 "train.batch_size=128"]
    _, resolved = load_config_and_plugins(REPO / "configs" / "infogan_mnist.json", overrides)
    return execute(resolved, quiet=True)


def test_tensorboard_events_hold_every_logged_scalar_and_the_figures(tb_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tb_run / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    records = [json.loads(line) for line in (tb_run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if "event" not in r]
    assert [r["step"] for r in train] == [4, 8, 12]
    for record in train:
        for key, value in record.items():
            if key in ("step", "epoch") or not isinstance(value, (int, float)):
                continue
            events = {e.step: e.value for e in acc.Scalars(f"train/{key}")}
            assert events[record["step"]] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    epoch = [r for r in records if r.get("event") == "epoch_end"]
    assert epoch and "epoch/q_accuracy_digit" in tags
    images = set(acc.Tags()["images"])
    assert {"samples", "loss_curve", "traversals/c1", "traversals/digit"} <= images


def test_console_logger_prints_progress_lines_when_not_on_a_terminal(tmp_path):
    require_mnist()
    proc = run_genfw("run", "configs/dcgan_mnist.json", "--set", "train.max_steps=6", "--set", "train.log_every=2",
                     "--set", 'loggers=[{"type": "console", "every": 2}]', "--set", "eval.at_end=false",
                     "--set", "export.onnx=false", "--set", f"output.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("step ")]
    assert [ln.split()[1] for ln in lines] == ["2/6", "4/6", "6/6"], proc.stderr
    assert all("d_loss=" in ln and "images/s" in ln for ln in lines)


def test_a_logger_that_needs_a_missing_package_is_a_config_error(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "needy.py").write_text(
        "import genfw\nfrom pydantic import BaseModel\n\n\nclass P(BaseModel):\n    pass\n\n\n"
        "class Needy:\n    def __init__(self, params: P, ctx):\n"
        "        raise ValueError('needs the package nope: pip install nope')\n\n\n"
        "@genfw.hookimpl\ndef register_loggers(register):\n    register('needy', Needy)\n")
    from conftest import error_line

    require_mnist()
    line = error_line(run_genfw("validate", "configs/dcgan_mnist.json", "--plugins-dir", folder,
                                "--set", 'loggers=[{"type": "console"}, {"type": "needy"}]'))
    assert "loggers[1]: needs the package nope" in line
