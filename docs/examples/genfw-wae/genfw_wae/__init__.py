"""genfw-wae: a genfw plugin adding the ``wae`` model, a Wasserstein autoencoder (WAE-MMD).

genfw imports this module through the entry point ``wae = "genfw_wae"`` (group ``genfw``) and
calls the ``@hookimpl`` functions defined here.
"""

from __future__ import annotations

from genfw.api import RegisterModels, hookimpl

from .model import WAE, WAEParams  # relative: also works from a local plugin folder

__version__ = "0.1.0"
__all__ = ["WAE", "WAEParams", "register_models"]


@hookimpl
def register_models(register: RegisterModels) -> None:
    register("wae", WAE)  # the description is the first paragraph of WAE's docstring
