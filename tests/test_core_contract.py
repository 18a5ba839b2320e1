"""The core knows no model: the plugin API is uniform and typed, and what a model needs (its
curves, checks, generator, figures) comes from the model. In-process where a subprocess adds
nothing."""

from __future__ import annotations

import re
import subprocess

import pytest
import torch
from genfw_testing import REPO, base_config, cli_in_process, error_line, require_mnist
from pydantic import BaseModel, ConfigDict

from genfw import plots
from genfw.codes.gaussian import GaussianCode, GaussianParams
from genfw.building import build_latent, build_model, seeded_init
from genfw.config.resolution import validate_config
from genfw.session import load_config_and_plugins
from genfw.errors import PluginError, UnknownComponentTypeError
from genfw.figures import traversal_codes, traversal_grids
from genfw.latent import CodeContext, LatentSpec
from genfw.plugin.loading import load_plugins
from genfw.plugin.registry import Registry, Source, params_model_of
from genfw.model import DataSpec

SOURCE = Source(plugin="tests", origin="local")


def test_the_core_names_no_model():
    """No code path in genfw/ names InfoGAN, a Q head or a Q size (the issue's own check)."""
    proc = subprocess.run(["grep", "-rniE", "infogan|q_head|q_dim", "genfw/", "--include=*.py"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stdout == "", proc.stdout


# -- the uniform plugin API --------------------------------------------------------------------------
class P(BaseModel):
    model_config = ConfigDict(extra="forbid")
    k: int = 3


def test_params_model_is_read_from_the_factory_annotation():
    def factory(params: P, ctx):
        return None

    class Component:
        def __init__(self, params: P, ctx):
            pass

    class Code(GaussianCode):  # inherits __init__; states its params as a class annotation
        params: P

    assert params_model_of(factory) is P
    assert params_model_of(Component) is P
    assert params_model_of(Code) is P
    assert params_model_of(GaussianCode) is GaussianParams
    assert params_model_of(lambda params, ctx: None) is None


def test_register_without_a_params_annotation_is_one_plugin_error():
    registry = Registry("losses")
    with pytest.raises(PluginError, match="without a pydantic params model.*annotate the factory's first parameter"):
        registry.add("bad", lambda params, ctx: None, description=None, source=SOURCE)
    with pytest.raises(PluginError, match="invalid name"):
        registry.add("bad name", lambda params, ctx: None, description=None, source=SOURCE)


def test_every_registered_component_has_a_params_model_and_a_description():
    loaded = load_plugins()
    kinds = {r.kind: r.names() for r in loaded.registries}
    assert {"infogan", "dcgan", "beta_vae"} <= set(kinds["models"])
    assert {"non_saturating", "hinge", "wgan_gp"} <= set(kinds["losses"])
    assert {"translate", "affine"} <= set(kinds["augmentations"])
    assert {"console", "tensorboard"} <= set(kinds["loggers"])
    assert {"conv_generator", "conv_discriminator", "conv_encoder"} <= set(kinds["networks"])
    for registry in loaded.registries:
        for entry in registry:
            assert issubclass(entry.params, BaseModel) and entry.params is not BaseModel, entry.name
            assert entry.description and "\n" not in entry.description, entry.name


def test_an_unknown_component_lists_what_each_plugin_provides():
    loaded = load_plugins()
    doc = base_config()
    doc["model"]["type"] = "infogam"
    with pytest.raises(UnknownComponentTypeError) as err:
        validate_config(doc, loaded.registries, source="cfg.json")
    line = str(err.value)
    assert "cfg.json: model.type: unknown model 'infogam'" in line and "did you mean 'infogan'" in line
    assert re.search(r"infogan \(genfw [\d.]+\): infogan", line) and "beta_vae" in line and "dcgan" in line


def test_plugins_not_loaded_are_named_when_a_component_is_missing():
    line = error_line(cli_in_process("validate", "configs/betavae_mnist.json", env={"GENFW_LOAD_PLUGINS": "infogan"}))
    assert "unknown model 'beta_vae'" in line and "installed but not loaded: beta_vae" in line
    assert "GENFW_LOAD_PLUGINS" in line


# -- models declare what they need; validate checks it ------------------------------------------------
def test_validate_checks_the_models_requirements_at_the_codes_json_path(tmp_path):
    require_mnist()
    line = error_line(cli_in_process("validate", "configs/betavae_mnist.json", "--set", 'latent[0].prior="uniform"'))
    assert line.startswith("Error: configs/betavae_mnist.json: latent[0].prior: ")
    assert "N(0, 1)" in line and '"prior": "normal"' in line


def test_optimizer_roles_come_from_the_model_and_merge_with_its_defaults():
    loaded = load_plugins()
    doc = base_config()
    doc["optimizers"] = {"generator": {"lr": 5e-4}}
    resolved = validate_config(doc, loaded.registries, source="cfg.json")
    assert resolved.optimizers["generator"].lr == 5e-4 and resolved.optimizers["generator"].betas == (0.5, 0.999)
    assert resolved.optimizers["discriminator"].lr == 2e-4
    assert resolved.to_json()["optimizers"]["generator"]["type"] == "adam"
    doc["optimizers"] = {"genrator": {"lr": 5e-4}}
    with pytest.raises(Exception, match="optimizers.genrator: model 'infogan' has no optimizer role 'genrator'.*did you mean 'generator'"):
        validate_config(doc, loaded.registries, source="cfg.json")
    doc["optimizers"] = {"generator": {"lr": -1}}
    with pytest.raises(Exception, match=r"optimizers\.generator\.lr"):
        validate_config(doc, loaded.registries, source="cfg.json")


def test_augmentation_roles_are_checked_like_networks():
    loaded = load_plugins()
    doc = base_config()
    doc["augmentations"] = {"generator": {"type": "translate"}}
    with pytest.raises(Exception, match="augmentations.generator: model 'infogan' has no augmentation role 'generator'"):
        validate_config(doc, loaded.registries, source="cfg.json")


# -- figures and curves never depend on a model's names -------------------------------------------------
def test_traversals_sweep_one_dimension_at_a_time_with_labels():
    latent = LatentSpec([GaussianCode(GaussianParams(dim=3, prior="normal", traverse_range=2.0), CodeContext("z"))])
    codes, columns, rows, cols = traversal_codes(latent, "z", steps=5, seed=0)
    z = codes["z"].view(3, 5, 3)
    assert columns == 5 and rows == ["z[0]", "z[1]", "z[2]"] and cols == ["-2", "-1", "0", "+1", "+2"]
    for j in range(3):
        assert torch.allclose(z[j, :, j], torch.linspace(-2, 2, 5))
        others = [i for i in range(3) if i != j]
        assert torch.all(z[j][:, others] == 0)


def test_a_one_dimensional_code_gets_a_row_per_category():
    loaded = load_plugins()
    resolved = validate_config(base_config(), loaded.registries, source="cfg.json")
    latent = build_latent(resolved)
    codes, columns, rows, cols = traversal_codes(latent, "c1", steps=7, seed=0)
    assert rows == [f"digit={i}" for i in range(10)] and columns == 7
    assert torch.equal(codes["digit"].argmax(1), torch.arange(10).repeat_interleave(7))
    assert torch.all(codes["c2"] == 0) and torch.allclose(codes["c1"][:7, 0], torch.linspace(-2, 2, 7))


def test_loss_curves_plot_whatever_keys_a_model_logs():
    records = [{"step": s, "recon": 100.0 / s, "kl": 5.0 + s / 100, "images_per_s": 1000.0} for s in range(1, 60)]
    groups = plots.default_curve_groups(records)
    assert groups == {"recon": ("recon",), "kl": ("kl",)}
    pixels = plots.render_loss_curves(records, groups)
    assert pixels.ndim == 3 and pixels.shape[2] == 3
    assert (pixels < 200).mean() > 0.01  # lines and labels were drawn, not a blank canvas
    assert plots.render_loss_curves([], {}).shape[2] == 3  # nothing logged: still a figure, saying so


def test_a_model_whose_generator_is_not_a_network_role_exports(tmp_path):
    """The β-VAE's generator is its decoder followed by a sigmoid: export asks the model for it."""
    require_mnist()
    from genfw.artifacts import atomic_torch_save, generator_payload
    from genfw.rebuild import load_generator
    from genfw.export import export_generator

    _, resolved = load_config_and_plugins(REPO / "configs" / "betavae_mnist.json")
    latent = build_latent(resolved)
    with seeded_init(0):
        model = build_model(resolved, latent, DataSpec((1, 28, 28)))
    assert "generator" not in resolved.networks
    atomic_torch_save(generator_payload(model.generator, latent, DataSpec((1, 28, 28)), resolved.to_json()), tmp_path / "generator.pt")
    loaded = load_generator(tmp_path / "generator.pt")
    report = export_generator(loaded.generator, loaded.latent, loaded.image_shape, tmp_path / "g.onnx")
    assert report["max_abs_diff"] < 1e-4 and report["inputs"] == ["z"]


def test_traversal_figures_are_written_for_every_control_code():
    loaded = load_plugins()
    resolved = validate_config(base_config(), loaded.registries, source="cfg.json")
    latent = build_latent(resolved)
    with seeded_init(0):
        model = build_model(resolved, latent, DataSpec((1, 28, 28)))
    grids = traversal_grids(model, latent, seed=0, steps=5)
    assert set(grids) == {"digit", "c1", "c2"}  # not the noise
    assert grids["digit"].column_labels == [str(i) for i in range(10)]
    pixels = plots.render_image_grid(grids["c1"])
    assert pixels.shape[2] == 3 and pixels.shape[0] > 28 * 10
