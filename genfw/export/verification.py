"""Verifying an export: onnxruntime's images against the torch generator's (eval mode) on the
same draws at several batch sizes, and the model against ``onnx.checker``; a model that fails
either is an :class:`~genfw.export.errors.ExportError` and never written."""

from __future__ import annotations

import copy
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genfw.eval_mode import eval_mode
from genfw.export.contract import OUTPUT_NAME
from genfw.export.errors import ExportError, _reason
from genfw.export.wrapper import sample_inputs
from genfw.latent import LatentSpec

VERIFY_BATCHES = (1, 7, 256)
TOLERANCE = 1e-4


def float32_on_cpu(*modules: nn.Module) -> tuple[nn.Module, ...]:
    """``modules`` as the contract computes them (float32, on the CPU), where export verifies
    them: copies where any tensor is elsewhere or of another dtype, the modules themselves where
    none is (so exporting never moves or casts the caller's model)."""
    tensors = (t for m in modules for t in [*m.parameters(), *m.buffers()] if t.is_floating_point())
    if any(t.device.type != "cpu" or t.dtype != torch.float32 for t in tensors):
        return tuple(copy.deepcopy(m).to("cpu", torch.float32) for m in modules)
    return modules


def verify_onnx(
    model: str | Path | bytes,
    generator: nn.Module,
    latent: LatentSpec,
    batches: Sequence[int] = VERIFY_BATCHES,
    tolerance: float = TOLERANCE,
) -> float:
    """Max |onnxruntime - torch eval| over draws at each batch size; raises past ``tolerance``.

    ``model`` is a path or the serialized model (so it can be checked before it is written).
    """
    return compare_onnx(model, generator, latent, batches, {"max_abs": tolerance})["max_abs"]


def compare_onnx(
    model: str | Path | bytes,
    generator: nn.Module,
    latent: LatentSpec,
    batches: Sequence[int] = VERIFY_BATCHES,
    tolerance: dict[str, float] | None = None,
    what: str = "ONNX output",
) -> dict[str, float]:
    """The largest and the mean |onnxruntime - torch eval| over draws at each batch size
    (``{"max_abs", "mean_abs"}``); raises :class:`ExportError` past ``tolerance`` (either key)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    session = ort.InferenceSession(
        model if isinstance(model, bytes) else str(model), options, providers=["CPUExecutionProvider"]
    )
    worst, total, count = 0.0, 0.0, 0
    with eval_mode(generator):
        for i, n in enumerate(batches):
            inputs = sample_inputs(latent, n, seed=1000 + i)
            with torch.no_grad():
                expected = generator(latent.encode({c.name: x for c, x in zip(latent, inputs)})).numpy()
            got = session.run([OUTPUT_NAME], {c.name: x.numpy() for c, x in zip(latent, inputs)})[0]
            if got.shape != expected.shape:
                raise ExportError(f"{what} shape {got.shape} != torch {expected.shape} at batch {n}")
            err = np.abs(got.astype(np.float64) - expected)
            diff = float(np.max(err))
            worst, total, count = max(worst, diff), total + float(err.sum()), count + err.size
            limit = (tolerance or {}).get("max_abs")
            if limit is not None and not diff <= limit:
                raise ExportError(f"{what} differs from torch by {diff:.3g} (> {limit:g}) at batch {n}")
    mean = total / max(count, 1)
    limit = (tolerance or {}).get("mean_abs")
    if limit is not None and not mean <= limit:
        raise ExportError(f"{what} differs from torch by {mean:.3g} on average (> {limit:g})")
    return {"max_abs": worst, "mean_abs": mean}


def _check(model: Any, log: io.StringIO) -> None:
    import onnx

    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:
        raise ExportError(f"the exported model does not pass onnx.checker: {_reason(exc)}", log.getvalue()) from exc
