"""The hook: what the DCGAN plugin registers."""

from __future__ import annotations

from genfw.api import RegisterModels, hookimpl
from genfw_dcgan.model import DCGAN


@hookimpl
def register_models(register: RegisterModels) -> None:
    register("dcgan", DCGAN)
