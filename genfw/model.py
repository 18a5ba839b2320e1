"""The model contract: a training algorithm that owns its networks, optimizers and train step."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import nn

from genfw.latent import LatentSpec


class Model(nn.Module, ABC):
    """A training algorithm (e.g. InfoGAN).

    The trainer calls :meth:`train_step` once per batch inside its precision context and never
    looks inside. Subclasses declare the network and loss roles they need (and those they can
    use), so a config missing one, or naming one the model would ignore, fails validation
    rather than a run.
    """

    network_roles: ClassVar[tuple[str, ...]] = ("generator",)
    loss_roles: ClassVar[tuple[str, ...]] = ()
    #: Roles the model uses when the config fills them; any other role is a config error.
    optional_network_roles: ClassVar[tuple[str, ...]] = ()
    optional_loss_roles: ClassVar[tuple[str, ...]] = ()

    latent: LatentSpec
    #: Set by the trainer for fp16 (a torch.amp.GradScaler); models call backward()/step() below.
    grad_scaler: torch.amp.GradScaler | None = None

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()``, scaled when the trainer runs in fp16."""
        (self.grad_scaler.scale(loss) if self.grad_scaler is not None else loss).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """``optimizer.step()``, unscaled and skipped on overflow when the trainer runs in fp16."""
        if self.grad_scaler is not None:
            self.grad_scaler.step(optimizer)
        else:
            optimizer.step()

    @abstractmethod
    def train_step(self, real: torch.Tensor, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """One optimisation step on a batch of real images (float ``[n, C, H, W]`` in [0, 1]).

        Draw every random number from ``rng``. Return scalar tensors to log (``d_loss``, ...);
        do not call ``.item()``: the trainer reads them only when it logs, so the hot path
        never waits for the device.
        """

    @property
    @abstractmethod
    def generator(self) -> nn.Module:
        """The network mapping the concatenated latent ``[n, latent.dim]`` to images in [0, 1]."""

    @abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimizers by name, so checkpoints can save and restore their state."""

    @torch.no_grad()
    def generate(self, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        """Images for the given codes, with the generator in eval mode (BatchNorm uses its running
        statistics, so a sample does not depend on the rest of its batch)."""
        was_training = self.generator.training
        self.generator.eval()
        try:
            return self.generator(self.latent.concat(codes)).float()
        finally:
            self.generator.train(was_training)

    def infer_codes(self, images: torch.Tensor) -> dict[str, torch.Tensor] | None:
        """Q's raw outputs per informative code for real images, where the model has an encoder."""
        return None
