"""An augmentation: each image mirrored left to right with probability p."""

import torch
from pydantic import BaseModel, ConfigDict, Field

from genfw.api import AugmentationContext, RegisterAugmentations, hookimpl


class HFlipParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    p: float = Field(0.5, ge=0, le=1, description="Probability that an image is mirrored")


class HFlip:
    """Random horizontal flips (differentiable: pixels are only moved)."""

    def __init__(self, params: HFlipParams, ctx: AugmentationContext):
        self.p = params.p

    def __call__(self, images: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        flip = torch.rand(images.shape[0], 1, 1, 1, generator=rng, device=images.device) < self.p
        return torch.where(flip, images.flip(3), images)


@hookimpl
def register_augmentations(register: RegisterAugmentations) -> None:
    register("hflip", HFlip)
