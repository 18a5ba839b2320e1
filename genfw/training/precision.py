"""Choosing the training precision: ``train.precision: "auto"`` picks bf16 where the hardware has
native bf16 arithmetic, fp32 elsewhere.

Native bf16 means a CUDA device that supports it, or a CPU whose flags include ``avx512_bf16``
or ``amx_bf16``. On CPUs without them (AVX2 only) bf16 is emulated and 20-70x slower than fp32,
so "auto" must not pick it there.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable

import torch

BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``; empty where it cannot be read)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.partition(":")[2].split())
    return set()


def resolve_precision(name: str, device: torch.device, flags: set[str] | None = None) -> tuple[str, str]:
    """``(precision, why)`` for ``train.precision`` on ``device``: "auto" becomes bf16 or fp32."""
    if name != "auto":
        return name, f"train.precision is {name}"
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return "bf16", f"auto: {torch.cuda.get_device_name(device)} has native bf16"
        return "fp32", "auto: this CUDA device has no native bf16"
    flags = cpu_flags() if flags is None else flags
    native = [f for f in BF16_CPU_FLAGS if f in flags]
    if native:
        return "bf16", f"auto: the CPU has {' and '.join(native)}"
    return "fp32", "auto: the CPU has no native bf16 (no avx512_bf16 or amx_bf16), where bf16 is far slower"


def precision_context(precision: str, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
    """A factory of the autocast context for a resolved precision (fp32: none)."""
    if precision == "fp32":
        return contextlib.nullcontext
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return lambda: torch.autocast(device.type, dtype=dtype)
