"""The MNIST reference classifier: accuracy, caching, and its use as a Frechet feature space.

The net comes from the session's cache (conftest.py's ``session_cache``): trained on real MNIST
(about a minute on 2 CPU cores) by whichever test of the session needs it first, then loaded.
Tests about the cache itself use folders of their own.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from genfw_testing import require_mnist

from genfw.data.base import ImageDataset
from genfw.data.mnist import load_mnist
from genfw.metrics import frechet_distance
from genfw.metrics import reference_cache as rc
from genfw.metrics import reference_net as rn

@pytest.fixture(scope="module")
def mnist() -> tuple[ImageDataset, ImageDataset]:
    root = require_mnist()  # $GENFW_DATA; fails, never skips, when MNIST is missing
    return load_mnist(root, "train", download=False), load_mnist(root, "test", download=False)


@pytest.fixture(scope="module")
def trained(mnist, session_cache) -> tuple[rn.ReferenceNet, dict, Path]:
    train, test = mnist
    model, info = rc.load_or_train_reference_net(train, test, cache_dir=session_cache)
    return model, info, session_cache


@pytest.mark.slow
def test_trains_to_99_percent(trained, mnist) -> None:
    model, info, _ = trained
    how = "loaded from the session's cache" if info["from_cache"] else f"trained in {info['train_seconds']:.1f} s"
    print(f"reference net: test accuracy {info['accuracy']:.4f}, {how}")
    assert info["accuracy"] >= 0.99
    meta = json.loads(Path(info["path"]).with_suffix(".json").read_text())
    assert meta["accuracy"] == info["accuracy"]
    # Measured again on the test split, whether this session trained the net or loaded it.
    measured = rn.accuracy(model, mnist[1])
    assert measured >= 0.99 and measured == pytest.approx(info["accuracy"], abs=1e-3)  # loaded nets run channels-last


@pytest.mark.slow
def test_second_call_loads_from_cache(trained, mnist, monkeypatch) -> None:
    model, info, cache = trained
    train, test = mnist

    def no_training(*args, **kwargs):
        raise AssertionError("the cached net should have been loaded, not retrained")

    monkeypatch.setattr(rc, "train_reference_net", no_training)
    again, info2 = rc.load_or_train_reference_net(train, test, cache_dir=cache)
    assert info2["from_cache"] and info2["path"] == info["path"]
    assert info2["accuracy"] == info["accuracy"]
    x = test.images[:500]
    np.testing.assert_array_equal(rn.predict(again, x), rn.predict(model, x))
    np.testing.assert_allclose(rn.features(again, x), rn.features(model, x), atol=1e-5)


def test_different_data_gets_different_key(mnist) -> None:
    train, _ = mnist
    small = ImageDataset("small", train.images[:100], train.labels[:100])
    other = ImageDataset("other", train.images[100:200], train.labels[100:200])
    assert rc.dataset_digest(small) != rc.dataset_digest(other)
    assert rc.dataset_digest(small) == rc.dataset_digest(ImageDataset("copy", train.images[:100].clone(), train.labels[:100].clone()))


@pytest.mark.slow
def test_corrupted_cache_is_retrained(tmp_path, mnist, trained, monkeypatch) -> None:
    model, info, _ = trained
    train, test = mnist
    # Plant garbage where the weights for this training set would be, in a fresh cache folder.
    folder = tmp_path / "reference_net"
    folder.mkdir()
    (folder / Path(info["path"]).name).write_bytes(b"not a state dict")
    calls = []

    def fake_train(ds, **kwargs):  # stands in for the minute-long training
        calls.append(ds.name)
        return model

    monkeypatch.setattr(rc, "train_reference_net", fake_train)
    _, info2 = rc.load_or_train_reference_net(train, test, cache_dir=tmp_path)
    assert calls == [train.name] and not info2["from_cache"]
    # The garbage was replaced by a loadable state dict.
    state = torch.load(info2["path"], weights_only=True)
    assert set(state) == set(model.state_dict())


@pytest.mark.slow
def test_frechet_in_feature_space(trained, mnist) -> None:
    model, _, _ = trained
    _, test = mnist
    feats = rn.features(model, test.images)
    assert feats.shape == (len(test), rn.FEATURE_DIM) and feats.dtype == np.float64
    half = len(test) // 2
    within = frechet_distance(feats[:half], feats[half:])
    gen = torch.Generator().manual_seed(0)
    noise = torch.rand(half, 1, 28, 28, generator=gen)
    to_noise = frechet_distance(feats[:half], rn.features(model, noise))
    assert to_noise > 20 * within, (within, to_noise)
    # Float [0, 1] and uint8 inputs give the same features.
    np.testing.assert_allclose(rn.features(model, test.images[:10]), rn.features(model, test.images[:10].float() / 255))


@pytest.mark.slow
def test_a_cached_net_with_flipped_weights_is_trained_again(tmp_path, capsys) -> None:
    """Weights whose bytes changed after they were cached (same size, still loadable) do not match
    the SHA-256 recorded with them: trained again with a one-line warning, never used as they are."""
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=g)
    train = ImageDataset("tiny", images, torch.arange(64) % 10)
    test = ImageDataset("tiny-test", images[:20], torch.arange(20) % 10)
    model, info = rc.load_or_train_reference_net(train, test, cache_dir=tmp_path)
    path, head = Path(info["path"]), model.state_dict()["head.weight"]
    data = bytearray(path.read_bytes())
    at = bytes(data).index(head.contiguous().numpy().tobytes()[:64])
    data[at + 3] ^= 0x80  # the sign bit of head.weight[0, 0] (float32, little-endian)
    path.write_bytes(bytes(data))
    assert not torch.equal(torch.load(path, weights_only=True)["head.weight"], head)  # loads: only a checksum can tell
    capsys.readouterr()
    again, info2 = rc.load_or_train_reference_net(train, test, cache_dir=tmp_path)
    err = capsys.readouterr().err
    assert not info2["from_cache"] and err.count("\n") == 1, err
    assert f"Warning: the cached reference network {path} does not match its checksum; training it again" in err
    assert torch.equal(again.state_dict()["head.weight"], head)  # the same recipe gives the same weights
    assert rc.load_or_train_reference_net(train, test, cache_dir=tmp_path)[1]["from_cache"]
