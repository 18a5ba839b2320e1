"""The CPU a process computes on: its feature flags and the kinds of kernels torch runs there.

Floating-point results depend on the kernels, not only on the maths: torch's own (ATen) kernels
are compiled for several instruction sets and one is picked at start-up, and oneDNN (convolutions,
matrix products) picks its own. Two machines that pick the same pair compute bit-identical
results; two that do not differ in the last bits, and a training trajectory drifts apart from
there. ``KernelKind`` names the pair, so a record (a regression fixture, ``environment.json``, a
bench line) says which kind produced it, and ``KernelKind.environment`` gives the variables that
make a newer CPU compute like an older kind (``ATEN_CPU_CAPABILITY``, ``ONEDNN_MAX_CPU_ISA``:
read once, when a process starts; nothing can make an older CPU compute like a newer one).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: oneDNN's instruction sets in increasing order, as ``ONEDNN_MAX_CPU_ISA`` names them (lower case),
#: each with the CPU flags it needs.
ONEDNN_ISAS: tuple[tuple[str, frozenset[str]], ...] = (
    ("sse41", frozenset({"sse4_1"})),
    ("avx", frozenset({"avx"})),
    ("avx2", frozenset({"avx2", "fma"})),
    ("avx2_vnni", frozenset({"avx2", "avx_vnni"})),
    ("avx512_core", frozenset({"avx512f", "avx512bw", "avx512vl", "avx512dq"})),
    ("avx512_core_vnni", frozenset({"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"})),
    ("avx512_core_bf16", frozenset({"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16"})),
    (
        "avx512_core_amx",
        frozenset(
            {
                "avx512f",
                "avx512bw",
                "avx512vl",
                "avx512dq",
                "avx512_vnni",
                "avx512_bf16",
                "amx_tile",
                "amx_bf16",
                "amx_int8",
            }
        ),
    ),
)
ONEDNN_ISA_NAMES = tuple(name for name, _ in ONEDNN_ISAS)
#: The first oneDNN instruction set with native bf16 arithmetic.
ONEDNN_BF16_ISA = "avx512_core_bf16"
#: ATen's CPU capabilities in increasing order (``torch.backends.cpu.get_cpu_capability()``, lower case).
ATEN_CAPABILITIES = ("default", "avx2", "avx512")
#: Flags that mean bf16 arithmetic is native (not emulated 20-70x slower than fp32).
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def _cpuinfo_field(prefixes: tuple[str, ...], cpuinfo: str | None) -> str | None:
    """The value of the first ``/proc/cpuinfo`` line starting with one of ``prefixes`` (None: no such line,
    or the file cannot be read, e.g. off Linux)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return None
    for line in cpuinfo.splitlines():
        if line.startswith(prefixes):
            return line.partition(":")[2].strip()
    return None


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``; empty where it cannot be read)."""
    return set((_cpuinfo_field(("flags", "Features"), cpuinfo) or "").split())


def cpu_model_name(cpuinfo: str | None = None) -> str:
    """The CPU's model name ("unknown" where it cannot be read)."""
    return _cpuinfo_field(("model name",), cpuinfo) or "unknown"


def onednn_isa(flags: set[str], max_isa: str | None = None) -> str:
    """The instruction set oneDNN uses on a CPU with ``flags``, capped by ``max_isa``
    (``ONEDNN_MAX_CPU_ISA``'s value; unknown values and "all"/"default" cap nothing)."""
    names = ONEDNN_ISA_NAMES
    best = "none"
    for name, needs in ONEDNN_ISAS:
        if needs <= flags:
            best = name
    cap = (max_isa or "").lower()
    if cap in names and best in names and names.index(cap) < names.index(best):
        return cap
    return best


@dataclass(frozen=True)
class KernelKind:
    """The kernels a process runs: ATen's CPU capability and oneDNN's instruction set."""

    aten: str
    onednn: str

    @property
    def name(self) -> str:
        """``avx2`` when both are AVX2, else ``aten+onednn`` (e.g. ``avx512+avx512_core_bf16``)."""
        return self.aten if self.aten == self.onednn else f"{self.aten}+{self.onednn}"

    def to_json(self) -> dict[str, str]:
        return {"aten": self.aten, "onednn": self.onednn}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> KernelKind:
        return cls(aten=str(data["aten"]), onednn=str(data["onednn"]))

    def can_imitate(self, other: KernelKind) -> bool:
        """Whether a process on this kind can be made to compute like ``other`` (same or older sets)."""
        isas = ONEDNN_ISA_NAMES
        if other.aten not in ATEN_CAPABILITIES or other.onednn not in isas:
            return False
        if self.aten not in ATEN_CAPABILITIES or self.onednn not in isas:
            return self == other
        return ATEN_CAPABILITIES.index(other.aten) <= ATEN_CAPABILITIES.index(self.aten) and isas.index(
            other.onednn
        ) <= isas.index(self.onednn)

    @property
    def environment(self) -> dict[str, str]:
        """The variables that make a process on a newer CPU compute like this kind."""
        return {"ATEN_CPU_CAPABILITY": self.aten, "ONEDNN_MAX_CPU_ISA": self.onednn.upper()}


def kernel_kind() -> KernelKind:
    """This process's kernel kind (what torch picked at start-up, and oneDNN's instruction set)."""
    import torch  # here, so the rest of this module is usable without torch

    aten = torch.backends.cpu.get_cpu_capability().lower()
    return KernelKind(aten=aten, onednn=onednn_isa(cpu_flags(), os.environ.get("ONEDNN_MAX_CPU_ISA")))


def native_bf16(flags: set[str] | None = None) -> list[str]:
    """The flags that make bf16 native on this CPU (empty: bf16 is emulated)."""
    flags = cpu_flags() if flags is None else flags
    return [f for f in BF16_CPU_FLAGS if f in flags]
