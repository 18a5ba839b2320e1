"""The hooks: what the InfoGAN plugin registers."""

from __future__ import annotations

from genfw.api import RegisterLosses, RegisterModels, RegisterNetworks, hookimpl
from genfw_infogan.invariance import InvariantClusteringLoss
from genfw_infogan.losses import MutualInformationLoss
from genfw_infogan.model import InfoGAN
from genfw_infogan.networks import InfoGANDiscriminator, InfoGANGenerator


@hookimpl
def register_networks(register: RegisterNetworks) -> None:
    register(
        "infogan_mnist_generator",
        InfoGANGenerator,
        description="The paper's MNIST generator (FC 1024, FC 128xH/4xW/4, 2 up-convolutions, BN), sized from the latent spec",
    )
    register(
        "infogan_mnist_discriminator",
        InfoGANDiscriminator,
        description="The paper's MNIST discriminator: shared conv trunk, a D head and a Q head of the width the model asks for",
    )


@hookimpl
def register_losses(register: RegisterLosses) -> None:
    register(
        "mutual_information",
        MutualInformationLoss,
        description="InfoGAN's mutual-information lower bound: weighted NLL of the codes under Q",
    )
    register(
        "invariant_clustering",
        InvariantClusteringLoss,
        description="IIC on real images: Q's categories must survive small rotations, scalings and shifts",
    )


@hookimpl
def register_models(register: RegisterModels) -> None:
    register(
        "infogan",
        InfoGAN,
        description="InfoGAN: a GAN whose discriminator trunk also feeds Q, trained to keep codes recoverable",
    )
