"""Beyond MNIST, end to end through the real CLI: the new datasets are listed, a folder of PNGs
trains with the conv networks and exports, an HDF5 file with labels trains and evaluates (Frechet
/ KID through the generalised reference classifier, and the labelled metrics), ``genfw eval`` on a
dSprites run writes the four disentanglement metrics, and a network that does not fit the
dataset is one line at ``genfw validate``. Every run uses small data the test writes itself."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from genfw_testing import REPO, cli_in_process, error_line, run_genfw, sets, synthetic_images, write_json, write_shapes

SMALL_CONV = ("networks.generator.width=8", "networks.generator.max_channels=32",
              "networks.discriminator.width=8", "networks.discriminator.max_channels=32")


def run_dir_of(proc) -> Path:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Path(proc.stdout.strip().splitlines()[-1])


def test_plugins_json_lists_the_new_datasets():
    proc = cli_in_process("plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    datasets = {c["name"]: c for c in json.loads(proc.stdout)["components"] if c["kind"] == "dataset"}
    assert {"mnist", "image_folder", "hdf5", "fashion_mnist", "dsprites"} <= set(datasets)
    assert {"path", "size", "channels", "held_out", "cache"} <= set(datasets["image_folder"]["params"])
    assert {"path", "layout", "images", "labels", "factors", "test_group"} <= set(datasets["hdf5"]["params"])
    assert {"subset", "limit", "held_out", "cache"} <= set(datasets["dsprites"]["params"])


@pytest.mark.slow
def test_a_folder_of_pngs_trains_20_steps_and_exports_and_names_a_corrupt_file(tmp_path):
    root = write_shapes(tmp_path / "pictures", per_class=150)  # 300 files, sizes 24..80, grey and RGB
    (root / "square" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR broken")
    proc = run_genfw("run", "configs/dcgan_image_folder.json", *sets(
        f"dataset.path={root}", "dataset.size=32", "train.max_steps=20", "train.batch_size=32",
        f"output.dir={tmp_path / 'runs'}", "eval.at_end=false", *SMALL_CONV))
    run = run_dir_of(proc)
    assert (run / "generator.onnx").is_file() and (run / "checkpoints" / "last.pt").is_file()
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == 1, proc.stderr
    assert "1 of 301 image files" in warnings[0] and "square/corrupt.png" in warnings[0]
    config = json.loads((run / "config.json").read_text())
    assert config["dataset"]["size"] == 32 and config["dataset"]["channels"] == 3


def write_labelled_h5(path: Path) -> Path:
    images, labels = synthetic_images(400, c=3, h=16, w=16)
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=images.transpose(0, 2, 3, 1), chunks=(64, 16, 16, 3))
        f.create_dataset("labels", data=labels)
        f["labels"].attrs["class_names"] = ["left", "right"]
    return path


def infogan_h5_config(tmp_path: Path, h5: Path) -> Path:
    doc = json.loads((REPO / "configs" / "infogan_mnist.json").read_text())
    doc.update({
        "name": "infogan_h5",
        "dataset": {"type": "hdf5", "path": str(h5), "layout": "NHWC", "held_out": 0.2},
        "latent": [{"name": "z", "type": "noise", "dim": 8, "prior": "uniform"},
                   {"name": "side", "type": "categorical", "k": 2},
                   {"name": "c1", "type": "gaussian", "dim": 1}],
        "networks": {"generator": {"type": "conv_generator", "width": 8, "max_channels": 32},
                     "discriminator": {"type": "conv_discriminator", "width": 8, "max_channels": 32}},
        "losses": {"adversarial": {"type": "non_saturating"}, "info": {"type": "mutual_information"}},
        "augmentations": {},
        "train": {"batch_size": 32, "epochs": 1, "max_steps": 20},
        "eval": {"samples": 200},
        "output": {"dir": str(tmp_path / "runs")},
    })
    return write_json(tmp_path / "infogan_h5.json", doc)


@pytest.mark.slow
def test_an_hdf5_file_with_labels_trains_and_evaluates(tmp_path):
    cfg = infogan_h5_config(tmp_path, write_labelled_h5(tmp_path / "sides.h5"))
    run = run_dir_of(run_genfw("run", cfg))
    report = json.loads((run / "eval.json").read_text())
    ref, samples = report["reference_net"], report["samples"]
    assert ref["accuracy"] > 0.9  # the generalised classifier (3x16x16, 2 classes) reads the two sides
    for key in ("frechet_classifier_distance", "frechet_floor_real_vs_real", "kid", "kid_floor_real_vs_real"):
        assert isinstance(samples[key], float), key
    assert samples["samples"] == 200 and len(samples["class_histogram"]) == 2
    q = report["q_on_real"]["side"]  # the labelled metrics: Q's categories against the labels
    assert {"accuracy", "nmi", "ari"} <= set(q) and q["n"] == 80
    assert set(report["code_consistency"]["side"]["per_value"]["0"]) >= {"class", "share", "label"}
    assert "disentanglement" not in report  # no factors in this file


@pytest.mark.slow
def test_genfw_eval_on_a_dsprites_run_writes_the_four_disentanglement_metrics(tmp_path):
    subset = json.dumps({"orientation": [0, 13, 26], "x": [0, 8, 16, 24, 31], "y": [0, 8, 16, 24, 31]})
    proc = run_genfw("run", "configs/betavae_dsprites.json", *sets(
        f"dataset.subset={subset}", "dataset.held_out=0.3", "train.max_steps=20", "train.batch_size=32",
        "networks.encoder.width=8", "networks.decoder.width=8", f"output.dir={tmp_path / 'runs'}", "eval.at_end=false",
        "export.onnx=false"))
    run = run_dir_of(proc)
    proc = cli_in_process("eval", run, "--samples", "300", "--seed", "5")
    assert proc.returncode == 0, proc.stderr
    assert "disentanglement (reference settings, 5 factors, 405 held-out images): MIG" in proc.stdout
    section = json.loads((run / "eval.json").read_text())["disentanglement"]
    for metric in ("mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap", "factor_vae_score"):
        assert 0.0 <= section[metric] <= 1.0, metric
    assert section["factors"] == ["shape", "scale", "orientation", "x", "y"]
    assert section["representation"] == {"columns": [f"z[{j}]" for j in range(10)], "pool": 405, "split": "held-out",
                                         "seed": 5 + 30}
    d = section["details"]
    assert (d["mig"]["points"], d["mig"]["seed"]) == (300, 36)
    assert (d["dci"]["train_points"], d["dci"]["test_points"], d["dci"]["seed"]) == (270, 135, 37)
    assert (d["sap"]["points"], d["sap"]["seed"]) == (270 + 135, 38)
    # disentanglement_lib's settings by default, named in the report
    assert section["variant"]["name"] == "reference"
    provenance = json.loads((run / "eval.json").read_text())["provenance"]
    assert (provenance["seed"], provenance["samples"], provenance["disentanglement_variant"]) == (5, 300, "reference")
    assert provenance["reference_split"]["images"] == 405 and all(provenance["libraries"].values())
    assert d["dci"]["predictor"] == "gbt_classifier" and d["sap"]["continuous"] is False
    fv = d["factor_vae"]
    assert (fv["train_votes"], fv["eval_votes"], fv["batch_size"], fv["variance_points"], fv["seed"]) == (300, 150, 64, 300, 39)
    # Evaluating again with the same seed gives the same numbers.
    again = cli_in_process("eval", run, "--samples", "300", "--seed", "5")
    assert again.returncode == 0 and json.loads((run / "eval.json").read_text())["disentanglement"]["mig"] == section["mig"]


@pytest.mark.slow
def test_the_fast_disentanglement_variant_is_the_one_used_and_named_and_not_compared_with_the_reference(tmp_path):
    subset = json.dumps({"orientation": [0, 20], "x": [0, 16, 31], "y": [0, 16, 31]})
    runs = {}
    for variant in ("fast", "reference"):
        proc = run_genfw("run", "configs/betavae_dsprites.json", *sets(
            f"dataset.subset={subset}", "dataset.held_out=0.3", "train.max_steps=5", "train.batch_size=32",
            "networks.encoder.width=8", "networks.decoder.width=8", f"output.dir={tmp_path / variant}",
            "eval.samples=200", f"eval.disentanglement={variant}", "export.onnx=false"))
        runs[variant] = run_dir_of(proc)
    report = json.loads((runs["fast"] / "eval.json").read_text())
    section = report["disentanglement"]
    assert section["variant"]["name"] == "fast" and "not comparable" in section["variant"]["description"]
    assert section["details"]["dci"]["predictor"] == "gbt_regressor" and section["details"]["sap"]["continuous"] is True
    assert report["provenance"]["disentanglement_variant"] == "fast"
    for metric in ("mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap", "factor_vae_score"):
        assert 0.0 <= section[metric] <= 1.0, metric
    # Scores made with different settings are not put side by side.
    proc = run_genfw("eval", runs["fast"], "--compare", runs["reference"])
    assert proc.returncode == 2 and "disentanglement" in proc.stderr and "Traceback" not in proc.stderr


FIXED_NETS = textwrap.dedent('''
    """Networks made for 1x28x28 images only."""
    import torch
    from pydantic import BaseModel, ConfigDict
    from torch import nn

    import genfw


    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")


    class MLPGenerator(nn.Module):
        """An MLP generator that always makes 1x28x28 images."""

        def __init__(self, params: Params, ctx):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(ctx.latent.input_dim, 784), nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28)))

        def forward(self, z):
            return self.net(z)


    class MLPDiscriminator(nn.Module):
        """An MLP discriminator for 784 pixels (says nothing about it)."""

        def __init__(self, params: Params, ctx):
            super().__init__()
            self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.LeakyReLU(0.2))
            self.d_head = nn.Linear(32, 1)

        def forward(self, x):
            return self.d_head(self.trunk(x))


    class DeclaredDiscriminator(MLPDiscriminator):
        """The same, declaring its image shape."""

        expects_image_shape = (1, 28, 28)


    @genfw.hookimpl
    def register_networks(register):
        register("mlp_generator", MLPGenerator)
        register("mlp_discriminator", MLPDiscriminator)
        register("declared_discriminator", DeclaredDiscriminator)
''')


@pytest.fixture
def fixed_nets(tmp_path) -> Path:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "fixed_nets.py").write_text(FIXED_NETS)
    return folder


def dcgan_dsprites_config(tmp_path: Path, generator: str, discriminator: str) -> Path:
    doc = json.loads((REPO / "configs" / "dcgan_mnist.json").read_text())
    doc["dataset"] = {"type": "dsprites", "subset": {"orientation": [0], "x": [0, 31], "y": [0, 31]}}
    doc["networks"] = {"generator": {"type": generator}, "discriminator": {"type": discriminator}}
    doc["augmentations"] = {}
    doc["train"]["batch_size"] = 8
    return write_json(tmp_path / "dcgan_dsprites.json", doc)


@pytest.mark.parametrize("generator, discriminator, message", [
    ("mlp_generator", "conv_discriminator",
     "networks.generator: dataset images are 1x64x64; network 'mlp_generator' (networks.generator) expects 1x28x28"),
    ("conv_generator", "declared_discriminator",
     "networks.discriminator: dataset images are 1x64x64; network 'declared_discriminator' (networks.discriminator) "
     "expects 1x28x28"),
    ("conv_generator", "mlp_discriminator",
     "networks.discriminator: dataset images are 1x64x64; network 'mlp_discriminator' (networks.discriminator) cannot "
     "take them: mat1 and mat2 shapes cannot be multiplied"),
])
def test_a_network_that_does_not_fit_the_data_is_one_line_at_validate(tmp_path, fixed_nets, generator, discriminator,
                                                                      message):
    cfg = dcgan_dsprites_config(tmp_path, generator, discriminator)
    line = error_line(cli_in_process("validate", cfg, "--plugins-dir", fixed_nets))
    assert message in line, line


def test_networks_that_fit_validate(tmp_path, fixed_nets):
    cfg = dcgan_dsprites_config(tmp_path, "conv_generator", "conv_discriminator")
    proc = cli_in_process("validate", cfg, "--plugins-dir", fixed_nets)
    assert proc.returncode == 0 and "dataset dsprites 1x64x64" in proc.stdout, proc.stderr


def test_dataset_errors_are_one_line_at_validate(tmp_path):
    cfg = json.loads((REPO / "configs" / "dcgan_image_folder.json").read_text())
    cfg["dataset"]["path"] = str(tmp_path / "no_such_folder")
    line = error_line(cli_in_process("validate", write_json(tmp_path / "c.json", cfg)))
    assert "dataset.path: image folder not found: looked for" in line and "no_such_folder" in line
    h5 = tmp_path / "floats.h5"
    with h5py.File(h5, "w") as f:
        f.create_dataset("pixels", data=np.zeros((4, 8, 8), dtype=np.float32))
    cfg["dataset"] = {"type": "hdf5", "path": str(h5), "layout": "NHW", "images": "pixels"}
    line = error_line(cli_in_process("validate", write_json(tmp_path / "c.json", cfg)))
    assert "dataset /pixels in floats.h5 holds float32, not uint8 images" in line
    cfg["dataset"] = {"type": "dsprites", "subset": {"size": [0]}}
    line = error_line(cli_in_process("validate", write_json(tmp_path / "c.json", cfg)))
    assert "dataset.subset" in line and "unknown factor 'size'" in line
