"""The device a run trains on (``train.device``) and the autocast context its resolved precision
gets there (``genfw.training.precision`` chooses the precision).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch

from genfw.errors import ConfigError
from genfw.training import precision as precision_module


def select_device(name: str, source: str = "<config>") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "train.device is cuda but no CUDA device is available",
            where=f"{source}: train.device",
            fix='use "auto" or "cpu"',
        )
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(
            f"there is no CUDA device {device.index} (this machine has {torch.cuda.device_count()})",
            where=f"{source}: train.device",
            fix='use "auto" or "cuda:0"',
        )
    return device


def precision_context(
    precision: str, device: torch.device, source: str = "<config>"
) -> Callable[[], contextlib.AbstractContextManager]:
    """A factory of the autocast context for a resolved ``precision`` (fp32: none)."""
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError(
            "train.precision fp16 needs a CUDA device", where=f"{source}: train.precision", fix='use "bf16" on the CPU'
        )
    return precision_module.precision_context(precision, device)
