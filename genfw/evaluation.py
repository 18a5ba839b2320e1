"""``genfw eval``: what a trained generator learned, measured offline.

Everything here is computed from the run's checkpoint, the dataset's held-out split and a small
reference classifier that genfw trains once per dataset and caches (no downloads). Each figure
records its sample count and seed. The metrics themselves are pure functions in genfw.metrics.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genfw.atomic import atomic_write_json
from genfw.components import build_eval_dataset, build_full_dataset
from genfw.errors import DataError
from genfw.metrics import clustering, distances, image_stats
from genfw.training.checkpoint import load_trained_model

EVAL_FILE = "eval.json"


def _images(model, codes: dict[str, torch.Tensor], batch: int = 1000) -> torch.Tensor:
    names = list(codes)
    n = codes[names[0]].shape[0]
    return torch.cat([model.generate({k: v[i:i + batch] for k, v in codes.items()}) for i in range(0, n, batch)])


def q_predictions(model, latent, images: torch.Tensor, *, batch: int = 1000, device: torch.device | str = "cpu",
                  autocast=None) -> dict[str, np.ndarray] | None:
    """Q's predicted value index of every one-hot code for uint8 images, in one pass over them;
    None when the model has no encoder."""
    names = [c.name for c in latent.informative if c.one_hot]
    preds: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    for i in range(0, len(images), batch):
        x = images[i:i + batch].to(device).float().div_(255.0)
        with torch.no_grad(), (autocast() if autocast else contextlib.nullcontext()):
            q = model.infer_codes(x)
        if q is None:
            return None
        for name in names:
            preds[name].append(q[name].float().argmax(dim=1).cpu())
    return {name: torch.cat(p).numpy() for name, p in preds.items()}


def q_on_real(model, latent, test) -> dict[str, Any]:
    """Q's prediction of each one-hot code on real held-out images, matched to the labels."""
    labels = test.labels.numpy()
    out = {}
    for name, pred in (q_predictions(model, latent, test.images) or {}).items():
        out[name] = {
            "accuracy": clustering.cluster_accuracy(labels, pred),
            "nmi": clustering.nmi(labels, pred),
            "ari": clustering.ari(labels, pred),
            "matching": {str(k): int(v) for k, v in clustering.cluster_matching(labels, pred).items()},
            "n": int(len(labels)),
        }
    return out


def code_consistency(model, latent, ref, per_value: int, seed: int) -> dict[str, Any]:
    """For each value of each discrete code: samples with that value, classified by the reference
    net; accuracy after matching values to classes says how often the code means one class."""
    from genfw.metrics.reference_net import predict

    out = {}
    rng = torch.Generator().manual_seed(seed)
    for code in latent.informative:
        if not code.one_hot:
            continue
        k = code.dim
        values = torch.arange(k).repeat_interleave(per_value)
        codes = latent.sample(k * per_value, rng)
        codes[code.name] = torch.eye(k)[values]
        pred = predict(ref, _images(model, codes))
        per = {}
        for v in range(k):
            counts = np.bincount(pred[values.numpy() == v], minlength=10)
            per[str(v)] = {"class": int(counts.argmax()), "share": float(counts.max() / per_value)}
        out[code.name] = {
            "accuracy": clustering.cluster_accuracy(pred, values.numpy()),
            "per_value": per,
            "samples_per_value": per_value,
            "seed": seed,
        }
    return out


def sample_quality(model, latent, ref, train, test, n: int, seed: int) -> dict[str, Any]:
    """Frechet classifier distance and KID of n samples against the held-out set, next to the
    real-vs-real floor (n training images against the same held-out set)."""
    from genfw.metrics.reference_net import features, predict

    rng = torch.Generator().manual_seed(seed)
    fake = _images(model, latent.sample(n, rng))
    f_fake, f_test = features(ref, fake), features(ref, test.images.float() / 255.0)
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed + 1))[:n]
    f_real = features(ref, train.images[pick].float() / 255.0)
    kid = distances.kernel_inception_distance(f_fake, f_test, rng=np.random.default_rng(seed))
    kid_floor = distances.kernel_inception_distance(f_real, f_test, rng=np.random.default_rng(seed))
    classes = predict(ref, fake)
    n_classes = len(train.class_names) if train.class_names else int(test.labels.max()) + 1
    return {
        "frechet_classifier_distance": distances.frechet_distance(f_fake, f_test),
        "frechet_floor_real_vs_real": distances.frechet_distance(f_real, f_test),
        "kid": kid[0], "kid_std": kid[1],
        "kid_floor_real_vs_real": kid_floor[0],
        "predicted_class_entropy": max(0.0, clustering.prediction_entropy(classes, n_classes)),
        "max_entropy": math.log(n_classes),
        "class_histogram": np.bincount(classes, minlength=n_classes).tolist(),
        "samples": n, "seed": seed,
    }


def continuous_effects(model, latent, n_styles: int, steps: int, seed: int) -> dict[str, Any]:
    """For each continuous code: sweep it while every other code stays at a random draw, and
    correlate the swept value with image statistics (slant, stroke width, ink width)."""
    out = {}
    rng = torch.Generator().manual_seed(seed)
    for code in latent:
        if not (code.informative and code.continuous):
            continue
        sweep = code.traverse(steps)  # [steps, dim]
        base = latent.sample(n_styles, rng)
        codes = {name: v.repeat_interleave(steps, dim=0) for name, v in base.items()}
        codes[code.name] = sweep.repeat(n_styles, 1)
        imgs = _images(model, codes)[:, 0].numpy()
        values = codes[code.name][:, 0].numpy()
        stats = {"slant": image_stats.slant(imgs), "stroke_width": image_stats.stroke_width(imgs),
                 "ink_width": image_stats.ink_width(imgs)}
        effects = {}
        for name, s in stats.items():
            # Per style, the statistic's change from the sweep's start: removes style-to-style offsets.
            s = s.reshape(n_styles, steps)
            effects[name] = image_stats.code_effect(values, (s - s[:, :1]).ravel())
            effects[name]["mean_change_over_sweep"] = float(np.nanmean(s[:, -1] - s[:, 0]))
        strongest = max(effects, key=lambda k: abs(effects[k]["spearman"]) if np.isfinite(effects[k]["spearman"]) else -1)
        out[code.name] = {"effects": effects, "strongest": strongest, "range": [float(sweep.min()), float(sweep.max())],
                          "styles": n_styles, "steps": steps, "seed": seed}
    return out


def evaluate_run(run_dir: str | Path, *, samples: int | None = None, seed: int | None = None, quiet: bool = False,
                 plugins_dirs: tuple[str, ...] = ()) -> dict[str, Any]:
    """Evaluate a run, write ``eval.json`` into it and return the report."""
    run_dir = Path(run_dir)
    started = time.perf_counter()
    resolved, latent, model = load_trained_model(run_dir, plugins_dirs)
    test = build_eval_dataset(resolved, full=True)
    if test is None:
        raise DataError(f"dataset {resolved.dataset.type!r} has no labelled held-out split to evaluate against",
                        where=str(run_dir / "config.json"))
    train = build_full_dataset(resolved)
    from genfw.metrics.reference_net import load_or_train_reference_net

    ref, ref_info = load_or_train_reference_net(train, test)
    n = samples or resolved.config.eval.samples
    seed = resolved.config.seed + 1000 if seed is None else seed
    report = {
        "run_dir": str(run_dir),
        "reference_net": {"accuracy": ref_info["accuracy"], "from_cache": ref_info["from_cache"]},
        "q_on_real": q_on_real(model, latent, test),
        "code_consistency": code_consistency(model, latent, ref, per_value=max(n // 10, 10), seed=seed),
        "samples": sample_quality(model, latent, ref, train, test, n=min(n, len(train)), seed=seed + 1),
        "continuous_codes": continuous_effects(model, latent, n_styles=200, steps=9, seed=seed + 2),
    }
    report["seconds"] = round(time.perf_counter() - started, 1)
    atomic_write_json(run_dir / EVAL_FILE, _jsonable(report))
    if not quiet:
        print(format_report(report))
    return report


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return None if not math.isfinite(float(obj)) else round(float(obj), 6)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def format_report(r: dict[str, Any]) -> str:
    lines = [f"evaluation of {r['run_dir']}  (reference net accuracy {r['reference_net']['accuracy']:.4f})"]
    for name, q in r["q_on_real"].items():
        lines.append(f"  Q on real test set, code {name}: accuracy {q['accuracy']:.4f}  NMI {q['nmi']:.4f}  ARI {q['ari']:.4f}")
    for name, c in r["code_consistency"].items():
        lines.append(f"  code consistency, {name}: {c['accuracy']:.4f} ({c['samples_per_value']} samples per value)")
    s = r["samples"]
    lines.append(f"  Frechet classifier distance {s['frechet_classifier_distance']:.3f}  (real-vs-real floor {s['frechet_floor_real_vs_real']:.3f})"
                 f"  KID {s['kid']:.5f} (floor {s['kid_floor_real_vs_real']:.5f})  [{s['samples']} samples, seed {s['seed']}]")
    lines.append(f"  predicted-class entropy {s['predicted_class_entropy']:.4f} of max {s['max_entropy']:.4f}")
    for name, c in r["continuous_codes"].items():
        e = c["effects"]
        lines.append(f"  continuous {name}: strongest {c['strongest']}; spearman slant {e['slant']['spearman']:+.3f}, "
                     f"stroke width {e['stroke_width']['spearman']:+.3f}, ink width {e['ink_width']['spearman']:+.3f}")
    return "\n".join(lines)
