"""``genfw eval``: what a trained model learned, measured offline.

Two kinds of measure:

- generic ones, in this package, for every model: sample quality against the real data's floor
  in a reference classifier's feature space (when the dataset has labels), and class coverage;
  disentanglement (MIG, DCI, SAP, FactorVAE score) of the codes a model predicts, when the
  dataset has ground-truth factors; the reconstruction error of ``generator(encoder(x))``, when
  the model has an encoder;
- the model's own sections (``Model.evaluate``): how well a predicting network reads codes
  off real images, a VAE's test ELBO, ...

Everything is computed from the run's checkpoint and the dataset, without the training run's
smoke-test limits (``dataset.limit``); the one limit that applies is the opt-in
``eval.held_out`` (a smaller held-out split for quick checks). Each section records its sample
counts and seeds. The metrics themselves are pure functions in ``genfw.metrics``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genfw.atomic import atomic_write_json
from genfw.building import build_dataset
from genfw.contexts import EvalContext
from genfw.evaluation import disentanglement as disentanglement_module
from genfw.evaluation import reconstruction as reconstruction_module
from genfw.evaluation import sample_quality as sample_quality_module
from genfw.evaluation.provenance import provenance
from genfw.export.contract import ENCODER_FILE, MODEL_FILE
from genfw.training.checkpoint import load_trained_model

EVAL_FILE = "eval.json"
#: The top-level keys genfw itself writes into eval.json, in the order it writes them; a model's
#: sections (``Model.evaluate``) may not take these names.
RESERVED_SECTIONS = (
    "run_dir",
    "seed",
    "provenance",
    "reference_net",
    "samples",
    "disentanglement",
    "reconstruction",
    "model_sections",
    "seconds",
)
#: The evaluation seed is the run's seed plus this (fixed, so numbers compare across versions).
SEED_OFFSET = 1000

__all__ = ["EVAL_FILE", "RESERVED_SECTIONS", "EvalContext", "evaluate_model", "evaluate_run", "format_report"]


def evaluate_model(ctx: EvalContext, run_dir: str = "") -> dict[str, Any]:
    """The whole report for a built model and its data: generic sections, then the model's."""
    started = time.perf_counter()
    report: dict[str, Any] = {"run_dir": run_dir, "seed": ctx.seed, "provenance": provenance(ctx)}
    ref = ctx.reference()
    report["reference_net"] = (
        {"accuracy": ref.accuracy, "from_cache": ref.info["from_cache"]}
        if not isinstance(ref, str)
        else {"skipped": ref}
    )
    report["samples"] = sample_quality_module.sample_quality(ctx)
    if disentanglement_module.has_factors(ctx):  # only datasets with ground-truth factors get the section
        report["disentanglement"] = disentanglement_module.disentanglement(ctx)
    if reconstruction_module.has_encoder(ctx):  # only models with an encoder get the section
        report["reconstruction"] = reconstruction_module.reconstruction(ctx)
    own = ctx.model.evaluate(ctx) or {}
    clash = sorted(set(own) & set(RESERVED_SECTIONS))
    if clash:
        from genfw.errors import PluginError

        raise PluginError(
            f"model {type(ctx.model).__name__}'s evaluate() returns section {clash[0]!r}, a name genfw's "
            f"own report uses (reserved: {', '.join(RESERVED_SECTIONS)})",
            fix="this is a bug in that plugin (rename the section); report it to its author",
        )
    report["model_sections"] = list(own)
    report.update(own)
    report["seconds"] = round(time.perf_counter() - started, 1)
    return _jsonable(report)


def evaluate_run(
    run_dir: str | Path,
    *,
    samples: int | None = None,
    seed: int | None = None,
    quiet: bool = False,
    plugins_dirs: tuple[str, ...] = (),
    trust_recorded: bool = False,
) -> dict[str, Any]:
    """Evaluate a run, write ``eval.json`` into it and return the report. The run's exported
    ``generator.onnx`` and ``encoder.onnx`` (and sidecars), if any, get the categories' meanings as labels."""
    run_dir = Path(run_dir)
    resolved, latent, model = load_trained_model(run_dir, plugins_dirs, trust_recorded=trust_recorded)
    data = build_dataset(resolved, purpose="evaluate").held_out_limited(resolved.config.eval.held_out)
    ctx = EvalContext(
        model,
        latent,
        data,
        seed=resolved.config.seed + SEED_OFFSET if seed is None else seed,
        samples=samples or resolved.config.eval.samples,
        disentanglement=resolved.config.eval.disentanglement,
    )
    report = evaluate_model(ctx, str(run_dir))
    atomic_write_json(run_dir / EVAL_FILE, report)
    exports = [run_dir / name for name in (MODEL_FILE, ENCODER_FILE) if (run_dir / name).is_file()]
    if exports:  # the encoder's spec is the generator's: both get the same labels
        from genfw.export import code_meanings, relabel_export

        meanings = code_meanings(run_dir, type(model))
        for path in exports:
            relabel_export(path, meanings)
    if not quiet:
        print(format_report(report, model))
    return report


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return None if not math.isfinite(float(obj)) else round(float(obj), 6)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, torch.Tensor):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    return obj


def format_report(report: dict[str, Any], model=None) -> str:
    ref = report.get("reference_net", {})
    head = (
        f"reference net accuracy {ref['accuracy']:.4f}"
        if "accuracy" in ref
        else f"no reference net: {ref.get('skipped', 'unknown')}"
    )
    lines = [f"evaluation of {report['run_dir']}  ({head})"]
    lines += sample_quality_module.describe(report["samples"])
    if "disentanglement" in report:
        lines += disentanglement_module.describe(report["disentanglement"])
    if "reconstruction" in report:
        lines += reconstruction_module.describe(report["reconstruction"])
    sections = {name: report[name] for name in report.get("model_sections", [])}
    from genfw.model import Model

    lines += (type(model) if model is not None else Model).describe_evaluation(sections)
    return "\n".join(lines)
