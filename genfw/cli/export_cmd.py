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
from genfw.run_export import export_run


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
    help="Weight format: fp32 as trained; fp16 (half the size) or int8 (static quantization calibrated on prior draws, a quarter), "
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
