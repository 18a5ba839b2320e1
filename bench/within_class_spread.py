"""How a trained model's samples spread within a category, against the real digits of the class the
category draws (issue 25: recall stays low while precision is high). For each value of the first
categorical code, in the reference classifier's features:

- ``variance``: the samples' total feature variance over the real class's (1.0: as spread out);
- ``dims``: the participation ratio (sum of the covariance's eigenvalues squared over the sum of
  their squares: how many directions the spread uses), generated against real;
- ``z share``: the part of the samples' variance that the noise alone makes, at fixed other codes;
- ``codes share``: the part that the other control codes (the continuous ones) alone make, at
  fixed noise (the two shares overlap: they need not sum to 1).

    python bench/within_class_spread.py runs/fidelity/proj1404-s1

Draws: 1,000 samples per category (seed 0) for the first two, 24 x 24 (other codes x noise) for the
third; real: the held-out split (the training split where there is none).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from genfw.building import build_dataset  # noqa: E402
from genfw.metrics.reference_classifier import reference_for  # noqa: E402
from genfw.training.checkpoint import load_trained_model  # noqa: E402


def participation_ratio(f: torch.Tensor) -> float:
    eigenvalues = torch.linalg.eigvalsh(torch.cov(f.T)).clamp(min=0)
    return float(eigenvalues.sum() ** 2 / (eigenvalues**2).sum())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="A finished run folder of a model with a categorical code")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    resolved, latent, model = load_trained_model(args.run)
    code = latent.first_categorical()
    if code is None:
        raise SystemExit(f"{args.run}: the model has no categorical code")
    data = build_dataset(resolved, purpose="evaluate")
    net = reference_for(data)
    if isinstance(net, str):
        raise SystemExit(f"{args.run}: no reference classifier ({net})")
    held = data.test if data.test is not None else data.train
    real = torch.as_tensor(net.features(held.images))
    g = torch.Generator().manual_seed(0)
    print("category  digit  variance  dims gen/real  z share  codes share")
    for k in range(code.dim):
        codes = latent.sample(1000, g)
        codes[code.name] = torch.nn.functional.one_hot(torch.full((1000,), k), code.dim).float()
        images = model.generate(codes)
        digit = int(torch.as_tensor(net.predict(images)).mode().values)
        f = torch.as_tensor(net.features(images))
        r = real[held.labels == digit]
        # the noise's share: 24 draws of the other codes, each with the same 24 noise draws
        others = latent.sample(24, g)
        noise = latent.sample(24, g)
        grid = {name: v.repeat_interleave(24, 0) for name, v in others.items()}
        for c in latent.codes:
            if c.role != "control":
                grid[c.name] = noise[c.name].repeat(24, 1)
        grid[code.name] = torch.nn.functional.one_hot(torch.full((576,), k), code.dim).float()
        fg = torch.as_tensor(net.features(model.generate(grid))).view(24, 24, -1)
        total = fg.reshape(576, -1).var(0).sum()
        z_share, codes_share = float(fg.var(1).mean(0).sum() / total), float(fg.var(0).mean(0).sum() / total)
        print(f"{k:8d}  {digit:5d}  {float(f.var(0).sum() / r.var(0).sum()):8.2f}  "
              f"{participation_ratio(f):4.1f} / {participation_ratio(r):4.1f}  {z_share:7.2f}  {codes_share:11.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
