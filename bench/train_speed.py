"""Training throughput: a plain tutorial-style InfoGAN loop against genfw's trainer.

Both train the paper's MNIST networks on the same data with the same optimizers and batch size,
on the same number of threads. Windows of each alternate, after a warm-up, and the median
images/s of each is printed with their ratio.

    python bench/train_speed.py                       # both, fp32
    python bench/train_speed.py --precision bf16      # genfw in bf16 (the plain loop stays fp32)
    python bench/train_speed.py --only genfw --set train.channels_last=true
    python bench/train_speed.py --paper-recipe        # genfw without the shipped IIC loss, translation and EMA
    python bench/train_speed.py --steps 3 --windows 1 # a smoke test (the numbers mean nothing)
    python bench/train_speed.py --procs 1 2 --precisions fp32 bf16   # genfw per process count and precision

With ``--procs`` / ``--precisions``, genfw is also timed with each process count (2 and more run
under torchrun, ``genfw run --nproc N``, each process with cores / N threads) and precision, and
every row is printed as a ratio to the plain fp32 loop measured in the same invocation. The last
lines give this machine's FLOP limit for the step: the FLOPs of one genfw step (counted with
torch's FlopCounterMode) against the best matrix-multiply rate measured here, per precision.

The shipped config does more work per step than the paper's recipe (a warped copy of the real
batch through D's trunk for the IIC loss, translated images, and the moving average of G):
``--paper-recipe`` drops all three (``losses.invariance``, ``augmentations.discriminator`` and
``model.ema_decay``), so the two loops compute the same thing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parents[1]


# -- (a) the plain loop, as tutorials write it -----------------------------------------------------
class PlainG(nn.Module):
    def __init__(self, zdim=74):
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(zdim, 1024, 1, bias=False), nn.BatchNorm2d(1024), nn.ReLU(),
            nn.ConvTranspose2d(1024, 128, 7, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
            nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Sigmoid())

    def forward(self, z):
        return self.net(z.view(z.shape[0], -1, 1, 1))


class PlainD(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.1),
            nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.1),
            nn.Conv2d(128, 1024, 7, bias=False), nn.BatchNorm2d(1024), nn.LeakyReLU(0.1))
        self.d = nn.Conv2d(1024, 1, 1)
        self.q = nn.Sequential(nn.Conv2d(1024, 128, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.1),
                               nn.Conv2d(128, 10 + 4, 1))


def plain_loop(data_root: str, batch_size: int):
    """A generator of timed windows: each next(...) call trains `steps` steps and returns seconds."""
    import torchvision
    from torchvision import transforms

    ds = torchvision.datasets.MNIST(data_root, train=True, download=False, transform=transforms.ToTensor())
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True, drop_last=True)
    G, D = PlainG(), PlainD()
    opt_d = torch.optim.Adam(list(D.trunk.parameters()) + list(D.d.parameters()), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(list(G.parameters()) + list(D.q.parameters()), lr=1e-3, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()

    def step(x):
        n = x.shape[0]
        z = torch.rand(n, 62) * 2 - 1
        idx = torch.randint(10, (n,))
        c = torch.rand(n, 2) * 2 - 1
        fake = G(torch.cat([z, F.one_hot(idx, 10).float(), c], 1))
        opt_d.zero_grad()
        loss_d = bce(D.d(D.trunk(x)).view(-1), torch.ones(n)) + bce(D.d(D.trunk(fake.detach())).view(-1), torch.zeros(n))
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        f = D.trunk(fake)
        q = D.q(f).view(n, -1)
        mean, logvar = q[:, 10:12], q[:, 12:14].clamp(-5, 5)
        info = F.cross_entropy(q[:, :10], idx) + 0.1 * (0.5 * (logvar + (c - mean) ** 2 / logvar.exp())).sum(1).mean()
        loss_g = bce(D.d(f).view(-1), torch.ones(n)) + info
        loss_g.backward()
        opt_g.step()

    def windows(steps):
        it = iter(loader)
        while True:
            t = time.perf_counter()
            for _ in range(steps):
                try:
                    x, _ = next(it)
                except StopIteration:
                    it = iter(loader)
                    x, _ = next(it)
                step(x)
            yield time.perf_counter() - t
    return windows


# -- (b) genfw's trainer ---------------------------------------------------------------------------
CONFIG = REPO / "configs" / "infogan_mnist.json"


def paper_recipe_overrides(config: Path = CONFIG) -> list[str]:
    """Overrides that turn the shipped config into the paper's recipe: no invariance (IIC) loss,
    no augmentation of what D sees, no moving average of G. The adversarial and info losses stay
    as the config ships them."""
    losses = {role: loss for role, loss in json.loads(config.read_text())["losses"].items() if role != "invariance"}
    return [f"losses={json.dumps(losses)}", "augmentations={}", "model.ema_decay=0"]


def genfw_loop(overrides: list[str], run_dir: Path, config: Path = CONFIG):
    from genfw.session import load_config_and_plugins
    from genfw.training.trainer import Trainer

    _, resolved = load_config_and_plugins(config, overrides)
    trainer = Trainer(resolved, run_dir, quiet=True)
    trainer.save_checkpoint = lambda: None  # the bench times the loop, not checkpoint I/O

    def windows(steps):
        while True:
            trainer.total_steps = trainer.step + steps
            trainer.train_cfg.log_every = steps
            trainer.fit()
            # The window's training record (an epoch_end record may follow it: it has no speed).
            record = next(r for r in reversed(trainer.log.read()) if "event" not in r)
            yield steps * trainer.batch_size / record["images_per_s"]
    return windows, trainer


def step_flops(overrides: list[str]) -> float:
    """FLOPs of one genfw training step per image (forward and backward, every network)."""
    from torch.utils.flop_counter import FlopCounterMode

    with tempfile.TemporaryDirectory() as tmp:
        _, trainer = genfw_loop(overrides, Path(tmp) / "run")
        x = trainer.batch(torch.arange(trainer.batch_size), 0)
        counter = FlopCounterMode(display=False)
        with counter, trainer.autocast():
            trainer.model.train_step(x, trainer.rng)
        return counter.get_total_flops() / trainer.batch_size


def matmul_rate(dtype: torch.dtype, size: int = 2048, reps: int = 5) -> float:
    """The best FLOP/s of a square matrix product in ``dtype`` on this machine (its practical peak)."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best


def multiprocess_rate(nproc: int, precision: str, overrides: list[str], steps: int, windows: int) -> float:
    """genfw's images/s over ``nproc`` processes (torchrun), the median of the logged windows after
    the first (warm-up) one."""
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        sets = [*overrides, f"train.precision={precision}", f"train.max_steps={steps * (windows + 1)}",
                f"train.log_every={steps}", "train.checkpoint_every=100000000", "eval.at_end=false",
                "export.onnx=false", "loggers=[]", f"output.dir={tmp}"]
        sets = [s for s in sets if not s.startswith("train.threads=")]
        cmd = [sys.executable, "-m", "genfw", "run", str(CONFIG), "--nproc", str(nproc), "--quiet"]
        for item in sets:
            cmd += ["--set", item]
        env = dict(os.environ, OMP_NUM_THREADS=str(max(1, (os.cpu_count() or 1) // nproc)))
        subprocess.run(cmd, check=True, env=env, cwd=REPO, stdout=subprocess.DEVNULL)
        (run,) = Path(tmp).iterdir()
        rates = [json.loads(line)["images_per_s"] for line in (run / "metrics.jsonl").read_text().splitlines()
                 if '"event"' not in line]
    return statistics.median(rates[1:] or rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["plain", "genfw"], help="Time only one of the loops")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="genfw's train.precision")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="More genfw config overrides")
    ap.add_argument("--paper-recipe", action="store_true", help="genfw without the IIC loss, translation and EMA (the plain loop's recipe)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=40, help="Steps per timed window")
    ap.add_argument("--windows", type=int, default=5, help="Timed windows per loop (after one warm-up window)")
    ap.add_argument("--data", default=os.environ.get("GENFW_DATA") or str(REPO.parent / "shared" / "data"))
    ap.add_argument("--procs", type=int, nargs="*", default=[], help="Also time genfw with these process counts")
    ap.add_argument("--precisions", nargs="*", default=[], choices=["fp32", "bf16"],
                    help="Also time genfw in these precisions (with --procs: each combination)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    bs = 128
    overrides = [f"dataset.root={args.data}", "dataset.download=false", f"train.precision={args.precision}",
                 f"train.threads={args.threads}", "train.sample_every_epoch=false", "train.progress=false",
                 "eval.per_epoch=false", f"train.batch_size={bs}"]
    if args.paper_recipe:  # before the user's --set, so those still apply on top
        overrides += paper_recipe_overrides()
    overrides += args.overrides
    with tempfile.TemporaryDirectory() as tmp:
        loops = {}
        if args.only in (None, "plain"):
            loops["plain"] = plain_loop(args.data, bs)(args.steps)
        if args.only in (None, "genfw"):
            windows, _ = genfw_loop(overrides, Path(tmp) / "run")
            loops["genfw"] = windows(args.steps)
        for it in loops.values():
            next(it)  # warm-up
        times = {name: [] for name in loops}
        for _ in range(args.windows):
            for name, it in loops.items():  # alternate, so drift in machine load hits both
                times[name].append(next(it))
    ips = {name: args.steps * bs / statistics.median(t) for name, t in times.items()}
    recipe = "paper recipe" if args.paper_recipe else "shipped config"
    from genfw.cpu import cpu_flags, cpu_model_name, kernel_kind

    flags = sorted(cpu_flags() & {"avx2", "avx512f", "avx512_bf16", "amx_bf16"})
    print(f"CPU: {cpu_model_name()}, {os.cpu_count()} cores, flags: "
          f"{' '.join(flags) or 'none of avx2/avx512f/avx512_bf16/amx_bf16'}; kernels: {kernel_kind().name}")
    print(f"threads={args.threads} batch={bs} steps/window={args.steps} windows={args.windows} genfw precision={args.precision} ({recipe})")
    for name, v in ips.items():
        print(f"{name:>6}: {v:8.1f} images/s  (median; windows: {', '.join(f'{args.steps * bs / t:.0f}' for t in times[name])})")
    if len(ips) == 2:
        print(f" ratio: {ips['genfw'] / ips['plain']:.2f}x (genfw / plain)")
    if args.procs or args.precisions:
        base = [o for o in overrides if not o.startswith("train.precision=")]
        print(f"{'procs':>5} {'precision':>9} {'images/s':>9} {'x plain':>8}")
        for nproc in args.procs or [1]:
            for precision in args.precisions or [args.precision]:
                rate = multiprocess_rate(nproc, precision, base, args.steps, args.windows)
                ratio = f"{rate / ips['plain']:.2f}x" if "plain" in ips else "-"
                print(f"{nproc:>5} {precision:>9} {rate:>9.1f} {ratio:>8}", flush=True)
        per_image = step_flops(base)
        print(f"FLOPs per image of a genfw step: {per_image / 1e6:.0f} MFLOP")
        for precision in args.precisions or [args.precision]:
            rate = matmul_rate(torch.bfloat16 if precision == "bf16" else torch.float32)
            print(f"{precision} limit on this machine: {rate / 1e9:.0f} GFLOP/s (best {2048}^2 matmul, {args.threads} threads)"
                  f" -> at most {rate / per_image:.0f} images/s" + (f" = {rate / per_image / ips['plain']:.1f}x the plain loop"
                                                                     if "plain" in ips else ""))


if __name__ == "__main__":
    sys.exit(main())
