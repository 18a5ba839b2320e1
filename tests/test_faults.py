"""Faults and hostile inputs: the exit code, one line on stderr (no traceback) and the state of the
run folder afterwards. Training, divergence (exit 1), signals (143), concurrent runs, full disks and
plugin folders run as real `genfw` subprocesses; bad configs, data and codes that are refused before
anything trains go through the CLI in this process (the same entry point and error handling). Plus a
bounded, seeded fuzz of configs in-process (hypothesis)."""

from __future__ import annotations

import json
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from genfw_testing import REPO, base_config, cli_in_process, genfw_env, require_mnist, run_genfw, write_json

from genfw.artifacts import CHECKPOINT_FORMAT, GENERATOR_FORMAT, atomic_torch_save, safe_torch_load

#: A tiny InfoGAN (it has a categorical code, so metadata checks have something to damage).
TINY = ["networks.generator.hidden=32", "networks.generator.base_channels=8", "networks.generator.up_channels=4",
        "networks.discriminator.channels=[8,16]", "networks.discriminator.hidden=32", "networks.discriminator.q_hidden=16",
        "dataset.limit=256", "train.batch_size=32", "eval.at_end=false", 'loggers=[]', "train.sample_every_epoch=false"]


def sets(*overrides: str) -> list[str]:
    return [arg for o in overrides for arg in ("--set", o)]


def one_line(proc: subprocess.CompletedProcess, code: int) -> str:
    """Assert exit ``code``, exactly one line on stderr, no traceback; return the line."""
    detail = f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == code, detail
    assert "Traceback" not in proc.stderr, detail
    lines = [ln for ln in proc.stderr.strip().splitlines() if not ln.startswith(("run directory:", "step ", "trained "))]
    assert len(lines) == 1 and lines[0].startswith("Error: "), detail
    return lines[0]


def tmp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*.tmp")]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A finished tiny run with a checkpoint, generator.pt and generator.onnx (it trains: the tests
    that use it are marked slow)."""
    require_mnist()
    out = tmp_path_factory.mktemp("faults")
    proc = run_genfw("run", "configs/infogan_mnist.json", *sets(*TINY, "train.max_steps=8", f"output.dir={out}"))
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip().splitlines()[-1])


def copy_run(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest)
    return dest


# -- 1. artifacts never run code --------------------------------------------------------------------
EVIL = '''import pathlib, genfw
pathlib.Path({marker!r}).write_text("imported")
from pydantic import BaseModel
from genfw.codes.gaussian import GaussianCode


class EvilParams(BaseModel):
    dim: int = 1


class EvilCode(GaussianCode):
    params: EvilParams
    type_name = "evil"


@genfw.hookimpl
def register_latent_codes(register):
    register("evil", EvilCode)
'''


@pytest.mark.slow
def test_a_file_naming_a_plugin_folder_never_imports_it(run, tmp_path):
    marker = tmp_path / "imported.txt"
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "evil.py").write_text(EVIL.format(marker=str(marker)))
    obj = safe_torch_load(run / "generator.pt", expect_format=GENERATOR_FORMAT)
    config = json.loads(obj["config"])
    config["plugins_dirs"] = [str(evil)]
    obj["config"] = json.dumps(config)
    atomic_torch_save(obj, tmp_path / "planted.pt")  # a valid checksum: as an attacker would make it

    proc = run_genfw("export", tmp_path / "planted.pt", "-o", tmp_path / "x.onnx")
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists() and (tmp_path / "x.onnx").is_file()

    config["latent"][2] = {"name": "c1", "type": "evil", "dim": 1}  # now it needs the folder's code
    obj["config"] = json.dumps(config)
    atomic_torch_save(obj, tmp_path / "needs.pt")
    line = one_line(run_genfw("export", tmp_path / "needs.pt", "-o", tmp_path / "y.onnx"), 2)
    assert "unknown latent code type 'evil'" in line and f"--plugins-dir {evil}" in line and "--trust-recorded-plugins" in line
    assert not marker.exists() and not (tmp_path / "y.onnx").exists()

    proc = run_genfw("export", tmp_path / "needs.pt", "-o", tmp_path / "y.onnx", "--trust-recorded-plugins")
    assert marker.exists(), proc.stderr  # imported only once the user said so


@pytest.mark.slow
def test_a_run_folder_config_naming_a_plugin_folder_does_not_import_it_on_resume(run, tmp_path):
    marker = tmp_path / "imported.txt"
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "evil.py").write_text(EVIL.format(marker=str(marker)))
    r = copy_run(run, tmp_path / "run")
    config = json.loads((r / "config.json").read_text())
    config["plugins_dirs"] = [str(evil)]
    (r / "config.json").write_text(json.dumps(config))
    proc = run_genfw("run", "--resume", r, *sets("train.max_steps=9", "export.onnx=false"))
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()


# -- 2. divergence is caught -------------------------------------------------------------------------
NAN_MODEL = '''import torch
from pydantic import BaseModel
import genfw
from genfw.model import Model, Roles


class NanParams(BaseModel):
    nan_at: int = 7


class NanModel(Model):
    """Fits G's samples to the data, then produces NaN from step nan_at on."""

    network_roles = Roles(required=("generator",))
    optimizer_defaults = {"g": {"lr": 0.001}}

    def __init__(self, params: NanParams, ctx):
        super().__init__(params, ctx)
        self.G = ctx.networks["generator"]
        self.opt = self.optimizer("g", self.G.parameters())

    @property
    def generator(self):
        return self.G

    def train_step(self, batch, rng):
        real = batch.images
        fake = self.G(self.latent.encode(self.latent.sample(real.shape[0], rng, real.device)))
        loss = (fake - real).pow(2).mean()
        if batch.step + 1 >= self.params.nan_at:  # (torch.where would leak NaN into earlier gradients)
            loss = loss * float("nan")
        self.opt.zero_grad()
        self.backward(loss)
        self.step(self.opt)
        return {"mse": loss.detach()}


@genfw.hookimpl
def register_models(register):
    register("nan_after", NanModel)
'''


@pytest.mark.parametrize("log_every", [5, 1000])
@pytest.mark.slow
def test_divergence_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, log_every):
    require_mnist()
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "nanmodel.py").write_text(NAN_MODEL)
    doc = {"name": "nan", "dataset": {"type": "mnist", "limit": 256}, "latent": [{"name": "z", "type": "noise", "dim": 8}],
           "model": {"type": "nan_after", "nan_at": 7}, "networks": {"generator": {"type": "conv_generator", "width": 8}},
           "train": {"batch_size": 32, "max_steps": 20, "log_every": log_every, "checkpoint_every": 5}, "loggers": [],
           "output": {"dir": str(tmp_path / "runs")}}
    cfg = write_json(tmp_path / "nan.json", doc)
    line = one_line(run_genfw("run", cfg, "--plugins-dir", plugins), 1)
    assert "training diverged at step 7" in line and "last good checkpoint is kept" in line
    (folder,) = (tmp_path / "runs").iterdir()
    ckpt = safe_torch_load(folder / "checkpoints" / "last.pt", expect_format=CHECKPOINT_FORMAT)
    assert ckpt["step"] == 5 and all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
    assert not (folder / "generator.pt").exists() and not tmp_files(folder)
    if log_every == 5:
        assert "mse is nan" in line


@pytest.mark.slow
def test_a_diverging_run_without_a_checkpoint_leaves_no_folder(tmp_path):
    require_mnist()
    line = one_line(run_genfw("run", "configs/betavae_mnist.json",
                              *sets("optimizers.vae.lr=10", "train.max_steps=20", "train.log_every=5", "dataset.limit=256",
                                    "train.batch_size=32", f"output.dir={tmp_path}", "loggers=[]")), 1)
    assert "training diverged" in line and "no checkpoint was written yet" in line
    assert list(tmp_path.iterdir()) == []


def test_non_finite_numbers_in_a_config_are_rejected(tmp_path):
    doc = json.dumps(base_config()).replace('"lr": 0.001', '"lr": Infinity')
    (tmp_path / "inf.json").write_text(doc)
    line = one_line(cli_in_process("validate", tmp_path / "inf.json"), 2)
    assert "Infinity is not a number genfw accepts" in line
    line = one_line(cli_in_process("validate", "configs/infogan_mnist.json", *sets("optimizers.generator.lr=1e39")), 2)
    assert "out of range" in line


@pytest.mark.slow
def test_flipped_bytes_in_a_checkpoint_are_caught(run, tmp_path):
    r = copy_run(run, tmp_path / "run")
    ckpt = r / "checkpoints" / "last.pt"
    with zipfile.ZipFile(ckpt) as z:
        entry = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    data = bytearray(ckpt.read_bytes())
    start = entry.header_offset + 30 + len(entry.filename.encode()) + len(entry.extra)
    middle = start + entry.file_size // 2
    data[middle:middle + 4] = bytes(b ^ 0xFF for b in data[middle:middle + 4])
    ckpt.write_bytes(bytes(data))
    line = one_line(run_genfw("run", "--resume", r, *sets("train.max_steps=9")), 2)
    assert "last.pt: the file is corrupted" in line
    assert ckpt.read_bytes() == bytes(data)  # untouched: nothing trained on it


# -- 3. run folders are exclusive --------------------------------------------------------------------
@pytest.mark.slow
def test_runs_started_together_get_their_own_folders(tmp_path):
    require_mnist()
    procs = [subprocess.Popen([sys.executable, "-m", "genfw", "run", "configs/infogan_mnist.json",
                               *sets(*TINY, "train.max_steps=2", "export.onnx=false", f"seed={seed}", f"output.dir={tmp_path}")],
                              cwd=REPO, env=genfw_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for seed in (1, 2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    folders = sorted(tmp_path.iterdir())
    assert len(folders) == 2
    seeds = {json.loads((f / "config.json").read_text())["seed"] for f in folders}
    assert seeds == {1, 2}
    for f in folders:
        ckpt = safe_torch_load(f / "checkpoints" / "last.pt", expect_format=CHECKPOINT_FORMAT)
        assert json.loads(ckpt["config"])["seed"] == json.loads((f / "config.json").read_text())["seed"]


@pytest.mark.slow
def test_a_run_being_trained_cannot_be_resumed_twice(run, tmp_path):
    r = copy_run(run, tmp_path / "run")
    log = tmp_path / "first.log"
    with open(log, "w") as err:
        first = subprocess.Popen([sys.executable, "-m", "genfw", "run", "--resume", str(r), "--set", "train.max_steps=100000",
                                  "--set", "train.epochs=1000", "--set", "export.onnx=false"], cwd=REPO, env=genfw_env(),
                                 stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.time() + 300
        while "resuming" not in log.read_text() and time.time() < deadline and first.poll() is None:
            time.sleep(0.5)
        assert "resuming" in log.read_text(), log.read_text()
        line = one_line(run_genfw("run", "--resume", r, *sets("train.max_steps=10")), 2)
        assert f"run directory {r} is in use by process {first.pid}" in line
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=300)
    assert first.returncode == 143, log.read_text()


# -- 4. full disks -----------------------------------------------------------------------------------
def _unshare_works() -> bool:
    try:
        return subprocess.run(["unshare", "-rm", "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def on_small_disk(args: list[str], folder: Path, kb: int) -> subprocess.CompletedProcess:
    """Run ``genfw ARGS`` with ``folder`` on a file system that holds ``kb`` KiB: a tmpfs in a
    private mount namespace where the kernel allows one (a real full disk), else a file-size
    limit (the same write failure, EFBIG instead of ENOSPC)."""
    cmd = [sys.executable, "-m", "genfw", *map(str, args)]
    if _unshare_works():
        script = f"mount -t tmpfs -o size={kb}k tmpfs {shlex.quote(str(folder))} && exec {shlex.join(cmd)}"
        return subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=REPO, env=genfw_env(), capture_output=True,
                              text=True, timeout=600)

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (kb * 1024, kb * 1024))

    return subprocess.run(cmd, cwd=REPO, env=genfw_env(), capture_output=True, text=True, timeout=600, preexec_fn=limit)


@pytest.mark.slow
def test_a_full_disk_during_training_is_one_line_and_leaves_nothing_half_written(tmp_path):
    require_mnist()
    disk = tmp_path / "disk"
    disk.mkdir()
    proc = on_small_disk(["run", "configs/infogan_mnist.json", *sets(*TINY, "train.max_steps=4", f"output.dir={disk}")],
                         disk, kb=64)
    line = one_line(proc, 1)
    assert ("no space left on device" in line or "file too large" in line) and "last.pt" in line and "MB needed" in line
    assert not tmp_files(disk) and not list(disk.rglob("last.pt"))


@pytest.mark.slow
def test_a_full_disk_in_export_and_sample_is_one_line(run, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    line = one_line(on_small_disk(["export", run, "-o", disk / "g.onnx"], disk, kb=64), 1)
    assert "while writing" in line and "g.onnx" in line
    line = one_line(on_small_disk(["sample", run / "generator.onnx", "--n", "5000", "-o", disk / "s.h5"], disk, kb=64), 1)
    assert "while writing" in line and "s.h5" in line
    assert not tmp_files(disk)


@pytest.mark.slow
def test_stale_temp_files_are_removed_on_resume(run, tmp_path):
    r = copy_run(run, tmp_path / "run")
    stale = r / "checkpoints" / ".last.pt.abc123.tmp"
    stale.write_bytes(b"\0" * 1000)
    proc = run_genfw("run", "--resume", r, *sets("train.max_steps=9", "export.onnx=false"))
    assert proc.returncode == 0, proc.stderr
    assert not stale.exists() and "removed 1 unfinished temp file" in proc.stderr


# -- 5. one line, exit 2, for odd inputs --------------------------------------------------------------
def damaged_mnist(tmp_path: Path, name: str) -> Path:
    """A data root whose MNIST has ``name`` with a wrong magic number (the others linked)."""
    src = require_mnist() / "MNIST" / "raw"
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in src.iterdir():
        (raw / f.name).symlink_to(f)
    (raw / name).unlink()
    data = bytearray((src / name).read_bytes())
    data[:4] = b"\x00\x00\x08\x99"
    (raw / name).write_bytes(bytes(data))
    return tmp_path / "data"


def test_an_mnist_file_with_a_wrong_magic_number_is_named(tmp_path):
    root = damaged_mnist(tmp_path, "train-labels-idx1-ubyte")
    line = one_line(cli_in_process("validate", "configs/infogan_mnist.json", env={"GENFW_DATA": str(root)}), 2)
    assert "train-labels-idx1-ubyte is not an IDX file" in line and "magic number" in line


@pytest.mark.slow
def test_a_damaged_test_split_is_named_by_eval(run, tmp_path):
    root = damaged_mnist(tmp_path, "t10k-labels-idx1-ubyte")
    line = one_line(cli_in_process("eval", run, env={"GENFW_DATA": str(root)}), 2)
    assert "t10k-labels-idx1-ubyte is not an IDX file" in line


@pytest.mark.parametrize("text, words", [
    ("[" * 100000 + "]" * 100000, "nested too deeply"),
    ('{"name": "x", "seed": ' + "1" * 5000 + "}", "5000 digits"),
    (json.dumps({**base_config(), "name": "n" * 5000}), "name: not a valid name"),
])
def test_odd_json_is_one_line(tmp_path, text, words):
    (tmp_path / "odd.json").write_text(text)
    assert words in one_line(cli_in_process("validate", tmp_path / "odd.json"), 2)


def test_a_long_code_name_fails_validation_before_anything_runs(tmp_path):
    doc = base_config()
    doc["latent"][2]["name"] = "c" * 300
    line = one_line(cli_in_process("run", write_json(tmp_path / "c.json", doc), *sets(f"output.dir={tmp_path / 'runs'}")), 2)
    assert "latent[2].name: not a valid name" in line and not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_damaged_prior_metadata_is_named(run, tmp_path):
    import onnx

    model = onnx.load(run / "generator.onnx")
    for prop in model.metadata_props:
        if prop.key == "genfw.latent":
            latent = json.loads(prop.value)
            latent["codes"][1]["prior"]["probs"] = [0.5, 0.5, 0.0]
            prop.value = json.dumps(latent)
    onnx.save(model, tmp_path / "g.onnx")
    line = one_line(cli_in_process("sample", tmp_path / "g.onnx", "-o", tmp_path / "s.png"), 2)
    assert "prior of code 'digit'" in line and "probs must be 10" in line


@pytest.mark.parametrize("override, words", [
    ('train.batch_size="128"', 'train.batch_size: Input should be a valid integer (got "128")'),
    ("train.batch_size=true", "train.batch_size: Input should be a valid integer (got true)"),
    ('seed="7"', 'seed: Input should be a valid integer (got "7")'),
    ("train.max_steps=true", "train.max_steps: Input should be a valid integer (got true)"),
])
def test_lax_types_are_rejected(override, words):
    line = one_line(cli_in_process("validate", "configs/infogan_mnist.json", *sets(override)), 2)
    assert f"configs/infogan_mnist.json: {words}" in line


def test_a_batch_larger_than_the_data_names_the_file():
    require_mnist()
    line = one_line(cli_in_process("run", "configs/infogan_mnist.json", *sets(*TINY, "train.batch_size=1000")), 2)
    assert line.startswith("Error: configs/infogan_mnist.json: train.batch_size: train.batch_size 1000 is larger")


# -- 7. smaller ones ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_resume_cannot_change_what_defines_the_trajectory(run):
    for override in ("seed=8", "optimizers.generator.lr=0.01", "train.batch_size=16", 'dataset.limit=100'):
        line = one_line(cli_in_process("run", "--resume", run, *sets(override)), 2)
        assert "a resumed run keeps what defines its training" in line, override


@pytest.mark.slow
def test_sigterm_checkpoints_and_exits_143_and_the_run_resumes(tmp_path):
    require_mnist()
    log = tmp_path / "run.log"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "genfw", "run", "configs/infogan_mnist.json",
                                 *sets(*TINY, "train.max_steps=100000", "train.epochs=1000", "train.log_every=1",
                                       f"output.dir={tmp_path / 'runs'}")],
                                cwd=REPO, env=genfw_env(), stdout=subprocess.PIPE, stderr=err, text=True)
    deadline = time.time() + 300
    while not list((tmp_path / "runs").glob("*/metrics.jsonl")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=300)
    text = log.read_text()
    assert proc.returncode == 143, text
    assert "Traceback" not in text and "Error: stopped by SIGTERM at step" in text
    (folder,) = (tmp_path / "runs").iterdir()
    step = safe_torch_load(folder / "checkpoints" / "last.pt", expect_format=CHECKPOINT_FORMAT)["step"]
    assert step >= 1
    done = run_genfw("run", "--resume", folder, *sets(f"train.max_steps={step + 2}", "export.onnx=false"))
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_a_code_value_beyond_float32_is_rejected(run, tmp_path):
    line = one_line(cli_in_process("sample", run / "generator.onnx", "--code", "c1=1e308", "-o", tmp_path / "s.png"), 2)
    assert "c1" in line and "float32" in line and not (tmp_path / "s.png").exists()


# -- the fuzz ----------------------------------------------------------------------------------------
def test_random_config_mutations_are_valid_or_one_line_errors(tmp_path):
    """Random edits of the shipped config through `genfw validate` (in-process: the CLI's own
    entry point and error handling): every outcome is exit 0, or exit 2 with one line."""
    require_mnist()
    from click.testing import CliRunner
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from genfw.cli import main

    values = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False, allow_infinity=False),
                       st.text(max_size=80), st.lists(st.integers(-5, 5), max_size=3),
                       st.dictionaries(st.text(max_size=8), st.integers(), max_size=2))

    def paths(doc, prefix=()):
        if isinstance(doc, dict):
            for k, v in doc.items():
                yield prefix + (k,)
                yield from paths(v, prefix + (k,))
        elif isinstance(doc, list):
            for i, v in enumerate(doc):
                yield prefix + (i,)
                yield from paths(v, prefix + (i,))

    base = base_config()
    all_paths = list(paths(base))
    runner = CliRunner()

    @settings(max_examples=45, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(st.sampled_from(all_paths), st.sampled_from(["set", "delete", "add"]), values),
                    min_size=1, max_size=3))
    def check(edits):
        doc = json.loads(json.dumps(base))
        for path, action, value in edits:
            node = doc
            try:
                for key in path[:-1]:
                    node = node[key]
                if action == "set":
                    node[path[-1]] = value
                elif action == "delete" and isinstance(node, dict):
                    node.pop(path[-1], None)
                elif action == "add" and isinstance(node, dict):
                    node["extra_" + str(path[-1])] = value
            except (KeyError, IndexError, TypeError):
                continue
        cfg = tmp_path / "fuzz.json"
        cfg.write_text(json.dumps(doc))
        result = runner.invoke(main, ["validate", str(cfg)])
        err = getattr(result, "stderr", "") or ""
        assert result.exit_code in (0, 2), (edits, result.exit_code, result.output, err, result.exception)
        if result.exit_code == 2:
            text = (err or result.output).strip()
            assert "Traceback" not in text and len(text.splitlines()) == 1 and text.startswith("Error: "), (edits, text)

    check()


@pytest.mark.slow
def test_an_artifact_from_other_plugin_versions_loads_with_one_warning(run, tmp_path):
    obj = safe_torch_load(run / "generator.pt", expect_format=GENERATOR_FORMAT)
    recorded = json.loads(obj["provenance"])
    assert recorded["model infogan"].startswith("infogan (genfw ")
    recorded["model infogan"] = "infogan (genfw 0.0.1)"
    obj["provenance"] = json.dumps(recorded)
    atomic_torch_save(obj, tmp_path / "old.pt")
    proc = run_genfw("export", tmp_path / "old.pt", "-o", tmp_path / "old.onnx")
    assert proc.returncode == 0, proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("Warning: ")]
    assert len(warnings) == 1 and "model infogan from infogan (genfw 0.0.1) (now infogan (genfw" in warnings[0]


def _one_line_or_success(result, context) -> None:
    """A CLI outcome the fuzz accepts: exit 0, or exit 2 with one `Error:` line and no traceback."""
    err = getattr(result, "stderr", "") or ""
    assert result.exit_code in (0, 2), (context, result.exit_code, result.output, err, result.exception)
    if result.exit_code == 2:
        text = (err or result.output).strip()
        assert "Traceback" not in text and len(text.splitlines()) == 1 and text.startswith("Error: "), (context, text)


def _small_datasets(folder: Path) -> dict[str, dict]:
    """Real, small files for the folder and HDF5 datasets, and each dataset's base parameters."""
    import h5py
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for cls in ("a", "b"):
            (folder / "images" / split / cls).mkdir(parents=True)
            for i in range(6):
                Image.fromarray(rng.integers(0, 256, (12, 12), dtype=np.uint8)).save(folder / "images" / split / cls / f"{i}.png")
    with h5py.File(folder / "data.h5", "w") as f:
        f["images"] = rng.integers(0, 256, (40, 12, 12), dtype=np.uint8)
        f["labels"] = rng.integers(0, 3, 40)
        f["factors"] = rng.random((40, 2))
    return {
        "image_folder": {"type": "image_folder", "path": str(folder / "images"), "size": 12, "channels": 1},
        "hdf5": {"type": "hdf5", "path": str(folder / "data.h5"), "layout": "NHW"},
        "mnist": {"type": "mnist", "root": str(require_mnist()), "download": False, "limit": 256},
    }


@pytest.mark.slow
def test_random_dataset_parameters_are_valid_or_one_line_errors(tmp_path):
    """Random values for every parameter of the folder, HDF5 and MNIST datasets through
    `genfw validate` (in-process): exit 0, or exit 2 with one line; never a traceback."""
    from click.testing import CliRunner
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from genfw.cli import main
    from genfw.plugin.loading import load_plugins

    bases = _small_datasets(tmp_path)
    registries = load_plugins().registries
    params = {name: sorted(registries.datasets.get(name).params.model_fields) for name in bases}
    values = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=40),
                       st.sampled_from(["auto", "folders", "none", "fraction", "NHWC", "NCHW", "/", "labels", "train",
                                        "test", "..", "/etc/passwd", "images\x1b[2J"]),
                       st.lists(st.one_of(st.integers(-3, 3), st.text(max_size=4)), max_size=4),
                       st.dictionaries(st.text(max_size=6), st.integers(-3, 3), max_size=2))
    doc = base_config()
    runner = CliRunner()

    @settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(sorted(bases)).flatmap(
        lambda name: st.tuples(st.just(name), st.dictionaries(st.sampled_from(params[name]), values, max_size=3))))
    def check(case):
        name, edits = case
        if name == "mnist":  # never download or write in the fuzz: the shared copy, read-only
            edits = {k: v for k, v in edits.items() if k not in ("root", "download")}
        dataset = {**bases[name], **edits}
        cfg = write_json(tmp_path / "fuzz.json", {**doc, "dataset": dataset})
        _one_line_or_success(runner.invoke(main, ["validate", str(cfg)]), dataset)

    check()


@pytest.mark.slow
def test_random_code_values_are_samples_or_one_line_errors(run, tmp_path):
    """Random `--code NAME=VALUE` strings for `genfw sample` (in-process): exit 0, or exit 2 with one line."""
    from click.testing import CliRunner
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from genfw.cli import main

    spec = json.loads((run / "generator.json").read_text())
    names = [code["name"] for code in spec["latent"]["codes"]] + ["nosuch", ""]
    numbers = st.one_of(st.integers(-2**70, 2**70), st.floats(), st.just(-0.0))
    values = st.one_of(st.text(max_size=30), numbers.map(str), st.lists(numbers, max_size=12).map(json.dumps),
                       st.sampled_from(["[]", "[[1]]", "{}", "null", "true", "NaN", "Infinity", "1e999", "0x10", " 3 ",
                                        "[0.5, 0.5]", "[-5, 0, 0, 0, 0, 0, 0, 0, 0, 6]", "3 (41%)"]))
    runner = CliRunner()

    @settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(st.sampled_from(names), values), min_size=1, max_size=2))
    def check(codes):
        args = ["sample", str(run / "generator.onnx"), "--n", "2", "-o", str(tmp_path / "s.png")]
        for name, value in codes:
            args += ["--code", f"{name}={value}"]
        _one_line_or_success(runner.invoke(main, args), codes)

    check()
