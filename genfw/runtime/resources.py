"""What the machine gives a run: the CPUs onnxruntime may use, and the memory left for a batch
of images (asked of the system, so a request that cannot fit is refused before any work)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from genfw.runtime.errors import MemoryNeedError, RuntimeUsageError


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def check_threads(threads: Any, option: str = "threads") -> int | None:
    """``threads`` as onnxruntime takes it: None (its choice) or 1..the usable CPUs (more only
    makes threads wait for each other, and onnxruntime fails on numbers beyond a C int)."""
    if threads is None:
        return None
    top = usable_cpus()
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or not 1 <= threads <= top:
        raise RuntimeUsageError(
            f"{option} must be an integer from 1 to {top} (the CPUs this process may use), not {threads!r}",
            fix=f"e.g. {option}{'=' if option == 'threads' else ' '}{top}",
        )
    return int(threads)


# -- memory ----------------------------------------------------------------------------------------
def _read_kib(path: str, field: str) -> int | None:
    """A ``Field:  123 kB`` value of a /proc file, in bytes."""
    try:
        with open(path, encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None  # also "max": no limit


def _cgroup_free() -> int | None:
    """What the process's cgroup (v2) may still use: memory.max less memory.current."""
    try:
        line = next(x for x in Path("/proc/self/cgroup").read_text().splitlines() if x.startswith("0::"))
    except (OSError, StopIteration):
        return None
    folder = Path("/sys/fs/cgroup") / line[3:].lstrip("/")
    limit, used = _read_int(folder / "memory.max"), _read_int(folder / "memory.current")
    return None if limit is None or used is None else max(0, limit - used)


def _address_space_free() -> int | None:
    """What ``ulimit -v`` (RLIMIT_AS) leaves of the address space this process has mapped."""
    try:
        import resource
    except ImportError:  # not on Unix
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    mapped = _read_kib("/proc/self/status", "VmSize")
    if soft == resource.RLIM_INFINITY or mapped is None:
        return None
    return max(0, soft - mapped)


def available_memory() -> int | None:
    """Bytes this process can still allocate as far as the system says: the least of the
    memory available (/proc/meminfo), what its cgroup's limit leaves and what its address-space
    limit leaves; None where none of them is known (not Linux)."""
    known = [
        x for x in (_read_kib("/proc/meminfo", "MemAvailable"), _cgroup_free(), _address_space_free()) if x is not None
    ]
    return min(known) if known else None


def size_text(n: int) -> str:
    """Bytes as people read them: 1.9 GB, 14.6 EB."""
    size: float = n
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if size < 1000:
            return f"{size:.3g} {unit}" if unit != "B" else f"{n} B"
        size /= 1000
    return f"{size:,.1f} EB"


def check_memory(needed: int, what: str, fix: str) -> None:
    """Refuse, before any work, something that would need more memory than is left."""
    available = available_memory()
    if available is not None and needed > available:
        raise MemoryNeedError(
            f"{what} would take {size_text(needed)} of memory, and {size_text(available)} is available", fix=fix
        )
