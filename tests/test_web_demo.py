"""`genfw demo`: the browser page really runs the generator (onnxruntime-web, WASM) in Chromium.

The page is served from a folder by Python's http.server on 127.0.0.1 and driven headless by
playwright-core (from npm) with Debian's Chromium. Needs node/npm and /usr/bin/chromium (CI
installs both in .ci/run, and onnxruntime-web + playwright-core into .ci/web/node_modules, named
by GENFW_WEB_NODE_MODULES); otherwise the npm packages are installed once into the cache folder.
Skips only when node or Chromium is missing.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from genfw_testing import REPO, USER_CACHE, small_generator

pytestmark = pytest.mark.slow  # npm packages and a headless Chromium

CHROMIUM = os.environ.get("GENFW_CHROMIUM", "/usr/bin/chromium")
#: The versions the page is tested with (examples/web/package.json pins onnxruntime-web).
NPM_PACKAGES = ("onnxruntime-web@1.30.0", "playwright-core@1.57.0")  # the same as .ci/run
FIRST_GRID_S = 5.0
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]

#: What every driver starts with: Chromium, headless, with a fresh profile; `args` are the driver's own.
LAUNCH = r"""
import { createRequire } from "node:module";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
const [nodeModules, chromium, flags, ...args] = process.argv.slice(2);
const { chromium: browserType } = createRequire(join(nodeModules, "noop.js"))("playwright-core");
// A fresh profile every run: launchPersistentContext takes the user-data-dir playwright asks for.
const context = await browserType.launchPersistentContext(mkdtempSync(join(tmpdir(), "genfw-chromium-")), {
  executablePath: chromium, headless: true, args: JSON.parse(flags) });
const page = context.pages()[0] || await context.newPage();
const settled = () => page.waitForFunction(() => window.genfwDemo && (window.genfwDemo.renders > 0 || window.genfwDemo.error),
  null, { timeout: 60000 });
"""

DRIVER = LAUNCH + r"""
const [url, shot] = args;
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
  await settled();
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
  await settled();
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
    cache = USER_CACHE / "web-test"  # kept across sessions: installing needs the network
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


class _Cors(_Quiet):
    """A model host that lets any page fetch its files (what the page must not trust on its own)."""

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()


@contextlib.contextmanager
def serve(folder: Path, handler: type = _Quiet) -> Iterator[str]:
    """``folder`` on http://127.0.0.1:PORT/ (a port of its own: an origin of its own) while the block runs."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def drive(browser_tools: str, node_modules: Path, script: str, tmp_path: Path, *args: str) -> dict:
    driver = tmp_path / "drive.mjs"
    driver.write_text(script)
    proc = subprocess.run([browser_tools, str(driver), str(node_modules), CHROMIUM, json.dumps(CHROMIUM_FLAGS), *args],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


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
    shot = tmp_path / "web_demo.png"
    with serve(site) as url:
        out = drive(browser_tools, node_modules, DRIVER, tmp_path, url, str(shot))
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


# -- issue #23: the page for a person: a phone's width, 64 tiles, variety, animation, file:// ----------
PERSON_DRIVER = LAUNCH + r"""
const [url, fileUrl, shots] = args;
const out = {};
const layout = () => page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth,
  innerHeight: window.innerHeight, controlsTop: document.getElementById("controls").getBoundingClientRect().top,
  canvasRight: document.getElementById("grid").getBoundingClientRect().right,
  status: document.getElementById("status").textContent, error: window.genfwDemo.error }));
const rendered = (n) => page.waitForFunction((k) => window.genfwDemo.renders > k || window.genfwDemo.error, n, { timeout: 30000 });
const renders = () => page.evaluate(() => window.genfwDemo.renders);
try {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(url);
  await settled();
  out.narrow = await layout();
  await page.screenshot({ path: `${shots}/demo-390.png`, fullPage: true });
  out.variedC1 = await page.evaluate(() => Array.from(window.genfwDemo.codes.c1));
  let n = await renders();
  await page.$eval('input[data-code="c1"]', (s) => { s.value = "1"; s.dispatchEvent(new Event("input")); });
  await rendered(n);
  out.setC1 = await page.evaluate(() => Array.from(window.genfwDemo.codes.c1));
  n = await renders();
  await page.click('button[data-vary="c1"]');
  await rendered(n);
  out.variedAgain = await page.evaluate(() => Array.from(window.genfwDemo.codes.c1));
  n = await renders();
  await page.click('button[data-animate="c2"]');
  await page.waitForFunction((k) => window.genfwDemo.animationFrames >= 5 && window.genfwDemo.renders > k + 2, n, { timeout: 30000 });
  out.animatedC2 = await page.evaluate(() => Array.from(window.genfwDemo.codes.c2).slice(0, 2));
  await page.click('button[data-animate="c2"]');  // a second click stops it
  const stoppedAt = await page.evaluate(() => window.genfwDemo.animationFrames);
  await page.waitForTimeout(400);
  out.framesAfterStop = (await page.evaluate(() => window.genfwDemo.animationFrames)) - stoppedAt;
  await page.setViewportSize({ width: 1440, height: 900 });
  await page.goto(url + "?n=64");
  await settled();
  out.wide = await layout();
  await page.screenshot({ path: `${shots}/demo-1440.png`, fullPage: false });
  await page.goto(fileUrl);
  await page.waitForFunction(() => window.genfwDemo && window.genfwDemo.error, null, { timeout: 10000 });
  out.file = await page.evaluate(() => window.genfwDemo.error);
} catch (err) {
  out.failure = String(err && err.stack || err);
}
console.log(JSON.stringify(out));
await context.close();
"""


def test_the_page_works_for_a_person(site, browser_tools, tmp_path):
    """At a phone's 390 px nothing runs off the screen; at 1,440 px 64 tiles leave the controls in
    view; continuous codes vary from tile to tile until their slider moves; a code animates and
    stops; opened as a file the page says how to serve it. The screenshots go to
    $GENFW_SCREENSHOTS when set (docs/images/ holds a trained model's: bench/demo_screenshots.py)."""
    node_modules = _node_modules(tmp_path)
    shots = Path(os.environ.get("GENFW_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with serve(site) as url:
        out = drive(browser_tools, node_modules, PERSON_DRIVER, tmp_path, url, (site / "index.html").as_uri(), str(shots))
    detail = json.dumps(out)[:3000]
    assert "failure" not in out, detail
    narrow, wide = out["narrow"], out["wide"]
    assert narrow["error"] is None and narrow["status"].startswith("Ready: 16 generated 28x28 images"), detail
    assert narrow["scroll"] <= narrow["inner"] and narrow["canvasRight"] <= narrow["inner"], detail  # no sideways scrolling
    assert wide["error"] is None and wide["controlsTop"] < wide["innerHeight"] / 2, detail  # 64 tiles: controls in view
    assert len(set(out["variedC1"])) == 16, detail  # each tile its own c1
    assert out["setC1"] == [1.0] * 16, detail  # the slider sets it for all
    assert len(set(out["variedAgain"])) == 16, detail
    assert out["framesAfterStop"] <= 1, detail
    assert "needs a web server" in out["file"] and "python3 -m http.server" in out["file"], detail
    assert (shots / "demo-390.png").stat().st_size > 1000 and (shots / "demo-1440.png").stat().st_size > 1000


# -- issue #23: your own digit, read by the encoder ------------------------------------------------------
DRAW_DRIVER = LAUNCH + r"""
const [url, png] = args;
const out = {};
const renders = () => page.evaluate(() => window.genfwDemo.renders);
try {
  await page.goto(url);
  await settled();
  out.hasEncoder = await page.evaluate(() => window.genfwDemo.encoder);
  const box = await page.locator("#pad").boundingBox();
  await page.mouse.move(box.x + 70, box.y + 20);
  await page.mouse.down();
  for (const [x, y] of [[70, 60], [70, 100], [72, 125]]) await page.mouse.move(box.x + x, box.y + y, { steps: 5 });
  await page.mouse.up();
  let n = await renders();
  await page.click('button[data-encode="pad"]');
  await page.waitForFunction((k) => window.genfwDemo.encoded && window.genfwDemo.renders > k, n, { timeout: 30000 });
  const controls = () => page.evaluate(() => ({
    encoded: window.genfwDemo.encoded,
    pressed: Array.from(document.querySelectorAll('button[data-code="digit"]')).findIndex((b) => b.getAttribute("aria-pressed") === "true"),
    sliders: Array.from(document.querySelectorAll('input[type="range"]')).map((s) => [s.dataset.code, Number(s.value)]),
    c1: Array.from(window.genfwDemo.codes.c1), z: Array.from(window.genfwDemo.codes.z.slice(0, 3)),
    status: document.getElementById("status").textContent, error: window.genfwDemo.error }));
  out.drawn = await controls();
  n = await renders();
  await page.setInputFiles("#upload", png);
  await page.waitForFunction((k) => window.genfwDemo.renders > k, n, { timeout: 30000 });
  out.uploaded = await controls();
} catch (err) {
  out.failure = String(err && err.stack || err);
}
console.log(JSON.stringify(out));
await context.close();
"""


@pytest.fixture(scope="module")
def encoder_site(browser_tools, tmp_path_factory) -> Path:
    """`genfw demo RUN --encoder` for a real (two-step) InfoGAN MNIST run."""
    from genfw_testing import TINY_RUN, cli_in_process, sets

    node_modules = _node_modules(tmp_path_factory.mktemp("npm"))
    run = tmp_path_factory.mktemp("enc") / "run"
    proc = cli_in_process("run", "configs/infogan_mnist.json", *sets(*TINY_RUN, "train.max_steps=2",
                          "train.sample_every_epoch=false", f"output.run_dir={run}"), "-q")
    assert proc.returncode == 0, proc.stderr
    site = tmp_path_factory.mktemp("encweb") / "site"
    proc = cli_in_process("demo", run, "-o", site, "--encoder", "--ort-web", node_modules)
    assert proc.returncode == 0, proc.stderr
    assert (site / "encoder.onnx").is_file() and (site / "encoder.json").is_file()
    return site


def test_the_page_reads_a_drawn_or_uploaded_digit_and_puts_its_codes_on_the_controls(encoder_site, browser_tools,
                                                                                       tmp_path):
    from PIL import Image

    from genfw.data.mnist import load_mnist  # a real test digit, as a PNG a user would upload

    node_modules = _node_modules(tmp_path)
    png = tmp_path / "digit.png"
    Image.fromarray(load_mnist(os.environ["GENFW_DATA"], "test", download=False, limit=1).images[0, 0].numpy()).save(png)
    with serve(encoder_site) as url:
        out = drive(browser_tools, node_modules, DRAW_DRIVER, tmp_path, url, str(png))
    detail = json.dumps(out)[:3000]
    assert "failure" not in out, detail
    assert out["hasEncoder"] and out["hasEncoder"]["outputs"] == ["digit", "c1", "c2"], detail
    for key in ("drawn", "uploaded"):
        state = out[key]
        encoded = state["encoded"]
        assert state["error"] is None and state["status"].startswith("Your image"), detail
        assert state["pressed"] == encoded["digit"].index(1.0), detail  # its category's button is pressed
        sliders = dict(state["sliders"])
        step = 4 / 200  # the sliders move in 200 steps over [-2, 2]: they show the value to the nearest step
        assert abs(sliders["c1"] - encoded["c1"][0]) <= step / 2 + 1e-6, detail
        assert abs(sliders["c2"] - encoded["c2"][0]) <= step / 2 + 1e-6, detail
        assert all(abs(v - encoded["c1"][0]) < 1e-6 for v in state["c1"]), detail  # every tile takes it
        assert state["z"] == [pytest.approx(0.0, abs=1e-6)] * 3, detail  # the noise at its prior's center


# -- issue #21: what the page refuses (real Chromium, real files, real servers) ------------------------
CASES_DRIVER = LAUNCH + r"""
const [home, urls] = args;
const out = { cases: {} };
try {
  for (const url of JSON.parse(urls)) {
    await page.goto(url);
    await settled();
    out.cases[url] = await page.evaluate(() => ({ ready: window.genfwDemo.ready, renders: window.genfwDemo.renders,
      error: window.genfwDemo.error, verified: window.genfwDemo.verified, status: document.getElementById("status").textContent,
      buttons: document.querySelectorAll("button[data-code]").length }));
  }
  // The SHA-256 the page computes without WebCrypto (plain http from another host) is the same.
  await page.goto(home);
  out.sha = await page.evaluate(async () => {
    const web = await import("./genfw-web.js");
    const bytes = new Uint8Array(await (await fetch("generator.onnx")).arrayBuffer());
    return { js: web.sha256HexJs(bytes), webcrypto: await web.sha256Hex(bytes), sidecar: (await (await fetch("generator.json")).json()).sha256 };
  });
} catch (err) {
  out.failure = String(err && err.stack || err);
}
console.log(JSON.stringify(out));
await context.close();
"""


def _copy_with_sidecar(site: Path, name: str, sidecar: str | None) -> None:
    """``NAME.onnx``: the site's model, with ``NAME.json`` holding ``sidecar`` (None: no sidecar)."""
    (site / f"{name}.onnx").write_bytes((site / "generator.onnx").read_bytes())
    if sidecar is not None:
        (site / f"{name}.json").write_text(sidecar)


def _pair_with_latent(site: Path, name: str, change) -> None:
    """A pair that verifies (metadata, sidecar and hash agree) whose latent spec ``change(codes)`` made up."""
    import onnx

    from genfw.export.pair import write_pair

    model = onnx.load(str(site / "generator.onnx"))
    sidecar = json.loads((site / "generator.json").read_text())
    change(sidecar["latent"]["codes"])
    for prop in model.metadata_props:
        if prop.key == "genfw.latent":
            prop.value = json.dumps(sidecar["latent"])
    write_pair(site / f"{name}.onnx", model.SerializeToString(), sidecar)


#: ?model= NAME -> the one line the page shows instead of images.
REFUSED = {
    "nosidecar": "nosidecar.onnx: cannot verify it: its sidecar nosidecar.json is missing",
    "notjson": "notjson.onnx: cannot verify it: its sidecar notjson.json is not valid JSON",
    "nohash": "nohash.onnx: cannot verify it: its sidecar nohash.json records no SHA-256",
    "relabelled": "relabelled.json: its sidecar does not match the model's own metadata at latent.codes[1].labels[3] "
                  "(\"4 (65%)\" in the model, \"7 (99%)\" in the sidecar)",
    "k1e9": "k1e9.onnx: the k of code 'digit' in its metadata is wrong: k = 1000000000 but the model takes 10 numbers for it",
    "labels200k": "labels200k.onnx: the label list of code 'digit' in its metadata is wrong: labels has 200000 entries for 10 categories",
    "range": "range.onnx: the range of code 'c1' in its metadata is wrong: [2,-2] is not [low, high] with finite low < high",
    "dims": "dims.onnx: the dim of code 'digit' in its metadata is wrong: it says 12 but the model's input 'digit' is [batch, 10]",
}


@pytest.fixture(scope="module")
def bad_models(site) -> Path:
    """The site's model next to sidecars that cannot verify it, and pairs whose spec does not fit it."""
    sidecar = json.loads((site / "generator.json").read_text())
    _copy_with_sidecar(site, "nosidecar", None)
    _copy_with_sidecar(site, "notjson", "{not json")
    _copy_with_sidecar(site, "nohash", json.dumps({key: value for key, value in sidecar.items() if key != "sha256"}))
    sidecar["latent"]["codes"][1]["labels"][3] = "7 (99%)"  # the hash still matches: only the spec was edited
    _copy_with_sidecar(site, "relabelled", json.dumps(sidecar))
    _pair_with_latent(site, "k1e9", lambda codes: codes[1].__setitem__("k", 1e9))
    _pair_with_latent(site, "labels200k", lambda codes: codes[1].__setitem__("labels", [f"l{i}" for i in range(200_000)]))
    _pair_with_latent(site, "range", lambda codes: codes[2].__setitem__("range", [2.0, -2.0]))
    _pair_with_latent(site, "dims", lambda codes: codes[1].update(dim=12, k=12, labels=[str(i) for i in range(12)], classes=None,
                                                                   prior={"kind": "categorical", "probs": [1 / 12] * 12}))
    return site


def test_the_page_refuses_models_it_cannot_verify_or_whose_spec_does_not_fit(bad_models, browser_tools, tmp_path):
    """Each case is one line on the page, no image and never "SHA-256 verified"; a model on another
    origin (which allows CORS) loads only into a page built to allow that origin (genfw-page.json)."""
    allowing = tmp_path / "allowing"
    shutil.copytree(bad_models, allowing)
    with serve(bad_models) as home, serve(bad_models, _Cors) as elsewhere, serve(allowing) as allowing_home:
        (allowing / "genfw-page.json").write_text(json.dumps({"allowOrigins": [elsewhere.rstrip("/")]}))
        foreign = f"{elsewhere}generator.onnx"
        urls = {name: f"{home}?model={name}.onnx" for name in REFUSED}
        urls.update(foreign=f"{home}?model={foreign}", allowed=f"{allowing_home}?model={foreign}")
        out = drive(browser_tools, _node_modules(tmp_path), CASES_DRIVER, tmp_path, home, json.dumps(list(urls.values())))
    detail = json.dumps(out)[:4000]
    assert "failure" not in out, detail
    expected = {**{name: f"{home}{line}" for name, line in REFUSED.items()},
                "foreign": f"{foreign}: this page loads models only from its own origin ({home.rstrip('/')}), not from "
                           f"{elsewhere.rstrip('/')} (build the page with that origin allowed: allowOrigins in genfw-page.json)"}
    for name, line in expected.items():
        case = out["cases"][urls[name]]
        assert case["renders"] == 0 and case.get("verified") is not True and "SHA-256 verified" not in case["status"], (name, case)
        assert (case["error"] or "").startswith(line), (name, case["error"], line)
        assert case["buttons"] == 0, (name, case)  # no control was built from a spec that was refused
    allowed = out["cases"][urls["allowed"]]
    assert allowed["ready"] and allowed["verified"] is True and allowed["renders"] >= 1 and allowed["error"] is None, allowed
    assert out["sha"]["js"] == out["sha"]["webcrypto"] == out["sha"]["sidecar"], out["sha"]
