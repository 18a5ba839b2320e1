"""``genfw demo RUN_DIR -o SITE_DIR``: a static web page that runs the run's generator in the browser.

The folder holds everything the page needs and works offline from any static server: the
exported generator and its sidecar (labels, ranges and SHA-256 included), the page
(``examples/web``: ``index.html``, the ``genfw-web.js`` module and its Web Worker) and the
onnxruntime-web files it loads (``ort/``), copied from a local ``node_modules`` (genfw never
downloads them; ``npm install onnxruntime-web`` does).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click

from genfw.cli.common import handle_errors, plugins_dir_option, trust_option
from genfw.errors import GenfwUsageError, warn

#: What the page loads from onnxruntime-web's dist/ folder: the WASM-only ES module and the
#: WASM build it loads (14 MB; the page's first grid comes about twice as fast as with the
#: WebGPU-capable build).
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
#: With ``--webgpu`` also the build with the WebGPU execution provider (``?ep=webgpu``; 28 MB).
ORT_WEBGPU_FILES = ("ort.min.mjs", "ort-wasm-simd-threaded.jsep.mjs", "ort-wasm-simd-threaded.jsep.wasm")
#: The onnxruntime-web version the page is tested with (examples/web/package.json).
ORT_WEB_VERSION = "1.30.0"
#: Files of a page folder that are copied (not its package.json, README or node_modules).
PAGE_SUFFIXES = (".html", ".js", ".mjs", ".css", ".svg", ".png", ".ico")
MODEL_NAME = "generator.onnx"


def default_page_dir() -> Path:
    """examples/web of the source tree genfw runs from (a checkout or an editable install)."""
    return Path(__file__).resolve().parents[2] / "examples" / "web"


def find_ort_web(explicit: Path | None, page_dir: Path) -> Path | None:
    """The ``dist`` folder of onnxruntime-web: from ``--ort-web`` (a node_modules folder, the
    package folder or its dist folder), else ./node_modules, the page's node_modules or the
    source tree's node_modules."""
    if explicit is not None:
        starts = [explicit]  # the same fallbacks below, in the folder given
    else:
        starts = [Path.cwd() / "node_modules", page_dir / "node_modules", default_page_dir().parents[1] / "node_modules"]
    for start in starts:
        for dist in (start, start / "dist", start / "onnxruntime-web" / "dist"):
            if (dist / ORT_FILES[0]).is_file():
                return dist
    if explicit is not None:
        raise GenfwUsageError("no onnxruntime-web files there", where=str(explicit),
                              fix=f"pass a node_modules folder holding onnxruntime-web (npm install onnxruntime-web@{ORT_WEB_VERSION})")
    return None


def _copy(src: Path, dst: Path) -> None:
    from genfw.atomic import atomic_write_via

    atomic_write_via(dst, lambda tmp: shutil.copyfile(src, tmp), needed=src.stat().st_size)


def ort_web_version(dist: Path) -> str | None:
    try:
        return str(json.loads((dist.parent / "package.json").read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def build_site(source: Path, site: Path, *, weights: str = "fp32", page_dir: Path | None = None, ort_web: Path | None = None,
               webgpu: bool = False, plugins_dirs: tuple[str, ...] = (), trust_recorded: bool = False) -> dict:
    """Write the demo site; returns a report (the export's, plus ``page``, ``ort_web``, ``missing``)."""
    from genfw.cli.export_cmd import export_run

    page_dir = page_dir or default_page_dir()
    page_files = sorted(p for p in page_dir.glob("*") if p.is_file() and p.suffix.lower() in PAGE_SUFFIXES) if page_dir.is_dir() else []
    if not any(p.name == "index.html" for p in page_files):
        raise GenfwUsageError("no web page there (index.html)", where=str(page_dir),
                              fix="pass --page with a folder like genfw's examples/web (the page ships with genfw's source tree)")
    if site.exists() and not site.is_dir():
        raise GenfwUsageError("the site folder is a file", where=str(site), fix="choose a folder for -o")
    dist = find_ort_web(ort_web, page_dir)
    ort_files = ORT_FILES + (ORT_WEBGPU_FILES if webgpu else ())
    if dist is not None:
        missing_files = [name for name in ort_files if not (dist / name).is_file()]
        if missing_files:
            raise GenfwUsageError(f"this onnxruntime-web has no {', '.join(missing_files)}", where=str(dist),
                                  fix=f"install onnxruntime-web {ORT_WEB_VERSION} (npm install onnxruntime-web@{ORT_WEB_VERSION})")
    try:
        site.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GenfwUsageError(f"cannot create the site folder ({exc.strerror})", where=str(site)) from None
    report = export_run(source, site / MODEL_NAME, weights=weights, plugins_dirs=plugins_dirs, trust_recorded=trust_recorded)
    for path in page_files:
        _copy(path, site / path.name)
    report["page"] = [p.name for p in page_files]
    report["ort_web"] = None
    if dist is not None:
        (site / "ort").mkdir(exist_ok=True)
        for name in ort_files:
            _copy(dist / name, site / "ort" / name)
        report["ort_web"] = {"from": str(dist), "version": ort_web_version(dist), "files": list(ort_files)}
    return report


@click.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path), metavar="RUN_DIR_OR_CHECKPOINT")
@click.option("-o", "--output", "site", type=click.Path(path_type=Path), required=True,
              help="The folder to write the site to (created if needed; genfw's files in it are replaced).")
@click.option("--weights", type=click.Choice(["fp32", "fp16", "int8"]), default="fp32", show_default=True,
              help="Weights of the exported generator (int8: about 4x smaller; see docs/onnx.md).")
@click.option("--ort-web", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A node_modules folder (or onnxruntime-web's folder) to copy onnxruntime-web from "
                   "(default: ./node_modules, then the page's).")
@click.option("--webgpu", is_flag=True, help="Also copy onnxruntime-web's WebGPU build (open the page with ?ep=webgpu).")
@click.option("--page", "page_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A page folder to use instead of genfw's examples/web (e.g. your copy of it).")
@plugins_dir_option
@trust_option
@handle_errors
def demo(source: Path, site: Path, weights: str, ort_web: Path | None, webgpu: bool, page_dir: Path | None,
         plugins_dirs: tuple[str, ...], trust_recorded: bool) -> None:
    """Write a static web page that runs the generator in the browser (onnxruntime-web, WASM).

    \b
    genfw demo RUN_DIR -o site/ --weights int8
    python -m http.server -d site 8000      # then open http://localhost:8000/
    """
    report = build_site(source, site, weights=weights, page_dir=page_dir, ort_web=ort_web, webgpu=webgpu,
                        plugins_dirs=plugins_dirs, trust_recorded=trust_recorded)
    click.echo(f"wrote {site}/: {MODEL_NAME} ({report['bytes'] / 1e6:.1f} MB, {weights}), {Path(report['sidecar']).name}, "
               f"{', '.join(report['page'])}" + (f", ort/ (onnxruntime-web {report['ort_web']['version'] or '?'})"
                                                  if report["ort_web"] else ""))
    if report["ort_web"] is None:
        warn(f"onnxruntime-web not found, so {site}/ort/ is missing and the page cannot run yet: run "
             f"`npm install onnxruntime-web@{ORT_WEB_VERSION}` in this folder (or pass --ort-web PATH/node_modules) and "
             f"run genfw demo again, or copy {', '.join(ORT_FILES)} from node_modules/onnxruntime-web/dist/ into {site}/ort/")
    click.echo(f"serve it with: python -m http.server -d {site} 8000  (then open http://localhost:8000/)")
