"""Loggers: the console logger's progress lines off a terminal, and TensorBoard event files that
hold every scalar a run logs (read back with tensorboard's own event reader). Loggers and runs
write only inside the run folder: a path out of it is refused at validate, and a run folder where
a file stands in for a folder (or the reverse) is one line on resume, not a traceback."""

from __future__ import annotations

import json
import shutil

import pytest
from genfw_testing import REPO, cli_in_process, error_line, require_mnist, run_genfw

from genfw.session import load_config_and_plugins
from genfw.training.run import execute


@pytest.fixture(scope="module")
def tb_run(tmp_path_factory):
    # 12 training steps: the tests that use this run are marked slow.
    require_mnist()
    out = tmp_path_factory.mktemp("tb")
    overrides = ["train.max_steps=12", "train.log_every=4", "train.epochs=1", "eval.at_end=false", "export.onnx=false",
                 f"output.dir={out}", 'loggers=[{"type": "tensorboard", "flush_secs": 1}]', "dataset.limit=1536",
                 "train.batch_size=128"]
    _, resolved = load_config_and_plugins(REPO / "configs" / "infogan_mnist.json", overrides)
    return execute(resolved, quiet=True)


@pytest.mark.slow
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


@pytest.mark.slow
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
    from genfw_testing import error_line

    require_mnist()
    line = error_line(cli_in_process("validate", "configs/dcgan_mnist.json", "--plugins-dir", folder,
                                     "--set", 'loggers=[{"type": "console"}, {"type": "needy"}]'))
    assert "loggers[1]: needs the package nope" in line


@pytest.mark.parametrize("subdir, words", [
    ("..", "'..' is not a folder name inside the run folder"),
    ("/tmp/elsewhere", "'/tmp/elsewhere' is not a folder name inside the run folder"),
    ("logs/../..", "is not a folder name inside the run folder"),
    ("samples", "'samples' is where the run keeps its own samples"),
])
def test_a_tensorboard_folder_outside_the_run_folder_is_refused_at_validate(subdir, words):
    require_mnist()
    loggers = [{"type": "console"}, {"type": "tensorboard", "subdir": subdir}]
    line = error_line(cli_in_process("validate", "configs/dcgan_mnist.json", "--set", f"loggers={json.dumps(loggers)}"))
    assert "configs/dcgan_mnist.json: loggers[1].subdir: " in line and words in line, line


@pytest.fixture
def tb_copy(tb_run, tmp_path):
    """A copy of the TensorBoard run, to break."""
    return shutil.copytree(tb_run, tmp_path / "run", symlinks=True)


def resume(run_dir, *extra):
    return run_genfw("run", "--resume", run_dir, "--set", "train.max_steps=14", "-q", *extra)


@pytest.mark.slow
def test_resume_refuses_a_tensorboard_folder_that_is_a_file_or_a_link_out_of_the_run(tb_copy, tmp_path):
    shutil.rmtree(tb_copy / "tensorboard")
    (tb_copy / "tensorboard").write_text("not a folder")
    line = error_line(resume(tb_copy))
    assert f"loggers[0]: {tb_copy / 'tensorboard'} is a file, where the logger writes its folder" in line, line

    outside = tmp_path / "outside"
    outside.mkdir()
    (tb_copy / "tensorboard").unlink()
    (tb_copy / "tensorboard").symlink_to(outside)
    line = error_line(resume(tb_copy))
    assert f"{tb_copy / 'tensorboard'} is a symbolic link to {outside}, not a folder inside the run folder" in line, line
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("name, folder", [("metrics.jsonl", True), ("samples", False), ("traversals", False),
                                          ("loss_curve.png", True), ("generator.pt", True), ("checkpoints/last.pt", True)])
@pytest.mark.slow
def test_resume_refuses_a_run_folder_where_a_file_stands_for_a_folder_or_the_reverse(tb_copy, name, folder):
    path = tb_copy / name
    shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    path.mkdir() if folder else path.write_text("in the way")
    found, wanted = ("folder", "file") if folder else ("file", "folder")
    line = error_line(resume(tb_copy))
    assert f"{path}: is a {found}, where the run writes its {name} {wanted}" in line, line
    assert f"move the {found} out of the run folder {tb_copy}" in line, line


@pytest.mark.slow
def test_eval_of_a_run_without_its_checkpoint_suggests_commands_that_work(tb_copy):
    shutil.rmtree(tb_copy / "checkpoints")
    line = error_line(cli_in_process("eval", tb_copy))
    assert f"{tb_copy}: no checkpoints/last.pt here, and genfw eval needs it" in line, line
    assert "pass a run directory, generator.pt" not in line, line  # eval cannot read generator.pt
    assert f"`genfw sample {tb_copy}` draws from its generator.pt" in line, line
    sample = cli_in_process("sample", tb_copy, "--n", "4", "-o", tb_copy / "four.png")
    assert sample.returncode == 0 and (tb_copy / "four.png").is_file(), sample.stderr
