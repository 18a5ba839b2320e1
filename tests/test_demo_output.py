"""`genfw demo -o DIR` and the user's files: it writes only into a new or empty folder or one it
wrote itself (its manifest), replaces none of the user's files unless --force, never writes into a
run folder, and never through a symbolic link out of its folder. Real files and the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from genfw_testing import cli_in_process, error_line, small_generator

from genfw.demo_site import MANIFEST_NAME, ORT_FILES

ORT_VERSION = "1.30.0"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A run folder as genfw leaves it (generator.pt, config.json and its verified generator.onnx)."""
    from genfw.artifacts import atomic_torch_save, generator_payload
    from genfw.data.spec import DataSpec

    rc, latent, g = small_generator()
    folder = tmp_path_factory.mktemp("run")
    atomic_torch_save(generator_payload(g, latent, DataSpec((1, 28, 28)), rc.to_json()), folder / "generator.pt")
    (folder / "config.json").write_text(json.dumps(rc.to_json()))
    proc = cli_in_process("export", folder)
    assert proc.returncode == 0, proc.stderr
    return folder


@pytest.fixture(scope="module")
def ort_web(tmp_path_factory) -> Path:
    """An onnxruntime-web dist folder (genfw copies its files as they are; their content is not read)."""
    dist = tmp_path_factory.mktemp("onnxruntime-web") / "dist"
    dist.mkdir()
    for name in ORT_FILES:
        (dist / name).write_text(f"// {name}\n")
    (dist.parent / "package.json").write_text(json.dumps({"name": "onnxruntime-web", "version": ORT_VERSION}))
    return dist


def demo(run: Path, site: Path, ort_web: Path, *extra: str):
    return cli_in_process("demo", run, "-o", site, "--ort-web", ort_web, *extra)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_demo_refuses_a_folder_it_did_not_write_unless_forced(run, ort_web, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>my own page</h1>")
    (site / "worker.js").write_text("// my own worker")
    line = error_line(demo(run, site, ort_web))
    assert f"{site}: the folder is not empty and genfw demo did not write it" in line, line
    assert "it would replace index.html, worker.js" in line and "--force" in line, line
    assert snapshot(site) == {"index.html": b"<h1>my own page</h1>", "worker.js": b"// my own worker"}

    forced = demo(run, site, ort_web, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "my own page" not in (site / "index.html").read_text()
    written = json.loads((site / MANIFEST_NAME).read_text())["files"]
    assert {"index.html", "worker.js", "generator.onnx", "generator.json", "ort/ort.wasm.min.mjs"} <= set(written)


def test_demo_updates_its_own_folder_but_never_a_file_the_user_changed(run, ort_web):
    site = run / "site"  # where the refusal to write into the run folder itself points
    first = demo(run, site, ort_web, "--weights", "int8")
    assert first.returncode == 0, first.stderr
    again = demo(run, site, ort_web, "--weights", "int8")
    assert again.returncode == 0, again.stderr  # its own files, unchanged since: updated without a word

    (site / "worker.js").write_text("// edited by hand")
    (site / "notes.html").write_text("<p>mine, not a file genfw demo writes</p>")
    before = snapshot(site)
    line = error_line(demo(run, site, ort_web))
    assert "genfw demo would replace worker.js (changed since genfw demo wrote it)" in line, line
    assert "--force" in line and "notes.html" not in line, line
    assert snapshot(site) == before


def test_demo_never_writes_into_a_run_folder_even_when_forced(run, ort_web):
    before = snapshot(run)
    for extra in ((), ("--force",)):
        line = error_line(demo(run, run, ort_web, "--weights", "int8", *extra))
        assert f"{run}: this is a run folder (it holds generator.pt)" in line, line
        assert f"write the site into a subfolder, e.g. -o {run / 'site'}" in line, line
    assert snapshot(run) == before  # the run's verified fp32 generator.onnx included


@pytest.mark.parametrize("link", ["ort", "index.html"])
def test_demo_never_writes_through_a_symlink_out_of_its_folder(run, ort_web, tmp_path, link):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "ort.wasm.min.mjs").write_text("precious")
    (outside / "index.html").write_text("precious")
    site = tmp_path / "site"
    site.mkdir()
    (site / link).symlink_to(outside if link == "ort" else outside / "index.html")
    for extra in ((), ("--force",)):
        line = error_line(demo(run, site, ort_web, *extra))
        assert f"{site / link} is a symbolic link to {outside}" in line and "outside the site folder" in line, line
    assert snapshot(outside) == {"ort.wasm.min.mjs": b"precious", "index.html": b"precious"}
    assert sorted(p.name for p in site.iterdir()) == [link]
