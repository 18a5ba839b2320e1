"""The reference classifier a dataset gets (``genfw.metrics.reference_net``, trained once and then
cached by ``genfw.metrics.reference_cache``), or why it gets none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from genfw.metrics.reference_cache import load_or_train_reference_net
from genfw.metrics.reference_net import ReferenceNet, features, num_classes_of, predict


@dataclass
class ReferenceClassifier:
    """A trained reference classifier for one dataset: its feature space is where Frechet
    distances are measured, its predictions judge generated samples."""

    net: ReferenceNet
    info: dict[str, Any]
    num_classes: int

    @property
    def accuracy(self) -> float:
        return float(self.info["accuracy"])

    def features(self, images: torch.Tensor | np.ndarray) -> np.ndarray:
        return features(self.net, images)

    def predict(self, images: torch.Tensor | np.ndarray) -> np.ndarray:
        return predict(self.net, images)


def reference_for(data) -> ReferenceClassifier | str:
    """The reference classifier for a ``genfw.data.base.Dataset`` (trained once, then cached), or
    a string saying why this dataset has none: it needs a held-out split, labels on both splits
    and at least two classes. Any image shape and number of classes works (:func:`spec_for`)."""
    train, test = data.train, data.test
    if test is None:
        return "the dataset has no held-out split"
    if train.labels is None or test.labels is None:
        return "the dataset has no labels"
    classes = max(num_classes_of(train), num_classes_of(test))
    if len(train.labels) and int(train.labels.min()) < 0:
        return "the dataset's labels are negative"
    if classes < 2:
        return "the dataset's labels hold a single class"
    net, info = load_or_train_reference_net(train, test)
    return ReferenceClassifier(net, info, net.num_classes)
