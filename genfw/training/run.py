"""One run from start to finish: run directory, trainer, final artifacts, export and evaluation."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from genfw.artifacts import CHECKPOINT_DIR, LAST_CHECKPOINT
from genfw.atomic import atomic_write_json
from genfw.config import ResolvedConfig
from genfw.errors import CheckpointError, ConfigError
from genfw.training.environment import describe_environment
from genfw.training.trainer import Trainer


def new_run_dir(resolved: ResolvedConfig) -> Path:
    out = resolved.config.output
    if out.run_dir:
        path = Path(out.run_dir)
        if (path / CHECKPOINT_DIR / LAST_CHECKPOINT).exists():
            raise ConfigError(f"run directory {path} already holds a run", where=f"{resolved.source}: output.run_dir",
                              fix=f"continue it with `genfw run --resume {path}` or choose another directory")
        return path
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(out.dir) / f"{resolved.config.name}-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = Path(out.dir) / f"{resolved.config.name}-{stamp}-{n}"
    return path


def make_run_dir(path: Path, resolved: ResolvedConfig) -> bool:
    """Create the run directory; True if it did not exist before. A path that cannot be a
    directory is a config error at ``output.dir`` / ``output.run_dir``."""
    existed = path.is_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        key = "output.run_dir" if resolved.config.output.run_dir else "output.dir"
        raise ConfigError(f"cannot create the run directory {path} ({exc.strerror or exc})", where=f"{resolved.source}: {key}",
                          fix="choose a folder you can write to") from None
    return not existed


def read_run_config(run_dir: Path) -> dict:
    path = run_dir / "config.json"
    if not (run_dir / CHECKPOINT_DIR / LAST_CHECKPOINT).is_file() or not path.is_file():
        raise CheckpointError("not a run directory with a checkpoint (config.json and checkpoints/last.pt)",
                              where=str(run_dir), fix="pass the directory a `genfw run` wrote")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"config.json is not valid JSON (line {exc.lineno})", where=str(path),
                              fix="restore it, e.g. from `genfw validate CONFIG --print` of the config the run started from") from None


def echo(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def execute(resolved: ResolvedConfig, *, resume_dir: Path | None = None, quiet: bool = False) -> Path:
    """Train (or continue) a run and write everything it leaves. Returns the run directory."""
    run_dir = resume_dir if resume_dir is not None else new_run_dir(resolved)
    trainer = Trainer(resolved, run_dir, quiet=quiet)
    try:
        return _train_and_finish(trainer, resolved, run_dir, resume_dir is not None, quiet)
    finally:
        trainer.close_loggers()


def _train_and_finish(trainer: Trainer, resolved: ResolvedConfig, run_dir: Path, resuming: bool, quiet: bool) -> Path:
    if resuming:
        trainer.resume()
        atomic_write_json(run_dir / "config.json", resolved.to_json())  # with this call's --set overrides
        if not quiet:
            echo(f"resuming {run_dir} at step {trainer.step} of {trainer.total_steps}")
        started = time.perf_counter()
        result = trainer.fit()
    else:
        created = make_run_dir(run_dir, resolved)
        try:
            atomic_write_json(run_dir / "config.json", resolved.to_json())
            if not quiet:
                echo(f"run directory: {run_dir}  (model {resolved.model.type}, {trainer.total_steps} steps, "
                     f"{trainer.steps_per_epoch} per epoch, {resolved.config.train.precision} on {trainer.device})")
            atomic_write_json(run_dir / "environment.json", describe_environment(trainer.device))
            started = time.perf_counter()
            result = trainer.fit()
        except BaseException:
            # Stopped before the first checkpoint (e.g. Ctrl-C twice at once): nothing to resume,
            # so leave nothing behind rather than a run directory that only looks like one.
            if created and not (run_dir / CHECKPOINT_DIR / LAST_CHECKPOINT).exists():
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
    if result.interrupted:
        echo(f"stopped at step {result.step}; continue with: genfw run --resume {run_dir}")
        raise KeyboardInterrupt
    trainer.write_final_artifacts()
    if not quiet:
        echo(f"trained {result.step} steps in {time.perf_counter() - started:.0f} s")
    if resolved.config.export.onnx:
        export_run(trainer, resolved, quiet)
    if resolved.config.eval.at_end:
        from genfw.evaluation import evaluate_run

        evaluate_run(run_dir, quiet=quiet)
    return run_dir


def export_run(trainer: Trainer, resolved: ResolvedConfig, quiet: bool) -> None:
    from genfw.export.onnx_export import export_generator

    cfg = resolved.config.export
    generator = trainer.model.generator.to("cpu").float().eval()
    report = export_generator(generator, trainer.latent, trainer.dataset.image_shape, trainer.run_dir / "generator.onnx",
                              opset=cfg.opset, optimize=cfg.optimize, verify=True)
    if not quiet:
        echo(f"exported {trainer.run_dir / 'generator.onnx'} (max abs diff vs torch {report.get('max_abs_diff', float('nan')):.2e})")


def resume_config(run_dir: Path, overrides, plugins_dirs=()):
    """The recorded config of a run, with ``--set`` overrides (e.g. more steps) applied, validated
    against the plugins it recorded (and ``plugins_dirs``)."""
    from genfw.config import apply_overrides, validate_recorded_config

    doc = apply_overrides(read_run_config(run_dir), overrides)
    return validate_recorded_config(doc, plugins_dirs, source=str(run_dir / "config.json"))
