"""Stopping a run on Ctrl-C or SIGTERM: after the current step, with a checkpoint."""

from __future__ import annotations

import signal
import sys
from typing import Any

#: Signals as numbers, so processes can agree on one with an all-reduce (the largest wins).
STOP_CODES = {"SIGINT": 1, "SIGTERM": 2}
#: The agreed number back to the signal's name (0, no signal: absent).
STOP_NAMES = {code: name for name, code in STOP_CODES.items()}


class StopFlag:
    """Ctrl-C or SIGTERM (what schedulers and ``docker stop`` send) ends the run after the current
    step, with a checkpoint; a second signal aborts at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, announce: bool = True) -> None:
        self.announce = announce  # say so at once (alone; under torchrun rank 0 says it when all agree to stop)
        self.stop: str | None = None  # the signal's name, once one arrived
        self._previous: dict[int, Any] = {}  # what signal.signal returned: a handler, SIG_DFL or None

    def __enter__(self) -> StopFlag:
        for sig in self.SIGNALS:
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: no handler, signals behave as usual
                pass
        return self

    def _handle(self, signum, frame) -> None:
        if self.stop:
            raise KeyboardInterrupt
        self.stop = signal.Signals(signum).name
        if self.announce:
            self.say()

    def say(self) -> None:
        print(f"\n{self.stop}: saving a checkpoint after this step (again to abort)", file=sys.stderr, flush=True)

    def __exit__(self, *exc) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
