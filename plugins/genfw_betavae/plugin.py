"""The hook: what the β-VAE plugin registers."""

from __future__ import annotations

from genfw import hookimpl
from genfw.hookspecs import RegisterModels
from genfw_betavae.model import BetaVAE


@hookimpl
def register_models(register: RegisterModels) -> None:
    register("beta_vae", BetaVAE)
