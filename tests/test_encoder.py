"""The encoder (``Model.encoder``: images -> codes): the hook for InfoGAN's Q and the β-VAE's
encoder, its ONNX export beside the generator, ``genfw export --encoder``, the runtime's
``Encoder`` and ``reconstruct``, and ``eval.json``'s ``reconstruction`` section."""

from __future__ import annotations

import json

import pytest
import torch

from genfw.building import build_latent, build_model
from genfw.config.resolution import validate_config
from genfw.errors import PluginError
from genfw.model import Batch, DataSpec, Model
from genfw.plugin.loading import load_plugins
from genfw_testing import INFOGAN_CONFIG, REPO

BETAVAE_CONFIG = REPO / "configs" / "betavae_mnist.json"


@pytest.fixture(scope="module")
def registries():
    return load_plugins().registries


def trained_a_step(registries, config_path, overrides: dict | None = None) -> Model:
    """The config's model after one train step on random images (BatchNorm statistics that are not
    the initial ones), in train mode."""
    config = json.loads(config_path.read_text())
    for key, value in (overrides or {}).items():
        config["networks"]["discriminator"][key] = value
    resolved = validate_config(config, registries)
    torch.manual_seed(0)
    model = build_model(resolved, build_latent(resolved), DataSpec((1, 28, 28)))
    model.train_step(Batch(torch.rand(16, 1, 28, 28)), torch.Generator().manual_seed(0))
    return model


# -- Model.encoder ---------------------------------------------------------------------------------
@pytest.mark.parametrize("minibatch_std", [0, 4])
def test_infogan_encoder_is_q_per_image(registries, minibatch_std):
    model = trained_a_step(registries, INFOGAN_CONFIG, {"minibatch_std": minibatch_std})
    x = torch.rand(7, 1, 28, 28)
    encoder = model.encoder
    assert encoder is not None and encoder.training  # in the network's own mode
    with torch.no_grad():
        model.D.eval()
        q = model.parts.aux(model.parts.trunk(x))  # what Q computes in training, batch statistic and all
        got = encoder(x)
        alone = torch.cat([encoder(x[i : i + 1]) for i in range(len(x))])
    assert got.shape == (7, model.latent.prediction_dim)
    torch.testing.assert_close(got, q, rtol=0, atol=1e-6)
    torch.testing.assert_close(alone, got, rtol=0, atol=1e-6)
    model.D.train()
    predicted = model.predict_codes(x)
    assert model.D.training  # predict_codes restores the network's mode
    slices = model.latent.prediction_slices()
    assert predicted is not None and set(predicted) == set(slices) == {"digit", "c1", "c2"}
    for name, s in slices.items():
        torch.testing.assert_close(predicted[name], q[:, s], rtol=0, atol=1e-6)


def test_betavae_encoder_is_its_network_and_checkpoints_keep_their_keys(registries):
    model = trained_a_step(registries, BETAVAE_CONFIG)
    assert model.encoder is model._modules["encoder"]
    assert any(key.startswith("encoder.") for key in model.state_dict())
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        model.encoder.eval()
        expected = model.encoder(x)
        model.encoder.train()
    predicted = model.predict_codes(x)
    assert predicted is not None
    torch.testing.assert_close(predicted["z"], expected)


def test_a_model_without_an_encoder_cannot_name_a_network_encoder(registries):
    dcgan = validate_config(json.loads((REPO / "configs" / "dcgan_mnist.json").read_text()), registries)
    model = build_model(dcgan, build_latent(dcgan), DataSpec((1, 28, 28)))
    assert model.encoder is None and model.predict_codes(torch.rand(2, 1, 28, 28)) is None
    with pytest.raises(PluginError, match=r"sets self.encoder, a name Model keeps .*self.encoder_net"):
        model.encoder = torch.nn.Linear(2, 2)
