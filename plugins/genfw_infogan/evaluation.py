"""What InfoGAN adds to genfw's evaluation: how well Q reads the categories off real images, how
consistently each category means one class, and what each continuous code does to the image.

Seeds are offsets from the evaluation seed (fixed, so numbers compare across versions).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from genfw.api import (
    EvalContext,
    ari,
    circular_linear_correlation,
    cluster_accuracy,
    cluster_matching,
    code_effect,
    ink_width,
    nmi,
    slant,
    stroke_width,
)

CONSISTENCY_SEED, CONTINUOUS_SEED = 0, 2


def _categorical_predictions(ctx: EvalContext, images: torch.Tensor) -> dict[str, np.ndarray]:
    """Q's predicted category of every one-hot code for images."""
    pred = ctx.predict_codes(images) or {}
    return {name: p.argmax(dim=1).numpy() for name, p in pred.items() if ctx.latent[name].one_hot}


def q_accuracy(ctx: EvalContext) -> dict[str, float]:
    """Per-epoch: Q's categorical accuracy on the held-out split after Hungarian matching."""
    test = ctx.held_out
    if test is None or test.labels is None:
        return {}
    labels = test.labels.numpy()
    return {
        f"q_accuracy_{name}": round(float(cluster_accuracy(labels, p)), 5)
        for name, p in _categorical_predictions(ctx, test.images).items()
    }


def q_on_real(ctx: EvalContext) -> dict[str, Any]:
    """Q's prediction of each one-hot code on real held-out images, matched to the labels."""
    test = ctx.held_out
    if test is None or test.labels is None:
        return {"skipped": "the dataset has no labelled held-out split"}
    labels = test.labels.numpy()
    out: dict[str, Any] = {}
    for name, pred in _categorical_predictions(ctx, test.images).items():
        out[name] = {
            "accuracy": cluster_accuracy(labels, pred),
            "nmi": nmi(labels, pred),
            "ari": ari(labels, pred),
            "matching": {str(k): int(v) for k, v in cluster_matching(labels, pred).items()},
            "n": len(labels),
            "not_scores": ["matching"],  # genfw eval --compare leaves them out
        }
        if ctx.latent[name].from_labels:  # category v was trained to mean class v: no matching
            out[name]["accuracy_as_labelled"] = float((pred == labels).mean())
    return out


def code_consistency(ctx: EvalContext) -> dict[str, Any]:
    """For each value of each categorical code: samples with that value, classified by the
    reference classifier; accuracy after matching values to classes says how often the code
    means one class, and ``per_value`` names the class each category came to mean."""
    ref = ctx.reference()
    if isinstance(ref, str):
        return {"skipped": ref}
    per_value = max(ctx.samples // 10, 10)
    class_names = ctx.data.train.class_names
    out: dict[str, Any] = {}
    rng = ctx.generator(CONSISTENCY_SEED)
    for code in ctx.latent.predictable:
        if not code.one_hot:
            continue
        k = code.dim
        values = torch.arange(k).repeat_interleave(per_value)
        codes = ctx.latent.sample(k * per_value, rng)
        codes[code.name] = torch.eye(k)[values]
        pred = ref.predict(ctx.generate(codes))
        per: dict[str, dict[str, Any]] = {}
        for v in range(k):
            counts = np.bincount(pred[values.numpy() == v], minlength=ref.num_classes)
            cls = int(counts.argmax())
            per[str(v)] = {"class": cls, "share": float(counts.max() / per_value)}
            if class_names and cls < len(class_names):
                per[str(v)]["label"] = class_names[cls]
        out[code.name] = {
            "accuracy": cluster_accuracy(pred, values.numpy()),
            **({"accuracy_as_labelled": float((pred == values.numpy()).mean())} if code.from_labels else {}),
            "per_value": per,
            "samples_per_value": per_value,
            "seed": ctx.seed + CONSISTENCY_SEED,
            "not_scores": ["samples_per_value", "per_value.*.class"],
        }
    return out


def continuous_effects(ctx: EvalContext, n_styles: int = 200, steps: int = 9) -> dict[str, Any]:
    """For each dimension of each continuous code Q predicts: sweep it over its traversal range
    while every other code stays at a random draw, and correlate the swept value with image
    statistics (slant, stroke width, ink width). Entries are named by code, or ``code[j]`` for
    dimension j of a multi-dimensional code.

    A periodic code (an angle) sweeps one full turn, (low, high], and its effects are Mardia's
    circular-linear correlation (``circular_linear``, in [0, 1]) instead of Spearman's rank
    correlation of the raw angle, which depends on where the circle is cut and misses an effect
    that rises and falls over a turn; ``statistic`` says which an entry has."""
    if ctx.data.train.image_shape[0] != 1:
        return {"skipped": "slant and stroke width are measured on single-channel images"}
    out: dict[str, Any] = {}
    rng = ctx.generator(CONTINUOUS_SEED)
    for code in ctx.latent.predictable:
        r = code.traversal_range()
        if not code.continuous or r is None:
            continue
        sweep = torch.linspace(r[0], r[1], steps + 1)[1:] if code.periodic else torch.linspace(r[0], r[1], steps)
        for j in range(code.dim):
            base = ctx.latent.sample(n_styles, rng)
            codes = {name: v.repeat_interleave(steps, dim=0) for name, v in base.items()}
            swept = codes[code.name].clone()
            swept[:, j] = sweep.repeat(n_styles)
            codes[code.name] = swept
            imgs = ctx.generate(codes)[:, 0].numpy()
            values = swept[:, j].numpy()
            stats = {"slant": slant(imgs), "stroke_width": stroke_width(imgs), "ink_width": ink_width(imgs)}
            effects = {}
            for stat, s in stats.items():
                # Per style, the statistic's change from the sweep's start: removes style-to-style offsets.
                s = s.reshape(n_styles, steps)
                if code.periodic:
                    effects[stat] = circular_linear_correlation(values, (s - s[:, :1]).ravel())
                    effects[stat]["mean_range_over_sweep"] = float(np.nanmean(np.nanmax(s, 1) - np.nanmin(s, 1)))
                else:
                    effects[stat] = code_effect(values, (s - s[:, :1]).ravel())
                    effects[stat]["mean_change_over_sweep"] = float(np.nanmean(s[:, -1] - s[:, 0]))
            statistic = "circular_linear" if code.periodic else "spearman"
            strongest = max(
                effects, key=lambda k: abs(effects[k][statistic]) if np.isfinite(effects[k][statistic]) else -1
            )
            key = code.name if code.dim == 1 else f"{code.name}[{j}]"
            out[key] = {
                "effects": effects,
                "strongest": strongest,
                "statistic": statistic,
                "range": [float(r[0]), float(r[1])],
                "styles": n_styles,
                "steps": steps,
                "seed": ctx.seed + CONTINUOUS_SEED,
                "not_scores": ["styles", "steps"],
            }
    return out


def control_meanings(section: Any) -> dict[str, list[dict[str, Any]]]:
    """:func:`continuous_effects`'s section as ``{code: [{"property", "statistic", "correlation"}
    per dimension]}``; a code with any dimension missing or unreadable is left out."""
    if not isinstance(section, dict):
        return {}
    per_dim: dict[str, dict[int, dict[str, Any]]] = {}
    for key, entry in section.items():
        name, _, index = str(key).partition("[")
        try:
            statistic, strongest = entry["statistic"], entry["strongest"]
            value = float(entry["effects"][strongest][statistic])
            j = int(index.rstrip("]")) if index else 0
        except (KeyError, TypeError, ValueError):
            continue
        if np.isfinite(value):
            per_dim.setdefault(name, {})[j] = {"property": strongest, "statistic": statistic, "correlation": value}
    return {
        name: [dims[j] for j in range(len(dims))]
        for name, dims in per_dim.items()
        if set(dims) == set(range(len(dims)))
    }


def describe(sections: dict[str, Any]) -> list[str]:
    """The lines ``genfw eval`` prints for InfoGAN's sections."""
    lines = []
    for name, q in sections.get("q_on_real", {}).items():
        if name == "skipped":
            lines.append(f"  Q on real test set: skipped ({q})")
            continue
        as_labelled = f"  as labelled {q['accuracy_as_labelled']:.4f}" if "accuracy_as_labelled" in q else ""
        lines.append(
            f"  Q on real test set, code {name}: accuracy {q['accuracy']:.4f}{as_labelled}  NMI {q['nmi']:.4f}  "
            f"ARI {q['ari']:.4f}"
        )
    for name, c in sections.get("code_consistency", {}).items():
        if name == "skipped":
            lines.append(f"  code consistency: skipped ({c})")
            continue
        as_labelled = f", as labelled {c['accuracy_as_labelled']:.4f}" if "accuracy_as_labelled" in c else ""
        lines.append(
            f"  code consistency, {name}: {c['accuracy']:.4f}{as_labelled} ({c['samples_per_value']} samples per value)"
        )
    for name, c in sections.get("continuous_codes", {}).items():
        if name == "skipped":
            lines.append(f"  continuous codes: skipped ({c})")
            continue
        e, statistic = c["effects"], c.get("statistic", "spearman")
        word = "circular-linear r" if statistic == "circular_linear" else "spearman"
        lines.append(
            f"  continuous {name}: strongest {c['strongest']}; {word} slant {e['slant'][statistic]:+.3f}, "
            f"stroke width {e['stroke_width'][statistic]:+.3f}, ink width {e['ink_width'][statistic]:+.3f}"
        )
    return lines
