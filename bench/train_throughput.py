"""Training images/s of a config (the shipped InfoGAN's by default) across settings, as one table.

For each combination of batch size, precision and torch.compile, genfw's own trainer runs a
warm-up window and then timed windows of ``--steps`` steps; the median is printed. Meant for a
GPU (``--device cuda``), where data lives on the device and bf16 autocast and compilation are
settings whose effect this measures; it runs on the CPU too. ``--for-steps N`` adds the hours
N steps take at each rate (e.g. a paper's training budget).

    python bench/train_throughput.py --device cuda
    python bench/train_throughput.py --config configs/betavae_dsprites.json --batches 64 --for-steps 300000
    python bench/train_throughput.py --device cpu --batches 128 --precisions fp32 --compile off --steps 3 --windows 1
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))


def measure(config: Path, device: str, batch: int, precision: str, compile_: bool, steps: int, windows: int,
            extra: list[str]) -> float:
    from train_speed import genfw_loop

    overrides = [f"train.device={device}", f"train.batch_size={batch}", f"train.precision={precision}",
                 f"train.compile={'true' if compile_ else 'false'}", "train.sample_every_epoch=false",
                 "eval.per_epoch=false", "loggers=[]", *extra]
    with tempfile.TemporaryDirectory() as tmp:
        loop, trainer = genfw_loop(overrides, Path(tmp) / "run", config)
        it = loop(steps)
        next(it)  # warm-up (and compilation)
        times = []
        for _ in range(windows):
            if trainer.device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            next(it)
            if trainer.device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
    return steps * batch / statistics.median(times)


def main() -> int:
    from train_speed import CONFIG

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=CONFIG, help="The config to train (default: the shipped InfoGAN's)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batches", type=int, nargs="+", default=[128, 1024])
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16", "fp16"])
    ap.add_argument("--compile", choices=["off", "on", "both"], default="both")
    ap.add_argument("--steps", type=int, default=30, help="Steps per timed window")
    ap.add_argument("--windows", type=int, default=3)
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="More config overrides")
    ap.add_argument("--for-steps", type=int, help="Add a column: the hours this many steps take at each rate")
    args = ap.parse_args()
    compiles = {"off": [False], "on": [True], "both": [False, True]}[args.compile]
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") and torch.cuda.is_available() else "CPU"
    print(f"{args.config.name} on device {args.device} ({name}), torch {torch.__version__}, "
          f"{args.steps} steps x {args.windows} windows")
    hours_title = f" {f'h for {args.for_steps:,} steps':>20}" if args.for_steps else ""
    print(f"{'batch':>6} {'precision':>9} {'compile':>7} {'images/s':>10}{hours_title}")
    for batch, precision, compile_ in itertools.product(args.batches, args.precisions, compiles):
        try:
            ips = measure(args.config, args.device, batch, precision, compile_, args.steps, args.windows,
                          args.overrides)
            shown = f"{ips:10.0f}" + (f" {args.for_steps * batch / ips / 3600:20.2f}" if args.for_steps else "")
        except Exception as exc:  # one setting failing (e.g. compile unavailable) must not hide the others
            shown = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:80] if str(exc) else ''}"
        print(f"{batch:>6} {precision:>9} {'on' if compile_ else 'off':>7} {shown}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
