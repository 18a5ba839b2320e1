"""A procedural dataset: one white square per image, at a random place and size."""

import torch
from pydantic import BaseModel, ConfigDict, Field

from genfw.api import Dataset, DatasetContext, ImageDataset, RegisterDatasets, hookimpl


class SquaresParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n: int = Field(1000, ge=10, description="Number of images (a tenth is held out)")
    size: int = Field(28, ge=8, description="Image side in pixels")


def squares(params: SquaresParams, ctx: DatasetContext) -> Dataset:
    """White squares on black, 1 x size x size; the label is the square's side minus 2."""
    g = torch.Generator().manual_seed(ctx.seed)  # the run's seed: the same squares every time
    s = params.size
    images = torch.zeros(params.n, 1, s, s, dtype=torch.uint8)
    sides = torch.randint(2, s // 2, (params.n,), generator=g)
    for i, side in enumerate(sides.tolist()):
        y, x = torch.randint(0, s - side + 1, (2,), generator=g).tolist()
        images[i, 0, y:y + side, x:x + side] = 255
    held = params.n // 10
    return Dataset(train=ImageDataset("squares", images[held:], labels=sides[held:] - 2),
                   test=ImageDataset("squares-test", images[:held], labels=sides[:held] - 2))


@hookimpl
def register_datasets(register: RegisterDatasets) -> None:
    register("squares", squares)
