"""Exporting a finished run's generator from the files it left: rebuilt from its generator.pt or a
checkpoint (``genfw.rebuild``), exported and verified (``genfw.export``), its codes described
from the run's eval.json, and with ``encoder`` the model's encoder beside it. What ``genfw
export``, ``genfw sample`` and ``genfw demo`` share.
"""

from __future__ import annotations

from pathlib import Path

from genfw.export.contract import ENCODER_FILE


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
    encoder: bool = False,
    plugins_dirs: tuple[str, ...] = (),
    trust_recorded: bool = False,
) -> dict:
    """Rebuild the generator from ``source`` and export it; returns the export report. Codes are
    described with what they came to mean (category labels, control meanings) when the run has an
    eval.json that says so. With
    ``encoder``, the model's encoder is exported too, as ``encoder.onnx`` in the generator's
    folder (the report's ``encoder``); a model without one is refused before anything is written."""
    from genfw.export import code_meanings, export_generator
    from genfw.rebuild import load_generator

    output = output or default_output(source)
    model = _model_with_encoder(source, output, plugins_dirs, trust_recorded) if encoder else None
    loaded = load_generator(source, plugins_dirs, trust_recorded=trust_recorded)
    categories = code_meanings(run_dir_of(source), loaded.model_type)
    report = export_generator(
        loaded.generator,
        loaded.latent,
        loaded.image_shape,
        output,
        opset=opset,
        optimize=optimize,
        verify=True,
        weights=weights,
        categories=categories,
    )
    if model is not None:
        from genfw.export import export_encoder

        report["encoder"] = export_encoder(
            model.encoder,
            model.generator,
            model.latent,
            loaded.image_shape,
            output.parent / ENCODER_FILE,
            opset=opset,
            categories=categories,
        )
    return report


def _model_with_encoder(source: Path, output: Path, plugins_dirs: tuple[str, ...], trust_recorded: bool):
    """The whole trained model (the encoder's weights are in the checkpoint, not in generator.pt),
    once it is known to have an encoder; a usage error otherwise."""
    from genfw.artifacts import GENERATOR_FILE
    from genfw.errors import GenfwUsageError
    from genfw.training.checkpoint import load_trained_model

    if source.is_file() and source.name == GENERATOR_FILE:
        raise GenfwUsageError(
            f"--encoder needs the run's checkpoint: {GENERATOR_FILE} holds the generator's weights only",
            where=str(source),
            fix="pass the run directory or one of its checkpoints/*.pt",
        )
    if output.name == ENCODER_FILE:
        raise GenfwUsageError(
            f"the generator cannot be written as {ENCODER_FILE}: --encoder writes the encoder there",
            where=str(output),
            fix="name the generator's file otherwise (e.g. -o generator.onnx)",
        )
    resolved, _, model = load_trained_model(source, plugins_dirs, trust_recorded=trust_recorded)
    if model.encoder is None:
        raise GenfwUsageError(
            f"model {resolved.model.type} has no encoder (Model.encoder is None); export without --encoder"
        )
    return model
