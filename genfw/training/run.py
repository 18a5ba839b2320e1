"""One run from start to finish: run directory, trainer, final artifacts, export and evaluation."""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
from pathlib import Path

from genfw.artifacts import CHECKPOINT_DIR, LAST_CHECKPOINT, RUN_LAYOUT
from genfw.atomic import atomic_write_json, remove_stale_temp_files
from genfw.config.resolution import ResolvedConfig
from genfw.errors import CheckpointError, ConfigError, TerminatedError
from genfw.jsonpath import format_path, parse_path
from genfw.training import distributed
from genfw.training.environment import describe_environment
from genfw.training.launch import announce_run_dir
from genfw.training.lock import RunLock
from genfw.training.trainer import Trainer

#: What ``--resume --set`` may change: how long to train and what to write, never what defines the
#: trajectory (seed, data, latent, model, networks, losses, optimizers, batch size, precision).
RESUMABLE_SETTINGS = (
    ("train", "epochs"),
    ("train", "max_steps"),
    ("train", "log_every"),
    ("train", "checkpoint_every"),
    ("train", "progress"),
    ("train", "sample_every_epoch"),
    ("train", "threads"),
    ("train", "device"),
    ("train", "divergence_limit"),
    ("output",),
    ("export",),
    ("eval",),
    ("loggers",),
)


def check_run_layout(run_dir: Path) -> None:
    """Refuse a run folder where something the run writes has the wrong kind (one line naming it)."""
    for name, folder in RUN_LAYOUT.items():
        path = run_dir / name
        if path.exists() and path.is_dir() != folder:
            found, wanted = ("file", "folder") if folder else ("folder", "file")
            raise CheckpointError(
                f"is a {found}, where the run writes its {name} {wanted}",
                where=str(path),
                fix=f"move the {found} out of the run folder {run_dir}, then run the command again",
            )


def create_run_dir(resolved: ResolvedConfig) -> tuple[Path, bool]:
    """Create the run directory, exclusively: two runs started in the same second get two
    folders (``NAME-TIME``, ``NAME-TIME-2``, ...), each made by one ``mkdir`` that fails if the
    folder exists. An explicit ``output.run_dir`` may exist but must not hold a run. Returns the
    folder and whether this call made it."""
    out = resolved.config.output
    key = "output.run_dir" if out.run_dir else "output.dir"
    try:
        if out.run_dir:
            path = Path(out.run_dir)
            existed = path.is_dir()
            path.mkdir(parents=True, exist_ok=True)
            if (path / "config.json").exists() or (path / CHECKPOINT_DIR).exists():
                raise ConfigError(
                    f"run directory {path} already holds a run",
                    where=f"{resolved.source}: output.run_dir",
                    fix=f"continue it with `genfw run --resume {path}` or choose another directory",
                )
            check_run_layout(path)
            return path, not existed
        parent = Path(out.dir)
        parent.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for n in range(1, 10_000):
            path = parent / (f"{resolved.config.name}-{stamp}" + (f"-{n}" if n > 1 else ""))
            try:
                path.mkdir()
                return path, True
            except FileExistsError:
                continue
        raise ConfigError(f"no free run directory name under {parent}", where=f"{resolved.source}: output.dir")
    except OSError as exc:
        raise ConfigError(
            f"cannot create the run directory under {out.run_dir or out.dir} ({exc.strerror or exc})",
            where=f"{resolved.source}: {key}",
            fix="choose a folder you can write to",
        ) from None


def read_run_config(run_dir: Path) -> dict:
    check_run_layout(run_dir)
    path = run_dir / "config.json"
    if not (run_dir / CHECKPOINT_DIR / LAST_CHECKPOINT).is_file() or not path.is_file():
        raise CheckpointError(
            "not a run directory with a checkpoint (config.json and checkpoints/last.pt)",
            where=str(run_dir),
            fix="pass the directory a `genfw run` wrote",
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CheckpointError(
            f"config.json is not valid JSON (line {exc.lineno})",
            where=str(path),
            fix="restore it, e.g. from `genfw validate CONFIG --print` of the config the run started from",
        ) from None


def echo(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def execute(resolved: ResolvedConfig, *, resume_dir: Path | None = None, quiet: bool = False) -> Path:
    """Train (or continue) a run and write everything it leaves. Returns the run directory.

    Everything that can fail on bad input (data, model) is built before a folder is made. The
    process then holds the run directory's lock until it is done, so a second ``--resume`` of
    the same folder is refused instead of interleaving with this one. Under torchrun, every
    process trains and only rank 0 makes, locks and writes the folder.
    """
    main = distributed.from_environment().is_main
    quiet = quiet or not main
    if resume_dir is not None:
        with RunLock(resume_dir) if main else contextlib.nullcontext():
            if main:
                announce_run_dir(resume_dir)  # so genfw's launcher can name its checkpoint if a process is killed
                removed = remove_stale_temp_files(resume_dir)  # a killed writer's leftovers; we hold the lock
                if removed and not quiet:
                    echo(f"removed {len(removed)} unfinished temp file(s) a stopped process left in {resume_dir}")
            trainer = Trainer(resolved, resume_dir, quiet=quiet)
            try:
                return _train_and_finish(trainer, resolved, resume_dir, True, quiet)
            finally:
                trainer.close_loggers()
                distributed.shutdown()
    trainer = Trainer(resolved, Path(resolved.config.output.dir), quiet=quiet)
    if not main:  # the other processes train along and write nothing
        try:
            return _train_and_finish(trainer, resolved, trainer.run_dir, False, quiet)
        finally:
            distributed.shutdown()
    run_dir, created = create_run_dir(resolved)
    announce_run_dir(run_dir)
    try:
        with RunLock(run_dir):
            trainer.attach(run_dir)
            try:
                return _train_and_finish(trainer, resolved, run_dir, False, quiet)
            finally:
                trainer.close_loggers()
                distributed.shutdown()
    except BaseException:
        # Stopped before the first checkpoint (a diverged first steps, Ctrl-C twice at once):
        # nothing to resume, so leave nothing behind rather than a folder that only looks like a run.
        if created and not (run_dir / CHECKPOINT_DIR / LAST_CHECKPOINT).exists():
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _train_and_finish(trainer: Trainer, resolved: ResolvedConfig, run_dir: Path, resuming: bool, quiet: bool) -> Path:
    main = trainer.dist.is_main
    procs = f", {trainer.dist.world_size} processes" if trainer.dist.enabled else ""
    if resuming:
        trainer.resume()
        if main:
            atomic_write_json(run_dir / "config.json", resolved.to_json())  # with this call's --set overrides
        if not quiet:
            echo(f"resuming {run_dir} at step {trainer.step} of {trainer.total_steps}{procs}")
        started, first_step = time.perf_counter(), trainer.step
        result = trainer.fit()
    else:
        if main:
            atomic_write_json(run_dir / "config.json", resolved.to_json())
            env = describe_environment(trainer.device, trainer.dist.world_size)
            env["precision"] = {
                "config": resolved.config.train.precision,
                "used": trainer.precision,
                "why": trainer.precision_reason,
            }
            atomic_write_json(run_dir / "environment.json", env)
        if not quiet:
            echo(
                f"run directory: {run_dir}  (model {resolved.model.type}, {trainer.total_steps} steps, "
                f"{trainer.steps_per_epoch} per epoch, {trainer.precision} on {trainer.device}{procs}; "
                f"{trainer.precision_reason})"
            )
        started, first_step = time.perf_counter(), 0
        result = trainer.fit()
    if not main:
        return run_dir
    if result.stopped_by == "SIGTERM":
        raise TerminatedError(
            f"stopped by SIGTERM at step {result.step} after saving a checkpoint; continue with: "
            f"genfw run --resume {run_dir}"
        )
    if result.interrupted:
        echo(f"stopped at step {result.step}; continue with: genfw run --resume {run_dir}")
        raise KeyboardInterrupt
    trainer.write_final_artifacts()
    if not quiet:
        echo(
            f"trained {result.step - first_step} steps in {time.perf_counter() - started:.0f} s"
            + (f" (to step {result.step})" if first_step else "")
        )
    if resolved.config.export.onnx:
        export_run(trainer, resolved, quiet)
    if resolved.config.eval.at_end:
        from genfw.evaluation import evaluate_run

        evaluate_run(run_dir, quiet=quiet, plugins_dirs=tuple(resolved.config.plugins_dirs))
    return run_dir


def export_run(trainer: Trainer, resolved: ResolvedConfig, quiet: bool) -> None:
    from genfw.export.onnx_export import export_generator

    cfg = resolved.config.export
    generator = trainer.model.generator.to("cpu").float().eval()
    report = export_generator(
        generator,
        trainer.latent,
        trainer.dataset.image_shape,
        trainer.run_dir / "generator.onnx",
        opset=cfg.opset,
        optimize=cfg.optimize,
        verify=True,
    )
    if not quiet:
        echo(
            f"exported {trainer.run_dir / 'generator.onnx'} (max abs diff vs torch {report.get('max_abs_diff', float('nan')):.2e})"
        )


def resume_config(run_dir: Path, overrides, plugins_dirs=(), *, trust_recorded: bool = False):
    """The recorded config of a run, with ``--set`` overrides (only :data:`RESUMABLE_SETTINGS`:
    more steps, other outputs) applied, validated against the installed plugins and
    ``plugins_dirs`` (the run's recorded plugin folders only with ``trust_recorded``)."""
    from genfw.config.reading import apply_overrides
    from genfw.session import validate_recorded_config

    source = str(run_dir / "config.json")
    for item in overrides:
        key = item.partition("=")[0]
        try:
            path = tuple(parse_path(key))
        except ValueError:
            continue  # apply_overrides names the malformed path
        if not any(path[: len(allowed)] == allowed for allowed in RESUMABLE_SETTINGS):
            raise ConfigError(
                f"--set {item[:80]!r}: a resumed run keeps what defines its training; "
                f"{format_path(list(path))} cannot change",
                where=source,
                fix="only train.epochs, train.max_steps and output settings (train.log_every, "
                "checkpoint_every, threads, device; output, export, eval, loggers) may; start a new run "
                "for anything else",
            )
    doc = apply_overrides(read_run_config(run_dir), overrides, source)
    return validate_recorded_config(doc, plugins_dirs, source=source, trust_recorded=trust_recorded)
