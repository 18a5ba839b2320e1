"""The β-VAE and DCGAN plugins: they train, check their requirements, export and evaluate through
the same core as InfoGAN, with their own curves, figures and eval sections."""

from __future__ import annotations

import json
import math

import pytest
import torch
from genfw_testing import REPO, assert_no_count_is_a_score, require_mnist

from genfw.building import build_latent, build_model, check_model, seeded_init
from genfw.session import load_config_and_plugins
from genfw.errors import ConfigError
from genfw.training.run import execute
from genfw.model import Batch, DataSpec

TINY_VAE = ["networks.encoder.width=8", "networks.encoder.hidden=32", "networks.decoder.width=8", "networks.decoder.hidden=32"]
TINY_GAN = ["networks.generator.width=8", "networks.discriminator.width=8"]


def built(config: str, overrides=(), image_shape=(1, 28, 28)):
    _, resolved = load_config_and_plugins(REPO / "configs" / config, list(overrides))
    latent = build_latent(resolved)
    with seeded_init(0):
        model = build_model(resolved, latent, DataSpec(image_shape))
    return resolved, latent, model


def batch(n=16, seed=0):
    return Batch(torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed)))


# -- β-VAE ------------------------------------------------------------------------------------------
def test_beta_vae_step_logs_its_terms_and_kl_per_dimension():
    _, latent, model = built("betavae_mnist.json", TINY_VAE)
    out = model.train_step(batch(), torch.Generator().manual_seed(0))
    assert {"loss", "reconstruction", "kl", "neg_elbo"} <= set(out)
    assert [k for k in out if k.startswith("z[")] == [f"z[{j}]" for j in range(10)]
    assert all(torch.isfinite(v) and v.dim() == 0 for v in out.values())
    kl_sum = sum(out[f"z[{j}]"] for j in range(10))
    assert torch.allclose(kl_sum, out["kl"], rtol=1e-4)
    assert torch.allclose(out["loss"], out["reconstruction"] + out["kl"], rtol=1e-5)  # beta = 1


def test_beta_weighs_the_kl_term():
    _, _, model = built("betavae_mnist.json", TINY_VAE + ["model.beta=4"])
    out = model.train_step(batch(), torch.Generator().manual_seed(0))
    assert torch.allclose(out["loss"], out["reconstruction"] + 4 * out["kl"], rtol=1e-5)


def test_kl_is_zero_exactly_at_the_prior():
    from genfw_betavae.model import kl_per_dim

    assert torch.all(kl_per_dim(torch.zeros(2, 3), torch.zeros(2, 3)) == 0)
    assert kl_per_dim(torch.ones(1, 1), torch.zeros(1, 1)).item() == pytest.approx(0.5)


@pytest.mark.parametrize("override, path, words", [
    ('latent[0].prior="uniform"', "latent[0].prior", "N(0, 1)"),
    ('latent=[{"name": "z", "type": "noise", "dim": 4}]', "latent[0].type", "no such posterior"),
    ("latent[0].fixed_std=true", "latent[0].type", "no such posterior"),
])
def test_beta_vae_rejects_codes_it_cannot_use(override, path, words):
    _, resolved = load_config_and_plugins(REPO / "configs" / "betavae_mnist.json", [override])
    with pytest.raises(ConfigError) as err:
        check_model(resolved, build_latent(resolved), DataSpec((1, 28, 28)))
    assert f"configs/betavae_mnist.json: {path}: " in str(err.value) and words in str(err.value)


def test_beta_vae_generator_is_the_decoder_with_a_sigmoid():
    _, latent, model = built("betavae_mnist.json", TINY_VAE)
    z = latent.sample(5, torch.Generator().manual_seed(0))
    images = model.generate(z)
    assert images.shape == (5, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    logits = model.decoder.eval()(latent.encode(z))
    assert torch.allclose(images, torch.sigmoid(logits), atol=1e-6)
    assert set(model.generator.state_dict()) == {f"decoder.{k}" for k in model.decoder.state_dict()}


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    require_mnist()
    out = tmp_path_factory.mktemp("vae")
    overrides = TINY_VAE + ["train.max_steps=30", "train.log_every=10", "eval.samples=500", f"output.dir={out}",
                            "dataset.limit=1280", "loggers=[]"]
    _, resolved = load_config_and_plugins(REPO / "configs" / "betavae_mnist.json", overrides)
    return execute(resolved, quiet=True)


@pytest.mark.slow
def test_a_beta_vae_run_writes_its_own_eval_section_figures_and_curves(vae_run):
    report = json.loads((vae_run / "eval.json").read_text())
    assert report["model_sections"] == ["vae"]
    assert_no_count_is_a_score(report)
    vae = report["vae"]
    assert vae["images"] == 10000 and vae["split"] == "held-out"
    assert math.isclose(vae["neg_elbo"], vae["reconstruction"] + vae["kl"], rel_tol=1e-4)
    assert set(vae["kl_per_dim"]) == {f"z[{j}]" for j in range(10)} and 0 <= vae["active_units"] <= 10
    assert report["samples"]["samples"] == 500 and report["samples"]["frechet_classifier_distance"] > 0
    for path in ("figures/reconstructions.png", "traversals/z.png", "loss_curve.png", "generator.onnx", "samples/final.png"):
        assert (vae_run / path).is_file(), path
    epochs = [json.loads(line) for line in (vae_run / "metrics.jsonl").read_text().splitlines() if "epoch_end" in line]
    assert epochs and {"test_neg_elbo", "active_units"} <= set(epochs[0])


# -- DCGAN ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss, extra", [("non_saturating", []), ("hinge", []),
                                         ("wgan_gp", ['networks.discriminator.norm="none"'])])
def test_dcgan_trains_with_each_shared_adversarial_loss(loss, extra):
    _, latent, model = built("dcgan_mnist.json", TINY_GAN + [f'losses.adversarial={{"type": "{loss}"}}'] + extra)
    g_before = [p.clone() for p in model.G.parameters()]
    ema_before = [p.clone() for p in model.G_ema.average.parameters()]
    out = model.train_step(batch(), torch.Generator().manual_seed(0))
    assert {"d_loss", "g_loss", "d_real", "d_fake"} <= set(out) and all(torch.isfinite(v) for v in out.values())
    assert ("d_penalty" in out) == (loss == "wgan_gp")
    assert any(not torch.equal(a, b) for a, b in zip(g_before, model.G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(ema_before, model.G_ema.average.parameters()))
    assert all(p.requires_grad for p in model.D.parameters())  # unfrozen after the generator step
    assert model.generator is model.G_ema.average


def test_dcgan_judges_with_ds_trunk_and_d_head_so_any_discriminator_network_fits():
    """D's own forward is not what the DCGAN calls: InfoGAN's network (whose forward also returns
    its Q head's output) trains, and a network without a D head is a config error, not a crash."""
    paper = ['networks.generator={"type": "infogan_mnist_generator", "hidden": 64, "base_channels": 16, "up_channels": 8}',
             'networks.discriminator={"type": "infogan_mnist_discriminator", "channels": [8, 16], "hidden": 32}']
    _, _, model = built("dcgan_mnist.json", paper)
    images = batch()
    model.eval()
    with torch.no_grad():
        assert torch.equal(model._logits(images.images), model.D.d_head(model.D.trunk(images.images)).view(-1))
    model.train()
    out = model.train_step(images, torch.Generator().manual_seed(0))
    assert all(torch.isfinite(v) for v in out.values())
    with pytest.raises(ConfigError, match=r"networks\.discriminator: the DCGAN's discriminator network must have a 'trunk'"):
        built("dcgan_mnist.json", TINY_GAN + ['networks.discriminator={"type": "conv_generator"}'])


def test_dcgan_top_k_lets_g_learn_from_the_fakes_d_rates_most_real_from_its_step_on():
    """Top-k training: from top_k_step, G's loss is taken over the top_k fraction of the batch's
    fakes with D's highest logits; before it, and with top_k 1, over all of them."""
    images = Batch(batch(16).images, step=5)

    def g_loss(*overrides):
        _, _, model = built("dcgan_mnist.json", TINY_GAN + ["model.ema_decay=0", *overrides])
        return model.train_step(images, torch.Generator().manual_seed(0))["g_loss"]

    every = g_loss()
    assert torch.equal(g_loss("model.top_k=0.25", "model.top_k_step=6"), every)  # step 5 < 6: every fake
    best_quarter = g_loss("model.top_k=0.25", "model.top_k_step=5")
    best_one = g_loss("model.top_k=0.01", "model.top_k_step=5")  # 0.16 of a fake, rounded up: one
    # The non-saturating loss falls as D's logit rises: the fakes D rates most real cost G least.
    assert best_one < best_quarter < every

    _, _, model = built("dcgan_mnist.json", TINY_GAN + ["model.top_k=0.25"])
    logits = torch.tensor([0.5, -2.0, 3.0, 1.0, -1.0, 2.0, 0.0, -3.0])
    assert sorted(model._best_fakes(logits, step=0).tolist()) == [2.0, 3.0]
    with pytest.raises(ConfigError, match=r"model: top_k_step is set but top_k is 1"):
        built("dcgan_mnist.json", TINY_GAN + ["model.top_k_step=100"])


def test_dcgan_without_ema_samples_from_g():
    _, _, model = built("dcgan_mnist.json", TINY_GAN + ["model.ema_decay=0"])
    assert model.G_ema is None and model.generator is model.G


def test_a_dcgan_run_saves_its_moving_average_with_the_averages_own_batchnorm_statistics(tmp_path):
    """The trainer calls prepare_generator before a checkpoint: the saved average normalises with
    statistics of its own outputs, not G's copied ones, and they depend only on the weights and
    the run's seed (preparing the loaded model again changes nothing)."""
    from genfw.artifacts import CHECKPOINT_DIR, CHECKPOINT_FORMAT, LAST_CHECKPOINT, safe_torch_load
    from genfw.training.checkpoint import load_trained_model
    from genfw.training.trainer import PREPARE_GENERATOR_SEED

    require_mnist()
    # The CPU in fp32: preparing again below is on the CPU in fp32, and the result depends on both.
    overrides = TINY_GAN + ["train.device=cpu", "train.precision=fp32", "train.max_steps=12", "dataset.limit=640",
                            "train.batch_size=32", "eval.at_end=false",
                            "eval.per_epoch=false", "train.sample_every_epoch=false", "loggers=[]", f"output.dir={tmp_path}"]
    _, resolved = load_config_and_plugins(REPO / "configs" / "dcgan_mnist.json", overrides)
    run = execute(resolved, quiet=True)
    saved = safe_torch_load(run / CHECKPOINT_DIR / LAST_CHECKPOINT, expect_format=CHECKPOINT_FORMAT)
    means = sorted(k for k in saved["model"] if k.startswith("G_ema.average.") and k.endswith("running_mean"))
    assert means
    for key in means:
        own = saved["model"][key]
        assert not torch.allclose(own, saved["model"][key.replace("G_ema.average.", "G.")])
        assert torch.equal(saved["generator"][key.removeprefix("G_ema.average.")], own)
    _, _, model = load_trained_model(run)
    model.prepare_generator(torch.Generator().manual_seed(resolved.config.seed + PREPARE_GENERATOR_SEED))
    again = model.state_dict()
    assert all(torch.equal(again[k], saved["model"][k]) for k in saved["model"])


def test_conv_networks_fit_any_image_size_that_is_a_multiple_of_4():
    for shape in [(1, 28, 28), (3, 64, 64), (3, 32, 48), (1, 12, 12)]:
        _, latent, model = built("dcgan_mnist.json", TINY_GAN, image_shape=shape)
        z = latent.sample(2, torch.Generator().manual_seed(0))
        assert model.generate(z).shape == (2, *shape)
        assert model.D(torch.rand(2, *shape)).shape == (2, 1)
    _, resolved = load_config_and_plugins(REPO / "configs" / "dcgan_mnist.json", TINY_GAN)
    with pytest.raises(ConfigError, match=r"networks.generator: dataset images are 30x30; these networks need sides"):
        build_model(resolved, build_latent(resolved), DataSpec((1, 30, 30)))
