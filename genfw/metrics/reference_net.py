"""A small deterministic classifier for any labelled image dataset: the feature space of a Frechet
classifier distance and the judge of generated samples. This module is the network and its use
(features, predictions, accuracy); its training is ``genfw.metrics.reference_training``, its
cache ``genfw.metrics.reference_cache``, the classifier a dataset gets
``genfw.metrics.reference_classifier``.

For MNIST-shaped data (1x28x28, at most 10 classes) it is exactly genfw's original MNIST net, with
the same weights cache key, so MNIST numbers do not move. For any other shape or number of
classes (:func:`spec_for`) the same two conv/BN/ReLU/pool stages are followed by one more stage
per halving that keeps the map at least 16 pixels wide (64x64: 3 stages, 8x8), then adaptive
average pooling to a fixed 4x4 map, the same 128-d features and one logit per class; small
datasets train for at least :data:`genfw.metrics.reference_training.MIN_STEPS` steps.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from genfw.data.base import ImageDataset

FEATURE_DIM = 128
#: The MNIST net's input shape and classes: data of that shape with at most 10 classes uses it.
MNIST_SHAPE, MNIST_CLASSES = (1, 28, 28), 10
# MNIST pixel statistics; the net normalises internally so callers pass images in [0, 1].
_MNIST_MEAN, _MNIST_STD = 0.1307, 0.3081
_GENERAL_MEAN, _GENERAL_STD = 0.5, 0.5


def spec_for(image_shape: tuple[int, int, int], num_classes: int) -> tuple[tuple[int, int, int], int]:
    """The (image shape, classes) a reference net is built for: MNIST's net (10 classes) for any
    1x28x28 data with at most 10 classes, else exactly the data's."""
    shape = tuple(int(v) for v in image_shape)
    if shape == MNIST_SHAPE and num_classes <= MNIST_CLASSES:
        return MNIST_SHAPE, MNIST_CLASSES
    return shape, int(num_classes)  # type: ignore[return-value]


def _general_stages(h: int, w: int) -> int:
    """conv/pool stages of the general net: 2, plus one per halving that keeps the map >= 16 px
    (at most 5), fewer for images too small to halve twice."""
    k = 2
    while k < 5 and min(h, w) // 2**k >= 16:
        k += 1
    while k > 0 and min(h, w) // 2**k < 1:
        k -= 1
    return k


class ReferenceNet(nn.Module):
    """MNIST (the default): conv(16) -> BN -> ReLU -> pool -> conv(32) -> BN -> ReLU -> pool ->
    fc 128 -> ReLU -> fc 10. Any other ``image_shape`` / ``num_classes``: conv stages of 16, 32,
    64, 128 channels (each conv -> BN -> ReLU -> pool), adaptive average pooling to 4x4, fc 128 ->
    ReLU -> fc ``num_classes``.

    Input: float images ``[N, C, H, W]`` in [0, 1]. ``forward`` returns logits ``[N, classes]``;
    ``features`` returns the 128-d penultimate layer *before* its ReLU: post-ReLU, some units are
    dead (constant 0), which makes feature covariances singular and Frechet distances unstable.
    """

    def __init__(self, image_shape: tuple[int, int, int] = MNIST_SHAPE, num_classes: int = MNIST_CLASSES) -> None:
        super().__init__()
        self.image_shape, self.num_classes = spec_for(image_shape, num_classes)
        self.mnist = (self.image_shape, self.num_classes) == (MNIST_SHAPE, MNIST_CLASSES)
        if self.mnist:
            self.body = nn.Sequential(
                nn.Conv2d(1, 16, 3, padding=1, bias=False),
                nn.BatchNorm2d(16),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),  # 28 -> 14
                nn.Conv2d(16, 32, 3, padding=1, bias=False),
                nn.BatchNorm2d(32),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),  # 14 -> 7
                nn.Flatten(),
                nn.Linear(32 * 7 * 7, FEATURE_DIM),
            )
            self.mean, self.std = _MNIST_MEAN, _MNIST_STD
        else:
            c, h, w = self.image_shape
            layers: list[nn.Module] = []
            channels = c
            for stage in range(_general_stages(h, w)):
                out = min(16 * 2**stage, 128)
                layers += [
                    nn.Conv2d(channels, out, 3, padding=1, bias=False),
                    nn.BatchNorm2d(out),
                    nn.ReLU(inplace=True),
                    nn.MaxPool2d(2),
                ]
                channels = out
            layers += [nn.AdaptiveAvgPool2d((4, 4)), nn.Flatten(), nn.Linear(channels * 16, FEATURE_DIM)]
            self.body = nn.Sequential(*layers)
            self.mean, self.std = _GENERAL_MEAN, _GENERAL_STD
        self.head = nn.Linear(FEATURE_DIM, self.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 128-d penultimate pre-activations of images in [0, 1]."""
        return self.body((x - self.mean) / self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.relu(self.features(x)))


def as_float_images(images: torch.Tensor | np.ndarray, channels: int = 1) -> torch.Tensor:
    """Images as float32 ``[N, C, H, W]`` in [0, 1]; uint8 input is divided by 255."""
    x = torch.as_tensor(images)
    if x.dim() == 3 and channels == 1:  # [N, H, W]
        x = x.unsqueeze(1)
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"expected images [N, {channels}, H, W], got {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x.float()


def num_classes_of(ds: ImageDataset) -> int:
    """How many classes a labelled split has (its class names, else the largest label + 1)."""
    assert ds.labels is not None
    top = int(ds.labels.max()) + 1 if len(ds.labels) else 0
    return max(len(ds.class_names or ()), top)


@torch.inference_mode()
def _batched(model: ReferenceNet, images: torch.Tensor | np.ndarray, fn: str, batch_size: int) -> torch.Tensor:
    model.eval()
    x = as_float_images(images, model.image_shape[0])
    outs = [getattr(model, fn)(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)]
    if not outs:
        return torch.empty(0, FEATURE_DIM if fn == "features" else model.num_classes)
    return torch.cat(outs)


def features(model: ReferenceNet, images: torch.Tensor | np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Penultimate-layer features (pre-ReLU) of images ``[N, C, H, W]`` in [0, 1] (uint8 accepted):
    float64 ``[N, 128]``, ready for :func:`genfw.metrics.frechet_distance`."""
    return _batched(model, images, "features", batch_size).double().numpy()


def predict(model: ReferenceNet, images: torch.Tensor | np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Predicted classes (int64 ``[N]``) of images ``[N, C, H, W]`` in [0, 1] (uint8 accepted)."""
    return _batched(model, images, "forward", batch_size).argmax(1).numpy()


def accuracy(model: ReferenceNet, ds: ImageDataset) -> float:
    """Fraction (0..1) of ``ds`` the model classifies correctly."""
    if ds.labels is None:
        raise ValueError(f"dataset {ds.name!r} has no labels")
    return float((predict(model, ds.images) == ds.labels.numpy()).mean())
