"""``genfw export RUN``: write the run's generator as one self-contained ONNX file (+ sidecar JSON),
and with ``--encoder`` the model's encoder (images -> codes, ``encoder.onnx``) beside it.

The files are what apps use without torch (docs/onnx.md). Each export is verified against torch
before this command reports success.
"""

from __future__ import annotations

from pathlib import Path

import click

from genfw.cli.common import handle_errors, plugins_dir_option, trust_option
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
    """Rebuild the generator from ``source`` and export it; returns the export report. Categories
    are labelled with what they came to mean when the run has an eval.json that says so. With
    ``encoder``, the model's encoder is exported too, as ``encoder.onnx`` in the generator's
    folder (the report's ``encoder``); a model without one is refused before anything is written."""
    from genfw.export import category_meanings, export_generator
    from genfw.rebuild import load_generator

    output = output or default_output(source)
    model = _model_with_encoder(source, output, plugins_dirs, trust_recorded) if encoder else None
    loaded = load_generator(source, plugins_dirs, trust_recorded=trust_recorded)
    categories = category_meanings(run_dir_of(source), loaded.model_type)
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


@click.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path), metavar="RUN_DIR_OR_CHECKPOINT")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the .onnx file (default: <run_dir>/generator.onnx).",
)
@click.option("--opset", type=int, default=18, show_default=True, help="ONNX opset (18 or newer).")
@click.option(
    "--no-optimize", is_flag=True, help="Export the network as it is (no BatchNorm folding or other rewrites)."
)
@click.option(
    "--weights",
    type=click.Choice(["fp32", "fp16", "int8"]),
    default="fp32",
    show_default=True,
    help="Weight format: fp32 as trained; fp16 (half the size) or int8 (dynamic quantization, a quarter), "
    "each verified against the fp32 generator within its tolerance (docs/onnx.md).",
)
@click.option(
    "--encoder",
    is_flag=True,
    help=f"Also export the model's encoder (images -> codes) as {ENCODER_FILE} beside the generator "
    "(fp32; for models that have one: Model.encoder, e.g. a GAN's auxiliary head or a VAE's encoder).",
)
@plugins_dir_option
@trust_option
@handle_errors
def export(
    source: Path,
    output: Path | None,
    opset: int,
    no_optimize: bool,
    weights: str,
    encoder: bool,
    plugins_dirs: tuple[str, ...],
    trust_recorded: bool,
) -> None:
    """Export a trained generator to ONNX (one input per latent code, output `image`).

    \b
    genfw export RUN_DIR
    genfw export RUN_DIR/checkpoints/last.pt -o generator.onnx
    genfw export RUN_DIR --weights int8 -o generator-int8.onnx
    genfw export RUN_DIR --encoder
    """
    from genfw.export import ExportError

    try:
        report = export_run(
            source,
            output,
            opset=opset,
            optimize=not no_optimize,
            weights=weights,
            encoder=encoder,
            plugins_dirs=plugins_dirs,
            trust_recorded=trust_recorded,
        )
    except ExportError as exc:
        if exc.log.strip():
            click.echo(exc.log.rstrip(), err=True)  # the exporter's own output, hidden unless it failed
        raise
    tol = ", ".join(f"{k} {v:g}" for k, v in report["tolerance"].items())
    click.echo(
        f"wrote {report['path']} ({report['bytes'] / 1e6:.1f} MB, {weights}, opset {report['opset']}, "
        f"IR {report['ir_version']}) and {report['sidecar']}; max abs diff vs torch {report['max_abs_diff']:.1e}, "
        f"mean {report['mean_abs_diff']:.1e} (tolerance {tol}) at batch {', '.join(map(str, report['verified_batches']))}"
    )
    if "encoder" in report:
        enc = report["encoder"]
        click.echo(
            f"wrote {enc['path']} ({enc['bytes'] / 1e6:.1f} MB, fp32, outputs {', '.join(enc['outputs'])}) and "
            f"{enc['sidecar']}; max abs diff vs torch {enc['max_abs_diff']:.1e} (tolerance "
            f"{enc['tolerance']['max_abs']:g}) at batch {', '.join(map(str, enc['verified_batches']))}"
        )
