"""genfw's InfoGAN plugin (Chen et al. 2016): the model, the paper's MNIST networks and the
mutual-information loss. It is found through the ``genfw`` entry-point group like any
third-party plugin; genfw itself does not know it exists.
"""

from genfw_infogan.plugin import register_losses, register_models, register_networks

__all__ = ["register_losses", "register_models", "register_networks"]
