"""What the conditional GAN adds to genfw's evaluation: how often the reference classifier reads
the class a sample was asked for (the conditional accuracy), overall and per class."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from genfw.api import EvalContext, LatentCode

CONDITIONAL_SEED = 20


def conditional_accuracy(ctx: EvalContext, code: LatentCode) -> dict[str, Any]:
    """Draw ``ctx.samples`` images, an equal share per class with every other code from its prior;
    the share the reference classifier reads as the requested class, overall and per class."""
    ref = ctx.reference()
    if isinstance(ref, str):
        return {"skipped": ref}
    k = code.dim
    per_class = max(ctx.samples // k, 10)
    classes = torch.arange(k).repeat_interleave(per_class)
    codes = ctx.latent.sample(k * per_class, ctx.generator(CONDITIONAL_SEED))
    codes[code.name] = code.from_label_indices(classes)
    predicted = ref.predict(ctx.generate(codes))
    hits = predicted == classes.numpy()
    names = code.labels if hasattr(code, "labels") else [str(c) for c in range(k)]
    per = {names[c]: float(hits[classes.numpy() == c].mean()) for c in range(k)}
    return {
        "accuracy": float(hits.mean()),
        "per_class": per,
        "worst_class": min(per, key=per.__getitem__),
        "samples_per_class": per_class,
        "seed": ctx.seed + CONDITIONAL_SEED,
        "not_scores": ["samples_per_class"],  # genfw eval --compare leaves them out
    }


@torch.no_grad()
def classifier_accuracy(model: Any, ctx: EvalContext, limit: int = 2000) -> dict[str, float]:
    """The AC-GAN head's accuracy on held-out real images (per epoch: a cheap health check)."""
    test = ctx.held_out
    if test is None or test.labels is None:
        return {}
    images = test.images[:limit].to(ctx.device).float().div_(255.0)
    predicted = model.classify(images).argmax(dim=1).cpu().numpy()
    return {"classifier_accuracy": round(float(np.mean(predicted == test.labels[:limit].numpy())), 5)}


def describe(sections: dict[str, Any]) -> list[str]:
    c = sections.get("conditional", {})
    if "skipped" in c:
        return [f"  conditional accuracy: skipped ({c['skipped']})"]
    if "accuracy" not in c:
        return []
    worst = c["worst_class"]
    return [
        f"  conditional accuracy {c['accuracy']:.4f} (the reference classifier reads the requested class; worst "
        f"class {worst!r} {c['per_class'][worst]:.4f}; {c['samples_per_class']} samples per class)"
    ]
