"""Loggers: where a run's scalars and figures go besides ``metrics.jsonl`` (the run's record).

A logger is registered like any component (``register_loggers``) and listed in the config's
``loggers``; the built-ins are ``console`` (a progress bar on a terminal, a progress line every
N steps elsewhere) and ``tensorboard`` (needs ``pip install 'genfw[tensorboard]'``). Loggers
write only inside the run folder (``folder_name``, ``folder_in_run``).
"""

from genfw.loggers.base import Logger, folder_in_run, folder_name

__all__ = ["Logger", "folder_in_run", "folder_name"]
