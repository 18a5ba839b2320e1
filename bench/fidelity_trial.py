"""One fidelity trial: train a shipped MNIST config (default the InfoGAN's) with overrides, print one row.

The row is what docs/fidelity.md tabulates: Q's accuracy on the real test set, code consistency
(a reference classifier reads each category's samples as one digit; both empty for models without
codes, e.g. the DCGAN), the Frechet classifier
distance and its ratio to the real-vs-real floor, precision and recall (Kynkaanniemi et al.
2019), and the worst class's Frechet ratio; all from the run's own end-of-run `genfw eval`.

    python bench/fidelity_trial.py --name base --seed 0
    python bench/fidelity_trial.py --name inv936 --seed 1 --set model.invariance_steps=936
    python bench/fidelity_trial.py --name base --seed 0 --run runs/infogan_mnist-...   # a finished run
    python bench/fidelity_trial.py --config configs/dcgan_mnist.json --name dcgan --seed 1 --threads 1

Rows are printed tab-separated (with a header) and appended to --table if given.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COLUMNS = ("trial", "seed", "train_s", "q_accuracy", "consistency", "frechet", "floor", "ratio", "precision", "recall",
           "worst_class", "overrides")


def row(name: str, seed: int, run_dir: Path, overrides: list[str]) -> dict:
    report = json.loads((run_dir / "eval.json").read_text())
    s = report["samples"]
    q = next(iter(report.get("q_on_real", {}).values()), None)  # models without codes have neither
    consistency = next(iter(report.get("code_consistency", {}).values()), None)
    per_class = {c: v["ratio"] for c, v in s["frechet_per_class"].items() if v.get("ratio") is not None}
    worst = max(per_class, key=per_class.get)
    steps = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if '"step"' in line]
    return {"trial": name, "seed": seed, "train_s": round(steps[-1].get("train_s", 0)) if steps else None,
            "q_accuracy": round(q["accuracy"], 4) if q else "", "consistency": round(consistency["accuracy"], 4) if consistency else "",
            "frechet": round(s["frechet_classifier_distance"], 2), "floor": round(s["frechet_floor_real_vs_real"], 2),
            "ratio": round(s["frechet_ratio"], 2), "precision": round(s["precision"], 3), "recall": round(s["recall"], 3),
            "worst_class": f"{worst}: {per_class[worst]:.1f}x", "overrides": " ".join(overrides)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=REPO / "configs" / "infogan_mnist.json",
                    help="The config to train (default: the shipped InfoGAN)")
    ap.add_argument("--name", required=True, help="The trial's name in the table")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                    help="A config override, as for genfw run --set (repeatable)")
    ap.add_argument("--threads", type=int, help="train.threads (default: torch's, all cores)")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "fidelity", help="Where the trial's run folder goes")
    ap.add_argument("--run", type=Path, help="Read a finished run folder instead of training")
    ap.add_argument("--table", type=Path, help="Append the row to this TSV file")
    args = ap.parse_args()

    overrides = [f"seed={args.seed}", *args.overrides] + ([f"train.threads={args.threads}"] if args.threads else [])
    run_dir = args.run
    if run_dir is None:
        run_dir = args.out / f"{args.name}-s{args.seed}"
        cmd = [sys.executable, "-m", "genfw", "run", str(args.config),
               "--set", f"output.run_dir={run_dir}"] + [a for o in overrides for a in ("--set", o)]
        started = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        if proc.returncode != 0:
            print(f"genfw run failed (exit {proc.returncode})", file=sys.stderr)
            return 1
        print(f"trained and evaluated in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    r = row(args.name, args.seed, run_dir, args.overrides)
    line = "\t".join(str(r[c]) for c in COLUMNS)
    print("\t".join(COLUMNS))
    print(line)
    if args.table:
        new = not args.table.exists()
        with open(args.table, "a") as f:
            f.write(("\t".join(COLUMNS) + "\n" if new else "") + line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
