"""Generic sample quality, for every model whose dataset has a reference classifier: how far the
generated distribution is from the real one, next to the real-vs-real floor, and how evenly the
samples cover the classes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from genfw.contexts import EvalContext
from genfw.metrics import clustering, distances
from genfw.metrics.precision_recall import precision_recall

#: Offset of this measure's seed from the evaluation seed (fixed, so numbers compare across versions).
OFFSET = 1


def sample_quality(ctx: EvalContext) -> dict[str, Any]:
    """How far generated samples are from real data, in the reference classifier's feature space,
    each next to its real-vs-real floor (as many training images against the same held-out set):
    Frechet classifier distance and KID (the whole distribution), precision and recall
    (Kynkäänniemi et al. 2019: fidelity vs coverage), the Frechet distance per class (samples by
    the class the classifier assigns, real images by their label: which classes are off), and the
    entropy of the classes assigned to the samples (coverage of the classes).

    Returns ``{"skipped": reason}`` when the dataset has no reference classifier.
    """
    ref = ctx.reference()
    if isinstance(ref, str):
        return {"skipped": ref}
    train, test = ctx.data.train, ctx.data.test
    if test is None or test.labels is None or train.labels is None:
        return {"skipped": "the dataset has no labelled held-out split to compare the samples with"}
    seed = ctx.seed + OFFSET
    n = min(ctx.samples, len(train))
    _, fake = ctx.sample(n, OFFSET)
    f_fake, f_test = ref.features(fake), ref.features(test.images)
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed + 1))[:n]
    f_real = ref.features(train.images[pick])
    kid = distances.kernel_inception_distance(f_fake, f_test, rng=np.random.default_rng(seed))
    kid_floor = distances.kernel_inception_distance(f_real, f_test, rng=np.random.default_rng(seed))
    classes = ref.predict(fake)
    n_classes = train.num_classes or ref.num_classes
    fd = distances.frechet_distance(f_fake, f_test)
    floor = distances.frechet_distance(f_real, f_test)
    pr, pr_floor = precision_recall(f_test, f_fake), precision_recall(f_test, f_real)
    test_labels, real_labels = test.labels.numpy(), train.labels[pick].numpy()
    per_class = distances.per_class_frechet(f_fake, classes, f_test, test_labels)
    per_class_floor = distances.per_class_frechet(f_real, real_labels, f_test, test_labels)
    names = train.class_names or tuple(str(c) for c in range(n_classes))
    by_class = {}
    for c, entry in per_class.items():
        label = names[c] if c < len(names) else str(c)
        floor_c = per_class_floor.get(c, {}).get("frechet")
        by_class[label] = {
            "frechet": entry["frechet"],
            "floor": floor_c,
            "samples": entry["a"],
            "ratio": entry["frechet"] / floor_c if entry["frechet"] is not None and floor_c else None,
        }
    return {
        "frechet_classifier_distance": fd,
        "frechet_floor_real_vs_real": floor,
        "frechet_ratio": fd / floor if floor > 0 else None,
        "kid": kid[0],
        "kid_std": kid[1],
        "kid_floor_real_vs_real": kid_floor[0],
        "precision": pr["precision"],
        "recall": pr["recall"],
        "precision_floor_real_vs_real": pr_floor["precision"],
        "recall_floor_real_vs_real": pr_floor["recall"],
        "precision_recall_k": pr["k"],
        "frechet_per_class": by_class,
        "predicted_class_entropy": max(0.0, clustering.prediction_entropy(classes, n_classes)),
        "max_entropy": math.log(n_classes),
        "class_histogram": np.bincount(classes, minlength=n_classes).tolist(),
        "samples": n,
        "seed": seed,
    }


def describe(section: dict[str, Any]) -> list[str]:
    if "skipped" in section:
        return [f"  sample quality: skipped ({section['skipped']})"]
    s = section
    return [
        f"  Frechet classifier distance {s['frechet_classifier_distance']:.3f}  (real-vs-real floor "
        f"{s['frechet_floor_real_vs_real']:.3f})  KID {s['kid']:.5f} (floor {s['kid_floor_real_vs_real']:.5f})  "
        f"[{s['samples']} samples, seed {s['seed']}]",
        f"  precision {s['precision']:.3f} (floor {s['precision_floor_real_vs_real']:.3f})  recall {s['recall']:.3f} "
        f"(floor {s['recall_floor_real_vs_real']:.3f})  [k={s['precision_recall_k']}]",
        "  Frechet distance per class (x the class's floor): "
        + ", ".join(
            f"{label} {c['ratio']:.1f}x" if c.get("ratio") is not None else f"{label} -"
            for label, c in s.get("frechet_per_class", {}).items()
        ),
        f"  predicted-class entropy {s['predicted_class_entropy']:.4f} of max {s['max_entropy']:.4f}",
    ]
