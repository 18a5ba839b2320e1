"""Bring a run trained before ``Model.prepare_generator`` existed to what the trainer now saves, in
a copy, and evaluate the copy: the moving average's own BatchNorm statistics instead of the copied
ones of G. Training is untouched by the change (the average never feeds back), so for a run
trained on the CPU in fp32 the copy is what the same run trained today would have saved, and its
eval.json scores it. (A bf16 or CUDA run's trainer measures under its own precision and RNG stream;
its copy here, made on the CPU in fp32, differs from that slightly.)

    python bench/prepare_finished_run.py runs/fidelity/proj1404-s1 runs/fidelity/proj1404-s1-prepared
    python bench/fidelity_trial.py --name proj1404 --seed 1 --run runs/fidelity/proj1404-s1-prepared

The copy leaves out the source's exported generator files and eval.json (they hold the old statistics).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from genfw.artifacts import CHECKPOINT_DIR, CHECKPOINT_FORMAT, LAST_CHECKPOINT, atomic_torch_save, safe_torch_load  # noqa: E402
from genfw.training.checkpoint import load_trained_model  # noqa: E402
from genfw.training.trainer import PREPARE_GENERATOR_SEED  # noqa: E402

LEFT_OUT = ("eval.json", "generator.onnx", "generator.json", "generator.pt")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", type=Path, help="A finished run folder (left as it is)")
    ap.add_argument("copy", type=Path, help="Where the prepared copy goes (must not exist)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    shutil.copytree(args.source, args.copy, ignore=shutil.ignore_patterns(*LEFT_OUT))
    checkpoint = args.copy / CHECKPOINT_DIR / LAST_CHECKPOINT
    payload = safe_torch_load(checkpoint, expect_format=CHECKPOINT_FORMAT)
    resolved, _, model = load_trained_model(args.copy)
    model.prepare_generator(torch.Generator().manual_seed(resolved.config.seed + PREPARE_GENERATOR_SEED))
    payload["model"] = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload["generator"] = {k: v.detach().cpu() for k, v in model.generator.state_dict().items()}
    atomic_torch_save(payload, checkpoint)
    print(f"{args.copy}: the moving average's own BatchNorm statistics saved; evaluating", flush=True)
    return subprocess.call([sys.executable, "-m", "genfw", "eval", str(args.copy)])


if __name__ == "__main__":
    raise SystemExit(main())
