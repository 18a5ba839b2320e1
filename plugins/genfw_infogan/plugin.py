"""The hooks: what the InfoGAN plugin registers."""

from __future__ import annotations

from genfw import hookimpl
from genfw_infogan.invariance import InvariantClusteringLoss, InvariantClusteringParams
from genfw_infogan.losses import MutualInformationLoss, MutualInformationParams
from genfw_infogan.model import InfoGAN, InfoGANParams
from genfw_infogan.networks import (
    DiscriminatorParams,
    GeneratorParams,
    infogan_mnist_discriminator,
    infogan_mnist_generator,
)


@hookimpl
def register_networks(register):
    register("infogan_mnist_generator", infogan_mnist_generator, params=GeneratorParams,
             description="The paper's MNIST generator (FC 1024, FC 128xH/4xW/4, 2 up-convolutions, BN), sized from the latent spec")
    register("infogan_mnist_discriminator", infogan_mnist_discriminator, params=DiscriminatorParams,
             description="The paper's MNIST discriminator: shared conv trunk, a D head and a Q head sized from the latent spec")


@hookimpl
def register_losses(register):
    register("mutual_information", MutualInformationLoss, params=MutualInformationParams,
             description="InfoGAN's mutual-information lower bound: weighted NLL of the codes under Q")
    register("invariant_clustering", InvariantClusteringLoss, params=InvariantClusteringParams,
             description="IIC on real images: Q's categories must survive small rotations, scalings and shifts")


@hookimpl
def register_models(register):
    register("infogan", InfoGAN, params=InfoGANParams,
             description="InfoGAN: a GAN whose discriminator trunk also feeds Q, trained to keep codes recoverable")
