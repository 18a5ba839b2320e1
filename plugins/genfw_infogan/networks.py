"""The paper's MNIST networks (InfoGAN, Chen et al. 2016, appendix C.1), sized from the latent spec
and the width the model asks of the Q head.

The layers that start from a 1x1 input (the paper's first two generator layers and the
discriminator's 7x7 conv to 1024) are written as the matrix products they are (``nn.Linear``);
BatchNorm still normalises per channel exactly as in the convolutional form.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from genfw.api import MinibatchStdGroup, NetworkContext, minibatch_stddev


class GeneratorParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hidden: int = Field(1024, gt=0, description="Width of the first fully connected layer")
    base_channels: int = Field(128, gt=0, description="Channels at H/4 x W/4")
    up_channels: int = Field(64, gt=0, description="Channels at H/2 x W/2")


class DiscriminatorParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channels: tuple[int, int] = Field((64, 128), description="Channels of the two stride-2 convs")
    hidden: int = Field(1024, gt=0, description="Width of the trunk's output features")
    q_hidden: int = Field(128, gt=0, description="Width of the Q head's hidden layer")
    leak: float = Field(0.1, ge=0, lt=1, description="Leaky ReLU slope")
    spectral_norm: bool = Field(
        False,
        description="Spectral normalisation (Miyato et al. 2018) of the trunk's and "
        "the D head's layers, bounding D's Lipschitz constant",
    )
    minibatch_std: MinibatchStdGroup = Field(
        0,
        description="Groups of this many images: the D head also sees how much "
        "the trunk's conv features of a group differ (minibatch standard deviation, Karras et "
        "al. 2018), so a generator that draws too alike images is caught; the Q head never sees "
        "it, so Q reads each image alone. 0: off; 2 or more: on (4 in the paper)",
    )


class BatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d that also trains at batch size 1, where batch statistics do not exist:
    such a batch is normalised with the running statistics (and does not update them)."""

    def forward(self, x):
        if self.training and x.shape[0] == 1:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        return super().forward(x)


def _quarter(ctx: NetworkContext) -> tuple[int, int]:
    _, h, w = ctx.image_shape
    if h % 4 or w % 4:
        raise ValueError(
            f"the InfoGAN MNIST networks need image sides divisible by 4, got {h}x{w}: "
            "use another network or a dataset with such images"
        )
    return h // 4, w // 4


class InfoGANGenerator(nn.Module):
    """``[n, latent.input_dim]`` -> images ``[n, C, H, W]`` in [0, 1]."""

    def __init__(self, params: GeneratorParams, ctx: NetworkContext):
        super().__init__()
        h4, w4 = _quarter(ctx)
        channels = ctx.image_shape[0]
        base = params.base_channels
        self.net = nn.Sequential(
            nn.Linear(ctx.latent.input_dim, params.hidden, bias=False),
            BatchNorm1d(params.hidden),
            nn.ReLU(inplace=True),
            nn.Linear(params.hidden, base * h4 * w4, bias=False),
            nn.Unflatten(1, (base, h4, w4)),
            nn.BatchNorm2d(base),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(base, params.up_channels, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(params.up_channels),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(params.up_channels, channels, 4, stride=2, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, z):
        return self.net(z)


class _TrunkWithSpread(nn.Module):
    """The trunk with the minibatch standard deviation of its conv features appended as one last
    feature: ``[n, hidden + 1]``."""

    def __init__(self, conv: nn.Sequential, fc: nn.Sequential, group_size: int):
        super().__init__()
        self.conv, self.fc, self.group_size = conv, fc, group_size

    def forward(self, x):
        maps = self.conv(x)
        return torch.cat([self.fc(maps), minibatch_stddev(maps.flatten(1), self.group_size)], dim=1)

    def per_image(self, x):
        """The features without the spread: ``[n, hidden]``, each image's from that image alone."""
        return self.fc(self.conv(x))


class _WithoutSpread(nn.Module):
    """Drops the spread feature the trunk appended: the Q head reads each image by itself."""

    def forward(self, f):
        return f[:, :-1]


class InfoGANDiscriminator(nn.Module):
    """A shared trunk (images -> features) feeding a D head (one logit) and a Q head (codes).

    The InfoGAN model calls the three parts separately: ``trunk(x) -> [n, hidden]``,
    ``d_head(f) -> [n, 1]``, ``aux_head(f) -> [n, ctx.outputs]`` (the width the model asks for:
    InfoGAN asks for ``latent.prediction_dim``).
    """

    def __init__(self, params: DiscriminatorParams, ctx: NetworkContext):
        super().__init__()
        h4, w4 = _quarter(ctx)
        c1, c2 = params.channels
        leak = params.leak
        sn = nn.utils.parametrizations.spectral_norm if params.spectral_norm else (lambda m: m)
        conv = [
            sn(nn.Conv2d(ctx.image_shape[0], c1, 4, stride=2, padding=1)),
            nn.LeakyReLU(leak, inplace=True),
            sn(nn.Conv2d(c1, c2, 4, stride=2, padding=1, bias=False)),
            nn.BatchNorm2d(c2),
            nn.LeakyReLU(leak, inplace=True),
        ]
        fc = [
            nn.Flatten(),
            sn(nn.Linear(c2 * h4 * w4, params.hidden, bias=False)),  # the paper's 7x7 conv on a 7x7 map
            BatchNorm1d(params.hidden),
            nn.LeakyReLU(leak, inplace=True),
        ]
        spread = params.minibatch_std >= 2
        if spread:
            self.trunk: nn.Module = _TrunkWithSpread(nn.Sequential(*conv), nn.Sequential(*fc), params.minibatch_std)
        else:  # one Sequential, as before the option existed: the same parameter names in checkpoints
            self.trunk = nn.Sequential(*conv, *fc)
        self.d_head = sn(nn.Linear(params.hidden + spread, 1))
        self.aux_head = nn.Sequential(
            *((_WithoutSpread(),) if spread else ()),
            nn.Linear(params.hidden, params.q_hidden, bias=False),
            BatchNorm1d(params.q_hidden),
            nn.LeakyReLU(leak, inplace=True),
            nn.Linear(params.q_hidden, max(ctx.outputs or 0, 1)),  # nothing to predict: still builds
        )

    def forward(self, x):
        f = self.trunk(x)
        return self.d_head(f), self.aux_head(f)

    def q_prediction(self, x):
        """Q's prediction ``[n, ctx.outputs]`` for images, computed per image: the same numbers as
        ``aux_head(trunk(x))``, without the minibatch spread the Q head drops anyway (a batch
        statistic that an exported encoder with a dynamic batch cannot compute)."""
        if isinstance(self.trunk, _TrunkWithSpread):
            return self.aux_head[1:](self.trunk.per_image(x))  # [0] is _WithoutSpread
        return self.aux_head(self.trunk(x))
