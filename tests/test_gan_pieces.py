"""The pieces every GAN shares, which live in genfw (not in each model plugin): adversarial
losses, the moving average of G, freezing the other player, DiffAugment-style augmentations and
optimizers built from config."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genfw.augmentations import Affine, AffineParams, Translate, TranslateParams, random_translate
from genfw.contexts import AugmentationContext, LossContext
from genfw.gan import ExponentialMovingAverage, frozen
from genfw.gan.losses import (HingeLoss, HingeParams, NonSaturatingLoss, NonSaturatingParams, WassersteinGPLoss,
                              WassersteinGPParams)
from genfw.latent import LatentSpec
from genfw.optim import OptimizerConfig, build_optimizer

CTX = LossContext(LatentSpec([]), "adversarial")


def test_non_saturating_loss_values():
    loss = NonSaturatingLoss(NonSaturatingParams(), CTX)
    zeros = torch.zeros(4)
    assert math.isclose(loss.discriminator_loss(zeros, zeros).item(), 2 * math.log(2), rel_tol=1e-6)
    assert math.isclose(loss.generator_loss(zeros).item(), math.log(2), rel_tol=1e-6)
    big = torch.full((4,), 30.0)
    assert loss.discriminator_loss(big, -big).item() < 1e-6  # a perfect discriminator
    assert not loss.has_penalty


def test_hinge_loss_values():
    loss = HingeLoss(HingeParams(), CTX)
    assert loss.discriminator_loss(torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])).item() == pytest.approx(0.25 + 0.5)
    assert loss.generator_loss(torch.tensor([1.0, 3.0])).item() == pytest.approx(-2.0)


def test_wgan_gp_penalty_is_zero_for_a_unit_gradient_critic_and_positive_otherwise():
    loss = WassersteinGPLoss(WassersteinGPParams(gp_weight=10.0, drift=0.0), CTX)
    assert loss.has_penalty
    real, fake = torch.rand(8, 1, 4, 4), torch.rand(8, 1, 4, 4)
    w = torch.zeros(16)
    w[0] = 1.0  # |grad| = 1 everywhere
    unit = lambda x: x.flatten(1) @ w  # noqa: E731
    steep = lambda x: 3 * x.flatten(1) @ w  # noqa: E731
    rng = torch.Generator().manual_seed(0)
    assert loss.penalty(unit, real, fake, rng).item() == pytest.approx(0.0, abs=1e-10)
    assert loss.penalty(steep, real, fake, rng).item() == pytest.approx(10.0 * 4.0)
    assert loss.discriminator_loss(torch.tensor([1.0]), torch.tensor([-1.0])).item() == pytest.approx(-2.0)


def test_wgan_gp_penalty_backpropagates_into_the_critic():
    loss = WassersteinGPLoss(WassersteinGPParams(), CTX)
    critic = nn.Sequential(nn.Flatten(), nn.Linear(16, 1))
    penalty = loss.penalty(lambda x: critic(x).view(-1), torch.rand(4, 1, 4, 4), torch.rand(4, 1, 4, 4),
                           torch.Generator().manual_seed(0))
    penalty.backward()
    assert critic[1].weight.grad is not None and critic[1].weight.grad.abs().sum() > 0


def test_moving_average_ramps_up_copies_buffers_and_never_trains():
    source = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    ema = ExponentialMovingAverage(source, decay=0.999)
    assert all(not p.requires_grad for p in ema.average.parameters())
    before = ema.average[0].weight.clone()
    with torch.no_grad():
        source[0].weight.add_(1.0)
        source[1].running_mean.fill_(7.0)
    ema.update(source)
    # The first update's decay is min((1 + 1) / (10 + 1), 0.999) = 2/11: the average moves 9/11 of the way.
    assert torch.allclose(ema.average[0].weight, before + 9 / 11, atol=1e-6)
    assert torch.equal(ema.average[1].running_mean, torch.full((3,), 7.0))
    assert ema.updates.item() == 1
    assert set(ema.state_dict()) >= {"updates", "average.0.weight", "average.1.running_mean"}
    with pytest.raises(ValueError):
        ExponentialMovingAverage(source, decay=1.0)


def test_moving_average_measures_its_own_batchnorm_statistics():
    """After recompute_batchnorm the average normalises with the statistics of its own
    activations on the inputs (mean over the batches of each batch's mean and unbiased
    variance), not with the source's copied ones; weights and train/eval mode stay as they were."""
    torch.manual_seed(0)
    source = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    ema = ExponentialMovingAverage(source, decay=0.5)
    with torch.no_grad():
        source[0].weight.add_(1.0)
        source[1].running_mean.fill_(7.0)
    ema.update(source)
    assert torch.equal(ema.average[1].running_mean, torch.full((4,), 7.0))  # copied from the source
    weights = {k: v.clone() for k, v in ema.average.state_dict().items() if "running" not in k and "batches" not in k}
    ema.average.eval()
    inputs = [torch.randn(16, 3, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    ema.recompute_batchnorm(iter(inputs))
    with torch.no_grad():
        activations = [ema.average[0](x) for x in inputs]
    expected_mean = torch.stack([a.mean(0) for a in activations]).mean(0)
    expected_var = torch.stack([a.var(0, unbiased=True) for a in activations]).mean(0)
    assert torch.allclose(ema.average[1].running_mean, expected_mean, atol=1e-6)
    assert torch.allclose(ema.average[1].running_var, expected_var, atol=1e-5)
    assert ema.average[1].momentum == 0.1 and not ema.average.training
    assert all(torch.equal(v, ema.average.state_dict()[k]) for k, v in weights.items())

    drawn = []
    plain = ExponentialMovingAverage(nn.Linear(3, 3), decay=0.5)
    plain.recompute_batchnorm(drawn.append(x) or x for x in inputs)  # no BatchNorm: nothing is drawn
    assert drawn == []


def test_frozen_turns_gradients_off_inside_and_back_on_after_an_error():
    net = nn.Linear(2, 1)
    with pytest.raises(RuntimeError):
        with frozen(net.parameters()):
            assert all(not p.requires_grad for p in net.parameters())
            raise RuntimeError("inside")
    assert all(p.requires_grad for p in net.parameters())


def test_translate_shifts_whole_pixels_reproducibly_and_is_differentiable():
    x = torch.zeros(4, 1, 8, 8, requires_grad=True)
    with torch.no_grad():
        x[:, 0, 3, 3] = 1.0
    aug = Translate(TranslateParams(max_px=2), AugmentationContext((1, 8, 8), "discriminator"))
    a = aug(x, torch.Generator().manual_seed(1))
    b = aug(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and torch.all(a.sum((1, 2, 3)) == 1)  # the dot moved, whole, inside the frame
    a.sum().backward()
    assert x.grad is not None
    assert torch.equal(random_translate(x.detach(), 0, torch.Generator()), x.detach())
    with pytest.raises(ValueError, match="out of the frame"):
        Translate(TranslateParams(max_px=8), AugmentationContext((1, 8, 8), "discriminator"))


def test_affine_is_identity_at_zero_strength():
    x = torch.rand(3, 1, 8, 8)
    aug = Affine(AffineParams(degrees=0, scale=0, shift_px=0), AugmentationContext((1, 8, 8), "x"))
    assert torch.allclose(aug(x, torch.Generator().manual_seed(0)), x, atol=1e-6)


@pytest.mark.parametrize("kind, cls", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW), ("sgd", torch.optim.SGD),
                                       ("rmsprop", torch.optim.RMSprop)])
def test_optimizers_from_config(kind, cls):
    net = nn.Linear(2, 2)
    opt = build_optimizer(OptimizerConfig(type=kind, lr=0.01, betas=(0.5, 0.9), momentum=0.5), net.parameters())
    assert isinstance(opt, cls) and opt.param_groups[0]["lr"] == 0.01
    if kind in ("adam", "adamw"):
        assert opt.param_groups[0]["betas"] == (0.5, 0.9)


def test_optimizer_config_rejects_non_finite_and_out_of_range_values():
    for bad in ({"lr": float("inf")}, {"lr": 0}, {"betas": (1.0, 0.9)}, {"type": "lbfgs"}, {"lr": 1e38}):
        with pytest.raises(ValueError):
            OptimizerConfig(**bad)
