"""How a report's scores were made, and whether two reports' scores may be set side by side.

Every ``eval.json`` carries a ``provenance`` section: the evaluation seed and sample count, the
held-out split the samples are measured against, the reference classifier whose feature space
the distances live in (the SHA-256 of its weights and its accuracy), the disentanglement
metrics' settings, k of precision/recall, the precision the model ran in, and the versions of
the libraries that computed the numbers. Two scores compare only when everything that changes
the number is the same (:data:`DECIDING`); library versions are shown, not enforced.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from typing import Any

from genfw.contexts import EvalContext
from genfw.metrics.precision_recall import DEFAULT_K

#: Provenance fields that change a score when they differ: comparing across them is refused.
DECIDING = (
    "seed",
    "samples",
    "reference_split",
    "reference_net",
    "disentanglement_variant",
    "precision_recall_k",
    "precision",
)
#: Libraries whose versions are recorded (they compute the numbers; differences are shown, not refused).
LIBRARIES = ("genfw", "torch", "numpy", "scipy", "scikit-learn")


def weights_digest(state_dict: dict[str, Any]) -> str:
    """SHA-256 of a network's weights: every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.numpy().tobytes() if tensor.dtype.is_floating_point or tensor.numel() else b"")
    return digest.hexdigest()


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def provenance(ctx: EvalContext) -> dict[str, Any]:
    """The provenance section of a report evaluated in ``ctx``."""
    ref = ctx.reference()
    test = ctx.held_out
    return {
        "seed": ctx.seed,
        "samples": ctx.samples,
        "reference_split": None if test is None else {"name": test.name, "images": len(test)},
        "reference_net": None
        if isinstance(ref, str)
        else {"weights_sha256": weights_digest(ref.net.state_dict()), "accuracy": ref.accuracy},
        "disentanglement_variant": ctx.disentanglement,
        "precision_recall_k": DEFAULT_K,
        "precision": "autocast" if ctx.autocast is not None else "fp32",
        "libraries": {name: _version(name) for name in LIBRARIES},
    }


def mismatches(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The deciding provenance fields on which two reports differ; a report without a provenance
    section (written by an older genfw) gives one entry saying so, which refuses the comparison."""
    pa, pb = a.get("provenance"), b.get("provenance")
    if not isinstance(pa, dict) or not isinstance(pb, dict):
        return ["provenance (a report without one was written before genfw recorded it: run genfw eval again)"]
    return [f"{key} ({pa.get(key)!r} against {pb.get(key)!r})" for key in DECIDING if pa.get(key) != pb.get(key)]
