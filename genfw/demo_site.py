"""The static site of ``genfw demo``: a web page that runs a run's generator in the browser.

The folder holds everything the page needs and works offline from any static server: the
exported generator and its sidecar (labels, ranges and SHA-256 included), the page
(``examples/web``: ``index.html`` and its Web Worker), the ``genfw-web.js`` module of the npm
package ``web/genfw-web`` (the page's own copy if its folder has one), and the
onnxruntime-web files it loads (``ort/``), copied from a local ``node_modules`` (genfw never
downloads them; ``npm install onnxruntime-web`` does).

The folder is the user's: genfw demo writes only into a new or empty folder, or one it wrote
before (its manifest, ``.genfw-demo.json``, lists what it wrote and their SHA-256), and there
replaces only its own files that nobody changed since, unless ``--force``. It never writes through
a symbolic link out of the folder, and never into a run folder (whose ``generator.onnx`` is the
run's verified export).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from genfw.artifacts import CHECKPOINT_DIR, GENERATOR_FILE
from genfw.errors import GenfwUsageError
from genfw.export.contract import MODEL_FILE

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
MODEL_NAME = MODEL_FILE
#: The folder of the onnxruntime-web files inside the site.
ORT_FOLDER = "ort"
#: What genfw demo writes into the site to know it later: the files it wrote and their SHA-256.
MANIFEST_NAME = ".genfw-demo.json"
#: What makes a folder a run's own (what ``genfw export``/``sample`` accept as a run).
RUN_MARKERS = (GENERATOR_FILE, CHECKPOINT_DIR)


def default_page_dir() -> Path:
    """examples/web of the source tree genfw runs from (a checkout or an editable install)."""
    return Path(__file__).resolve().parents[1] / "examples" / "web"


def web_library() -> Path:
    """genfw-web.js of the npm package in the source tree (web/genfw-web): the page imports it,
    and the site gets this file, so the package is its one source."""
    return default_page_dir().parents[1] / "web" / "genfw-web" / "genfw-web.js"


def find_ort_web(explicit: Path | None, page_dir: Path) -> Path | None:
    """The ``dist`` folder of onnxruntime-web: from ``--ort-web`` (a node_modules folder, the
    package folder or its dist folder), else ./node_modules, the page's node_modules or the
    source tree's node_modules."""
    if explicit is not None:
        starts = [explicit]  # the same fallbacks below, in the folder given
    else:
        starts = [
            Path.cwd() / "node_modules",
            page_dir / "node_modules",
            default_page_dir().parents[1] / "node_modules",
        ]
    for start in starts:
        for dist in (start, start / "dist", start / "onnxruntime-web" / "dist"):
            if (dist / ORT_FILES[0]).is_file():
                return dist
    if explicit is not None:
        raise GenfwUsageError(
            "no onnxruntime-web files there",
            where=str(explicit),
            fix=f"pass a node_modules folder holding onnxruntime-web (npm install onnxruntime-web@{ORT_WEB_VERSION})",
        )
    return None


def _copy(src: Path, dst: Path) -> None:
    from genfw.atomic import atomic_write_via

    def write(tmp: str) -> None:
        shutil.copyfile(src, tmp)

    atomic_write_via(dst, write, needed=src.stat().st_size)


def _listing(names: list[str], shown: int = 5) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def refuse_run_folder(site: Path) -> None:
    """A run folder's files are the run's (its generator.onnx is the verified fp32 export that
    apps and ``genfw eval`` use), so the site never goes there, even with --force."""
    found = [name for name in RUN_MARKERS if (site / name).exists()]
    if found:
        raise GenfwUsageError(
            f"this is a run folder (it holds {', '.join(found)}), and genfw demo never writes into a run's own files",
            where=str(site),
            fix=f"write the site into a subfolder, e.g. -o {site / 'site'}",
        )


def read_manifest(path: Path) -> dict[str, str] | None:
    """The files a manifest says genfw demo wrote (name -> SHA-256); None when it is missing or
    is not one. Its names are only compared with the names genfw demo writes, never opened."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        files = doc["files"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        return None
    return dict(files)


class SiteWriter:
    """Writes the site's files into its folder and nowhere else.

    Before anything is written, :meth:`check` refuses what would leave the folder or lose the
    user's work: a symbolic link on the way out of the folder, a file where a folder goes (or the
    reverse), and, unless ``force``, a file genfw demo did not write or that changed since. Each
    file written is recorded in the manifest, so the next call knows it as genfw's.
    """

    def __init__(self, site: Path, *, force: bool):
        self.site = site
        self.root = Path(os.path.realpath(site))  # the folder the user named, even through a link
        self.force = force
        self.written: dict[str, str] = {}  # name -> SHA-256 of what genfw demo wrote

    def path(self, name: str) -> Path:
        """``site/name``, after checking that writing it stays inside the folder (the check is
        repeated before every write: lstat/realpath, not what was true when the call began)."""
        path = self.site / name
        real = Path(os.path.realpath(path))
        if real != self.root and self.root not in real.parents:
            link = next((p for p in self._steps(name) if p.is_symlink()), path)
            raise GenfwUsageError(
                f"{link} is a symbolic link to {os.path.realpath(link)}, outside the site folder, and "
                "genfw demo never writes through a link out of its folder",
                where=str(self.site),
                fix=f"remove the link {link}, or choose another folder for -o",
            )
        return path

    def _steps(self, name: str) -> list[Path]:
        """``site/a``, ``site/a/b``, ...: the paths a write of ``a/b/...`` goes through."""
        parts = Path(name).parts
        return [self.site.joinpath(*parts[:i]) for i in range(1, len(parts) + 1)]

    def check(self, names: list[str]) -> None:
        """Refuse, before anything is written, whatever writing ``names`` would do wrong."""
        for name in [MANIFEST_NAME, *names]:
            self._check_kind(self.path(name), name)
        recorded = read_manifest(self.path(MANIFEST_NAME))
        if recorded is None:
            self._refuse_foreign_folder(names)
        else:
            self._refuse_changed_files(names, recorded)
            self.written = recorded

    def _check_kind(self, path: Path, name: str) -> None:
        folders = [p for p in self._steps(name)[:-1] if p.exists() and not p.is_dir()]
        if folders or path.is_dir():
            what = (
                f"{folders[0]} is a file, where genfw demo makes a folder"
                if folders
                else f"{path} is a folder, where genfw demo writes a file"
            )
            raise GenfwUsageError(
                what, where=str(self.site), fix="move it out of the folder, or choose another folder for -o"
            )

    def _refuse_foreign_folder(self, names: list[str]) -> None:
        held = sorted(entry.name for entry in os.scandir(self.site))
        if held and not self.force:
            replaced = [n for n in names if (self.site / n).exists()]
            would = f"; it would replace {_listing(replaced)}" if replaced else ""
            raise GenfwUsageError(
                f"the folder is not empty and genfw demo did not write it (it holds {_listing(held)}){would}",
                where=str(self.site),
                fix="choose a new or empty folder for -o, or pass --force to write genfw's files into it",
            )

    def _refuse_changed_files(self, names: list[str], recorded: dict[str, str]) -> None:
        from genfw.runtime import file_sha256

        def why(name: str) -> str:
            return "changed since genfw demo wrote it" if name in recorded else "not written by genfw demo"

        changed = [n for n in names if (self.site / n).is_file() and recorded.get(n) != file_sha256(self.site / n)]
        if changed and not self.force:
            raise GenfwUsageError(
                f"genfw demo would replace {_listing([f'{n} ({why(n)})' for n in changed])}",
                where=str(self.site),
                fix="move your copies out of the folder, or pass --force to replace them",
            )

    def copy(self, src: Path, name: str) -> None:
        _copy(src, self.path(name))
        self.record(name)

    def record(self, name: str) -> None:
        """Note a file genfw demo just wrote in the manifest (written after every file, so a
        stopped call leaves a folder that the next call still knows as genfw's)."""
        from genfw.atomic import atomic_write_json
        from genfw.runtime import file_sha256

        self.written[name] = file_sha256(self.path(name))
        atomic_write_json(
            self.path(MANIFEST_NAME), {"written_by": "genfw demo", "files": dict(sorted(self.written.items()))}
        )


def ort_web_version(dist: Path) -> str | None:
    try:
        return str(json.loads((dist.parent / "package.json").read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def build_site(
    source: Path,
    site: Path,
    *,
    weights: str = "fp32",
    page_dir: Path | None = None,
    ort_web: Path | None = None,
    webgpu: bool = False,
    encoder: bool = False,
    plugins_dirs: tuple[str, ...] = (),
    trust_recorded: bool = False,
    force: bool = False,
) -> dict:
    """Write the demo site; returns a report (the export's, plus ``page`` and ``ort_web``).
    ``encoder``: the model's encoder too (``encoder.onnx``: the page then reads a drawn or
    uploaded image's codes). ``force``: also write into a folder genfw demo did not write, over
    files it did not write."""
    page_dir = page_dir or default_page_dir()
    page_files = (
        sorted(p for p in page_dir.glob("*") if p.is_file() and p.suffix.lower() in PAGE_SUFFIXES)
        if page_dir.is_dir()
        else []
    )
    if not any(p.name == "index.html" for p in page_files):
        raise GenfwUsageError(
            "no web page there (index.html)",
            where=str(page_dir),
            fix="pass --page with a folder like genfw's examples/web (the page ships with genfw's source tree)",
        )
    if not any(p.name == web_library().name for p in page_files):  # a page folder with its own copy keeps it
        page_files.append(web_library())
    if site.exists() and not site.is_dir():
        raise GenfwUsageError("the site folder is a file", where=str(site), fix="choose a folder for -o")
    dist = find_ort_web(ort_web, page_dir)
    ort_files = ORT_FILES + (ORT_WEBGPU_FILES if webgpu else ())
    if dist is not None:
        missing_files = [name for name in ort_files if not (dist / name).is_file()]
        if missing_files:
            raise GenfwUsageError(
                f"this onnxruntime-web has no {', '.join(missing_files)}",
                where=str(dist),
                fix=f"install onnxruntime-web {ORT_WEB_VERSION} (npm install onnxruntime-web@{ORT_WEB_VERSION})",
            )
    refuse_run_folder(site)
    created = not site.exists()
    try:
        site.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GenfwUsageError(f"cannot create the site folder ({exc.strerror})", where=str(site)) from None
    try:
        return _write_site(
            source,
            SiteWriter(site, force=force),
            weights,
            page_files,
            dist,
            ort_files,
            plugins_dirs,
            trust_recorded,
            encoder,
        )
    except BaseException:
        if created:  # nothing of a failed call is left in a folder it made
            shutil.rmtree(site, ignore_errors=True)
        raise


def _write_site(
    source: Path,
    writer: SiteWriter,
    weights: str,
    page_files: list[Path],
    dist: Path | None,
    ort_files: tuple[str, ...],
    plugins_dirs: tuple[str, ...],
    trust_recorded: bool,
    encoder: bool = False,
) -> dict:
    from genfw.export.contract import ENCODER_FILE, sidecar_path
    from genfw.run_export import export_run

    exported = [MODEL_NAME, sidecar_path(MODEL_NAME).name]
    if encoder:
        exported += [ENCODER_FILE, sidecar_path(ENCODER_FILE).name]
    copies = {p.name: p for p in page_files}
    if dist is not None:
        copies.update({f"{ORT_FOLDER}/{name}": dist / name for name in ort_files})
    writer.check(exported + list(copies))
    for name in exported[1:]:  # the export writes these too: check them before it starts
        writer.path(name)
    report = export_run(
        source,
        writer.path(MODEL_NAME),
        weights=weights,
        encoder=encoder,
        plugins_dirs=plugins_dirs,
        trust_recorded=trust_recorded,
    )
    for name in exported:
        writer.record(name)
    for name, src in copies.items():
        writer.copy(src, name)
    report["page"] = [p.name for p in page_files]
    report["ort_web"] = None
    if dist is not None:
        report["ort_web"] = {"from": str(dist), "version": ort_web_version(dist), "files": list(ort_files)}
    return report
