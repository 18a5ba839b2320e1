"""genfw's DCGAN plugin (Radford et al. 2016): a plain GAN over whatever latent codes the config
gives (usually noise only), built from genfw's shared pieces: the conv networks, the adversarial
losses, DiffAugment and the moving average of G. Found through the ``genfw`` entry-point group."""

from genfw_dcgan.plugin import register_models

__all__ = ["register_models"]
