"""Fashion-MNIST (Xiao et al. 2017) through torchvision: MNIST's format, folder layout and data
root rules (``genfw.data.mnist``), ten classes of clothing. ``<root>/FashionMNIST/raw/<the four
IDX files>``, root = ``dataset.root``, else ``$GENFW_DATA``, else ``./data``; downloaded when
missing unless ``download`` is false.
"""

from __future__ import annotations

from genfw.data.base import Dataset, DatasetContext
from genfw.data.mnist import IDXFormat, MNISTParams, idx_dataset

FASHION_MNIST = IDXFormat(
    "Fashion-MNIST",
    "FashionMNIST",
    "FashionMNIST",
    "fashion_mnist",
    ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
)


class FashionMNISTParams(MNISTParams):
    """Parameters of the ``fashion_mnist`` dataset (the same as ``mnist``'s)."""


def fashion_mnist_dataset(params: FashionMNISTParams, ctx: DatasetContext) -> Dataset:
    """Fashion-MNIST clothing images (torchvision), 1x28x28, 10 classes, in memory; the test split is held out."""
    return idx_dataset(FASHION_MNIST, params, ctx)
