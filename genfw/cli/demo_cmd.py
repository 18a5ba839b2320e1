"""``genfw demo RUN_DIR -o SITE_DIR``: a static web page that runs the run's generator in the browser.

What the site holds and how genfw demo keeps the user's folder safe: ``genfw.demo_site``, which
builds it; this module is the command line around it.
"""

from __future__ import annotations

from pathlib import Path

import click

from genfw.cli.common import handle_errors, plugins_dir_option, trust_option
from genfw.demo_site import MODEL_NAME, ORT_FILES, ORT_WEB_VERSION, build_site
from genfw.errors import warn


@click.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path), metavar="RUN_DIR_OR_CHECKPOINT")
@click.option(
    "-o",
    "--output",
    "site",
    type=click.Path(path_type=Path),
    required=True,
    help="The folder to write the site to: new, empty, or written by genfw demo before (its files there "
    "are updated unless you changed them). Never a run folder.",
)
@click.option(
    "--weights",
    type=click.Choice(["fp32", "fp16", "int8"]),
    default="fp32",
    show_default=True,
    help="Weights of the exported generator (int8: about 4x smaller; see docs/onnx.md).",
)
@click.option(
    "--ort-web",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="A node_modules folder (or onnxruntime-web's folder) to copy onnxruntime-web from "
    "(default: ./node_modules, then the page's).",
)
@click.option(
    "--webgpu", is_flag=True, help="Also copy onnxruntime-web's WebGPU build (open the page with ?ep=webgpu)."
)
@click.option(
    "--encoder",
    is_flag=True,
    help="Also export the model's encoder (images -> codes; models that have one, e.g. a GAN's auxiliary head): the page "
    "then reads the codes of a digit you draw or upload, and its sliders edit it.",
)
@click.option(
    "--page",
    "page_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="A page folder to use instead of genfw's examples/web (e.g. your copy of it).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Also write into a folder genfw demo did not write, replacing files of the same names (yours too).",
)
@plugins_dir_option
@trust_option
@handle_errors
def demo(
    source: Path,
    site: Path,
    weights: str,
    ort_web: Path | None,
    webgpu: bool,
    encoder: bool,
    page_dir: Path | None,
    force: bool,
    plugins_dirs: tuple[str, ...],
    trust_recorded: bool,
) -> None:
    """Write a static web page that runs the generator in the browser (onnxruntime-web, WASM).

    \b
    genfw demo RUN_DIR -o site/ --weights int8
    genfw demo RUN_DIR -o site/ --encoder          # the page also reads a digit you draw
    python -m http.server -d site 8000      # then open http://localhost:8000/
    """
    report = build_site(
        source,
        site,
        weights=weights,
        page_dir=page_dir,
        ort_web=ort_web,
        webgpu=webgpu,
        encoder=encoder,
        plugins_dirs=plugins_dirs,
        trust_recorded=trust_recorded,
        force=force,
    )
    click.echo(
        f"wrote {site}/: {MODEL_NAME} ({report['bytes'] / 1e6:.1f} MB, {weights}), {Path(report['sidecar']).name}, "
        f"{', '.join(report['page'])}"
        + (f", ort/ (onnxruntime-web {report['ort_web']['version'] or '?'})" if report["ort_web"] else "")
    )
    if report["ort_web"] is None:
        warn(
            f"onnxruntime-web not found, so {site}/ort/ is missing and the page cannot run yet: run "
            f"`npm install onnxruntime-web@{ORT_WEB_VERSION}` in this folder (or pass --ort-web PATH/node_modules) and "
            f"run genfw demo again, or copy {', '.join(ORT_FILES)} from node_modules/onnxruntime-web/dist/ into {site}/ort/"
        )
    click.echo(f"serve it with: python -m http.server -d {site} 8000  (then open http://localhost:8000/)")
