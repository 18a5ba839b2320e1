"""What the test files share: where the repo and the data are, running the real CLI (in a
subprocess or in this process), tiny configs and the small files tests write.

Test files import from here (``from genfw_testing import ...``), never from conftest.py, which
holds only fixtures and hooks. pyproject's ``pythonpath = ["tests"]`` puts this folder on sys.path
for pytest and each xdist worker, whatever the import mode.
"""

from __future__ import annotations

import gzip
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pytest
from PIL import Image, ImageDraw

#: The repository root (the folder holding pyproject.toml).
REPO = Path(__file__).resolve().parents[1]

#: The developer's genfw cache, as it was before conftest.py gave the session a cache of its own
#: (read when conftest.py first imports this module): only for what the tests cannot make
#: themselves offline, such as the browser test's npm packages.
USER_CACHE = Path(os.environ.get("GENFW_CACHE") or Path.home() / ".cache" / "genfw").expanduser()

#: Environment variables that change which plugins load; cleared for every CLI run unless a test
#: sets them, so a developer's shell cannot change what the tests see.
PLUGIN_ENV_VARS = ("GENFW_LOAD_PLUGINS", "GENFW_DISABLE_PLUGINS")

MNIST_RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def data_root() -> Path:
    """The shared data root: $GENFW_DATA if set, else ``<repo>/../shared/data``."""
    env = os.environ.get("GENFW_DATA")
    return Path(env).expanduser() if env else REPO.parent / "shared" / "data"


def require_mnist() -> Path:
    """The data root, after checking that MNIST's four IDX files are there (fails, never skips)."""
    root = data_root()
    raw = root / "MNIST" / "raw"
    missing = [n for n in MNIST_RAW_FILES if not (raw / n).is_file() and not (raw / f"{n}.gz").is_file()]
    if missing:
        pytest.fail(f"MNIST is missing under {raw} ({', '.join(missing)}); set GENFW_DATA to a folder holding MNIST/raw/")
    return root


def genfw_env(env: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """os.environ without the plugin-selection variables, updated by ``env`` (None removes a key)."""
    out = {k: v for k, v in os.environ.items() if k not in PLUGIN_ENV_VARS}
    out.setdefault("PYTHONUNBUFFERED", "1")
    for key, value in (env or {}).items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def run_genfw(*args: str | os.PathLike, env: Mapping[str, str | None] | None = None, cwd: str | os.PathLike | None = None,
              timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python -m genfw ARGS`` in a subprocess (text output captured, never raises on a bad exit).

    ``env`` updates the inherited environment (None removes a variable); ``cwd`` defaults to the
    repo root so relative paths like ``configs/infogan_mnist.json`` work.
    """
    return subprocess.run(
        [sys.executable, "-m", "genfw", *map(str, args)],
        cwd=str(cwd or REPO),
        env=genfw_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def cli_in_process(*args: str | os.PathLike, env: Mapping[str, str | None] | None = None,
                   cwd: str | os.PathLike | None = None,
                   pythonpath: Sequence[str | os.PathLike] = ()) -> subprocess.CompletedProcess:
    """Run the ``genfw`` CLI in this process (click's runner: the same entry point, parsing and
    error handling as the real command, without a new interpreter); the result looks like
    :func:`run_genfw`'s, with the same ``env`` and ``cwd``. Plugin-selection variables are cleared
    as for subprocesses. ``pythonpath`` folders (e.g. a :func:`fake_distribution` site) are put first
    on sys.path for the call, as PYTHONPATH would for a new interpreter, and the modules imported
    from them are forgotten afterwards. click's runner turns ``sys.exit`` into the exit code; any other exception
    is a bug (the real command would print its traceback) and is raised here.

    For what a subprocess adds nothing to: a command's output, files and one-line errors. The exit
    code of a real process, signals, torchrun and a fresh interpreter's state need :func:`run_genfw`.
    """
    from click.testing import CliRunner

    from genfw.cli import main

    cleared: dict[str, str | None] = {k: None for k in PLUGIN_ENV_VARS}
    folders = [str(Path(p).resolve()) for p in pythonpath]
    here, path_before, modules_before = os.getcwd(), list(sys.path), set(sys.modules)
    sys.path[:0] = folders
    importlib.invalidate_caches()  # entry points and imports see the new folders
    os.chdir(cwd or REPO)
    try:
        result = CliRunner().invoke(main, [str(a) for a in args], env={**cleared, **(env or {})}, prog_name="genfw")
    finally:
        os.chdir(here)
        sys.path[:] = path_before
        for name in set(sys.modules) - modules_before:
            if any(str(getattr(sys.modules[name], "__file__", None) or "").startswith(f) for f in folders):
                del sys.modules[name]
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(["genfw", *map(str, args)], result.exit_code, result.stdout, result.stderr)


#: The counts and settings the shipped models' and genfw's eval.json sections write; each section
#: marks its own as not scores (``not_scores``), so `genfw eval --compare` lists none of them.
KNOWN_COUNTS = frozenset({"images", "mean_image_from", "beta", "styles", "steps", "samples_per_value", "samples_per_class",
                          "matching", "class", "n", "samples", "seed"})


def assert_no_count_is_a_score(report: dict) -> None:
    """What `genfw eval --compare` lists of a real eval.json has no count or setting in it."""
    from genfw.evaluation.compare import scores

    names = [name for name, _ in scores(report)]
    assert names, "no score at all"
    assert [n for n in names if set(n.split(".")[1:]) & KNOWN_COUNTS] == []  # [0]: the section ("samples")

    def resolves(node, path: list[str]) -> bool:
        if not path:
            return True
        keys = list(node) if path[0] == "*" else [path[0]]
        return any(k in node and (len(path) == 1 or isinstance(node[k], dict) and resolves(node[k], path[1:])) for k in keys)

    def check_marks(node) -> None:  # every mark names something that is there (no typo hides nothing)
        for mark in node.get("not_scores", []):
            assert resolves(node, mark.split(".")), f"not_scores mark {mark!r} names nothing in {sorted(node)}"
        for value in node.values():
            if isinstance(value, dict):
                check_marks(value)

    check_marks(report)


def ok(proc: subprocess.CompletedProcess) -> str:
    """Assert that a genfw command succeeded (exit 0) and return its stdout."""
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout


def error_line(proc: subprocess.CompletedProcess) -> str:
    """Assert a genfw usage error (exit 2, exactly one line on stderr, no traceback) and return the line."""
    detail = f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 2, detail
    assert "Traceback" not in proc.stderr, detail
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, detail
    assert lines[0].startswith("Error: "), detail
    return lines[0]


#: Overrides that shrink the InfoGAN generator for fast export/runtime tests.
SMALL_GENERATOR = ("networks.generator.hidden=32", "networks.generator.base_channels=8", "networks.generator.up_channels=4")


def small_generator(seed: int = 0):
    """``(resolved config, latent spec, generator in eval mode)``: the shipped config's codes with a
    small, untrained generator."""
    import torch

    from genfw.building import build_latent, build_network
    from genfw.data.spec import DataSpec
    from genfw.session import load_config_and_plugins

    torch.manual_seed(seed)
    _, rc = load_config_and_plugins(INFOGAN_CONFIG, SMALL_GENERATOR)
    latent = build_latent(rc)
    return rc, latent, build_network(rc, "generator", latent, DataSpec((1, 28, 28))).eval()


def export_small_generator(folder: Path, categories: dict | None = None) -> Path:
    """:func:`small_generator` exported (unverified: the export tests verify) as
    ``folder/generator.onnx`` and its sidecar; ``categories`` labels its codes."""
    from genfw.export import export_generator

    _, latent, g = small_generator()
    path = folder / "generator.onnx"
    export_generator(g, latent, (1, 28, 28), path, verify=False, categories=categories)
    return path


#: The shipped InfoGAN config, the one most tests start from.
INFOGAN_CONFIG = REPO / "configs" / "infogan_mnist.json"

#: A tiny but real MNIST run: 256 images, batch 32 (an epoch is 8 steps), no end-of-run eval or export.
TINY_RUN = ("dataset.limit=256", "train.batch_size=32", "train.log_every=2", "eval.at_end=false", "export.onnx=false")


def sets(*items: str) -> list[str]:
    """``--set`` options for the CLI: ``sets("a=1", "b=2")`` is ``["--set", "a=1", "--set", "b=2"]``."""
    return [arg for item in items for arg in ("--set", item)]


def base_config() -> dict:
    """A fresh copy of configs/infogan_mnist.json."""
    return json.loads(INFOGAN_CONFIG.read_text(encoding="utf-8"))


def write_json(path: Path, doc) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


def latent_code_plugin_source(type_name: str, *, hook: str = "register_latent_codes", doc: str = "A test code: zeros.",
                              preamble: str = "") -> str:
    """Source of a small but real plugin module registering one latent-code type ``type_name``.

    ``hook`` is the name of the decorated function (misspell it to test that check);
    ``preamble`` is code run first at import (e.g. ``raise RuntimeError(...)``).
    """
    cls = "".join(part.title() for part in type_name.split("_")) + "Code"
    return f'''"""Test plugin providing {type_name!r}."""
{preamble}
import torch
from pydantic import BaseModel, ConfigDict, Field

import genfw
from genfw.latent import LatentCode
from genfw.model import DataSpec


class {cls}Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dim: int = Field(1, gt=0, description="Width of the code")


class {cls}(LatentCode):
    """{doc}"""

    type_name = {type_name!r}
    params: {cls}Params

    @property
    def dim(self):
        return self.params.dim

    def sample(self, n, generator, device="cpu"):
        return torch.zeros(n, self.dim, device=device)

    def traversal_range(self):
        return (0.0, 1.0)

    def prior(self):
        return {{"kind": "uniform", "low": 0.0, "high": 0.0}}


@genfw.hookimpl
def {hook}(register):
    register({type_name!r}, {cls})
'''


def fake_distribution(site: Path, dist: str, version: str, entry_points: Mapping[str, str],
                      modules: Mapping[str, str]) -> Path:
    """Lay out an "installed" distribution in ``site`` the way pip does: ``<dist>-<version>.dist-info``
    with METADATA and entry_points.txt (group ``genfw``), plus the plugin's top-level modules."""
    site.mkdir(parents=True, exist_ok=True)
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[genfw]\n{lines}", encoding="utf-8")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(source, encoding="utf-8")
    return site


def with_pythonpath(*paths: str | os.PathLike) -> dict[str, str]:
    """An ``env`` update putting ``paths`` first on PYTHONPATH."""
    parts = [str(p) for p in paths] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {"PYTHONPATH": os.pathsep.join(parts)}


# -- small datasets the tests write ----------------------------------------------------------------
def write_shapes(root: Path, per_class: int = 150, classes=("circle", "square"), seed: int = 0) -> Path:
    """PNG and JPEG files of random sizes, grey and RGB: a filled circle or square per image."""
    rng = np.random.default_rng(seed)
    for cls in classes:
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            w, h = int(rng.integers(24, 80)), int(rng.integers(24, 80))
            mode = "RGB" if i % 2 else "L"
            im = Image.new(mode, (w, h), 0)
            c = int(rng.integers(120, 256))
            r = min(w, h) // 3
            box = [w // 2 - r, h // 2 - r, w // 2 + r, h // 2 + r]
            fill = (c, 255 - c // 2, c // 2) if mode == "RGB" else c
            draw = ImageDraw.Draw(im)
            (draw.ellipse if cls == "circle" else draw.rectangle)(box, fill=fill)
            im.save(root / cls / f"{i:03d}.{'jpg' if i % 5 == 0 else 'png'}")
    return root


def synthetic_images(n: int, c: int = 3, h: int = 16, w: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [n, c, h, w] images of two classes (a bright left or right half) and their labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    x = rng.integers(0, 60, (n, c, h, w)).astype(np.uint8)
    for i, y in enumerate(labels):
        x[i, :, :, (w // 2) * y:(w // 2) * (y + 1)] += 150
    return x, labels


def write_idx(raw: Path, n_train: int = 60, n_test: int = 20, gz: bool = False) -> None:
    """Small IDX files in torchvision's layout (magic, big-endian sizes, then the bytes)."""
    rng = np.random.default_rng(0)
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        files = {f"{prefix}-images-idx3-ubyte": (2051, (n, 28, 28), images),
                 f"{prefix}-labels-idx1-ubyte": (2049, (n,), labels)}
        for name, (magic, dims, data) in files.items():
            blob = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + data.tobytes()
            if gz:
                (raw / f"{name}.gz").write_bytes(gzip.compress(blob))
            else:
                (raw / name).write_bytes(blob)


def web_node_modules() -> Path:
    """The node_modules folder holding onnxruntime-web (GENFW_WEB_NODE_MODULES, as for the browser test)."""
    folder = Path(os.environ.get("GENFW_WEB_NODE_MODULES", REPO / "examples" / "web" / "node_modules"))
    assert (folder / "onnxruntime-web" / "package.json").is_file(), (
        f"onnxruntime-web is not in {folder}: set GENFW_WEB_NODE_MODULES to a node_modules folder holding it "
        "(npm install onnxruntime-web@1.30.0)")
    return folder
