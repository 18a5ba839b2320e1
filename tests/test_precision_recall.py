"""Known answers for precision/recall (Kynkäänniemi et al. 2019) and per-class Frechet distance."""

from __future__ import annotations

import numpy as np
import pytest

from genfw.metrics.distances import per_class_frechet
from genfw.metrics.precision_recall import knn_radii, precision_recall


def clusters(n_per: int, classes: list[int], rng: np.random.Generator, dim: int = 16):
    centres = np.random.default_rng(123).normal(0, 10, (10, dim))  # fixed, well separated
    labels = np.repeat(classes, n_per)
    return centres[labels] + rng.normal(0, 1, (len(labels), dim)), labels


def test_identical_sets_have_precision_and_recall_one():
    x, _ = clusters(100, list(range(10)), np.random.default_rng(0))
    out = precision_recall(x, x.copy())
    assert out["precision"] == 1.0 and out["recall"] == 1.0 and out["k"] == 3


def test_dropping_half_the_classes_halves_recall_and_keeps_precision():
    real, labels = clusters(200, list(range(10)), np.random.default_rng(1))
    out = precision_recall(real, real[labels < 5])  # the same set with half its classes dropped
    assert out["precision"] == 1.0
    assert out["recall"] == pytest.approx(0.5, abs=0.02)
    # New draws from the kept classes: precision stays high, recall still about half.
    fresh, _ = clusters(200, list(range(5)), np.random.default_rng(2))
    out = precision_recall(real, fresh)
    assert out["precision"] > 0.7 and 0.35 < out["recall"] <= 0.5


def test_samples_off_the_manifold_lower_precision():
    real, _ = clusters(200, list(range(10)), np.random.default_rng(3))
    fake = real[:1000] + 8.0  # shifted far from every real cluster
    out = precision_recall(real, fake)
    assert out["precision"] < 0.2


def test_knn_radii_exclude_the_point_itself():
    x = np.array([[0.0], [1.0], [3.0]])
    assert knn_radii(x, 1).tolist() == [1.0, 1.0, 4.0]
    with pytest.raises(ValueError):
        knn_radii(x, 3)


def test_per_class_frechet_finds_the_class_that_is_off():
    rng = np.random.default_rng(4)
    real, labels = clusters(300, list(range(4)), rng)
    fake, fake_labels = clusters(300, list(range(4)), np.random.default_rng(5))
    fake[fake_labels == 2] += 5.0  # class 2 is generated wrongly
    out = per_class_frechet(fake, fake_labels, real, labels)
    assert set(out) == {0, 1, 2, 3}
    assert out[2]["frechet"] > 20 * max(out[c]["frechet"] for c in (0, 1, 3))
    few = per_class_frechet(fake[:5], fake_labels[:5], real, labels)
    assert few[0]["frechet"] is None and few[0]["a"] == 5


def test_precision_recall_is_deterministic():
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(300, 8)), rng.normal(size=(300, 8)) + 0.3
    assert precision_recall(real, fake) == precision_recall(real, fake)
