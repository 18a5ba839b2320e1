"""DCGAN-style networks (Radford et al. 2016) sized from the data: ``conv_generator``,
``conv_discriminator`` and ``conv_encoder``.

Images of any size whose sides are multiples of 4 work: the networks use as many stride-2
stages as halve both sides down to a map of at least 4 pixels (28x28: 7x7 after 2 stages;
64x64: 4x4 after 4), and any number of channels. Channels double at each stage down (halve on
the way up), from ``width`` at full resolution, capped at ``max_channels``.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from genfw.contexts import NetworkContext
from genfw.networks.minibatch_std import MinibatchStdGroup, minibatch_stddev


def stages_for(image_shape: tuple[int, int, int]) -> int:
    """How many stride-2 stages fit: at least 2 (sides must be multiples of 4), more while both
    sides stay divisible and at least 4 pixels."""
    _, h, w = image_shape
    if h % 4 or w % 4 or h < 4 or w < 4:
        raise ValueError(
            f"dataset images are {h}x{w}; these networks need sides that are multiples of 4: "
            "resize the images (e.g. the dataset's size parameter) or use another network"
        )
    k = 2
    while h % 2 ** (k + 1) == 0 and w % 2 ** (k + 1) == 0 and min(h, w) // 2 ** (k + 1) >= 4:
        k += 1
    return k


def _channels(width: int, max_channels: int, stage: int) -> int:
    return min(width * 2**stage, max_channels)


class BatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d that also trains at batch size 1 (normalising with the running statistics)."""

    def forward(self, x):
        if self.training and x.shape[0] == 1:
            return nn.functional.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        return super().forward(x)


Norm = Literal["batch", "instance", "layer", "none"]


def _norm2d(kind: Norm, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    return nn.Identity()


class ConvGeneratorParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    width: int = Field(64, gt=0, le=4096, description="Channels of the last stage before the image")
    max_channels: int = Field(512, gt=0, le=8192, description="Cap on the channels of any stage")
    hidden: int | None = Field(
        None, gt=0, le=65536, description="An extra fully connected layer of this width first (a common choice: 1024)"
    )
    output: Literal["sigmoid", "logits"] = Field(
        "sigmoid",
        description="sigmoid: images in [0, 1]; logits: the "
        "pre-sigmoid values (a model that applies a likelihood to them)",
    )


class ConvGenerator(nn.Module):
    """``[n, latent.input_dim]`` -> images ``[n, C, H, W]``: a fully connected layer to the
    smallest map, then transposed convolutions doubling the size (BatchNorm + ReLU between)."""

    def __init__(self, params: ConvGeneratorParams, ctx: NetworkContext):
        super().__init__()
        c, h, w = ctx.image_shape
        k = stages_for(ctx.image_shape)
        h0, w0 = h // 2**k, w // 2**k
        top = _channels(params.width, params.max_channels, k - 1)
        layers: list[nn.Module] = []
        features = ctx.latent.input_dim
        if params.hidden:
            layers += [
                nn.Linear(features, params.hidden, bias=False),
                BatchNorm1d(params.hidden),
                nn.ReLU(inplace=True),
            ]
            features = params.hidden
        layers += [
            nn.Linear(features, top * h0 * w0, bias=False),
            nn.Unflatten(1, (top, h0, w0)),
            nn.BatchNorm2d(top),
            nn.ReLU(inplace=True),
        ]
        channels = top
        for stage in range(k - 1, 0, -1):
            out = _channels(params.width, params.max_channels, stage - 1)
            layers += [
                nn.ConvTranspose2d(channels, out, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(out),
                nn.ReLU(inplace=True),
            ]
            channels = out
        layers.append(nn.ConvTranspose2d(channels, c, 4, stride=2, padding=1))
        if params.output == "sigmoid":
            layers.append(nn.Sigmoid())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class ConvTrunkParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    width: int = Field(64, gt=0, le=4096, description="Channels of the first stage")
    max_channels: int = Field(512, gt=0, le=8192, description="Cap on the channels of any stage")
    norm: Norm = Field(
        "batch",
        description="Normalisation after each conv but the first (use none/instance/layer "
        "with wgan_gp, whose penalty is per sample)",
    )
    spectral_norm: bool = Field(
        False,
        description="Spectral normalisation of every conv and linear layer "
        "(Miyato et al. 2018): keeps the discriminator's Lipschitz constant in check",
    )
    leak: float = Field(0.2, ge=0, lt=1, description="Leaky ReLU slope")
    hidden: int | None = Field(
        None,
        gt=0,
        le=65536,
        description="An extra fully connected layer of this width on top of the convolutions (a common choice: 1024)",
    )


def _conv_trunk(params: ConvTrunkParams, image_shape: tuple[int, int, int]) -> tuple[nn.Sequential, int]:
    """Stride-2 convolutions down to the smallest map, flattened (and an optional hidden layer):
    the module and its output width."""
    sn = nn.utils.parametrizations.spectral_norm if params.spectral_norm else (lambda m: m)
    c, h, w = image_shape
    k = stages_for(image_shape)
    layers: list[nn.Module] = []
    channels = c
    for stage in range(k):
        out = _channels(params.width, params.max_channels, stage)
        layers.append(sn(nn.Conv2d(channels, out, 4, stride=2, padding=1, bias=stage == 0 or params.norm == "none")))
        if stage > 0:
            layers.append(_norm2d(params.norm, out))
        layers.append(nn.LeakyReLU(params.leak, inplace=True))
        channels = out
    layers.append(nn.Flatten())
    features = channels * (h // 2**k) * (w // 2**k)
    if params.hidden:
        norm = BatchNorm1d(params.hidden) if params.norm == "batch" else nn.Identity()
        layers += [
            sn(nn.Linear(features, params.hidden, bias=params.norm != "batch")),
            norm,
            nn.LeakyReLU(params.leak, inplace=True),
        ]
        features = params.hidden
    return nn.Sequential(*layers), features


class ConvDiscriminatorParams(ConvTrunkParams):
    minibatch_std: MinibatchStdGroup = Field(
        0,
        description="Groups of this many images: the D head also sees how much "
        "the trunk's features of a group differ (minibatch standard deviation, Karras et al. "
        "2018), so a generator that draws too alike images is caught; an aux head never sees "
        "it. 0: off; 2 or more: on (4 in the paper)",
    )


class _LinearWithSpread(nn.Linear):
    """A linear read-out of its features and of their spread over each group of ``group_size``
    consecutive samples (one more input than features; the parameters keep nn.Linear's names)."""

    def __init__(self, features: int, group_size: int):
        super().__init__(features + 1, 1)
        self.group_size = group_size
        #: The width of the features it reads (``in_features`` counts the spread too).
        self.features = features

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return super().forward(torch.cat([f, minibatch_stddev(f, self.group_size)], dim=1))


class ConvDiscriminator(nn.Module):
    """Images -> one logit (or critic score) per image, ``[n, 1]``.

    Parts a model may call separately: ``trunk(x) -> [n, features]`` and ``d_head(f) -> [n, 1]``;
    when the model asks for outputs (``ctx.outputs``: e.g. predictions of latent codes), also
    ``aux_head(f) -> [n, outputs]`` on the same features. With ``minibatch_std``, ``d_head``
    depends on the other samples of ``f``'s batch; ``aux_head`` never does.
    """

    def __init__(self, params: ConvDiscriminatorParams, ctx: NetworkContext):
        super().__init__()
        self.trunk, features = _conv_trunk(params, ctx.image_shape)
        sn = nn.utils.parametrizations.spectral_norm if params.spectral_norm else (lambda m: m)
        head = _LinearWithSpread(features, params.minibatch_std) if params.minibatch_std else nn.Linear(features, 1)
        self.d_head = sn(head)
        self.aux_head = nn.Linear(features, ctx.outputs) if ctx.outputs else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.d_head(self.trunk(x))


class ConvEncoderParams(ConvTrunkParams):
    hidden: int | None = Field(
        256, gt=0, le=65536, description="A fully connected layer of this width on top of the convolutions"
    )


class ConvEncoder(nn.Module):
    """Images -> ``[n, ctx.outputs]`` (e.g. a VAE's posterior parameters for every code)."""

    def __init__(self, params: ConvEncoderParams, ctx: NetworkContext):
        super().__init__()
        if not ctx.outputs:
            raise ValueError(
                "conv_encoder needs a model that says how many outputs it wants from this role "
                "(Model.network_outputs); use it in an encoder role"
            )
        self.trunk, features = _conv_trunk(params, ctx.image_shape)
        self.head = nn.Linear(features, ctx.outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))
