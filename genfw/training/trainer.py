"""The trainer: a short loop that owns devices, precision, seeding, logging and checkpoints.

The model owns the algorithm (``model.train_step``); the trainer only feeds it batches sliced from
the in-memory dataset and records what it returns. One seed drives every random draw: parameter
init, the per-epoch data order and the training RNG handed to the model (saved in checkpoints,
so a resumed run continues exactly as an uninterrupted one would). Nothing here knows which
model it trains: what to plot, print, measure each epoch and draw comes from the model.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from genfw import plots
from genfw.artifacts import CHECKPOINT_DIR, GENERATOR_FILE, LAST_CHECKPOINT, atomic_torch_save, generator_payload
from genfw.batch import Batch
from genfw.building import build_dataset, build_latent, build_loggers, build_model, seeded_init
from genfw.config.resolution import ResolvedConfig
from genfw.contexts import EvalContext, LoggerContext
from genfw.data.base import Dataset
from genfw.data.labelled import keep_labels
from genfw.errors import ConfigError, DivergenceError, warn
from genfw.figures import sample_grid, traversal_grids
from genfw.model import Model
from genfw.schedules import build_schedulers
from genfw.training import distributed
from genfw.training import precision as precision_module
from genfw.training.checkpoint import load_checkpoint, save_checkpoint
from genfw.training.devices import precision_context, select_device
from genfw.training.metrics_log import MetricsLog
from genfw.training.steps import epoch_order, rank_seed, total_steps
from genfw.training.stop_signals import STOP_CODES, STOP_NAMES, StopFlag

#: Figures from fixed latents, and the draws model.prepare_generator measures on, use the run's seed plus
#: these offsets (never the training RNG).
SAMPLES_SEED, TRAVERSAL_SEED, MODEL_FIGURES_SEED, PREPARE_GENERATOR_SEED = 1, 2, 3, 4


def _rounded(x: float) -> float:
    return round(x, 6) if math.isfinite(x) else x


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    stopped_by: str | None  # "SIGINT" or "SIGTERM" when a signal stopped the run early

    @property
    def interrupted(self) -> bool:
        return self.stopped_by is not None


class Trainer:
    """Trains the model a resolved config describes, into ``run_dir``."""

    def __init__(self, resolved: ResolvedConfig, run_dir: Path, *, data: Dataset | None = None, quiet: bool = False):
        self.resolved = resolved
        self.cfg = resolved.config
        self.train_cfg = resolved.config.train
        self.run_dir = Path(run_dir)
        self.quiet = quiet
        if self.train_cfg.threads:
            torch.set_num_threads(self.train_cfg.threads)
        self.dist = distributed.from_environment()
        self.device = select_device(self.train_cfg.device, resolved.source)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)  # one GPU per process
        self.precision, self.precision_reason = precision_module.resolve_precision(
            self.train_cfg.precision, self.device
        )
        self.autocast = precision_context(self.precision, self.device, resolved.source)
        self.batch_size = self.train_cfg.batch_size  # the global batch
        if self.batch_size % self.dist.world_size:
            raise ConfigError(
                f"train.batch_size {self.batch_size} does not split over {self.dist.world_size} processes",
                where=f"{resolved.source}: train.batch_size",
                fix=f"use a multiple of {self.dist.world_size}, or another number of processes",
            )
        self.local_batch = self.batch_size // self.dist.world_size
        self.data = data if data is not None else build_dataset(resolved)
        self.dataset = self.data.train
        if self.batch_size > len(self.dataset):
            raise ConfigError(
                f"train.batch_size {self.batch_size} is larger than the dataset ({len(self.dataset)})",
                where=f"{resolved.source}: train.batch_size",
                fix="use a smaller batch",
            )
        self.data_spec = self.data.spec
        self.latent = build_latent(resolved, self.data_spec)
        distributed.init(self.dist, self.device)
        adapt = None
        if self.dist.enabled and self.train_cfg.sync_batchnorm:
            adapt = lambda net: distributed.convert_sync_batchnorm(net, self.device)  # noqa: E731
        with seeded_init(self.cfg.seed):
            self.model: Model = build_model(resolved, self.latent, self.data_spec, adapt_network=adapt)
        self.model.to(self.device)
        if self.train_cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)
        if self.dist.enabled:
            distributed.broadcast_state(self.model)
            self.model.grad_sync = distributed.GradientAverager(self.dist.world_size)
        self.scaler = torch.amp.GradScaler("cuda") if self.precision == "fp16" else None
        self.model.grad_scaler = self.scaler
        self.rng = torch.Generator(device=self.device).manual_seed(rank_seed(self.cfg.seed, self.dist.rank))
        self.images = self.dataset.images.to(self.device)
        self.labels = self._training_labels()
        # Semi-supervised runs: where the kept labels are, for the per-step labelled batch.
        self.labelled_index = None
        if self.labels is not None and bool((self.labels < 0).any()):
            self.labelled_index = (self.labels >= 0).nonzero().view(-1)
        self.factors = self.dataset.factors.to(self.device) if self.dataset.factors is not None else None
        self.steps_per_epoch = len(self.dataset) // self.batch_size
        self.total_steps = total_steps(self.train_cfg, len(self.dataset))
        self.schedulers = build_schedulers(
            dict(resolved.optimizers), self.model.optimizers(), self.total_steps, resolved.source
        )
        self.step = 0
        self.train_seconds = 0.0  # wall-clock seconds in fit() so far, across resumes (time-to-quality)
        self.log = MetricsLog(self.run_dir / "metrics.jsonl")
        self.loggers: list[Any] | None = None
        # The first step whose results were not finite, kept on the device (-1: none yet), so the
        # divergence guard costs no host sync per step; it is read when logging and checkpointing.
        self._first_bad_step = torch.full((), -1, dtype=torch.long, device=self.device)
        self._generator_prepared_at: int | None = None  # the step model.prepare_generator last ran at
        self.train_step = self.model.train_step
        if self.train_cfg.compile:
            for module in self.model.children():
                module.compile()

    def _step_schedulers(self) -> dict[str, float]:
        """Step every schedule after a batch; returns the learning rates that batch used."""
        used = {f"lr_{role}": float(s.optimizer.param_groups[0]["lr"]) for role, s in self.schedulers.items()}
        with warnings.catch_warnings():
            # A role a model does not step on the first batch (a generator every 5th critic
            # step) makes torch warn that the schedule stepped first; that order is intended.
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
            for scheduler in self.schedulers.values():
                scheduler.step()
        return used

    def _training_labels(self) -> torch.Tensor | None:
        """The labels the model may see, on the device: the dataset's, with all but a seeded
        subset marked unlabelled when the code fed by them keeps only some (semi-supervised)."""
        labels = self.dataset.labels
        if labels is None:
            return None
        code = self.latent.label_code
        if code is not None:
            labels = keep_labels(labels, code.labelled_count(len(labels)), self.cfg.seed)
        return labels.to(self.device)

    def attach(self, run_dir: Path) -> None:
        """Write into ``run_dir`` (made once everything else was built without error)."""
        self.run_dir = Path(run_dir)
        self.log = MetricsLog(self.run_dir / "metrics.jsonl")

    # -- state ---------------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT_DIR / LAST_CHECKPOINT

    def save_checkpoint(self) -> None:
        """Every process calls this at the same step; rank 0 writes (with every rank's RNG state)."""
        self.check_divergence()
        gathered = distributed.gather_objects(self.rng.get_state()) if self.dist.enabled else None
        states = cast("list[torch.Tensor] | None", gathered)  # every rank's RNG state, as gathered
        self.prepare_generator()
        if self.dist.is_main:
            save_checkpoint(
                self.checkpoint_path,
                self.model,
                step=self.step,
                rng=self.rng,
                config=self.resolved.to_json(),
                data=self.data_spec,
                scaler=self.scaler,
                schedulers=self.schedulers,
                train_seconds=self.train_seconds,
                provenance=self.resolved.provenance(),
                rank_rngs=states,
            )

    def prepare_generator(self) -> None:
        """``model.prepare_generator`` once per step at most (an epoch's end and a checkpoint
        often share one), from an RNG of its own on the run's device and inside the run's precision
        context: the same weights on the same device and precision always give the same result.
        Every process calls it at the same steps: BatchNorm synchronised over the processes
        (``train.sync_batchnorm``) makes its forward passes collective."""
        if self._generator_prepared_at == self.step:
            return
        rng = torch.Generator(device=self.device).manual_seed(self.cfg.seed + PREPARE_GENERATOR_SEED)
        with self.autocast():
            self.model.prepare_generator(rng)
        self._generator_prepared_at = self.step

    def check_divergence(self, record: dict[str, Any] | None = None, *, everywhere: bool = True) -> None:
        """Stop (DivergenceError, exit 1) when a step's results were not finite, or a logged value
        exceeds ``train.divergence_limit``; the last good checkpoint stays as it is. With several
        processes, all of them call this at the same step (``everywhere``) and decide alike."""
        first_bad = self._first_bad_step
        if self.dist.enabled and everywhere:
            first_bad = distributed.all_reduce_max(first_bad)
        bad = int(first_bad)
        keep = (
            f"the last good checkpoint is kept in {self.checkpoint_path}"
            if self.checkpoint_path.is_file()
            else "no checkpoint was written yet"
        )
        if bad >= 0:
            what = ""
            if record is not None:
                names = [k for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)]
                what = f": {names[0]} is {record[names[0]]}" if names else ""
            raise DivergenceError(
                f"training diverged at step {bad}{what} (a non-finite value); {keep} (lower the "
                "learning rates in `optimizers`, or check the data)"
            )
        limit = self.train_cfg.divergence_limit
        if record is not None and limit is not None:
            for key, value in record.items():
                if (
                    key not in ("step", "epoch", "train_s", "images_per_s")
                    and isinstance(value, (int, float))
                    and abs(value) > limit
                ):
                    raise DivergenceError(
                        f"training diverged by step {self.step}: {key} = {value:.3g} exceeds "
                        f"train.divergence_limit {limit:g}; {keep} (lower the learning rates in "
                        "`optimizers`, or raise the limit)"
                    )

    def resume(self) -> None:
        """Continue from ``checkpoints/last.pt``: weights, optimizers, RNG and step."""
        self.step, self.train_seconds, restored = load_checkpoint(
            self.checkpoint_path, self.model, self.rng, self.scaler, rank=self.dist.rank, schedulers=self.schedulers
        )
        if not restored:  # a process the saved run did not have: a fresh stream of its own
            self.rng.manual_seed(rank_seed(self.cfg.seed, self.dist.rank, self.step))
        self.model.global_step = self.step
        if self.dist.is_main:
            self.log.truncate_after(self.step)

    # -- loggers -------------------------------------------------------------------------------
    def open_loggers(self) -> list[Any]:
        if not self.dist.is_main:
            return []  # only rank 0 speaks for the run
        if self.loggers is None:
            ctx = LoggerContext(self.run_dir, self.total_steps, self.step, self.quiet, self.model.progress_keys)
            self.loggers = build_loggers(self.resolved, ctx)
            for logger in self.loggers:
                logger.start()
        return self.loggers

    def close_loggers(self) -> None:
        for logger in self.loggers or []:
            logger.close()
        self.loggers = None

    def message(self, text: str) -> None:
        for logger in self.open_loggers():
            logger.message(text)

    def _emit(self, record: dict[str, Any], kind: str) -> None:
        if not self.dist.is_main:
            return
        self.log.write(record)
        for logger in self.loggers or []:
            logger.log_scalars(self.step, record, kind)

    def _figure(self, name: str, pixels: np.ndarray, path: Path) -> None:
        plots.save_png(pixels, path)
        for logger in self.loggers or []:
            logger.log_image(self.step, name, pixels)

    # -- the loop ------------------------------------------------------------------------------
    def batch(self, order: torch.Tensor, index: int) -> Batch:
        """This process's slice of global batch ``index`` of the epoch's order, with its labels
        and factors when the dataset has them."""
        start = index * self.batch_size + self.dist.rank * self.local_batch
        return self._gather(order[start : start + self.local_batch], self.supervised_batch())

    def supervised_batch(self) -> Batch | None:
        """This step's batch of labelled images when the run keeps only some labels: drawn with
        replacement from a generator seeded by (seed, rank, step) alone, so resuming needs no
        state and the training RNG is untouched."""
        if self.labelled_index is None or not len(self.labelled_index):
            return None
        g = torch.Generator().manual_seed(rank_seed(self.cfg.seed, self.dist.rank, self.step + 1) ^ 0x5EED)
        pick = torch.randint(len(self.labelled_index), (self.local_batch,), generator=g).to(self.device)
        return self._gather(self.labelled_index.index_select(0, pick))

    def _gather(self, idx: torch.Tensor, supervised: Batch | None = None) -> Batch:
        """The training images at ``idx`` (float in [0, 1]) with their labels and factors, as this step's batch."""
        x = self.images.index_select(0, idx).float().div_(255.0)
        if self.train_cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return Batch(
            x,
            self.step,
            self.step // self.steps_per_epoch,
            self.labels.index_select(0, idx) if self.labels is not None else None,
            self.factors.index_select(0, idx) if self.factors is not None else None,
            supervised,
        )

    def fit(self) -> TrainResult:
        """Train until ``total_steps``; Ctrl-C stops after the current step with a checkpoint."""
        loggers = self.open_loggers()
        self.model.train()
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}  # steps that logged each key in the window
        window_start, window_steps = time.perf_counter(), 0
        fit_start, seconds_before = window_start, self.train_seconds
        stopped_by: str | None = None
        with StopFlag(announce=not self.dist.enabled) as flag:
            epoch = self.step // self.steps_per_epoch
            while self.step < self.total_steps and stopped_by is None:
                order = epoch_order(len(self.dataset), self.cfg.seed, epoch, self.device)
                for i in range(self.step % self.steps_per_epoch, self.steps_per_epoch):
                    if self.step >= self.total_steps:
                        break
                    batch = self.batch(order, i)
                    self.model.global_step = self.step
                    with self.autocast():
                        out = self.train_step(batch, self.rng)
                    if self.scaler is not None:
                        self.scaler.update()
                    for k, v in out.items():  # stays on the device: no host sync per step
                        sums[k] = sums[k] + v.float() if k in sums else v.float()
                        counts[k] = counts.get(k, 0) + 1
                    lrs = self._step_schedulers() if self.schedulers else {}
                    if out:
                        finite = torch.stack([v.detach().float().reshape(()) for v in out.values()]).isfinite().all()
                        self._first_bad_step = torch.where(
                            finite | (self._first_bad_step >= 0),
                            self._first_bad_step,
                            self._first_bad_step.new_tensor(self.step + 1),
                        )
                    self.step += 1
                    window_steps += 1
                    self.train_seconds = seconds_before + time.perf_counter() - fit_start
                    for logger in loggers:
                        logger.on_step(self.step)
                    if self.step % self.train_cfg.log_every == 0 or self.step == self.total_steps:
                        now = time.perf_counter()
                        record = self._losses_record(sums, counts, window_steps, now - window_start)
                        record.update(lrs)  # the learning rates of the window's last batch
                        self._emit(record, "train")
                        self.check_divergence(record)
                        sums, counts, window_start, window_steps = {}, {}, now, 0
                    if self.step % self.train_cfg.checkpoint_every == 0:
                        self.save_checkpoint()
                    stop = flag.stop  # read once: the handler may set it at any moment
                    if self.dist.enabled:  # stop together: a signal may reach the processes at different steps
                        code = distributed.all_reduce_max(torch.tensor(STOP_CODES.get(stop or "", 0)))
                        # Only what all agreed on: a signal that lands after the all-reduce waits for the
                        # next step's, or this process would leave while the others train on.
                        stop = STOP_NAMES.get(int(code))
                        flag.stop = flag.stop or stop
                    if stop:
                        stopped_by = stop
                        if (
                            self.dist.enabled and self.dist.is_main
                        ):  # not before: a process killed meanwhile means no checkpoint
                            flag.say()
                        break
                if stopped_by is None and self.step % self.steps_per_epoch == 0:
                    self.end_of_epoch(epoch + 1)
                epoch += 1
            self.save_checkpoint()
        return TrainResult(self.run_dir, self.step, stopped_by)

    def _losses_record(
        self, sums: dict[str, torch.Tensor], counts: dict[str, int], steps: int, seconds: float
    ) -> dict[str, Any]:
        """The window's log record: each key's mean over the steps that logged it."""
        record: dict[str, Any] = {
            "step": self.step,
            "epoch": round(self.step / self.steps_per_epoch, 3),
            "train_s": round(self.train_seconds, 2),
        }
        if self.dist.enabled and sums:  # the mean over the processes, i.e. over the global batch
            keys = sorted(sums)
            means = distributed.all_reduce_mean(torch.stack([sums[k] for k in keys]))
            sums = dict(zip(keys, means.unbind()))
        record.update({k: _rounded(v.item() / counts[k]) for k, v in sums.items()})
        record["images_per_s"] = round(steps * self.batch_size / seconds, 1) if seconds > 0 else None
        return record

    def eval_context(self, seed_offset: int = 0) -> EvalContext:
        """The context the model's per-epoch metrics and figures are computed in."""
        return EvalContext(
            self.model,
            self.latent,
            self.data.held_out_limited(self.cfg.eval.held_out),
            seed=self.cfg.seed + seed_offset,
            samples=self.cfg.eval.samples,
            disentanglement=self.cfg.eval.disentanglement,
            device=self.device,
            autocast=self.autocast,
        )

    def end_of_epoch(self, epoch: int) -> None:
        """Per-epoch sample grid and model metrics: off the hot path, from RNGs of their own (rank 0)."""
        if self.train_cfg.sample_every_epoch or self.cfg.eval.per_epoch:  # the config's: alike on every rank
            self.prepare_generator()
        if not self.dist.is_main:
            return
        if self.train_cfg.sample_every_epoch:
            self.write_sample_grid(self.run_dir / "samples" / f"epoch_{epoch:03d}.png", f"samples after epoch {epoch}")
        record: dict[str, Any] = {
            "step": self.step,
            "epoch": epoch,
            "event": "epoch_end",
            "train_s": round(self.train_seconds, 2),
        }
        if self.cfg.eval.per_epoch:
            record.update(self.model.epoch_metrics(self.eval_context()))
        self._emit(record, "epoch")

    # -- artifacts -----------------------------------------------------------------------------
    def write_sample_grid(self, path: Path, title: str) -> None:
        grid = sample_grid(self.model, self.latent, self.cfg.seed + SAMPLES_SEED, device=self.device, title=title)
        self._figure("samples", plots.render_image_grid(grid), path)

    def write_traversals(self, steps: int = 9) -> list[Path]:
        paths = []
        for name, grid in traversal_grids(
            self.model, self.latent, self.cfg.seed + TRAVERSAL_SEED, steps=steps, device=self.device
        ).items():
            path = self.run_dir / "traversals" / f"{name}.png"
            self._figure(f"traversals/{name}", plots.render_image_grid(grid), path)
            paths.append(path)
        return paths

    def write_model_figures(self) -> list[Path]:
        paths = []
        for name, grid in self.model.figures(self.eval_context(MODEL_FIGURES_SEED)).items():
            path = self.run_dir / "figures" / f"{name}.png"
            self._figure(f"figures/{name}", plots.render_image_grid(grid), path)
            paths.append(path)
        return paths

    def write_loss_curve(self) -> None:
        records = self.log.read()
        train = [r for r in records if "event" not in r]
        lr_keys = tuple(f"lr_{role}" for role in self.schedulers)
        logged = {k for r in records for k in r}
        # genfw validate rejects these; a run only warns. Without per-epoch evaluation, or in a run
        # that stopped before its first epoch ended, the keys of Model.epoch_metrics were never
        # logged: the user's choice, not the model's bug.
        epochs_logged = self.cfg.eval.per_epoch and any(r.get("event") == "epoch_end" for r in records)
        checked = (self.model.curves() or {}).items() if epochs_logged else ()
        for title, keys in checked:
            for key in keys:
                if key not in logged:
                    warn(
                        f"the loss curve's panel {title!r} plots {key!r}, which this run never logged (a bug in model "
                        f"{self.resolved.model.type!r}'s curves(); `genfw validate` names it)"
                    )
        groups = dict(
            self.model.curves() or {k: v for k, v in plots.default_curve_groups(train).items() if k not in lr_keys}
        )
        if lr_keys:
            groups["learning rate"] = lr_keys
        pixels = plots.render_loss_curves(records, groups)
        self._figure("loss_curve", pixels, self.run_dir / "loss_curve.png")

    def write_final_artifacts(self) -> None:
        """generator.pt, the final sample grid, traversals, the model's figures and the loss curve."""
        self.open_loggers()
        self.check_divergence(everywhere=False)
        payload = generator_payload(
            self.model.generator, self.latent, self.data_spec, self.resolved.to_json(), self.resolved.provenance()
        )
        atomic_torch_save(payload, self.run_dir / GENERATOR_FILE)
        self.write_sample_grid(self.run_dir / "samples" / "final.png", f"samples after step {self.step}")
        self.write_traversals()
        self.write_model_figures()
        self.write_loss_curve()
