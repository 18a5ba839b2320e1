"""Does a smaller export (``genfw export --weights fp16|int8``) keep the trained model's quality?

For a trained run, exports the generator in each weight format and measures, on images that
onnxruntime generates from each exported file, the two numbers ``genfw eval`` reports:

- **code consistency** of each categorical code (samples of every category, read by the
  reference classifier; accuracy after matching categories to classes), and
- **Frechet classifier distance** of prior samples to the held-out set in the reference
  classifier's feature space,

with genfw's own functions (``genfw.evaluation.sample_quality``, InfoGAN's
``code_consistency``), the same reference classifier, seeds and sample counts as ``genfw eval``;
only the generation runs through the .onnx file instead of torch. A variant passes when its code
consistency is within 1 point (0.01) and its Frechet distance within 10% of fp32's.

    python bench/onnx_quality.py RUN_DIR                       # fp32, fp16, int8; the run's eval.samples
    python bench/onnx_quality.py RUN_DIR --samples 5000 --check   # exit 1 unless the variants pass
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: What a smaller export may lose against fp32 (docs/onnx.md).
MAX_CONSISTENCY_DROP = 0.01  # 1 point of code consistency
MAX_FRECHET_RISE = 0.10      # 10% of fp32's Frechet classifier distance


class OnnxGenerated:
    """The part of a model an EvalContext generates with, backed by an exported .onnx file: the
    evaluation's codes go to onnxruntime as they are (one float32 input per code)."""

    def __init__(self, path: Path, threads: int):
        from genfw.runtime import Generator

        self.runtime = Generator.load(path, threads=threads)

    def generate(self, codes):
        import torch

        images = self.runtime.run({name: value.detach().cpu().numpy() for name, value in codes.items()}, batch_size=1000)
        return torch.from_numpy(images)


def measure(ctx, codes_consistency) -> dict:
    from genfw.evaluation import sample_quality

    started = time.perf_counter()
    quality = sample_quality.sample_quality(ctx)
    consistency = codes_consistency(ctx)
    return {"frechet": quality["frechet_classifier_distance"], "frechet_floor": quality["frechet_floor_real_vs_real"],
            "consistency": {name: c["accuracy"] for name, c in consistency.items() if name != "skipped"},
            "samples": quality["samples"], "seconds": round(time.perf_counter() - started, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a trained run directory")
    parser.add_argument("--weights", nargs="+", default=["fp32", "fp16", "int8"], choices=["fp32", "fp16", "int8"])
    parser.add_argument("--samples", type=int, default=None, help="samples per measure (default: the run's eval.samples)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--torch", action="store_true", help="also measure the torch generator (what genfw eval reports)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--check", action="store_true", help="exit 1 unless every variant is within the limits")
    args = parser.parse_args(argv)

    import torch
    from genfw_infogan.evaluation import code_consistency

    from genfw.building import build_dataset
    from genfw.evaluation import SEED_OFFSET, EvalContext
    from genfw.export import category_meanings, export_generator
    from genfw.training.checkpoint import load_trained_model

    torch.set_num_threads(args.threads)
    resolved, latent, model = load_trained_model(args.run)
    data = build_dataset(resolved, purpose="evaluate")
    samples = args.samples or resolved.config.eval.samples
    seed = resolved.config.seed + SEED_OFFSET  # genfw eval's seed: the same draws as eval.json
    reference = None
    results: dict[str, dict] = {}
    weights = list(dict.fromkeys(["fp32", *args.weights]))
    with tempfile.TemporaryDirectory() as tmp:
        for w in weights:
            report = export_generator(model.generator.cpu().float().eval(), latent, data.train.image_shape,
                                      Path(tmp) / f"generator-{w}.onnx", weights=w, categories=category_meanings(args.run, type(model)))
            ctx = EvalContext(OnnxGenerated(Path(report["path"]), args.threads), latent, data, seed=seed, samples=samples,
                              _reference=reference)
            results[w] = {"bytes": report["bytes"], "max_abs_diff": report["max_abs_diff"],
                          "mean_abs_diff": report["mean_abs_diff"], **measure(ctx, code_consistency)}
            reference = ctx.reference()  # trained (or read from the cache) once
            print(f"{w}: {json.dumps(results[w])}", flush=True)
        if args.torch:
            ctx = EvalContext(model, latent, data, seed=seed, samples=samples, _reference=reference)
            results["torch"] = measure(ctx, code_consistency)
            print(f"torch: {json.dumps(results['torch'])}", flush=True)

    base = results["fp32"]
    ok = True
    print(f"\n{args.run}: {samples} samples per measure, seed {seed}, reference classifier as in genfw eval")
    print(f"{'':<6} {'MB':>6} {'max |diff|':>10} {'mean |diff|':>11} {'Frechet':>9} {'vs fp32':>8}   code consistency (vs fp32)")
    for w, r in results.items():
        size = f"{r['bytes'] / 1e6:>6.1f}" if "bytes" in r else f"{'':>6}"
        diffs = f"{r['max_abs_diff']:>10.1e} {r['mean_abs_diff']:>11.1e}" if "max_abs_diff" in r else f"{'':>10} {'':>11}"
        rise = r["frechet"] / base["frechet"] - 1
        drops = {name: base["consistency"][name] - acc for name, acc in r["consistency"].items()}
        cc = ", ".join(f"{name} {acc:.4f} ({-drops[name] * 100 + 0.0:+.2f} pt)" for name, acc in r["consistency"].items())
        print(f"{w:<6} {size} {diffs} {r['frechet']:>9.3f} {rise * 100:>+7.1f}%   {cc}")
        if w not in ("fp32", "torch"):
            passed = rise <= MAX_FRECHET_RISE and all(d <= MAX_CONSISTENCY_DROP for d in drops.values())
            r["passed"] = passed
            ok &= passed
    print(f"\nlimits: code consistency at most {MAX_CONSISTENCY_DROP * 100:g} point below fp32, Frechet distance at most "
          f"{MAX_FRECHET_RISE:.0%} above; " + ", ".join(f"{w} {'ok' if r['passed'] else 'NOT MET'}"
                                                      for w, r in results.items() if "passed" in r))
    if args.json:
        args.json.write_text(json.dumps({"run": str(args.run), "samples": samples, "seed": seed, "results": results}, indent=2))
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
