"""The trainer: a short loop that owns devices, precision, seeding, logging and checkpoints.

The model owns the algorithm (``model.train_step``); the trainer only feeds it batches sliced from
the in-memory dataset and records what it returns. One seed drives every random draw: parameter
init, the per-epoch data order and the training RNG handed to the model (saved in checkpoints,
so a resumed run continues exactly as an uninterrupted one would).
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from genfw.artifacts import (CHECKPOINT_DIR, GENERATOR_FILE, LAST_CHECKPOINT, atomic_torch_save,
                             generator_payload)
from genfw.components import build_dataset, build_eval_dataset, build_latent, build_model, seeded_init
from genfw.config import ResolvedConfig
from genfw.data.base import ImageDataset
from genfw.errors import ConfigError
from genfw.model import Model
from genfw.training import figures
from genfw.training.checkpoint import load_checkpoint, save_checkpoint
from genfw.training.metrics_log import MetricsLog


def select_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device is cuda but no CUDA device is available", where="train.device", fix='use "auto" or "cpu"')
    return device


def precision_context(precision: str, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
    """A factory of the autocast context for ``precision`` (fp32: none)."""
    if precision == "fp32":
        return contextlib.nullcontext
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("train.precision fp16 needs a CUDA device", where="train.precision", fix='use "bf16" on the CPU')
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return lambda: torch.autocast(device.type, dtype=dtype)


def epoch_order(n: int, seed: int, epoch: int, device: torch.device) -> torch.Tensor:
    """The data order of one epoch: a function of (seed, epoch) only, so resuming needs no state."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g).to(device)


class _StopFlag:
    """Ctrl-C ends the run after the current step (with a checkpoint); a second one aborts."""

    def __init__(self) -> None:
        self.stop = False
        self._previous = None

    def __enter__(self) -> "_StopFlag":
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: no handler, Ctrl-C behaves as usual
            self._previous = None
        return self

    def _handle(self, signum, frame) -> None:
        if self.stop:
            raise KeyboardInterrupt
        self.stop = True
        print("\nInterrupted: saving a checkpoint after this step (Ctrl-C again to abort)", file=sys.stderr, flush=True)

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    interrupted: bool


class Trainer:
    """Trains the model a resolved config describes, into ``run_dir``."""

    def __init__(self, resolved: ResolvedConfig, run_dir: Path, *, dataset: ImageDataset | None = None,
                 eval_dataset: ImageDataset | None = None, quiet: bool = False):
        self.resolved = resolved
        self.cfg = resolved.config
        self.train_cfg = resolved.config.train
        self.run_dir = Path(run_dir)
        self.quiet = quiet
        if self.train_cfg.threads:
            torch.set_num_threads(self.train_cfg.threads)
        self.device = select_device(self.train_cfg.device)
        self.autocast = precision_context(self.train_cfg.precision, self.device)
        self.dataset = dataset if dataset is not None else build_dataset(resolved)
        self._eval_dataset = eval_dataset
        self.latent = build_latent(resolved)
        with seeded_init(self.cfg.seed):
            self.model: Model = build_model(resolved, self.latent, self.dataset.image_shape)
        self.model.to(self.device)
        if self.train_cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.scaler = torch.amp.GradScaler("cuda") if self.train_cfg.precision == "fp16" else None
        self.model.grad_scaler = self.scaler
        self.rng = torch.Generator(device=self.device).manual_seed(self.cfg.seed)
        self.images = self.dataset.images.to(self.device)
        self.batch_size = self.train_cfg.batch_size
        if self.batch_size > len(self.dataset):
            raise ConfigError(f"train.batch_size {self.batch_size} is larger than the dataset ({len(self.dataset)})",
                              where="train.batch_size", fix="use a smaller batch")
        self.steps_per_epoch = len(self.dataset) // self.batch_size
        total = self.train_cfg.epochs * self.steps_per_epoch
        self.total_steps = min(total, self.train_cfg.max_steps) if self.train_cfg.max_steps else total
        self.step = 0
        self.train_seconds = 0.0  # wall-clock seconds in fit() so far, across resumes (time-to-quality)
        self.log = MetricsLog(self.run_dir / "metrics.jsonl")
        self.train_step = self.model.train_step
        if self.train_cfg.compile:
            for module in self.model.children():
                module.compile()

    # -- state ---------------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT_DIR / LAST_CHECKPOINT

    def save_checkpoint(self) -> None:
        save_checkpoint(self.checkpoint_path, self.model, step=self.step, rng=self.rng, config=self.resolved.to_json(),
                        image_shape=self.dataset.image_shape, scaler=self.scaler, train_seconds=self.train_seconds)

    def resume(self) -> None:
        """Continue from ``checkpoints/last.pt``: weights, optimizers, RNG and step."""
        self.step, self.train_seconds = load_checkpoint(self.checkpoint_path, self.model, self.rng, self.scaler)
        self.log.truncate_after(self.step)

    @property
    def eval_dataset(self) -> ImageDataset | None:
        if self._eval_dataset is None and self.cfg.eval.per_epoch_q_accuracy:
            self._eval_dataset = build_eval_dataset(self.resolved)
        return self._eval_dataset

    # -- the loop ------------------------------------------------------------------------------
    def batch(self, order: torch.Tensor, index: int) -> torch.Tensor:
        idx = order[index * self.batch_size:(index + 1) * self.batch_size]
        x = self.images.index_select(0, idx).float().div_(255.0)
        return x.contiguous(memory_format=torch.channels_last) if self.train_cfg.channels_last else x

    def fit(self) -> TrainResult:
        """Train until ``total_steps``; Ctrl-C stops after the current step with a checkpoint."""
        self.model.train()
        sums: dict[str, torch.Tensor] = {}
        window_start, window_steps = time.perf_counter(), 0
        fit_start, seconds_before = window_start, self.train_seconds
        interrupted = False
        bar = self._progress_bar()
        with _StopFlag() as flag, bar:
            epoch = self.step // self.steps_per_epoch
            while self.step < self.total_steps and not interrupted:
                order = epoch_order(len(self.dataset), self.cfg.seed, epoch, self.device)
                for i in range(self.step % self.steps_per_epoch, self.steps_per_epoch):
                    if self.step >= self.total_steps:
                        break
                    x = self.batch(order, i)
                    with self.autocast():
                        out = self.train_step(x, self.rng)
                    if self.scaler is not None:
                        self.scaler.update()
                    for k, v in out.items():  # stays on the device: no host sync per step
                        sums[k] = sums[k] + v.float() if k in sums else v.float()
                    self.step += 1
                    window_steps += 1
                    self.train_seconds = seconds_before + time.perf_counter() - fit_start
                    bar.update(1)
                    if self.step % self.train_cfg.log_every == 0 or self.step == self.total_steps:
                        now = time.perf_counter()
                        record = self._losses_record(sums, window_steps, now - window_start)
                        self.log.write(record)
                        bar.losses = record
                        sums, window_start, window_steps = {}, now, 0
                    if self.step % self.train_cfg.checkpoint_every == 0:
                        self.save_checkpoint()
                    if flag.stop:
                        interrupted = True
                        break
                if not interrupted and self.step % self.steps_per_epoch == 0:
                    self.end_of_epoch(epoch + 1)
                epoch += 1
        self.save_checkpoint()
        return TrainResult(self.run_dir, self.step, interrupted)

    def _losses_record(self, sums: dict[str, torch.Tensor], steps: int, seconds: float) -> dict[str, Any]:
        record: dict[str, Any] = {"step": self.step, "epoch": round(self.step / self.steps_per_epoch, 3),
                                  "train_s": round(self.train_seconds, 2)}
        record.update({k: round(v.item() / max(steps, 1), 6) for k, v in sums.items()})
        for code in self.latent.informative:  # the MI lower bound H(c) - CE, where H(c) is known
            h, ce = code.entropy(), record.get(f"info_{code.name}")
            if h is not None and ce is not None:
                record[f"mi_{code.name}"] = round(h - ce, 6)
        record["images_per_s"] = round(steps * self.batch_size / seconds, 1) if seconds > 0 else None
        return record

    def end_of_epoch(self, epoch: int) -> None:
        """Per-epoch figures and Q accuracy: off the hot path, from RNGs of their own."""
        if self.train_cfg.sample_every_epoch:
            self.sample_grid(self.run_dir / "samples" / f"epoch_{epoch:03d}.png")
        record: dict[str, Any] = {"step": self.step, "epoch": epoch, "event": "epoch_end", "train_s": round(self.train_seconds, 2)}
        record.update(self.q_accuracy())
        if len(record) > 4:
            self.log.write(record)
        if not self.quiet and not sys.stderr.isatty():
            shown = {k: v for k, v in record.items() if k not in ("event",)}
            print(f"epoch {epoch}: {json.dumps(shown)}", file=sys.stderr, flush=True)

    def q_accuracy(self) -> dict[str, float]:
        """Q's categorical predictions on the held-out split vs. its labels, after Hungarian matching."""
        ds = self.eval_dataset
        if ds is None:
            return {}
        from genfw.evaluation import q_predictions
        from genfw.metrics.clustering import cluster_accuracy

        preds = q_predictions(self.model, self.latent, ds.images, device=self.device, autocast=self.autocast)
        labels = ds.labels.numpy()
        return {f"q_accuracy_{name}": round(float(cluster_accuracy(labels, p)), 5) for name, p in (preds or {}).items()}

    # -- artifacts -----------------------------------------------------------------------------
    def sample_grid(self, path: Path, columns: int = 10) -> None:
        codes, nrow = figures.sample_grid_codes(self.latent, columns, self.cfg.seed + 1)
        images = self.model.generate({k: v.to(self.device) for k, v in codes.items()})
        figures.save_png(figures.image_grid(images, nrow), path, scale=2)

    def traversals(self, steps: int = 10) -> list[Path]:
        paths = []
        for code in self.latent:
            if code.informative and code.continuous:
                codes, nrow = figures.traversal_codes(self.latent, code.name, steps, self.cfg.seed + 2)
                images = self.model.generate({k: v.to(self.device) for k, v in codes.items()})
                path = self.run_dir / "traversals" / f"{code.name}.png"
                figures.save_png(figures.image_grid(images, nrow), path, scale=2)
                paths.append(path)
        return paths

    def write_final_artifacts(self) -> None:
        """generator.pt, the final sample grid, the traversal figures and the loss curve."""
        payload = generator_payload(self.model.generator, self.latent, self.dataset.image_shape, self.resolved.to_json())
        atomic_torch_save(payload, self.run_dir / GENERATOR_FILE)
        self.sample_grid(self.run_dir / "samples" / "final.png")
        self.traversals()
        records = [r for r in self.log.read() if "event" not in r]
        keys = ["d_loss", "g_gan", "info_loss"] + [f"mi_{c.name}" for c in self.latent.informative if c.entropy() is not None]
        figures.loss_curve(records, self.run_dir / "loss_curve.png", keys)

    def _progress_bar(self):
        return _ProgressBar(self.total_steps, self.step, enabled=self.train_cfg.progress and not self.quiet and sys.stderr.isatty())


class _ProgressBar:
    """click's progress bar with ETA and the latest losses; silent when not on a terminal."""

    SHOWN = ("d_loss", "g_loss", "info_loss", "images_per_s")

    def __init__(self, total: int, start: int, enabled: bool):
        self.enabled = enabled
        self.losses: dict[str, Any] = {}
        self._bar = None
        if enabled:
            import click

            self._bar = click.progressbar(length=total, label="training", file=sys.stderr, show_eta=True, show_percent=True,
                                          show_pos=True, item_show_func=lambda _: self._text())
            self._bar.pos = start

    def _text(self) -> str:
        return " ".join(f"{k}={self.losses[k]:.3g}" for k in self.SHOWN if isinstance(self.losses.get(k), (int, float)) and math.isfinite(self.losses[k]))

    def update(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def __enter__(self):
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
