"""The hook: what the conditional-GAN plugin registers."""

from __future__ import annotations

from genfw.api import RegisterModels, hookimpl
from genfw_cgan.model import ConditionalGAN


@hookimpl
def register_models(register: RegisterModels) -> None:
    register(
        "cgan",
        ConditionalGAN,
        description="A class-conditional GAN trained from the data's labels: projection discriminator or AC-GAN head",
    )
