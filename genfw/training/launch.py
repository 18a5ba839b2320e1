"""``genfw run --nproc N``: torchrun's launcher, with genfw's one line and exit codes through it.

Two halves, one per side of torchrun's error file (``TORCHELASTIC_ERROR_FILE``, which torchrun's
agent gives every process it starts and reads when one fails):

- **each training process** (started by genfw's launcher or by ``torchrun`` itself) writes its
  failure there when it exits on an error: torch's own format (the one
  ``torch.distributed.elastic.multiprocessing.errors.record`` writes, so torchrun's summary shows
  genfw's line instead of "To enable traceback see ...") plus a ``genfw`` part: the line, the exit
  code and what kind of failure it was. Import-light: the CLI's error handling calls it.
- **the launcher** starts the processes through torchrun's API (``elastic_launch``, the same as
  ``torchrun --standalone --nproc_per_node N -m genfw run ...``), and when they end, picks the
  failure that explains the others from ``ChildFailedError.failures`` (or, when the launcher
  itself was signalled, from the processes' error files) and prints that one line with the exit
  code a single process would have given.

Under genfw's launcher the processes print no error of their own (``GENFW_LAUNCHER_DIR`` says
so): the launcher prints it, once, whichever process found it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genfw.errors import GenfwError

if TYPE_CHECKING:
    from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

#: Where torchrun's agent wants a failing process's error (set for every process it starts).
ERROR_FILE_ENV = "TORCHELASTIC_ERROR_FILE"
#: Set by genfw's launcher for its processes: a folder of its own, and a sign that it reports errors.
LAUNCHER_DIR_ENV = "GENFW_LAUNCHER_DIR"
#: In the launcher's folder: the run directory, as rank 0 made or resumed it.
RUN_DIR_FILE = "run_dir.txt"

#: What a process's failure was, as it recorded it: a genfw error (one line, its exit code), a
#: bug (an exception genfw did not raise on purpose), or a collective that failed because another
#: process was gone (the consequence of some other process's failure, never its cause).
ERROR, BUG, LOST = "error", "bug", "lost"


class ProcessesLostError(GenfwError):
    """A collective operation failed: another training process stopped or was killed."""

    exit_code = 1


# -- in each training process --------------------------------------------------------------------
def launcher_reports_errors() -> bool:
    """Whether genfw's launcher started this process (it then prints every error, once)."""
    return bool(os.environ.get(LAUNCHER_DIR_ENV))


def started_by_torchrun() -> bool:
    return ERROR_FILE_ENV in os.environ


def record_failure(line: str, exit_code: int, kind: str = ERROR, details: str | None = None) -> None:
    """Write this process's failure to torchrun's error file, if torchrun asked for one.

    ``details`` (a bug's traceback) is what torchrun's own summary shows; otherwise the line."""
    path = os.environ.get(ERROR_FILE_ENV)
    if not path:
        return
    doc = {
        "message": {
            "message": line,
            "extraInfo": {"py_callstack": details or line, "timestamp": str(int(time.time()))},
        },
        "genfw": {"line": line, "exit_code": exit_code, "kind": kind},
    }
    from genfw.atomic import atomic_write_json

    try:
        atomic_write_json(path, doc)
    except (OSError, GenfwError):
        pass  # the process still exits with its code; the launcher then names the exit code alone


def announce_run_dir(run_dir: Path) -> None:
    """Tell genfw's launcher (if it started this process) which run folder this is, so that it
    can name the kept checkpoint when a process is killed, whichever one it was."""
    folder = os.environ.get(LAUNCHER_DIR_ENV)
    if folder:
        from genfw.atomic import atomic_write_text

        atomic_write_text(Path(folder) / RUN_DIR_FILE, str(run_dir))


# -- in the launcher -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    """What the launcher says and exits with."""

    exit_code: int
    line: str | None = None  # None: nothing to say (success)
    traceback: str = ""  # a bug's traceback, printed before the line as a single process would


@dataclass(frozen=True)
class _Failure:
    """One process's failure, as torchrun saw it and as the process recorded it."""

    rank: int
    pid: int
    exitcode: int  # negative: killed by that signal
    record: dict[str, Any] | None  # the ``genfw`` part of its error file
    details: str = ""  # what it recorded for torchrun's summary (a bug's traceback)

    @property
    def kind(self) -> str:
        if self.record:
            kind = self.record.get("kind")
            return kind if kind in _VERDICTS else ERROR
        return "killed" if self.exitcode < 0 else "exited"


def launch(nproc: int, genfw_args: list[str]) -> Verdict:
    """Run ``genfw run GENFW_ARGS`` on ``nproc`` processes; what to say and exit with when they end."""
    with tempfile.TemporaryDirectory(prefix="genfw-launch-") as folder:
        return _run_processes(nproc, genfw_args, Path(folder))


def _run_processes(nproc: int, genfw_args: list[str], folder: Path) -> Verdict:
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import elastic_launch
    from torch.distributed.run import config_from_args, parse_args

    # What `torchrun --standalone` means (a rendezvous on this machine), spelled out so that the
    # configuration comes back to us: we give it a LogsSpecs that remembers the error files.
    args = parse_args(
        [
            "--rdzv-backend",
            "c10d",
            "--rdzv-endpoint",
            "localhost:0",
            "--rdzv-id",
            uuid.uuid4().hex,
            "--nnodes",
            "1",
            "--nproc-per-node",
            str(nproc),
            "-m",
            "genfw",
            "run",
            *genfw_args,
        ]
    )
    threads = str(max(1, (os.cpu_count() or 1) // nproc))  # what each process may use; torchrun would say 1 and warn
    with (
        _environment({LAUNCHER_DIR_ENV: str(folder)}, {"OMP_NUM_THREADS": threads}),
        _torchrun_logging_off(),
        _signal_handlers_kept(),
    ):
        config, entrypoint, entry_args = config_from_args(args)
        config.logs_specs = logs = _error_files_logs_specs(folder / "torchelastic")
        try:
            elastic_launch(config, entrypoint)(*entry_args)
        except ChildFailedError as exc:
            return _judge([_failure(rank, f) for rank, f in exc.failures.items()], nproc, folder)
        except SignalException as exc:
            return _stopped_by(exc.sigval, logs.error_files(), folder)
    return Verdict(0)


def _failure(rank: int, failure: ProcessFailure) -> _Failure:
    return _Failure(rank, failure.pid, failure.exitcode, *_genfw_part(failure.error_file_data))


def _genfw_part(doc: object) -> tuple[dict[str, Any] | None, str]:
    """The ``genfw`` part of an error file and its ``py_callstack`` (None, "" when it has none:
    a process torchrun had to stop, or one genfw did not start)."""
    if not isinstance(doc, dict):
        return None, ""
    record = doc.get("genfw")
    if not isinstance(record, dict):
        return None, ""
    message = doc.get("message")
    extra = message.get("extraInfo") if isinstance(message, dict) else None
    return record, str(extra.get("py_callstack", "")) if isinstance(extra, dict) else ""


def _judge(failures: list[_Failure], nproc: int, folder: Path) -> Verdict:
    """The failure that explains the others: a genfw error first, then a bug, then a process that
    died without a word (killed, or exited), and a collective that lost a process last, since
    that is what the others see when one is gone. Among equals, the first torchrun observed."""
    first = min(enumerate(failures), key=lambda item: (_PRIORITY[item[1].kind], item[0]))[1]
    return _VERDICTS[first.kind](first, nproc, folder)


def _error_verdict(failure: _Failure, nproc: int, folder: Path) -> Verdict:
    record = failure.record or {}
    return Verdict(int(record.get("exit_code", 1)), str(record.get("line", "")))


def _bug_verdict(failure: _Failure, nproc: int, folder: Path) -> Verdict:
    record = failure.record or {}
    return Verdict(
        1,
        f"training process {failure.rank} of {nproc} failed with {record.get('line')} (a bug: its traceback is above)",
        traceback=failure.details,
    )


def _killed_verdict(failure: _Failure, nproc: int, folder: Path) -> Verdict:
    name = _signal_name(-failure.exitcode)
    return Verdict(
        1,
        f"training process {failure.rank} of {nproc} (pid {failure.pid}) was killed by {name}, from "
        f"outside genfw (a kill, the out-of-memory killer, a scheduler); {_kept_checkpoint(folder)}",
    )


def _exited_verdict(failure: _Failure, nproc: int, folder: Path) -> Verdict:
    return Verdict(
        1,
        f"training process {failure.rank} of {nproc} (pid {failure.pid}) exited with code "
        f"{failure.exitcode} without saying why; {_kept_checkpoint(folder)}",
    )


def _lost_verdict(failure: _Failure, nproc: int, folder: Path) -> Verdict:
    record = failure.record or {}
    return Verdict(1, f"{record.get('line')}; {_kept_checkpoint(folder)}")


_PRIORITY = {ERROR: 0, BUG: 1, "killed": 2, "exited": 2, LOST: 3}
_VERDICTS: dict[str, Callable[[_Failure, int, Path], Verdict]] = {
    ERROR: _error_verdict,
    BUG: _bug_verdict,
    "killed": _killed_verdict,
    "exited": _exited_verdict,
    LOST: _lost_verdict,
}


def _stopped_by(sig: signal.Signals, error_files: dict[int, str], folder: Path) -> Verdict:
    """The launcher got SIGTERM/SIGINT/...: torchrun passed it on and waited for the processes,
    which saved a checkpoint and stopped. Exit as a single process would (128 + the signal), with
    rank 0's line ("stopped by SIGTERM at step ...; continue with ...") when it left one."""
    records = [_read_error_file(error_files[rank])[0] for rank in sorted(error_files)]
    lines = [r["line"] for r in records if r and r.get("kind") == ERROR and r.get("line")]
    default = "interrupted" if sig == signal.SIGINT else f"stopped by {sig.name}"
    return Verdict(128 + int(sig), lines[0] if lines else default)


def _read_error_file(path: str) -> tuple[dict[str, Any] | None, str]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, ""  # the process left none (it was killed, or stopped cleanly)
    return _genfw_part(doc)


def _kept_checkpoint(folder: Path) -> str:
    """What is left to continue from, as rank 0 announced its run folder."""
    from genfw.artifacts import CHECKPOINT_DIR, LAST_CHECKPOINT

    try:
        run_dir = Path((folder / RUN_DIR_FILE).read_text(encoding="utf-8"))
    except OSError:
        return "no run folder was made yet"
    checkpoint = run_dir / CHECKPOINT_DIR / LAST_CHECKPOINT
    if not checkpoint.is_file():
        return f"{run_dir} has no checkpoint yet: start the run again"
    return f"the run keeps its last checkpoint, {checkpoint}; continue with: genfw run --resume {run_dir}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _error_files_logs_specs(log_dir: Path):
    """torchrun's default logs (the processes write to this terminal), remembering where each
    process's error file is: the launcher reads them when it was stopped by a signal, since
    torchrun then raises no ChildFailedError that would carry them."""
    from torch.distributed.elastic.multiprocessing.api import DefaultLogsSpecs, LogsDest

    class ErrorFileLogsSpecs(DefaultLogsSpecs):
        def __init__(self) -> None:
            super().__init__(log_dir=str(log_dir))
            self.dest: LogsDest | None = None

        def reify(self, envs: dict[int, dict[str, str]]) -> LogsDest:
            self.dest = super().reify(envs)
            return self.dest

        def error_files(self) -> dict[int, str]:
            return dict(self.dest.error_files) if self.dest else {}

    return ErrorFileLogsSpecs()


@contextlib.contextmanager
def _environment(override: dict[str, str], default: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``override`` set and ``default`` set where absent, for the processes
    torchrun starts (they inherit it), restored afterwards so the launcher's own line is printed."""
    saved = dict(os.environ)
    os.environ.update(override)
    for key, value in default.items():
        os.environ.setdefault(key, value)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _signal_handlers_kept() -> Iterator[None]:
    """torchrun's agent turns SIGTERM/SIGINT/SIGHUP/SIGQUIT into exceptions of its own while it
    runs; afterwards they are the launcher's again (a late Ctrl-C is "interrupted", not a traceback)."""
    signals = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT]
    saved = {sig: signal.getsignal(sig) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _torchrun_logging_off() -> Iterator[None]:
    """torchrun's agent logs its view of every failure (a ChildFailedError summary, "Sending
    process ... closing signal"); the launcher says what happened in one line instead."""
    import logging

    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)
