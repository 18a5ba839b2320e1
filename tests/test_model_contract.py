"""The model contract: batches that carry labels and the step, models that say what they need,
codes fed by the labels, several optimizer steps per batch, learning-rate schedules and curve
keys checked at validate time. Real MNIST, real training runs (a few steps), in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from genfw_testing import cli_in_process, error_line, require_mnist, write_json

from genfw.batch import UNLABELLED
from genfw.data.labelled import keep_labels
from genfw.data.spec import DataSpec

#: A model that records what the trainer hands it: the step, the labels, the semi-supervised
#: batch, and a key logged on every 5th step only.
PROBE_PLUGIN = '''import torch
from pydantic import BaseModel
import genfw
from genfw.model import Model, Roles


class ProbeParams(BaseModel):
    curve_key: str = "g_loss"


class Probe(Model):
    network_roles = Roles(required=("generator",))
    optimizer_defaults = {"generator": {"type": "sgd", "lr": 0.1}}

    def __init__(self, params: ProbeParams, ctx):
        super().__init__(params, ctx)
        self.G = ctx.networks["generator"]
        self.opt = self.optimizer("generator", self.G.parameters())

    @property
    def generator(self):
        return self.G

    def curves(self):
        return {"losses": ("d_loss", self.params.curve_key)}

    def train_step(self, batch, rng):
        codes = self.latent.sample(len(batch), rng, batch.images.device)
        loss = (self.G(self.latent.encode(codes)) - batch.images).pow(2).mean()
        self.opt.zero_grad()
        self.backward(loss)
        self.step(self.opt)
        out = {"d_loss": loss.detach(), "step_seen": torch.tensor(float(batch.step)),
               "global_step": torch.tensor(float(self.global_step))}
        if batch.labels is not None:
            out["labelled_share"] = batch.labelled.float().mean()
        if batch.supervised is not None:
            out["supervised_labelled"] = batch.supervised.labelled.float().mean()
        if batch.step % 5 == 0:
            out["g_loss"] = torch.tensor(1.0)  # logged on every 5th step only: its mean must stay 1
        return out


@genfw.hookimpl
def register_models(register):
    register("probe", Probe)
'''


def probe_config(tmp_path: Path, **train) -> tuple[Path, Path]:
    plugins = tmp_path / "plugins"
    plugins.mkdir(exist_ok=True)
    (plugins / "probe.py").write_text(PROBE_PLUGIN)
    doc = {
        "name": "probe", "seed": 0,
        "dataset": {"type": "mnist", "limit": 512},
        "latent": [{"name": "z", "type": "noise", "dim": 8}],
        "model": {"type": "probe"},
        "networks": {"generator": {"type": "conv_generator", "width": 8}},
        "train": {"batch_size": 32, "max_steps": 10, "log_every": 10, "precision": "fp32", **train},
        "eval": {"at_end": False, "per_epoch": False},
        "export": {"onnx": False},
        "output": {"dir": str(tmp_path / "runs")},
    }
    return write_json(tmp_path / "probe.json", doc), plugins


def train(config: Path, plugins: Path, *overrides: str) -> Path:
    args = ["run", str(config), "--plugins-dir", str(plugins)]
    for o in overrides:
        args += ["--set", o]
    proc = cli_in_process(*args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = sorted((config.parent / "runs").iterdir(), key=lambda p: p.stat().st_mtime)
    return runs[-1]


def records(run: Path) -> list[dict]:
    return [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "event" not in r]


def test_a_key_logged_on_some_steps_is_averaged_over_the_steps_that_logged_it(tmp_path):
    require_mnist()
    config, plugins = probe_config(tmp_path)
    [record] = records(train(config, plugins))
    assert record["g_loss"] == 1.0  # logged at steps 0 and 5 of 10: not 0.2
    assert record["step_seen"] == pytest.approx(4.5) and record["global_step"] == pytest.approx(4.5)  # 0..9
    assert record["labelled_share"] == 1.0 and "supervised_labelled" not in record


def test_a_schedule_changes_the_learning_rate_at_its_milestones_and_resumes_exactly(tmp_path):
    require_mnist()
    config, plugins = probe_config(tmp_path, log_every=1)
    schedule = 'optimizers.generator.schedule={"type": "multistep", "milestones": [3, 6], "gamma": 0.5}'
    whole = records(train(config, plugins, schedule))
    assert [r["lr_generator"] for r in whole] == [0.1] * 3 + [0.05] * 3 + [0.025] * 4
    first = train(config, plugins, schedule, "train.max_steps=4")
    proc = cli_in_process("run", "--resume", str(first), "--plugins-dir", str(plugins),
                          "--set", "train.max_steps=10")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    resumed = records(first)
    assert [r["lr_generator"] for r in resumed] == [r["lr_generator"] for r in whole]
    assert [r["d_loss"] for r in resumed] == [r["d_loss"] for r in whole]  # the same trajectory, bit for bit
    assert (first / "loss_curve.png").is_file()


def test_a_curve_key_the_model_never_logs_is_one_line_at_validate(tmp_path):
    require_mnist()
    config, plugins = probe_config(tmp_path)
    line = error_line(cli_in_process("validate", config, "--plugins-dir", plugins, "--set", "model.curve_key=g_los"))
    assert "'g_los'" in line and "never logs it" in line and "g_loss" in line and "bug in that plugin" in line


def test_a_model_that_needs_labels_is_rejected_on_data_without_them(tmp_path):
    from PIL import Image

    folder = tmp_path / "faces"
    folder.mkdir()
    for i in range(40):
        Image.new("L", (28, 28), color=i * 5).save(folder / f"{i}.png")
    doc = json.loads(Path("configs/cgan_mnist.json").read_text())
    doc["dataset"] = {"type": "image_folder", "path": str(folder), "size": 28, "channels": 1}
    line = error_line(cli_in_process("validate", write_json(tmp_path / "cgan.json", doc)))
    assert "dataset: dataset 'image_folder' provides no labels" in line and "model 'cgan' needs them" in line
    # Asking the folder for class subfolders it does not have is the user's data, not a plugin's bug.
    doc["dataset"]["labels"] = "folders"
    line = error_line(cli_in_process("validate", write_json(tmp_path / "cgan.json", doc)))
    assert f"cgan.json: dataset.labels: labels come from class subfolders, but {folder}" in line
    assert "bug" not in line


def test_a_code_fed_by_labels_takes_the_classes_names_and_frequencies():
    from genfw.codes.categorical import CategoricalCode, CategoricalParams
    from genfw.latent import CodeContext

    data = DataSpec((1, 28, 28), ("cat", "dog", "owl"), (50, 30, 20))
    code = CategoricalCode(CategoricalParams(from_labels=True), CodeContext("class", data))
    assert code.dim == 3 and code.labels == ["cat", "dog", "owl"]
    assert code.prior() == {"kind": "categorical", "probs": [0.5, 0.3, 0.2]}
    assert code.spec()["from_labels"] is True
    draws = code.sample(20000, torch.Generator().manual_seed(0)).argmax(1)
    assert torch.allclose(torch.bincount(draws).float() / 20000, torch.tensor([0.5, 0.3, 0.2]), atol=0.02)
    assert torch.equal(code.from_label_indices(torch.tensor([2, UNLABELLED])), torch.tensor([[0.0, 0, 1], [0, 0, 0]]))
    with pytest.raises(ValueError, match="needs a dataset with labels"):
        CategoricalCode(CategoricalParams(from_labels=True), CodeContext("class", DataSpec((1, 28, 28))))
    with pytest.raises(ValueError, match="k is 4 but the dataset has 3 classes"):
        CategoricalCode(CategoricalParams(from_labels=True, k=4), CodeContext("class", data))


def test_semi_supervised_runs_keep_a_balanced_seeded_subset_of_labels_and_see_it_every_step(tmp_path):
    labels = torch.arange(10).repeat(100)
    kept = keep_labels(labels, 30, seed=0)
    assert int((kept >= 0).sum()) == 30 and torch.bincount(kept[kept >= 0]).tolist() == [3] * 10
    assert torch.equal(kept, keep_labels(labels, 30, seed=0)) and not torch.equal(kept, keep_labels(labels, 30, seed=1))
    assert torch.equal(kept[kept >= 0], labels[kept >= 0])

    require_mnist()
    config, plugins = probe_config(tmp_path)
    doc = json.loads(config.read_text())
    doc["latent"].append({"name": "digit", "type": "categorical", "from_labels": True, "labelled_count": 20})
    [record] = records(train(write_json(config, doc), plugins))
    assert record["labelled_share"] < 0.2  # 20 of 512 images keep their label
    assert record["supervised_labelled"] == 1.0  # the per-step labelled batch holds labelled images only


def _train_cgan(tmp_path: Path, head: str) -> Path:
    require_mnist()
    out = tmp_path / head
    proc = cli_in_process("run", "configs/cgan_mnist.json", "--set", f"model.head={head}", "--set", "train.max_steps=3",
                          "--set", "train.batch_size=16", "--set", "dataset.limit=256", "--set", "model.n_critic=2",
                          "--set", "eval.at_end=false", "--set", "eval.per_epoch=false",
                          "--set", "networks.generator.hidden=32", "--set", "networks.discriminator.hidden=32",
                          "--set", f"output.run_dir={out}", "--set", "train.log_every=3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.mark.parametrize("head", ["projection", "acgan"])
def test_the_conditional_gan_trains_from_labels_and_exports_a_class_input_named_by_class(tmp_path, head):
    run = _train_cgan(tmp_path, head)
    [record] = records(run)
    assert set(record) >= {"d_loss", "g_loss", "d_real", "d_fake"}
    if head == "acgan":
        assert 0 < record["d_class_real"] < 10 and "g_class" in record
    sidecar = json.loads((run / "generator.json").read_text())
    [code] = [c for c in sidecar["latent"]["codes"] if c["name"] == "class"]
    assert code["from_labels"] is True and code["k"] == 10
    assert code["labels"][:3] == ["0 - zero", "1 - one", "2 - two"] or code["labels"][:3] == ["0", "1", "2"]
    assert sum(code["prior"]["probs"]) == pytest.approx(1.0) and len(set(code["prior"]["probs"])) > 1  # frequencies


@pytest.mark.parametrize("per_epoch", ["false", "true"])
def test_an_epoch_metric_never_logged_is_not_reported_as_a_bug_in_the_model(tmp_path, per_epoch):
    """InfoGAN plots Q's per-epoch accuracy (an epoch metric): with eval.per_epoch false, or in a
    run of 2 steps that stops before its first epoch (7 steps) ends, it is never logged, which is
    the user's choice, so the run warns of nothing."""
    from genfw_testing import INFOGAN_CONFIG, TINY_RUN, sets

    require_mnist()
    proc = cli_in_process("run", INFOGAN_CONFIG, *sets(*TINY_RUN, "train.max_steps=2", "train.sample_every_epoch=false",
                                                       f"eval.per_epoch={per_epoch}", f"output.run_dir={tmp_path / 'run'}"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "never logged" not in proc.stderr and (tmp_path / "run" / "loss_curve.png").is_file()
