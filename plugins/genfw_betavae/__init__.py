"""genfw's β-VAE plugin (Higgins et al. 2017; Kingma & Welling 2014): an encoder predicts a
Gaussian posterior for every latent code, a decoder maps samples of it back to images, and
``beta`` weighs the KL term. Found through the ``genfw`` entry-point group like any plugin."""

from genfw_betavae.plugin import register_models

__all__ = ["register_models"]
