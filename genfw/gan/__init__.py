"""What every GAN needs, so model plugins do not each keep a copy: adversarial losses (registered
as ``non_saturating``, ``hinge`` and ``wgan_gp``), a moving average of the generator's weights,
and freezing a network's parameters for the other player's step."""

from genfw.gan.ema import ExponentialMovingAverage
from genfw.gan.freeze import frozen
from genfw.gan.losses import AdversarialLoss, HingeLoss, NonSaturatingLoss, WassersteinGPLoss

__all__ = [
    "AdversarialLoss",
    "ExponentialMovingAverage",
    "HingeLoss",
    "NonSaturatingLoss",
    "WassersteinGPLoss",
    "frozen",
]
