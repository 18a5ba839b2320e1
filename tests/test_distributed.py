"""Training on several processes with torchrun (gloo on the CPU): real `torchrun` subprocesses."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from genfw_testing import REPO, error_line, genfw_env, require_mnist, run_genfw, write_json

from genfw.artifacts import CHECKPOINT_FORMAT, safe_torch_load
from genfw.cpu import cpu_flags
from genfw.training.precision import resolve_precision

#: A model with no randomness at all, so one process and two must compute the same thing.
AUTOENCODER = '''import torch
from pydantic import BaseModel
import genfw
from genfw.model import Model, Roles


class AEParams(BaseModel):
    pass


class Autoencoder(Model):
    """Reconstructs images through the posterior means of its codes (deterministic)."""

    network_roles = Roles(required=("encoder", "decoder"))
    optimizer_defaults = {"ae": {"type": "sgd", "lr": 0.5}}

    @classmethod
    def network_outputs(cls, params, latent):
        return {"encoder": latent.prediction_dim}

    def __init__(self, params: AEParams, ctx):
        super().__init__(params, ctx)
        self.encoder_net, self.decoder = ctx.networks["encoder"], ctx.networks["decoder"]
        self.opt = self.optimizer("ae", list(self.encoder_net.parameters()) + list(self.decoder.parameters()))

    @property
    def generator(self):
        return self.decoder

    def train_step(self, batch, rng):
        real = batch.images
        z = self.encoder_net(real)[:, : self.latent.input_dim]
        loss = (self.decoder(z) - real).pow(2).mean()
        self.opt.zero_grad()
        self.backward(loss)
        self.step(self.opt)
        return {"mse": loss.detach()}


@genfw.hookimpl
def register_models(register):
    register("autoencoder", Autoencoder)
'''


#: A deterministic model that trains on the labels (needs = ("labels",)): an autoencoder whose
#: encoder also classifies the digit. If a process paired its images with another shard's labels,
#: two processes would no longer train like one.
LABELLED_AUTOENCODER = AUTOENCODER.replace(
    'network_roles = Roles(required=("encoder", "decoder"))',
    'network_roles = Roles(required=("encoder", "decoder"))\n    needs = ("labels",)',
).replace(
    'return {"encoder": latent.prediction_dim}', 'return {"encoder": latent.prediction_dim + 10}',
).replace(
    'loss = (self.decoder(z) - real).pow(2).mean()',
    'ce = torch.nn.functional.cross_entropy(self.encoder_net(real)[:, -10:], batch.labels)\n'
    '        loss = (self.decoder(z) - real).pow(2).mean() + ce',
).replace('register("autoencoder", Autoencoder)', 'register("labelled_autoencoder", Autoencoder)')


def torchrun(nproc: int, *args, env=None, timeout: int = 900, launcher_args=()) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
           *map(str, launcher_args), "-m", "genfw", *map(str, args)]
    return subprocess.run(cmd, cwd=REPO, env=genfw_env({"OMP_NUM_THREADS": "1", **(env or {})}), capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def ae(tmp_path_factory):
    require_mnist()
    root = tmp_path_factory.mktemp("ddp")
    plugins = root / "plugins"
    plugins.mkdir()
    (plugins / "autoencoder.py").write_text(AUTOENCODER)
    doc = {"name": "ae", "seed": 3, "dataset": {"type": "mnist", "limit": 512},
           "latent": [{"name": "z", "type": "gaussian", "dim": 4, "prior": "normal"}],
           "model": {"type": "autoencoder"},
           "networks": {"encoder": {"type": "conv_encoder", "width": 8, "hidden": 16, "norm": "batch"},
                        "decoder": {"type": "conv_generator", "width": 8}},
           "train": {"batch_size": 16, "max_steps": 3, "log_every": 1, "threads": 1, "precision": "fp32"}, "loggers": [],
           "eval": {"at_end": False}, "export": {"onnx": False}}
    return write_json(root / "ae.json", doc), plugins, root


def params_of(run_dir: Path) -> dict[str, torch.Tensor]:
    return safe_torch_load(run_dir / "checkpoints" / "last.pt", expect_format=CHECKPOINT_FORMAT)["model"]


@pytest.mark.slow
def test_two_processes_train_like_one_with_the_global_batch(ae):
    cfg, plugins, root = ae
    one = run_genfw("run", cfg, "--plugins-dir", plugins, "--set", f"output.dir={root / 'one'}")
    assert one.returncode == 0, one.stderr
    two = torchrun(2, "run", cfg, "--plugins-dir", plugins, "--set", f"output.dir={root / 'two'}")
    assert two.returncode == 0, two.stderr
    (run1,), (run2,) = list((root / "one").iterdir()), list((root / "two").iterdir())
    p1, p2 = params_of(run1), params_of(run2)
    assert p1.keys() == p2.keys() and any("running_mean" in k for k in p1)
    for key in p1:
        if p1[key].is_floating_point():
            assert torch.allclose(p1[key], p2[key], rtol=1e-4, atol=1e-5), key
    # Synchronised BatchNorm: the running statistics are those of the global batch too.
    means = [k for k in p1 if k.endswith("running_mean")]
    assert means and all(p1[k].abs().sum() > 0 for k in means)
    m1 = [json.loads(x) for x in (run1 / "metrics.jsonl").read_text().splitlines()]
    m2 = [json.loads(x) for x in (run2 / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in m2] == [1, 2, 3]  # written once, by rank 0
    assert [r["mse"] for r in m1] == pytest.approx([r["mse"] for r in m2], rel=1e-4)
    assert two.stdout.strip() == str(run2)  # one line on stdout: the run directory


@pytest.mark.slow
def test_a_model_that_needs_labels_trains_on_two_processes_like_on_one(ae):
    cfg, _, root = ae
    plugins = root / "labelled_plugins"
    plugins.mkdir()
    assert LABELLED_AUTOENCODER.count("cross_entropy") == 1 and "needs" in LABELLED_AUTOENCODER
    (plugins / "labelled_autoencoder.py").write_text(LABELLED_AUTOENCODER)
    args = ("run", cfg, "--plugins-dir", plugins, "--set", "model.type=labelled_autoencoder")
    one = run_genfw(*args, "--set", f"output.dir={root / 'labelled_one'}")
    assert one.returncode == 0, one.stderr
    two = torchrun(2, *args, "--set", f"output.dir={root / 'labelled_two'}")
    assert two.returncode == 0, two.stderr
    (run1,), (run2,) = list((root / "labelled_one").iterdir()), list((root / "labelled_two").iterdir())
    p1, p2 = params_of(run1), params_of(run2)
    for key in p1:
        if p1[key].is_floating_point():
            assert torch.allclose(p1[key], p2[key], rtol=1e-4, atol=1e-5), key
    m1 = [json.loads(x)["mse"] for x in (run1 / "metrics.jsonl").read_text().splitlines()]
    m2 = [json.loads(x)["mse"] for x in (run2 / "metrics.jsonl").read_text().splitlines()]
    assert m1 == pytest.approx(m2, rel=1e-4)


@pytest.mark.slow
def test_a_two_process_run_resumes_on_one_and_on_four_processes(ae, tmp_path):
    cfg, plugins, root = ae
    two = torchrun(2, "run", cfg, "--plugins-dir", plugins, "--set", f"output.dir={tmp_path}")
    assert two.returncode == 0, two.stderr
    (run,) = list(tmp_path.iterdir())
    one = run_genfw("run", "--resume", run, "--plugins-dir", plugins, "--set", "train.max_steps=5")
    assert one.returncode == 0, one.stderr
    assert safe_torch_load(run / "checkpoints" / "last.pt", expect_format=CHECKPOINT_FORMAT)["step"] == 5
    four = torchrun(4, "run", "--resume", run, "--plugins-dir", plugins, "--set", "train.max_steps=7")
    assert four.returncode == 0, four.stderr
    ckpt = safe_torch_load(run / "checkpoints" / "last.pt", expect_format=CHECKPOINT_FORMAT)
    assert ckpt["step"] == 7 and len(ckpt["rank_rngs"]) == 4
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6, 7]


@pytest.mark.slow
def test_infogan_on_two_processes_writes_one_run(tmp_path):
    require_mnist()
    proc = run_genfw("run", "configs/infogan_mnist.json", "--nproc", "2", "--set", "train.max_steps=4",
                     "--set", "train.log_every=2", "--set", "dataset.limit=512", "--set", "eval.samples=200",
                     "--set", f"output.dir={tmp_path}", "--set", "networks.generator.hidden=64",
                     "--set", "networks.discriminator.hidden=64")
    assert proc.returncode == 0, proc.stderr
    (run,) = list(tmp_path.iterdir())
    assert proc.stdout.strip().splitlines()[-1] == str(run) and proc.stdout.count("evaluation of") == 1
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "event" not in r] == [2, 4]
    assert (run / "generator.onnx").is_file() and (run / "eval.json").is_file() and (run / "loss_curve.png").is_file()
    assert json.loads((run / "environment.json").read_text())["processes"] == 2
    assert proc.stderr.count("run directory:") == 1 and "Traceback" not in proc.stderr


def test_a_batch_that_does_not_split_is_one_line_before_any_process_starts(tmp_path):
    require_mnist()
    line = error_line(run_genfw("run", "configs/infogan_mnist.json", "--nproc", "2", "--set", "train.batch_size=15",
                                "--set", f"output.dir={tmp_path}"))
    assert "train.batch_size 15 does not split over 2 processes" in line and not list(tmp_path.iterdir())


@pytest.mark.slow
def test_under_torchrun_only_rank_0_reports_a_bad_config_and_every_rank_records_it_for_torchrun(tmp_path):
    proc = torchrun(2, "run", "configs/infogan_mnist.json", "--set", "train.batch_size=0", "--set", f"output.dir={tmp_path}",
                    launcher_args=("--log-dir", tmp_path / "logs"))
    assert proc.returncode != 0
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("Error: ")]
    assert len(errors) == 1 and "train.batch_size" in errors[0], proc.stderr
    # torchrun's error file, in torch's format (its summary shows genfw's line), with genfw's exit code
    files = sorted((tmp_path / "logs").rglob("error.json"))
    assert len(files) == 2, proc.stderr
    for path in files:
        doc = json.loads(path.read_text())
        assert doc["genfw"] == {"line": errors[0].removeprefix("Error: "), "exit_code": 2, "kind": "error"}
        assert doc["message"]["message"] == doc["genfw"]["line"]
    assert f"traceback : {doc['genfw']['line']}" in proc.stderr


# -- genfw run --nproc: the launcher exits like one process ---------------------------------------
def ae_on_two(cfg: Path, plugins: Path, *args, env=None) -> subprocess.CompletedProcess:
    return run_genfw("run", cfg, "--plugins-dir", plugins, "--nproc", "2", *args, env=env)


@pytest.mark.slow
def test_a_usage_error_found_in_the_processes_is_one_line_and_exit_2_from_the_launcher(ae, tmp_path):
    cfg, plugins, _ = ae
    line = error_line(ae_on_two(cfg, plugins, "--set", "train.batch_size=1024", "--set", f"output.dir={tmp_path}"))
    assert "train.batch_size 1024 is larger than the dataset (512)" in line
    empty = tmp_path / "no-data"
    empty.mkdir()
    line = error_line(ae_on_two(cfg, plugins, "--set", f"output.dir={tmp_path}", env={"GENFW_DATA": str(empty)}))
    assert "MNIST" in line and str(empty) in line and not list(tmp_path.glob("ae-*"))


@pytest.mark.slow
def test_a_run_in_use_is_one_line_and_exit_2_although_only_rank_0_finds_it(ae, tmp_path):
    from genfw.training.lock import RunLock

    cfg, plugins, _ = ae
    assert run_genfw("run", cfg, "--plugins-dir", plugins, "--set", f"output.dir={tmp_path}", "-q").returncode == 0
    (run,) = list(tmp_path.iterdir())
    with RunLock(run):  # as a `genfw run --resume` of it would
        line = error_line(run_genfw("run", "--resume", run, "--plugins-dir", plugins, "--nproc", "2",
                                    "--set", "train.max_steps=5"))
    assert f"run directory {run} is in use by process {os.getpid()}" in line


def start_long_run(cfg: Path, plugins: Path, out: Path) -> tuple[subprocess.Popen, Path]:
    """``genfw run --nproc 2`` of a long run, once its first checkpoint is written."""
    proc = subprocess.Popen([sys.executable, "-m", "genfw", "run", str(cfg), "--plugins-dir", str(plugins), "--nproc", "2",
                             "--set", f"output.dir={out}", "--set", "train.epochs=1000", "--set", "train.max_steps=100000",
                             "--set", "train.checkpoint_every=2", "--set", "train.log_every=1000"],
                            cwd=REPO, env=genfw_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(out.glob("*/checkpoints/last.pt")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    (run,) = list(out.iterdir())
    return proc, run


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def rank_of(pid: int) -> str:
    env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return next(v.split(b"=", 1)[1].decode() for v in env if v.startswith(b"RANK="))


@pytest.mark.parametrize("sig,code,line", [(signal.SIGTERM, 143, "stopped by SIGTERM at step"),
                                           (signal.SIGINT, 130, "interrupted")])
@pytest.mark.slow
def test_a_signal_to_the_launcher_keeps_a_checkpoint_and_exits_like_one_process(ae, tmp_path, sig, code, line):
    cfg, plugins, _ = ae
    proc, run = start_long_run(cfg, plugins, tmp_path)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code and "Traceback" not in stderr, stderr
    errors = [ln for ln in stderr.splitlines() if ln.startswith("Error: ")]
    assert len(errors) == 1 and line in errors[0], stderr
    assert stderr.count(f"{sig.name}: saving a checkpoint") == 1  # said once, not by every process
    stopped = re.search(r"stopped (?:by SIGTERM )?at step (\d+)", stderr)
    assert stopped, stderr
    stopped_at = int(stopped.group(1))
    ckpt = safe_torch_load(run / "checkpoints" / "last.pt", expect_format=CHECKPOINT_FORMAT)
    assert ckpt["step"] == stopped_at and len(ckpt["rank_rngs"]) == 2  # saved at the step it stopped at


@pytest.mark.slow
def test_a_killed_process_is_one_line_naming_its_rank_and_the_kept_checkpoint(ae, tmp_path):
    cfg, plugins, _ = ae
    proc, run = start_long_run(cfg, plugins, tmp_path)
    (rank_1,) = [pid for pid in children(proc.pid) if rank_of(pid) == "1"]
    os.kill(rank_1, signal.SIGKILL)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "Traceback" not in stderr, stderr
    errors = [ln for ln in stderr.splitlines() if ln.startswith("Error: ")]
    assert len(errors) == 1 and len(stderr.strip().splitlines()) == 2, stderr  # the run directory line, then this
    assert f"training process 1 of 2 (pid {rank_1}) was killed by SIGKILL" in errors[0]
    assert f"keeps its last checkpoint, {run / 'checkpoints' / 'last.pt'}; continue with: genfw run --resume {run}" in errors[0]
    assert safe_torch_load(run / "checkpoints" / "last.pt", expect_format=CHECKPOINT_FORMAT)["step"] >= 2


# -- precision: auto -------------------------------------------------------------------------------
def test_auto_precision_follows_the_cpu_flags():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu, {"avx2", "fma"})[0] == "fp32"
    assert resolve_precision("auto", cpu, {"avx2", "avx512f", "avx512_bf16"}) == ("bf16", "auto: the CPU has avx512_bf16")
    assert resolve_precision("auto", cpu, {"amx_bf16", "amx_tile"})[0] == "bf16"
    assert resolve_precision("fp32", cpu, {"amx_bf16"}) == ("fp32", "train.precision is fp32")
    # ONEDNN_MAX_CPU_ISA below bf16 makes the CPU compute like an older one, where bf16 is slow
    assert resolve_precision("auto", cpu, {"avx512f", "avx512_bf16"}, max_isa="AVX2")[0] == "fp32"
    assert resolve_precision("auto", cpu, {"avx512f", "avx512_bf16"}, max_isa="AVX512_CORE_BF16")[0] == "bf16"
    assert cpu_flags("processor : 0\nflags : fpu avx2 avx512_bf16\n") == {"fpu", "avx2", "avx512_bf16"}
    assert cpu_flags("Features : fp asimd bf16\n") == {"fp", "asimd", "bf16"}
