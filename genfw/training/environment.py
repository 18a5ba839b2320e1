"""``environment.json``: what a run ran on, so results can be compared and reproduced."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

import torch

from genfw.cpu import cpu_flags, cpu_model_name, kernel_kind

PACKAGES = ("genfw", "torch", "torchvision", "numpy", "pydantic", "pluggy", "onnx", "onnxruntime", "onnxscript", "h5py")


def describe_environment(device: torch.device, processes: int = 1) -> dict[str, Any]:
    versions: dict[str, str | None] = {}
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
        "processes": processes,
        "cpu_model": cpu_model_name(),
        "kernels": kernel_kind().to_json(),  # what floating-point results depend on (genfw.cpu)
        "cpu_flags": sorted(
            cpu_flags() & {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "fma", "neon", "asimd"}
        ),
        "packages": versions,
    }
    if device.type == "cuda":
        info["cuda_device"] = torch.cuda.get_device_name(device)
        info["cuda_version"] = torch.version.cuda
    return info
