"""The minibatch standard-deviation feature (genfw.networks.minibatch_std) and the InfoGAN
discriminator's `minibatch_std` option: D sees a group's spread, Q still reads each image alone."""

from __future__ import annotations

import pytest
import torch

from genfw_testing import REPO, cli_in_process, error_line
from genfw.building import build_latent, build_network
from genfw.data.spec import DataSpec
from genfw.networks.minibatch_std import MinibatchStdDev, group_size_for, minibatch_stddev
from genfw.session import load_config_and_plugins


def test_each_sample_gets_the_mean_standard_deviation_of_its_own_group():
    x = torch.randn(12, 5, generator=torch.Generator().manual_seed(0))
    got = minibatch_stddev(x, 4).view(-1)
    for start in (0, 4, 8):
        expected = x[start:start + 4].std(dim=0, unbiased=False).mean()
        assert torch.allclose(got[start:start + 4], expected.expand(4), atol=1e-6)
    assert got[0] != got[4]  # groups are runs of consecutive samples, each with its own spread


def test_identical_images_have_no_spread_and_odd_batches_use_the_largest_group_that_divides_them():
    assert minibatch_stddev(torch.ones(8, 3, 2, 2), 4).max() < 1e-3
    assert [group_size_for(n, 4) for n in (96, 7, 6, 1)] == [4, 1, 3, 1]
    assert MinibatchStdDev(4)(torch.randn(6, 2, 3)).shape == (6, 7)
    with pytest.raises(ValueError, match="at least 2"):
        MinibatchStdDev(1)


def _discriminator(*overrides: str, config: str = "infogan_mnist.json"):
    """The discriminator a shipped config builds (with ``overrides``), freshly initialised, in eval mode."""
    _, rc = load_config_and_plugins(REPO / "configs" / config, overrides)
    latent = build_latent(rc)
    return build_network(rc, "discriminator", latent, DataSpec((1, 28, 28))).eval()


def test_the_d_head_sees_the_batch_but_q_reads_each_image_alone():
    torch.manual_seed(0)
    d = _discriminator("networks.discriminator.minibatch_std=4")
    images = torch.rand(8, 1, 28, 28)
    alike = images[:1].expand(8, -1, -1, -1)
    with torch.no_grad():
        q_alone = d.aux_head(d.trunk(images[:4]))
        q_in_batch = d.aux_head(d.trunk(torch.cat([images[:4], alike[:4]])))[:4]
        d_varied = d.d_head(d.trunk(images))[0]
        d_with_alike_companions = d.d_head(d.trunk(torch.cat([images[:1], alike[1:]])))[0]
    assert torch.allclose(q_alone, q_in_batch, atol=1e-5)
    assert not torch.allclose(d_varied, d_with_alike_companions)


def test_off_it_is_the_papers_network_with_the_same_parameter_names():
    torch.manual_seed(0)
    plain = _discriminator("networks.discriminator.minibatch_std=0")
    names = list(plain.state_dict())
    assert names[0] == "trunk.0.weight" and "d_head.weight" in names
    on = _discriminator("networks.discriminator.minibatch_std=4")
    assert on.d_head.weight.shape[1] == plain.d_head.weight.shape[1] + 1


def test_a_group_of_one_is_a_config_error(tmp_path):
    line = error_line(cli_in_process("validate", REPO / "configs" / "infogan_mnist.json",
                                     "--set", "networks.discriminator.minibatch_std=1"))
    assert "networks.discriminator.minibatch_std" in line and "no spread" in line


@pytest.mark.slow
def test_infogan_trains_with_it(tmp_path):
    run = tmp_path / "run"
    proc = cli_in_process("run", REPO / "configs" / "infogan_mnist.json", "-q",
                          "--set", "networks.discriminator.minibatch_std=4", "--set", "train.max_steps=3",
                          "--set", "train.batch_size=16", "--set", "export.onnx=false",
                          "--set", "eval.at_end=false", "--set", "eval.per_epoch=false",
                          "--set", f"output.run_dir={run}")
    assert proc.returncode == 0, proc.stderr
    assert any((run / "checkpoints").iterdir())


def _conv_discriminator(*overrides: str):
    return _discriminator(*overrides, config="dcgan_mnist.json")


def test_the_conv_discriminator_sees_the_spread_of_its_features_when_asked():
    torch.manual_seed(0)
    plain = _conv_discriminator()
    on = _conv_discriminator("networks.discriminator.minibatch_std=4")
    assert "d_head.weight" in on.state_dict()
    assert on.d_head.weight.shape[1] == plain.d_head.weight.shape[1] + 1
    images = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        varied = on(images)[0]
        among_copies = on(torch.cat([images[:1], images[:1].expand(7, -1, -1, -1)]))[0]
        assert not torch.allclose(varied, among_copies)
        assert torch.allclose(plain(images)[:1], plain(images[:1]), atol=1e-5)  # off: each image alone
    line = error_line(cli_in_process("validate", REPO / "configs" / "dcgan_mnist.json",
                                     "--set", "networks.discriminator.minibatch_std=1"))
    assert "networks.discriminator.minibatch_std" in line and "no spread" in line


def test_the_conv_discriminator_with_spread_and_spectral_norm_builds_and_runs():
    d = _conv_discriminator("networks.discriminator.minibatch_std=2", "networks.discriminator.spectral_norm=true")
    assert d(torch.rand(4, 1, 28, 28)).shape == (4, 1)


def test_a_projection_discriminator_reads_the_features_not_the_spread():
    """The cGAN's projection head sizes its class embedding from d_head's features: with
    conv_discriminator's spread, the head reads one input more than the features it is given."""
    from genfw.building import build_model

    net = '{"type": "conv_discriminator", "width": 8, "minibatch_std": 4}'
    _, rc = load_config_and_plugins(REPO / "configs" / "cgan_mnist.json", [f"networks.discriminator={net}"])
    data = DataSpec((1, 28, 28), class_names=tuple("0123456789"), label_counts=(6000,) * 10)
    model = build_model(rc, build_latent(rc, data), data)
    logits, _ = model.critic(torch.rand(8, 1, 28, 28), torch.arange(8))
    assert logits.shape == (8,) and torch.isfinite(logits).all()
