"""Screenshots of `genfw demo`'s page for the docs: a phone's 390 px and a 1,440 px screen (64 tiles).

    GENFW_WEB_NODE_MODULES=/path/to/node_modules python bench/demo_screenshots.py RUN_DIR --out docs/images

RUN_DIR is a trained run (its eval.json names the categories); node_modules must hold
onnxruntime-web and playwright-core (the versions tests/test_web_demo.py names), and Chromium must
be at $GENFW_CHROMIUM or /usr/bin/chromium. tests/test_web_demo.py checks the same page's layout
at both widths on every CI run; this script only takes the pictures of a model worth looking at.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

DRIVER = r"""
import { createRequire } from "node:module";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
const [nodeModules, chromium, url, out] = process.argv.slice(2);
const { chromium: browserType } = createRequire(join(nodeModules, "noop.js"))("playwright-core");
const context = await browserType.launchPersistentContext(mkdtempSync(join(tmpdir(), "genfw-shots-")), {
  executablePath: chromium, headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
const page = context.pages()[0] || await context.newPage();
for (const [width, height, query, name] of [[390, 844, "", "demo-390.png"], [1440, 900, "?n=64", "demo-1440.png"]]) {
  await page.setViewportSize({ width, height });
  await page.goto(url + query);
  await page.waitForFunction(() => window.genfwDemo && (window.genfwDemo.renders > 0 || window.genfwDemo.error), null,
    { timeout: 60000 });
  await page.screenshot({ path: join(out, name), fullPage: width < 1000 });
  console.log(`${name}: ${await page.evaluate(() => window.genfwDemo.error || "rendered")}`);
}
await context.close();
"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    node_modules = Path(os.environ.get("GENFW_WEB_NODE_MODULES", "examples/web/node_modules")).resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        subprocess.run([sys.executable, "-m", "genfw", "demo", str(args.run), "-o", str(site), "--weights", "int8", "--encoder",
                        "--ort-web", str(node_modules)], check=True)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        driver = Path(tmp) / "shots.mjs"
        driver.write_text(DRIVER)
        try:
            subprocess.run(["node", str(driver), str(node_modules), os.environ.get("GENFW_CHROMIUM", "/usr/bin/chromium"),
                            f"http://127.0.0.1:{server.server_address[1]}/", str(args.out.resolve())], check=True)
        finally:
            server.shutdown()
    print(json.dumps({"screenshots": [str(args.out / n) for n in ("demo-390.png", "demo-1440.png")]}))


if __name__ == "__main__":
    main()
