"""The hook: what the β-VAE plugin registers."""

from __future__ import annotations

from genfw.api import RegisterModels, hookimpl
from genfw_betavae.model import BetaVAE


@hookimpl
def register_models(register: RegisterModels) -> None:
    register("beta_vae", BetaVAE)
