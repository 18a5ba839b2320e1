"""Evaluation metrics as pure functions: arrays in, numbers out.

Randomness only ever comes from an explicit ``numpy.random.Generator`` / ``torch.Generator``
argument. The numpy/scipy metrics are imported eagerly; the torch-based reference classifier
(:mod:`genfw.metrics.reference_net`) is imported on first use.
"""

from __future__ import annotations

from typing import Any

from genfw.metrics.clustering import ari, cluster_accuracy, cluster_matching, nmi, prediction_entropy
from genfw.metrics.distances import frechet_distance, kernel_inception_distance
from genfw.metrics.image_stats import code_effect, ink_width, slant, stroke_width
from genfw.metrics.information import mutual_information_lower_bound

_REFERENCE_NET = ("ReferenceNet", "train_reference_net", "load_or_train_reference_net", "features", "predict")

__all__ = [
    "ari",
    "cluster_accuracy",
    "cluster_matching",
    "nmi",
    "prediction_entropy",
    "frechet_distance",
    "kernel_inception_distance",
    "code_effect",
    "ink_width",
    "slant",
    "stroke_width",
    "mutual_information_lower_bound",
    *_REFERENCE_NET,
]


def __getattr__(name: str) -> Any:
    # Lazy: importing torch costs seconds, and most callers of the metrics above never need it.
    if name in _REFERENCE_NET:
        from genfw.metrics import reference_net

        return getattr(reference_net, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
