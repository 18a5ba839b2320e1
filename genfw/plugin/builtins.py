"""genfw's built-in plugin: the components that ship with the core, registered through the same
hooks as any third-party plugin."""

from __future__ import annotations

from genfw.augmentations import Affine, Translate
from genfw.codes.angle import AngleCode
from genfw.codes.categorical import CategoricalCode
from genfw.codes.gaussian import GaussianCode
from genfw.codes.noise import NoiseCode
from genfw.data.dsprites import dsprites_dataset
from genfw.data.fashion_mnist import fashion_mnist_dataset
from genfw.data.hdf5 import hdf5_dataset
from genfw.data.image_folder import image_folder_dataset
from genfw.data.mnist import mnist_dataset
from genfw.gan.losses import HingeLoss, NonSaturatingLoss, WassersteinGPLoss
from genfw.loggers.console import ConsoleLogger
from genfw.loggers.tensorboard import TensorBoardLogger
from genfw.networks.conv import ConvDiscriminator, ConvEncoder, ConvGenerator
from genfw.plugin.hookspecs import (
    RegisterAugmentations,
    RegisterDatasets,
    RegisterLatentCodes,
    RegisterLoggers,
    RegisterLosses,
    RegisterNetworks,
    hookimpl,
)


@hookimpl
def register_latent_codes(register: RegisterLatentCodes) -> None:
    register("noise", NoiseCode, description="Unstructured noise, N(0, s^2) or U(-s, s); resampled, never predicted")
    register(
        "categorical",
        CategoricalCode,
        description="One of k categories (a probability vector, one-hot when drawn); predicted as logits",
    )
    register(
        "gaussian",
        GaussianCode,
        description="Continuous code, U(-1,1) or N(0,1); predicted as mean and clamped log-variance",
    )
    register(
        "angle",
        AngleCode,
        description="An angle on the circle, uniform in (-pi, pi]; fed as (cos, sin); "
        "predicted as a von Mises distribution",
    )


@hookimpl
def register_datasets(register: RegisterDatasets) -> None:
    register("mnist", mnist_dataset)
    register("fashion_mnist", fashion_mnist_dataset)
    register("image_folder", image_folder_dataset)
    register("hdf5", hdf5_dataset)
    register("dsprites", dsprites_dataset)


@hookimpl
def register_networks(register: RegisterNetworks) -> None:
    register(
        "conv_generator",
        ConvGenerator,
        description="DCGAN-style generator for any image size (sides multiples of 4) and channels; BatchNorm + ReLU "
        "between its layers",
    )
    register(
        "conv_discriminator",
        ConvDiscriminator,
        description="DCGAN-style discriminator for any image size; an auxiliary head when the model asks for outputs",
    )
    register(
        "conv_encoder",
        ConvEncoder,
        description="DCGAN-style encoder for any image size, to as many outputs as the model asks for",
    )


@hookimpl
def register_losses(register: RegisterLosses) -> None:
    register("non_saturating", NonSaturatingLoss)
    register("hinge", HingeLoss)
    register("wgan_gp", WassersteinGPLoss)


@hookimpl
def register_augmentations(register: RegisterAugmentations) -> None:
    register("translate", Translate)
    register("affine", Affine)


@hookimpl
def register_loggers(register: RegisterLoggers) -> None:
    register("console", ConsoleLogger)
    register("tensorboard", TensorBoardLogger)
