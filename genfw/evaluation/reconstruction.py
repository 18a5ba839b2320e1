"""Generic reconstruction, for every model with an encoder (``Model.encoder``): how close
``generator(encoder(x))`` comes to real held-out images ``x``, next to baselines that say what
the number means. The codes the encoder does not predict are held at their prior's center (as
``genfw.runtime.reconstruct`` does), so the measure is deterministic."""

from __future__ import annotations

from typing import Any

import torch

from genfw.contexts import EvalContext
from genfw.evaluation.compare import NOT_SCORES
from genfw.export.prior_center import prior_center
from genfw.latent import LatentCode

#: Offset of this measure's seed from the evaluation seed (fixed, so numbers compare across versions).
OFFSET = 40
#: Held-out images measured (a seeded subset), and training images averaged for the mean-image baseline.
IMAGES = 1000
MEAN_IMAGES = 10000


def has_encoder(ctx: EvalContext) -> bool:
    return ctx.model.encoder is not None


def _center(code: LatentCode, n: int) -> torch.Tensor:
    """``n`` copies of the code's prior center (its traversal center for a prior kind without one)."""
    center = prior_center(code.prior(), code.dim)
    values = torch.from_numpy(center) if center is not None else code.center().float()
    return values.unsqueeze(0).expand(n, -1).contiguous()


def _errors(real: torch.Tensor, images: torch.Tensor) -> dict[str, float]:
    """Mean absolute and mean squared error per pixel (pixels in [0, 1])."""
    diff = images.float() - real
    return {"mae": float(diff.abs().mean()), "mse": float(diff.pow(2).mean())}


def reconstruction(ctx: EvalContext) -> dict[str, Any]:
    """Per-pixel MAE and MSE between up to :data:`IMAGES` held-out images (a seeded subset) and
    their reconstructions, with two baselines on the same images: the generator's image from every
    code at its prior's center (what the generator draws knowing nothing of the image), and the
    mean of up to :data:`MEAN_IMAGES` training images (the best single image)."""
    test = ctx.held_out
    if test is None:
        return {"skipped": "the dataset has no held-out split to reconstruct"}
    seed = ctx.seed + OFFSET
    rng = ctx.generator(OFFSET)
    pick = torch.randperm(len(test), generator=rng)[: min(IMAGES, len(test))]
    real = test.images[pick].float().div_(255.0)
    n = len(real)
    predicted = ctx.predict_codes(real) or {}
    codes = {c.name: c.predict(predicted[c.name]) if c.name in predicted else _center(c, n) for c in ctx.latent}
    rebuilt = ctx.generate(codes)
    center_image = ctx.generate({c.name: _center(c, 1) for c in ctx.latent})
    train = ctx.data.train
    mean_pick = torch.randperm(len(train), generator=rng)[: min(MEAN_IMAGES, len(train))]
    mean_image = train.images[mean_pick].float().div_(255.0).mean(0, keepdim=True)
    return {
        **_errors(real, rebuilt),
        "baselines": {
            "prior_center_image": _errors(real, center_image.expand_as(real)),
            "mean_training_image": _errors(real, mean_image.expand_as(real)),
        },
        "codes_from_encoder": [c.name for c in ctx.latent if c.name in predicted],
        "codes_at_prior_center": [c.name for c in ctx.latent if c.name not in predicted],
        "images": n,
        "mean_image_from": len(mean_pick),
        "seed": seed,
        NOT_SCORES: ["images", "mean_image_from"],
    }


def describe(section: dict[str, Any]) -> list[str]:
    if "skipped" in section:
        return [f"  reconstruction: skipped ({section['skipped']})"]
    base = section["baselines"]
    centered = ", ".join(section["codes_at_prior_center"]) or "none"
    return [
        f"  reconstruction generator(encoder(x)) of {section['images']} held-out images: MAE {section['mae']:.4f}, "
        f"MSE {section['mse']:.4f} per pixel (baselines: the prior-center image MAE "
        f"{base['prior_center_image']['mae']:.4f}, the mean training image MAE {base['mean_training_image']['mae']:.4f}; "
        f"codes at the prior's center: {centered})  [seed {section['seed']}]"
    ]
