"""A run directory belongs to one process at a time: the one that trains or resumes it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from genfw.errors import GenfwUsageError

LOCK_FILE = ".lock"


class RunInUseError(GenfwUsageError):
    """Another process holds the run directory."""


class RunLock:
    """An exclusive ``flock`` on ``RUN/.lock``, holding the owner's PID. The kernel releases it
    when the process ends however it ends (even ``kill -9``), so a stale lock never blocks."""

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise GenfwUsageError(
                f"cannot lock the run directory ({exc.strerror or exc})",
                where=str(self.run_dir),
                fix="use a run directory you can write to",
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunInUseError(
                f"run directory {self.run_dir} is in use by process {holder} (a `genfw run` training or resuming it)",
                fix=f"wait for it to finish, or stop it (Ctrl-C, or kill {holder}) before resuming",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
