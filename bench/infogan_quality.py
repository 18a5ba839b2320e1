"""InfoGAN quality on MNIST, from the shipped config: does the categorical code mean the digit?

Trains with configs/infogan_mnist.json (or reads a finished run with --run) and prints, on the
real MNIST test set:
- the accuracy of Q's categorical prediction against the true digits, after Hungarian matching of
  categories to digits (the paper reports about 5% error);
- the mutual-information lower bound H(c) - E[-log Q(c|G(z,c))] of each code, on fresh samples
  (ln 10 = 2.303 nats is the maximum for a 10-way code);
- epochs, steps and wall time of training.

    python bench/infogan_quality.py                  # trains (about 23 minutes on 2 CPU cores)
    python bench/infogan_quality.py --run runs/infogan_mnist-...   # measure a finished run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def measure(run_dir: Path, data_root: str, samples: int = 10000, seed: int = 1234) -> dict:
    from genfw.data.base import Dataset
    from genfw.data.mnist import load_mnist
    from genfw.evaluation import EvalContext
    from genfw.training.checkpoint import load_trained_model
    from genfw_infogan.evaluation import q_on_real

    resolved, latent, model = load_trained_model(run_dir)
    data = Dataset(load_mnist(data_root, "train", download=False), load_mnist(data_root, "test", download=False))
    ctx = EvalContext(model, latent, data, seed=seed, samples=samples)  # the test split is the held-out one
    codes = latent.sample(samples, torch.Generator().manual_seed(seed))
    q_fake = ctx.predict_codes(ctx.generate(codes))
    out: dict = {"run_dir": str(run_dir)}
    for code in latent.predictable:
        nll = code.nll(q_fake[code.name], codes[code.name])
        if code.entropy() is not None:
            out[f"mi_lower_bound_{code.name}"] = round(code.entropy() - nll.mean().item(), 4)
            if not code.continuous:  # differential entropy bounds nothing: only discrete codes have a maximum
                out[f"mi_max_{code.name}"] = round(code.entropy(), 4)
    for name, q in q_on_real(ctx).items():
        if name == "skipped":
            continue
        out[f"q_accuracy_{name}"] = round(q["accuracy"], 4)
        out[f"q_nmi_{name}"] = round(q["nmi"], 4)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, help="A finished run directory to measure instead of training")
    ap.add_argument("--config", type=Path, default=REPO / "configs" / "infogan_mnist.json")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="Config overrides for training")
    ap.add_argument("--data", default=os.environ.get("GENFW_DATA") or str(REPO.parent / "shared" / "data"))
    args = ap.parse_args()
    run_dir, wall = args.run, None
    if run_dir is None:
        run_dir = Path("runs") / f"bench-quality-{time.strftime('%Y%m%d-%H%M%S')}"
        cmd = [sys.executable, "-m", "genfw", "run", str(args.config), "--set", f"output.run_dir={run_dir}",
               "--set", "export.onnx=false", "--set", "eval.at_end=false"]
        for o in args.overrides:
            cmd += ["--set", o]
        env = {**os.environ, "GENFW_DATA": args.data}
        started = time.perf_counter()
        subprocess.run(cmd, check=True, env=env)
        wall = time.perf_counter() - started
    result = measure(run_dir, args.data)
    config = json.loads((run_dir / "config.json").read_text())
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = max((r["step"] for r in records), default=0)
    result.update({"steps": steps, "epochs": round(steps * config["train"]["batch_size"] / 60000, 2),
                   "train_wall_s": round(wall, 1) if wall is not None else None,
                   "precision": config["train"]["precision"]})
    epochs = [r for r in records if r.get("event") == "epoch_end"]
    for key in sorted({k for r in epochs for k in r if k.startswith("q_accuracy_")}):
        result[f"{key}_by_epoch"] = [r.get(key) for r in epochs]
        # Time to quality: training wall-clock seconds until Q first reaches 0.95 on the test set.
        first = next((r for r in epochs if (r.get(key) or 0) >= 0.95), None)
        result[f"time_to_0.95_{key}_s"] = first.get("train_s") if first else None
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
