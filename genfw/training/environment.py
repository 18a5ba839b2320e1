"""``environment.json``: what a run ran on, so results can be compared and reproduced."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

import torch

PACKAGES = ("genfw", "torch", "torchvision", "numpy", "pydantic", "pluggy", "onnx", "onnxruntime", "onnxscript", "h5py")


def describe_environment(device: torch.device) -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "packages": versions,
    }
    if device.type == "cuda":
        info["cuda_device"] = torch.cuda.get_device_name(device)
        info["cuda_version"] = torch.version.cuda
    return info
