"""Fixtures and hooks only; the helpers test files import live in genfw_testing.py (pytest advises
against importing from conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from genfw_testing import REPO, data_root

# pytest-xdist runs the suite in one worker per core (pyproject's addopts): each worker, and every
# genfw process it starts, gets its share of the cores, so torch's thread pools do not oversubscribe
# them (tests that depend on a thread count set train.threads themselves).
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _threads = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = _threads
    import torch

    torch.set_num_threads(int(_threads))

# Configs in the tests name datasets without a root: genfw then reads GENFW_DATA, which points at the
# same folder require_mnist checks (so a missing MNIST fails the test, never starts a download).
os.environ.setdefault("GENFW_DATA", str(data_root()))


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory) -> Path:
    """One $GENFW_CACHE for the whole session, so the reference classifier of a dataset is trained at
    most once per session (not once per test module). An explicit $GENFW_CACHE is kept (.ci/run puts
    one inside the checkout); otherwise a folder of the session's temp dir, never the developer's own
    cache. Under xdist every worker uses the same folder, the parent of the workers' temp dirs
    (pytest-xdist's pattern for session fixtures), and genfw's lock on each cache entry makes a
    second worker wait for the first one's training and then load its weights. Tests about the cache
    itself point GENFW_CACHE (or ``cache_dir``) at a folder of their own."""
    if os.environ.get("GENFW_CACHE"):
        return Path(os.environ["GENFW_CACHE"])
    base = tmp_path_factory.getbasetemp()
    cache = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "genfw-cache"
    cache.mkdir(exist_ok=True)
    os.environ["GENFW_CACHE"] = str(cache)
    return cache


@pytest.fixture
def repo() -> Path:
    return REPO
