"""genfw's class-conditional GAN plugin: a generator that draws the class it is asked for, trained
from the dataset's labels, with either a projection discriminator (Miyato & Koyama 2018) or an
auxiliary classifier (AC-GAN, Odena et al. 2017). Found through the ``genfw`` entry-point group."""

from genfw_cgan.plugin import register_models

__all__ = ["register_models"]
