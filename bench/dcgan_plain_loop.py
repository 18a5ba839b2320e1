"""The DCGAN recipe's networks in a textbook PyTorch loop, scored by genfw's own sample-quality
measure: tells a recipe problem from a framework problem (issue 25).

Two uses:

    # train genfw's conv_generator / conv_discriminator (built from the config) with the plain
    # loop (BCE, Adam, one D step and one G step per batch, no EMA, no augmentation) and score G
    python bench/dcgan_plain_loop.py --steps 2340 --threads 1 [--init dcgan] [--bf16] \
        [--set networks.discriminator.hidden=1024 ...]

    # score the generators inside a finished run's checkpoint: the moving average as shipped,
    # G itself, each in eval mode (running BatchNorm statistics) and with batch statistics, and the
    # average with its own statistics (what the trainer saves since Model.prepare_generator)
    python bench/dcgan_plain_loop.py --run runs/dcgan_mnist-... [--quick]

Scores are what ``genfw eval`` writes in eval.json's ``samples`` section (10,000 samples, the
evaluation seed is the run's seed + 1000), one line per generator.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from genfw.building import build_dataset, build_latent, build_network, seeded_init  # noqa: E402
from genfw.eval_mode import eval_mode  # noqa: E402
from genfw.evaluation import SEED_OFFSET, EvalContext  # noqa: E402
from genfw.evaluation.sample_quality import sample_quality  # noqa: E402
from genfw.session import load_config_and_plugins  # noqa: E402
from genfw.training.trainer import PREPARE_GENERATOR_SEED  # noqa: E402


class Sampler:
    """What EvalContext needs of a model: ``generate(codes)``, here one generator network."""

    def __init__(self, latent, generator: nn.Module, train_mode_bn: bool):
        self.latent, self.generator, self.train_mode_bn = latent, generator, train_mode_bn

    @torch.no_grad()
    def generate(self, codes):
        x = self.latent.encode(codes)
        if self.train_mode_bn:  # batch statistics (a copy, so the running ones stay untouched)
            return copy.deepcopy(self.generator).train()(x).float()
        with eval_mode(self.generator):
            return self.generator(x).float()


def score(name: str, latent, data, generator: nn.Module, seed: int, train_mode_bn: bool = False) -> dict:
    ctx = EvalContext(Sampler(latent, generator, train_mode_bn), latent, data, seed=seed + SEED_OFFSET)
    s = sample_quality(ctx)
    worst = max((c for c in s["frechet_per_class"] if s["frechet_per_class"][c]["ratio"] is not None),
                key=lambda c: s["frechet_per_class"][c]["ratio"])
    print(f"{name:34s} frechet {s['frechet_classifier_distance']:8.2f}  ratio {s['frechet_ratio']:7.2f}  "
          f"precision {s['precision']:.3f}  recall {s['recall']:.3f}  worst {worst}: "
          f"{s['frechet_per_class'][worst]['ratio']:.1f}x  classes {s['class_histogram']}", flush=True)
    return s


def dcgan_init(module: nn.Module) -> None:
    """Radford et al.: conv weights N(0, 0.02), BatchNorm scales N(1, 0.02), biases 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def score_run(run_dir: Path, quick: bool) -> None:
    from genfw.training.checkpoint import load_trained_model

    resolved, latent, model = load_trained_model(run_dir)
    data = build_dataset(resolved, purpose="evaluate")
    seed = resolved.config.seed
    g = model.G
    score("G, eval mode", latent, data, g, seed)
    if getattr(model, "G_ema", None) is not None:
        score("EMA, eval mode (as saved)", latent, data, model.G_ema.average, seed)
    if quick:
        return
    score("G, batch statistics", latent, data, g, seed, train_mode_bn=True)
    if getattr(model, "G_ema", None) is not None:
        avg = model.G_ema.average
        score("EMA, batch statistics", latent, data, avg, seed, train_mode_bn=True)
        # What the trainer now saves for a CPU fp32 run: the average's own statistics (Model.prepare_generator)
        model.prepare_generator(torch.Generator().manual_seed(seed + PREPARE_GENERATOR_SEED))
        score("EMA, own statistics (as now saved)", latent, data, model.G_ema.average, seed)


def train_plain(args) -> None:
    torch.set_num_threads(args.threads)
    overrides = [f"seed={args.seed}", *args.overrides]
    _, resolved = load_config_and_plugins(REPO / "configs" / "dcgan_mnist.json", overrides)
    data = build_dataset(resolved, purpose="evaluate")
    spec = data.spec
    latent = build_latent(resolved, spec)
    with seeded_init(args.seed):
        G = build_network(resolved, "generator", latent, spec)
        D = build_network(resolved, "discriminator", latent, spec)
        if args.init == "dcgan":
            G.apply(dcgan_init)
            D.apply(dcgan_init)
    opt_g = torch.optim.Adam(G.parameters(), lr=args.lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=args.lr_d, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    images = data.train.images
    rng = torch.Generator().manual_seed(args.seed)
    n, bs = len(images), 128
    started = time.perf_counter()
    step = 0
    while step < args.steps:
        order = torch.randperm(n, generator=rng)
        for i in range(n // bs):
            if step >= args.steps:
                break
            real = images[order[i * bs:(i + 1) * bs]].float().div(255.0)
            z = latent.encode(latent.sample(bs, rng))
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                fake = G(z)
                opt_d.zero_grad(set_to_none=True)
                lr_, lf = D(real).float().view(-1), D(fake.detach()).float().view(-1)
                d_loss = bce(lr_, torch.ones_like(lr_)) + bce(lf, torch.zeros_like(lf))
            d_loss.backward()
            opt_d.step()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                opt_g.zero_grad(set_to_none=True)
                lg = D(fake).float().view(-1)
                g_loss = bce(lg, torch.ones_like(lg))
            g_loss.backward()
            opt_g.step()
            if step % 200 == 0:
                print(f"step {step} d_loss {d_loss.item():.3f} g_loss {g_loss.item():.3f} "
                      f"D(real) {torch.sigmoid(lr_).mean():.2f} D(fake) {torch.sigmoid(lf).mean():.2f} "
                      f"{time.perf_counter() - started:.0f}s", flush=True)
            step += 1
    print(f"trained {step} steps in {time.perf_counter() - started:.0f} s")
    G.float()
    print("overrides:", " ".join(args.overrides) or "none")
    score(f"plain loop G ({args.init} init), eval mode", latent, data, G, args.seed)
    score(f"plain loop G ({args.init} init), batch stats", latent, data, G, args.seed, train_mode_bn=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, help="Score the generators of this finished run instead of training")
    ap.add_argument("--quick", action="store_true", help="With --run: only G and its moving average, in eval mode")
    ap.add_argument("--steps", type=int, default=2340, help="Plain-loop steps (5 epochs of 468 batches of 128)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--init", choices=("torch", "dcgan"), default="torch", help="torch's default or N(0, 0.02)")
    ap.add_argument("--lr-g", type=float, default=2e-4)
    ap.add_argument("--lr-d", type=float, default=2e-4)
    ap.add_argument("--bf16", action="store_true", help="Train under bf16 autocast")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                    help="A config override for the networks, as for genfw run --set (repeatable)")
    args = ap.parse_args()
    if args.run:
        torch.set_num_threads(args.threads)
        score_run(args.run, args.quick)
    else:
        train_plain(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
