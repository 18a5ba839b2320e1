"""InfoGAN's training must not change by accident: the first 100 steps of the shipped config log
the losses recorded in tests/fixtures/infogan_first100_steps/, one record per kernel kind and
precision (``genfw.cpu.KernelKind``: the instruction sets torch's and oneDNN's kernels use).

Where this machine can compute like a record's kind (the same kind, or an older one imitated with
``ATEN_CPU_CAPABILITY`` and ``ONEDNN_MAX_CPU_ISA`` in a subprocess) and runs the same torch, the
losses must be identical bit for bit. Where it cannot (an AVX2 machine and an AVX-512 record, or
another torch), they must agree within what kernel differences were measured to cause: step 1 is
the same forward pass in other kernels (measured: 7e-6 relative between AVX2 and AVX-512 kernels,
but for the invariance terms, which are about 1e-4 in size and 1e-8 apart, inside the 1e-6
absolute slack), step 2 adds one update (measured: under 3e-4 relative in every loss; the MI
terms, each a small difference of two larger terms, have reached 1e-2 with other recipes, so they
get 2e-2), and then the trajectories drift apart chaotically, so only the last 20 steps' means are
compared, loosely (measured: at most 0.08 apart, in G's total loss; 0.29 with other recipes).

Record a new kind or precision (after an intended change of the recipe, re-record every kind you
can compute like and say why in the commit):

    python tests/test_regression.py --record --precision fp32
    python tests/test_regression.py --record --precision bf16     # on a CPU with native bf16
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from genfw_testing import REPO, genfw_env, require_mnist

from genfw.session import load_config_and_plugins
from genfw.cpu import KernelKind, kernel_kind, native_bf16
from genfw.training.trainer import Trainer

RECORDS = REPO / "tests" / "fixtures" / "infogan_first100_steps"
CONFIG = "configs/infogan_mnist.json"
STEPS, THREADS = 100, 2

#: Tolerances where the kernels differ (see the module docstring for what was measured).
FIRST_STEP_RTOL, SECOND_STEP_RTOL, SECOND_STEP_MI_RTOL = 1e-4, 5e-3, 2e-2
LATE_STEPS, LATE_RTOL, LATE_ATOL = 20, 0.25, 0.2


def first_steps(precision: str, steps: int = STEPS, threads: int = THREADS) -> dict[str, list[float]]:
    """Every loss the model logs at each of the first ``steps`` steps of the shipped config."""
    overrides = [f"train.max_steps={steps}", f"train.threads={threads}", f"train.precision={precision}",
                 "train.log_every=1000", "train.sample_every_epoch=false", "train.checkpoint_every=100000", "loggers=[]"]
    _, resolved = load_config_and_plugins(REPO / CONFIG, overrides)
    before = torch.get_num_threads()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            trainer = Trainer(resolved, Path(tmp) / "run", quiet=True)
            steps_out: list[dict[str, float]] = []
            train_step = trainer.train_step

            def recording(batch, rng):
                out = train_step(batch, rng)
                steps_out.append({k: float(v.float().item()) for k, v in out.items()})
                return out

            trainer.train_step = recording
            trainer.fit()
    finally:
        torch.set_num_threads(before)
    return {key: [s[key] for s in steps_out] for key in steps_out[0]}


def first_steps_like(kind: KernelKind, precision: str) -> dict[str, list[float]]:
    """``first_steps`` computed by ``kind``'s kernels: here, or in a subprocess that imitates them."""
    if kind == kernel_kind():
        return first_steps(precision)
    env = genfw_env({**kind.environment, "GENFW_DATA": str(require_mnist())})
    proc = subprocess.run([sys.executable, __file__, "--print", "--precision", precision], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def differences_beyond_kernels(got: dict[str, list[float]], expected: dict[str, list[float]]) -> list[str]:
    """What differs between two trajectories by more than other kernels make them differ."""
    problems = []
    for key, exp in expected.items():
        if key not in got:
            problems.append(f"{key} is no longer logged")
            continue
        g, e = np.asarray(got[key]), np.asarray(exp)
        if len(g) != len(e):
            problems.append(f"{key}: {len(g)} steps, recorded {len(e)}")
            continue
        second_rtol = SECOND_STEP_MI_RTOL if key.startswith("mi_") else SECOND_STEP_RTOL
        for step, rtol in ((0, FIRST_STEP_RTOL), (1, second_rtol)):
            if abs(g[step] - e[step]) > rtol * abs(e[step]) + 1e-6:
                problems.append(f"{key} at step {step + 1}: {g[step]:.7g}, recorded {e[step]:.7g}")
        late_g, late_e = g[-LATE_STEPS:].mean(), e[-LATE_STEPS:].mean()
        if abs(late_g - late_e) > LATE_RTOL * abs(late_e) + LATE_ATOL:
            problems.append(f"{key}, mean of the last {LATE_STEPS} steps: {late_g:.4f}, recorded {late_e:.4f}")
    return problems


def load_record(path: Path) -> dict:
    record = json.loads(path.read_text())
    record["kind"] = KernelKind.from_json(record["kernels"])
    return record


def comparisons() -> list:
    """One test per record: exact where this machine computes like it, else within kernel tolerance
    (a bf16 record only where bf16 is native here: emulated, 100 steps would take an hour)."""
    here = kernel_kind()
    params = []
    for path in sorted(RECORDS.glob("*.json")):
        record = load_record(path)
        exact = record["torch"] == torch.__version__ and here.can_imitate(record["kind"])
        if record["precision"] == "bf16" and not (exact and native_bf16()):
            continue
        params.append(pytest.param(path, exact, id=f"{path.stem}-{'exact' if exact else 'within-kernel-tolerance'}"))
    return params


_native_runs: dict[str, dict[str, list[float]]] = {}


@pytest.mark.parametrize(("path", "exact"), comparisons())
@pytest.mark.slow
def test_first_100_steps_log_the_recorded_losses(path: Path, exact: bool):
    require_mnist()
    record = load_record(path)
    if exact:
        got = first_steps_like(record["kind"], record["precision"])
        for key, expected in record["losses"].items():
            assert key in got, f"{key} is no longer logged"
            first = next((i for i, (a, b) in enumerate(zip(got[key], expected)) if a != b), None)
            assert first is None, f"{key} differs at step {first + 1}: {got[key][first]!r}, recorded {expected[first]!r}"
    else:
        if record["precision"] not in _native_runs:  # one run here serves every record it is compared with
            _native_runs[record["precision"]] = first_steps(record["precision"])
        got = _native_runs[record["precision"]]
        assert not differences_beyond_kernels(got, record["losses"]), differences_beyond_kernels(got, record["losses"])


def test_the_tolerance_between_kernels_passes_their_measured_difference_and_catches_a_change():
    """The records of two kinds differ only by kernels: within tolerance. A bf16 run of the same
    steps is a real change of the arithmetic, and the same comparison must catch it."""
    records = {p.stem: load_record(p) for p in RECORDS.glob("*.json")}
    fp32 = [r for r in records.values() if r["precision"] == "fp32"]
    bf16 = [r for r in records.values() if r["precision"] == "bf16"]
    assert len(fp32) >= 2 and bf16, sorted(records)
    for a in fp32:
        for b in fp32:
            assert not differences_beyond_kernels(a["losses"], b["losses"]), (a["kind"], b["kind"])
    for a in fp32:
        assert differences_beyond_kernels(bf16[0]["losses"], a["losses"]), a["kind"]


def record_here(precision: str) -> Path:
    """Write this machine's record for ``precision`` (``--record``)."""
    kind = kernel_kind()
    path = RECORDS / f"{kind.name}-{precision}.json"
    record = {"config": CONFIG, "steps": STEPS, "threads": THREADS, "precision": precision, "torch": torch.__version__,
              "kernels": kind.to_json(), "losses": first_steps(precision)}
    RECORDS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Record or print the first steps of the shipped InfoGAN config")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--record", action="store_true", help="write this kernel kind's record")
    action.add_argument("--print", action="store_true", help="print the losses as JSON (the tests' subprocess)")
    args = parser.parse_args()
    os.environ.setdefault("GENFW_DATA", str(REPO.parent / "shared" / "data"))
    if args.record:
        print(record_here(args.precision))
    else:
        print(json.dumps(first_steps(args.precision)))
