"""Choosing the training precision: ``train.precision: "auto"`` (the default) picks bf16 where the
hardware has native bf16 arithmetic, fp32 elsewhere.

Native bf16 means a CUDA device that supports it, or a CPU whose flags include ``avx512_bf16``
or ``amx_bf16`` (and whose oneDNN is not capped below them by ``ONEDNN_MAX_CPU_ISA``). On CPUs
without them (AVX2 only) bf16 is emulated and 20-70x slower than fp32, so "auto" must not pick it
there. Measured quality and speed of both: docs/architecture.md.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

import torch

from genfw.cpu import ONEDNN_BF16_ISA, ONEDNN_ISA_NAMES, cpu_flags, native_bf16


def resolve_precision(
    name: str, device: torch.device, flags: set[str] | None = None, max_isa: str | None = None
) -> tuple[str, str]:
    """``(precision, why)`` for ``train.precision`` on ``device``: "auto" becomes bf16 or fp32.
    ``flags`` and ``max_isa`` default to this CPU's flags and ``$ONEDNN_MAX_CPU_ISA``."""
    if name != "auto":
        return name, f"train.precision is {name}"
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return "bf16", f"auto: {torch.cuda.get_device_name(device)} has native bf16"
        return "fp32", "auto: this CUDA device has no native bf16"
    flags = cpu_flags() if flags is None else flags
    native = native_bf16(flags)
    if not native:
        return "fp32", "auto: the CPU has no native bf16 (no avx512_bf16 or amx_bf16), where bf16 is far slower"
    cap = (os.environ.get("ONEDNN_MAX_CPU_ISA", "") if max_isa is None else max_isa).lower()
    if cap in ONEDNN_ISA_NAMES and ONEDNN_ISA_NAMES.index(cap) < ONEDNN_ISA_NAMES.index(ONEDNN_BF16_ISA):
        return "fp32", f"auto: ONEDNN_MAX_CPU_ISA caps oneDNN at {cap}, where bf16 is far slower"
    return "bf16", f"auto: the CPU has {' and '.join(native)}"


def precision_context(precision: str, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
    """A factory of the autocast context for a resolved precision (fp32: none)."""
    if precision == "fp32":
        return contextlib.nullcontext
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return lambda: torch.autocast(device.type, dtype=dtype)
