"""`genfw demo`: the browser page really runs the generator (onnxruntime-web, WASM) in Chromium.

The page is served from a folder by Python's http.server on 127.0.0.1 and driven headless by
playwright-core (from npm) with Debian's Chromium. Needs node/npm and /usr/bin/chromium (CI
installs both in .ci/run, and onnxruntime-web + playwright-core into .ci/web/node_modules, named
by GENFW_WEB_NODE_MODULES); otherwise the npm packages are installed once into the cache folder.
Skips only when node or Chromium is missing.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import REPO, small_generator

CHROMIUM = os.environ.get("GENFW_CHROMIUM", "/usr/bin/chromium")
#: The versions the page is tested with (examples/web/package.json pins onnxruntime-web).
NPM_PACKAGES = ("onnxruntime-web@1.30.0", "playwright-core@1.57.0")  # the same as .ci/run
FIRST_GRID_S = 5.0
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]

DRIVER = r"""
import { createRequire } from "node:module";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
const [nodeModules, chromium, url, shot, flags] = process.argv.slice(2);
const { chromium: browserType } = createRequire(join(nodeModules, "noop.js"))("playwright-core");
// A fresh profile every run: launchPersistentContext takes the user-data-dir playwright asks for.
const context = await browserType.launchPersistentContext(mkdtempSync(join(tmpdir(), "genfw-chromium-")), {
  executablePath: chromium, headless: true, args: JSON.parse(flags) });
const page = context.pages()[0] || await context.newPage();
const logs = [];
page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
const state = () => page.evaluate(() => { const d = window.genfwDemo || {}; return { ready: d.ready, renders: d.renders,
  firstGridMs: d.firstGridMs, error: d.error, verified: d.verified, lastRunMs: d.lastRunMs }; });
const pixels = () => page.evaluate(() => { const c = document.getElementById("grid");
  const d = c.getContext("2d", { willReadFrequently: true }).getImageData(0, 0, c.width, c.height).data;
  const grey = []; for (let i = 0; i < d.length; i += 4) grey.push(d[i]); return grey; });
const out = { logs };
try {
  await page.goto(url);
  await page.waitForFunction(() => window.genfwDemo && (window.genfwDemo.renders > 0 || window.genfwDemo.error), null, { timeout: 60000 });
  out.first = await state();
  out.labels = await page.$$eval('button[data-code="digit"]', (bs) => bs.map((b) => b.textContent));
  out.sliders = await page.$$eval('input[type="range"]', (xs) => xs.map((x) => [x.dataset.code, Number(x.min), Number(x.max)]));
  out.before = await pixels();
  await page.click('button[data-code="digit"][data-index="3"]');
  await page.waitForFunction((n) => window.genfwDemo.renders > n || window.genfwDemo.error, out.first.renders, { timeout: 30000 });
  out.after = await pixels();
  out.second = await state();
  await page.screenshot({ path: shot, fullPage: true });
  // A model that is not the file its sidecar was written for is refused, in one line.
  await page.goto(url + "?model=tampered.onnx");
  await page.waitForFunction(() => window.genfwDemo && (window.genfwDemo.renders > 0 || window.genfwDemo.error), null, { timeout: 60000 });
  out.tampered = await state();
} catch (err) {
  out.failure = String(err && err.stack || err);
}
console.log(JSON.stringify(out));
await context.close();
"""


def _node_modules(tmp_root: Path) -> Path:
    """A node_modules folder holding onnxruntime-web and playwright-core: CI's, else the cache's."""
    def missing(folder: Path) -> list[str]:
        out = []
        for package in NPM_PACKAGES:
            name, version = package.rsplit("@", 1)
            try:
                found = json.loads((folder / name / "package.json").read_text())["version"]
            except (OSError, ValueError, KeyError):
                found = None
            if found != version:
                out.append(package)
        return out

    given = os.environ.get("GENFW_WEB_NODE_MODULES")
    if given:
        assert not missing(Path(given)), f"GENFW_WEB_NODE_MODULES={given} lacks {missing(Path(given))} (see .ci/run)"
        return Path(given)
    cache = Path(os.environ.get("GENFW_CACHE") or Path.home() / ".cache" / "genfw") / "web-test"
    if missing(cache / "node_modules"):
        cache.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["npm", "install", "--prefix", str(cache), "--no-audit", "--no-fund", "--prefer-offline",
                               "--ignore-scripts", "--no-save", *NPM_PACKAGES], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"npm install failed:\n{proc.stdout}\n{proc.stderr}"
    return cache / "node_modules"


@pytest.fixture(scope="module")
def browser_tools():
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node/npm is not installed (CI installs it in .ci/run: apt-get install nodejs npm)")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (CI installs it in .ci/run: apt-get install chromium)")
    return node


@pytest.fixture(scope="module")
def site(browser_tools, tmp_path_factory) -> Path:
    """`genfw demo RUN_DIR -o SITE`, for a run with an eval.json that says what each category means."""
    from genfw.artifacts import atomic_torch_save, generator_payload
    from genfw.data.spec import DataSpec

    node_modules = _node_modules(tmp_path_factory.mktemp("npm"))
    rc, latent, g = small_generator()
    run = tmp_path_factory.mktemp("run")
    atomic_torch_save(generator_payload(g, latent, DataSpec((1, 28, 28)), rc.to_json()), run / "generator.pt")
    (run / "config.json").write_text(json.dumps(rc.to_json()))
    per_value = {str(v): {"class": (v + 1) % 10, "share": 0.5 + v / 20, "label": str((v + 1) % 10)} for v in range(10)}
    (run / "eval.json").write_text(json.dumps({"model_sections": ["code_consistency"],
                                               "code_consistency": {"digit": {"accuracy": 0.9, "per_value": per_value}}}))
    out = tmp_path_factory.mktemp("web") / "site"
    proc = subprocess.run([sys.executable, "-m", "genfw", "demo", str(run), "-o", str(out), "--ort-web", str(node_modules)],
                          cwd=str(REPO), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "onnxruntime-web 1.30.0" in proc.stdout and "http.server" in proc.stdout, proc.stdout
    # the same model under another name, with a sidecar for different bytes
    (out / "tampered.onnx").write_bytes((out / "generator.onnx").read_bytes()[:-1] + b"\x01")
    shutil.copy(out / "generator.json", out / "tampered.json")
    return out


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_demo_site_is_complete(site):
    names = sorted(p.name for p in site.iterdir())
    assert {"index.html", "genfw-web.js", "worker.js", "generator.onnx", "generator.json", "ort"} <= set(names)
    assert sorted(p.name for p in (site / "ort").iterdir()) == sorted(
        ["ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"])
    spec = json.loads((site / "generator.json").read_text())
    digit = spec["latent"]["codes"][1]
    assert digit["labels"][:3] == ["1 (50%)", "2 (55%)", "3 (60%)"] and digit["classes"][0] == {"class": 1, "label": "1", "share": 0.5}
    assert [c["role"] for c in spec["latent"]["codes"]] == ["noise", "control", "control", "control"]
    assert spec["latent"]["codes"][2]["range"] == [-2.0, 2.0] and len(spec["sha256"]) == 64
    for page in ("index.html", "genfw-web.js", "worker.js"):  # everything is served from the folder: no CDN
        assert "://" not in (site / page).read_text(), page


def test_the_page_renders_and_its_controls_change_the_images(site, browser_tools, tmp_path):
    node_modules = _node_modules(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        driver = tmp_path / "drive.mjs"
        driver.write_text(DRIVER)
        shot = tmp_path / "web_demo.png"
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        proc = subprocess.run([browser_tools, str(driver), str(node_modules), CHROMIUM, url, str(shot), json.dumps(CHROMIUM_FLAGS)],
                              capture_output=True, text=True, timeout=300)
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    detail = json.dumps({k: v for k, v in out.items() if k not in ("before", "after")})[:3000]
    assert "failure" not in out, detail
    first = out["first"]
    assert first["ready"] and first["error"] is None and first["renders"] >= 1, detail
    assert first["verified"] is True, detail  # the SHA-256 of generator.onnx was checked with WebCrypto
    assert first["firstGridMs"] < FIRST_GRID_S * 1000, f"first grid after {first['firstGridMs']:.0f} ms: {detail}"
    # one control per code, from the spec: category buttons labelled by what they mean, sliders over the range
    assert out["labels"][:3] == ["1 (50%)", "2 (55%)", "3 (60%)"] and len(out["labels"]) == 10, detail
    assert out["sliders"] == [["c1", -2, 2], ["c2", -2, 2]], detail
    # a grid of images that is not blank, and another category gives other images
    before, after = out["before"], out["after"]
    drawn = [v for v in before if v != 0x22]  # the background between the tiles is #222
    assert len(drawn) > len(before) // 2 and len(set(drawn)) >= 3, detail
    assert out["second"]["error"] is None and out["second"]["renders"] > first["renders"], detail
    assert len(before) == len(after) and sum(a != b for a, b in zip(before, after)) > len(before) // 100, detail
    assert shot.is_file() and shot.stat().st_size > 1000
    tampered = out["tampered"]
    assert tampered["renders"] == 0 and "does not match its sidecar" in (tampered["error"] or ""), detail
    print(f"first grid after {first['firstGridMs']:.0f} ms; screenshot {shot}")
