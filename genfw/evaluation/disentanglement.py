"""Generic disentanglement evaluation, for every model whose dataset has ground-truth factors and
whose ``predict_codes`` returns predictions (a GAN's auxiliary head, a VAE's encoder).

The representation of an image is the model's point estimate of every code it predicts,
``latent[name].predict(prediction)`` (a gaussian code's mean, a categorical code's probabilities),
concatenated in config order. It is computed once for a pool of real images, the held-out split
(or the training split when there is none), at most ``4 * ctx.samples`` of them (seeded), and the
metrics of :mod:`genfw.metrics.disentanglement` are measured on it, with disentanglement_lib's
sizes scaled by ``ctx.samples`` (10,000 by default, as in disentanglement_lib):

- MIG on ``samples`` points (20-bin histograms);
- DCI and SAP on ``samples`` training and ``samples / 2`` test points (at most two thirds of the
  pool for training and the rest for testing, which binds only on a small split), computed as
  the reference study computes them (``eval.disentanglement: "reference"``: gradient-boosted
  classifiers, SAP's discrete variant) or genfw's fast variant (``"fast"``: regression trees, SAP
  continuous), named in the section as ``variant``;
- the FactorVAE score from ``samples`` training and ``samples / 2`` evaluation votes, each a batch
  of 64 pool images sharing the value of one factor (drawn from the pool by the factor values the
  dataset gives, exactly the fixed-factor batches a ground-truth generator would render: for
  dSprites every value of every factor is in a held-out split of the full grid), and the global
  variances from ``samples`` points.

Every entry records its point counts and its seed (the evaluation seed plus an offset per metric).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from genfw.contexts import EvalContext
from genfw.metrics import disentanglement as metrics

#: Offsets of this section's seeds from the evaluation seed.
POOL_OFFSET, MIG_OFFSET, DCI_OFFSET, SAP_OFFSET, FACTOR_VAE_OFFSET = 30, 31, 32, 33, 34
#: The pool of images whose representation is computed, as a multiple of ``ctx.samples``.
POOL_MULTIPLE = 4
FACTOR_VAE_BATCH = 64


@dataclass(frozen=True)
class Variant:
    """How DCI and SAP are computed (see genfw.metrics.disentanglement)."""

    dci_predictor: metrics.Predictor
    sap_continuous: bool
    description: str


#: ``eval.disentanglement``'s choices: the reference study's settings, and the fast ones.
VARIANTS = {
    "reference": Variant("gbt_classifier", False, "disentanglement_lib's settings (Locatello et al. 2019)"),
    "fast": Variant(
        "gbt_regressor",
        True,
        "genfw's fast variant (DCI regression trees, SAP continuous); not comparable with the literature",
    ),
}


def _pool(ctx: EvalContext):
    split = ctx.held_out if ctx.held_out is not None and ctx.held_out.factors is not None else ctx.data.train
    name = "held-out" if split is ctx.held_out else "train"
    return split, name


def has_factors(ctx: EvalContext) -> bool:
    return ctx.data.train.factors is not None or (ctx.held_out is not None and ctx.held_out.factors is not None)


def representation(ctx: EvalContext, images: torch.Tensor) -> tuple[np.ndarray, list[str]] | None:
    """The point estimates of every predicted code for ``images``, concatenated ``[n, d]``, and a
    name per column (``code`` or ``code[j]``); None when the model predicts no codes."""
    pred = ctx.predict_codes(images)
    if not pred:
        return None
    parts, names = [], []
    for code in ctx.latent.predictable:
        if code.name not in pred:
            continue
        point = code.predict(pred[code.name]).float().reshape(len(images), -1)
        parts.append(point)
        names += [code.name] if point.shape[1] == 1 else [f"{code.name}[{j}]" for j in range(point.shape[1])]
    if not parts:
        return None
    return torch.cat(parts, dim=1).double().numpy(), names


def disentanglement(ctx: EvalContext) -> dict[str, Any]:
    """MIG, DCI, SAP and the FactorVAE score of the model's representation against the dataset's
    factors, or ``{"skipped": reason}``."""
    if not has_factors(ctx):
        return {"skipped": "the dataset has no factors"}
    started = time.perf_counter()
    split, split_name = _pool(ctx)
    n_pool = min(len(split), POOL_MULTIPLE * ctx.samples)
    pool_seed = ctx.seed + POOL_OFFSET
    rows = np.sort(np.random.default_rng(pool_seed).choice(len(split), size=n_pool, replace=False))
    made = representation(ctx, split.images[torch.from_numpy(rows)])
    if made is None:
        return {"skipped": "the model predicts no codes (predict_codes returned nothing)"}
    codes, columns = made
    factors = split.factors[torch.from_numpy(rows)].numpy()
    names = list(split.factor_names or [f"factor{j}" for j in range(factors.shape[1])])
    used = metrics.varying_factors(factors)
    if len(used) == 0:
        return {"skipped": "every factor is constant in the evaluated split"}
    if n_pool < 10:
        return {"skipped": f"the evaluated split has only {n_pool} images"}

    n = min(ctx.samples, n_pool)
    mig_seed = ctx.seed + MIG_OFFSET
    pick = np.random.default_rng(mig_seed).permutation(n_pool)[:n]
    mig = metrics.mig(codes[pick], factors[pick])

    def train_test(offset: int) -> tuple[np.ndarray, np.ndarray, int]:
        seed = ctx.seed + offset
        order = np.random.default_rng(seed).permutation(n_pool)
        n_train = min(ctx.samples, n_pool * 2 // 3)
        n_test = min(max(ctx.samples // 2, 1), n_pool - n_train)
        return order[:n_train], order[n_train : n_train + n_test], seed

    variant = VARIANTS[ctx.disentanglement]
    tr, te, dci_seed = train_test(DCI_OFFSET)
    dci = metrics.dci(
        codes[tr],
        factors[tr],
        codes[te],
        factors[te],
        rng=np.random.default_rng(dci_seed),
        predictor=variant.dci_predictor,
    )
    tr, te, sap_seed = train_test(SAP_OFFSET)
    sap = metrics.sap(codes[tr], factors[tr], codes[te], factors[te], continuous=variant.sap_continuous)
    fv_seed = ctx.seed + FACTOR_VAE_OFFSET
    fvae = metrics.factor_vae_score(
        codes,
        factors,
        rng=np.random.default_rng(fv_seed),
        batch_size=FACTOR_VAE_BATCH,
        num_train=ctx.samples,
        num_eval=max(ctx.samples // 2, 1),
        num_variance=ctx.samples,
    )

    factor_names = [names[k] for k in used]
    return {
        "mig": mig["mig"],
        "dci_disentanglement": dci["disentanglement"],
        "dci_completeness": dci["completeness"],
        "dci_informativeness": dci["informativeness_test"],
        "sap": sap["sap"],
        "factor_vae_score": fvae["eval_accuracy"],
        "factors": factor_names,
        "variant": {"name": ctx.disentanglement, "description": variant.description},
        "representation": {"columns": columns, "pool": int(n_pool), "split": split_name, "seed": pool_seed},
        "details": {
            "mig": {
                "per_factor": dict(zip(factor_names, mig["per_factor"])),
                "points": mig["points"],
                "bins": mig["bins"],
                "seed": mig_seed,
            },
            "dci": {
                "informativeness_train": dci["informativeness_train"],
                "importance": dci["importance"],
                "predictor": dci["predictor"],
                "train_points": dci["train_points"],
                "test_points": dci["test_points"],
                "seed": dci_seed,
            },
            "sap": {
                "per_factor": dict(zip(factor_names, sap["per_factor"])),
                "points": sap["points"],
                "continuous": sap["continuous"],
                "seed": sap_seed,
            },
            "factor_vae": {
                "train_accuracy": fvae["train_accuracy"],
                "active_dims": fvae["active_dims"],
                "chance": 1.0 / len(used),
                "batch_size": fvae["batch_size"],
                "train_votes": fvae["num_train"],
                "eval_votes": fvae["num_eval"],
                "variance_points": fvae["num_variance"],
                "seed": fv_seed,
            },
        },
        "seconds": round(time.perf_counter() - started, 1),
    }


def describe(section: dict[str, Any]) -> list[str]:
    if "skipped" in section:
        return [f"  disentanglement: skipped ({section['skipped']})"]
    s, d = section, section["details"]
    variant = s.get("variant", {}).get(
        "name", "fast"
    )  # eval.json written before variants were named: the fast settings
    return [
        f"  disentanglement ({variant} settings, {len(s['factors'])} factors, {s['representation']['pool']} {s['representation']['split']} "
        f"images): MIG {s['mig']:.3f}  DCI disentanglement {s['dci_disentanglement']:.3f} completeness "
        f"{s['dci_completeness']:.3f} informativeness {s['dci_informativeness']:.3f}  SAP {s['sap']:.3f}  "
        f"FactorVAE {s['factor_vae_score']:.3f} (chance {d['factor_vae']['chance']:.2f})"
    ]
