"""Helpers shared by the test files: where the repo and the data are, and running the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Mapping

import pytest

# pytest-xdist runs the suite in one worker per core (pyproject's addopts): each worker, and every
# genfw process it starts, gets its share of the cores, so torch's thread pools do not oversubscribe
# them (tests that depend on a thread count set train.threads themselves).
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _threads = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = _threads
    import torch

    torch.set_num_threads(int(_threads))

#: The repository root (the folder holding pyproject.toml).
REPO = Path(__file__).resolve().parents[1]

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


# Configs in the tests name datasets without a root: genfw then reads GENFW_DATA, which points at the
# same folder the helpers above check (so a missing MNIST fails the test, never starts a download).
os.environ.setdefault("GENFW_DATA", str(data_root()))


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


def cli_in_process(*args: str | os.PathLike) -> subprocess.CompletedProcess:
    """Run the ``genfw`` CLI in this process (click's runner: the same entry point, parsing and
    error handling as the real command, without a new interpreter); the result looks like
    :func:`run_genfw`'s. Plugin-selection variables are cleared as for subprocesses."""
    from click.testing import CliRunner

    from genfw.cli import main

    saved = {k: os.environ.pop(k) for k in PLUGIN_ENV_VARS if k in os.environ}
    try:
        result = CliRunner().invoke(main, [str(a) for a in args])
    finally:
        os.environ.update(saved)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    stderr = getattr(result, "stderr", "") or ""
    return subprocess.CompletedProcess(["genfw", *map(str, args)], result.exit_code, result.stdout, stderr)


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
    _, rc = load_config_and_plugins(REPO / "configs" / "infogan_mnist.json", SMALL_GENERATOR)
    latent = build_latent(rc)
    return rc, latent, build_network(rc, "generator", latent, DataSpec((1, 28, 28))).eval()


def base_config() -> dict:
    """A fresh copy of configs/infogan_mnist.json."""
    return json.loads((REPO / "configs" / "infogan_mnist.json").read_text(encoding="utf-8"))


def write_json(path: Path, doc) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


@pytest.fixture
def repo() -> Path:
    return REPO


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
