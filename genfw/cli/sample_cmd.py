"""``genfw sample MODEL``: images from an exported generator, to a PNG grid, an HDF5 file or
(``--animate CODE``) a GIF of one code swept back and forth.

Sampling goes through ``genfw.runtime`` (numpy + onnxruntime), so on an .onnx file this
command never imports torch. Given a run directory without ``generator.onnx``, it exports one
first (that part needs torch and the run's plugins).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from genfw.cli.common import SEED, handle_errors, plugins_dir_option, trust_option
from genfw.errors import GenfwUsageError
from genfw.export.contract import MODEL_FILE

#: Memory a sampled image takes, per pixel, until it is written: its uint8 pixels, the PNG grid
#: or the in-memory HDF5 file built from them, and that file's bytes as they are written.
SAVE_BYTES_PER_PIXEL = 4


def parse_code(text: str) -> tuple[str, Any]:
    """``digit=3`` / ``digit=seven`` / ``c1=0.5`` / ``z=[0.1, ...]``: the value as JSON, else a string (a label)."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip() or not raw.strip():
        raise GenfwUsageError(f"--code {text!r} is not NAME=VALUE", fix="e.g. --code digit=3 --code c1=0.5")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw.strip()
    return name.strip(), value


def resolve_model(model: Path, plugins_dirs: tuple[str, ...], echo, trust_recorded: bool = False) -> Path:
    """An .onnx file as given; a run directory's generator.onnx, exported first if missing."""
    if not model.is_dir():
        return model
    onnx_path = model / MODEL_FILE
    if not onnx_path.is_file():  # a run without its export: export it (torch) from its generator.pt/checkpoint
        from genfw.run_export import export_run

        report = export_run(model, onnx_path, plugins_dirs=plugins_dirs, trust_recorded=trust_recorded)
        echo(f"exported {report['path']} (max abs diff vs torch {report['max_abs_diff']:.1e})")
    return onnx_path


@click.command()
@click.argument("model", type=click.Path(exists=True, path_type=Path))
@click.option("-n", "--n", "n", type=int, default=64, show_default=True, help="Number of images.")
@click.option(
    "--code",
    "codes",
    multiple=True,
    metavar="NAME=VALUE",
    help="Fix a code's parameters: a category index or label (digit=3), a number (c1=0.5; an angle code takes "
    "radians: rot=0.5) or a JSON list of the code's width; may be repeated.",
)
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the codes that are not fixed.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("samples.png"),
    show_default=True,
    help="A .png grid, an .h5 file with `images` (uint8 [n,C,H,W]) and `codes/<name>`, or with --animate a .gif.",
)
@click.option(
    "--animate",
    metavar="CODE",
    default=None,
    help="Write a looping GIF (-o *.gif) in which CODE sweeps its range and back (a categorical code steps "
    "through its categories) on the n images, every other code held at its draw.",
)
@click.option("--frames", type=int, default=24, show_default=True, help="Frames of --animate's sweep.")
@click.option("--fps", type=float, default=12.0, show_default=True, help="Frames per second of --animate's GIF.")
@click.option("--nrow", type=int, default=8, show_default=True, help="Images per row of the PNG grid.")
@click.option(
    "--threads", type=int, default=None, help="onnxruntime threads (default: its choice; at most the usable CPUs)."
)
@click.option(
    "--no-verify",
    "no_verify",
    is_flag=True,
    help="Run the .onnx file even when it cannot be checked against its sidecar (.json: missing, unreadable or "
    "without a SHA-256). A sidecar that disagrees with the file is refused either way.",
)
@plugins_dir_option
@trust_option
@handle_errors
def sample(
    model: Path,
    n: int,
    codes: tuple[str, ...],
    seed: int,
    output: Path,
    nrow: int,
    animate: str | None,
    frames: int,
    fps: float,
    threads: int | None,
    no_verify: bool,
    plugins_dirs: tuple[str, ...],
    trust_recorded: bool,
) -> None:
    """Generate images from MODEL (an .onnx file or a run directory).

    \b
    genfw sample runs/mnist/generator.onnx --n 64 --code digit=3 --code c1=0.5 -o digit3.png
    genfw sample runs/mnist --n 1000 --seed 1 -o samples.h5
    genfw sample runs/mnist --n 16 --nrow 4 --animate c1 -o c1.gif
    """
    from genfw.runtime import (
        Generator,
        GeneratorFileError,
        UnverifiedError,
        animation_codes,
        check_memory,
        check_threads,
        save_gif,
        save_grid,
        save_h5,
        verify_fix,
    )

    for option, value in (("--n", n), ("--nrow", nrow), ("--frames", frames)):
        if value < 1:
            raise GenfwUsageError(f"{option} must be at least 1, not {value}")
    if not 0.5 <= fps <= 50:
        raise GenfwUsageError(f"--fps must be from 0.5 to 50, not {fps}")
    check_threads(threads, "--threads")
    suffix = output.suffix.lower()
    if animate is not None and suffix != ".gif":
        raise GenfwUsageError(
            f"--animate writes a GIF, not {output.suffix or '(no suffix)'!r}", where=str(output), fix="use -o NAME.gif"
        )
    if animate is None and suffix not in (".png", ".h5", ".hdf5"):
        fix = "add --animate CODE for a GIF" if suffix == ".gif" else "use a .png or .h5 file (or --animate CODE, .gif)"
        raise GenfwUsageError(f"unsupported output type {output.suffix or '(none)'!r}", where=str(output), fix=fix)
    fixed: dict[str, Any] = {}
    for text in codes:
        name, value = parse_code(text)
        if name in fixed:
            raise GenfwUsageError(f"--code {name} is given twice", fix="give each code once")
        fixed[name] = value
    onnx_path = resolve_model(model, plugins_dirs, lambda m: click.echo(m, err=True), trust_recorded)
    try:
        generator = Generator.load(onnx_path, threads=threads, verify=not no_verify)
    except UnverifiedError as exc:
        raise UnverifiedError(exc.problem, where=exc.where, fix=verify_fix("pass --no-verify")) from None
    except GeneratorFileError as exc:
        if not model.is_dir():
            raise
        raise GeneratorFileError(
            exc.problem, where=exc.where, fix=f"re-create it from the run with `genfw export {model}`"
        ) from None
    for name in [*fixed, *([animate] if animate else [])]:
        generator.code(name)  # a wrong name fails before any work, listing the valid ones
    if animate is not None:
        if animate in fixed:
            raise GenfwUsageError(
                f"--animate {animate} and --code {animate}=... both set it", fix="give one of the two"
            )
        check_memory(
            generator.memory_needed(n * (frames + 1), SAVE_BYTES_PER_PIXEL),
            f"--n {n:,} images in {frames} frames of {generator.image_text},",
            fix="ask for fewer images (--n) or frames (--frames)",
        )
        per_frame = animation_codes(generator, animate, frames=frames, n=n, seed=seed, fixed=fixed)
        save_gif([generator.run(codes, dtype="uint8") for codes in per_frame], output, nrow=nrow, fps=fps)
        click.echo(f"wrote {len(per_frame)} frames of {n} images to {output}")
        return
    check_memory(
        generator.memory_needed(n, SAVE_BYTES_PER_PIXEL),
        f"--n {n:,}: images of {generator.image_text} saved as {suffix[1:].upper()},",
        fix=f"ask for at most {generator.max_images(SAVE_BYTES_PER_PIXEL):,} "
        "images at once, or sample in several runs with other --seed values",
    )
    batch = generator.generate(n, seed=seed, codes=fixed, dtype="uint8")  # codes=: names like "n" stay codes
    if suffix == ".png":
        save_grid(batch.images, output, nrow=nrow)
    else:
        save_h5(batch.images, batch.codes, output, generator.latent_spec, generator.image_spec, generator.version)
    click.echo(f"wrote {n} images to {output}")
