"""Evaluation metrics as pure functions: arrays in, numbers out.

Randomness only ever comes from an explicit ``numpy.random.Generator`` / ``torch.Generator``
argument. The numpy/scipy metrics are imported eagerly; the torch-based reference classifier
(:mod:`genfw.metrics.reference_net`, its training and its cache) is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from genfw.metrics.clustering import ari, cluster_accuracy, cluster_matching, nmi, prediction_entropy
from genfw.metrics.distances import frechet_distance, kernel_inception_distance
from genfw.metrics.image_stats import code_effect, ink_width, slant, stroke_width
from genfw.metrics.information import mutual_information_lower_bound

#: The torch-based names, each with the module it lives in.
_REFERENCE_NET = {
    "ReferenceNet": "genfw.metrics.reference_net",
    "train_reference_net": "genfw.metrics.reference_training",
    "load_or_train_reference_net": "genfw.metrics.reference_cache",
    "features": "genfw.metrics.reference_net",
    "predict": "genfw.metrics.reference_net",
}

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
        return getattr(importlib.import_module(_REFERENCE_NET[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
