"""Exporting a finished run's generator from the files it left: rebuilt from its generator.pt or a
checkpoint (``genfw.rebuild``), exported and verified (``genfw.export``), its categories labelled
from the run's eval.json. What ``genfw export``, ``genfw sample`` and ``genfw demo`` share.
"""

from __future__ import annotations

from pathlib import Path


def default_output(source: Path) -> Path:
    """``<run_dir>/generator.onnx`` for a run directory, its generator.pt or checkpoints/*.pt."""
    if source.is_dir():
        return source / "generator.onnx"
    run_dir = source.parent.parent if source.parent.name == "checkpoints" else source.parent
    return run_dir / "generator.onnx"


def run_dir_of(source: Path) -> Path:
    """The run directory of a run directory, its generator.pt or checkpoints/*.pt."""
    return default_output(source).parent


def export_run(
    source: Path,
    output: Path | None = None,
    *,
    opset: int = 18,
    optimize: bool = True,
    weights: str = "fp32",
    plugins_dirs: tuple[str, ...] = (),
    trust_recorded: bool = False,
) -> dict:
    """Rebuild the generator from ``source`` and export it; returns the export report. Codes are
    described with what they came to mean (category labels, control meanings) when the run has an
    eval.json that says so."""
    from genfw.export import code_meanings, export_generator
    from genfw.rebuild import load_generator

    loaded = load_generator(source, plugins_dirs, trust_recorded=trust_recorded)
    return export_generator(
        loaded.generator,
        loaded.latent,
        loaded.image_shape,
        output or default_output(source),
        opset=opset,
        optimize=optimize,
        verify=True,
        weights=weights,
        categories=code_meanings(run_dir_of(source), loaded.model_type),
    )
