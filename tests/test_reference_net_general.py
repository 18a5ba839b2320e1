"""The reference classifier for any labelled dataset: MNIST-shaped data keeps the original net and
cache key (so MNIST numbers do not move); other shapes and class counts get the general net.
(Training the general net end to end is in test_datasets_cli.py's HDF5 run.)"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from genfw.data.base import Dataset, ImageDataset
from genfw.metrics import reference_cache as rc
from genfw.metrics import reference_net as rn
from genfw.metrics import reference_training as rt
from genfw.metrics.reference_classifier import reference_for

#: The original MNIST net's parameters and buffers, by name and shape.
MNIST_STATE = {
    "body.0.weight": (16, 1, 3, 3), "body.1.weight": (16,), "body.1.bias": (16,), "body.1.running_mean": (16,),
    "body.1.running_var": (16,), "body.1.num_batches_tracked": (), "body.4.weight": (32, 16, 3, 3),
    "body.5.weight": (32,), "body.5.bias": (32,), "body.5.running_mean": (32,), "body.5.running_var": (32,),
    "body.5.num_batches_tracked": (), "body.9.weight": (128, 1568), "body.9.bias": (128,), "head.weight": (10, 128),
    "head.bias": (10,),
}


def test_the_mnist_net_is_unchanged():
    state = rn.ReferenceNet().state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == MNIST_STATE
    assert rn.ReferenceNet((1, 28, 28), 7).state_dict().keys() == state.keys()  # <= 10 classes: MNIST's net


@pytest.mark.parametrize("shape, classes, spec", [
    ((1, 28, 28), 10, ((1, 28, 28), 10)),
    ((1, 28, 28), 3, ((1, 28, 28), 10)),
    ((1, 28, 28), 12, ((1, 28, 28), 12)),
    ((3, 64, 64), 4, ((3, 64, 64), 4)),
])
def test_spec_for(shape, classes, spec):
    assert rn.spec_for(shape, classes) == spec


@pytest.mark.parametrize("shape, classes", [((3, 64, 64), 4), ((1, 32, 32), 2), ((3, 8, 8), 5), ((1, 28, 40), 10),
                                            ((1, 28, 28), 26), ((3, 128, 96), 3)])
def test_the_general_net_takes_any_shape_and_class_count(shape, classes):
    torch.manual_seed(0)
    net = rn.ReferenceNet(shape, classes).eval()
    x = torch.randint(0, 256, (6, *shape), dtype=torch.uint8)
    assert rn.features(net, x).shape == (6, rn.FEATURE_DIM)
    assert rn.predict(net, x).shape == (6,) and int(rn.predict(net, x).max()) < classes
    with torch.no_grad():
        assert net(x.float() / 255).shape == (6, classes)


def tiny(name: str, n: int, shape=(1, 28, 28), classes: int = 10, seed: int = 0) -> ImageDataset:
    g = torch.Generator().manual_seed(seed)
    return ImageDataset(name, torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=g),
                        torch.arange(n) % classes, tuple(str(c) for c in range(classes)))


@pytest.mark.slow
def test_mnist_shaped_data_keeps_the_original_cache_key(tmp_path):
    train, test = tiny("train", 64), tiny("test", 20, seed=1)
    _, info = rc.load_or_train_reference_net(train, test, cache_dir=tmp_path)
    expected = hashlib.sha256(f"{rt.REFERENCE_NET_VERSION}|seed=0|{rc.dataset_digest(train)}".encode()).hexdigest()[:32]
    assert info["key"] == expected


def test_other_data_gets_its_own_key_and_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(rt, "MIN_STEPS", 20)  # a short recipe: this test is about keys and caching
    train, test = tiny("train", 40, (3, 16, 16), 3), tiny("test", 12, (3, 16, 16), 3, seed=1)
    net, info = rc.load_or_train_reference_net(train, test, cache_dir=tmp_path)
    assert net.image_shape == (3, 16, 16) and net.num_classes == 3 and not net.mnist
    again, info2 = rc.load_or_train_reference_net(train, test, cache_dir=tmp_path)
    assert info2["from_cache"] and info2["key"] == info["key"]
    np.testing.assert_allclose(rn.features(again, test.images), rn.features(net, test.images), atol=1e-5)
    mnist_key = hashlib.sha256(f"{rt.REFERENCE_NET_VERSION}|seed=0|{rc.dataset_digest(train)}".encode()).hexdigest()[:32]
    assert info["key"] != mnist_key


def test_reference_for_says_why_there_is_none():
    labelled = tiny("t", 10, (3, 16, 16), 2)
    unlabelled = ImageDataset("u", labelled.images)
    assert reference_for(Dataset(labelled)) == "the dataset has no held-out split"
    assert reference_for(Dataset(unlabelled, unlabelled)) == "the dataset has no labels"
    one = ImageDataset("one", labelled.images, torch.zeros(10, dtype=torch.int64))
    assert reference_for(Dataset(one, one)) == "the dataset's labels hold a single class"
