"""genfw-bernoulli: a genfw plugin adding the ``bernoulli`` latent-code type.

genfw imports this module through the entry point ``bernoulli = "genfw_bernoulli"`` (group
``genfw``) and calls the ``@hookimpl`` functions defined here.
"""

from __future__ import annotations

from genfw.api import RegisterLatentCodes, hookimpl

from .code import BernoulliCode, BernoulliParams  # relative: also works from a local plugin folder

__version__ = "0.2.0"
__all__ = ["BernoulliCode", "BernoulliParams", "register_latent_codes"]


@hookimpl
def register_latent_codes(register: RegisterLatentCodes) -> None:
    register("bernoulli", BernoulliCode,
             description="Independent binary bits, Bernoulli(p) each, fed as -1/+1; predicted as one logit per bit")
