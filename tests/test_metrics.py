"""Known-answer tests of genfw.metrics (the numpy/scipy metrics; the reference net has its own file)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genfw.metrics import (
    ari,
    cluster_accuracy,
    cluster_matching,
    code_effect,
    frechet_distance,
    ink_width,
    kernel_inception_distance,
    mutual_information_lower_bound,
    nmi,
    prediction_entropy,
    slant,
    stroke_width,
)


# --- clustering -------------------------------------------------------------------------------


def test_permuted_clustering_scores_one() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 2000)
    perm = rng.permutation(10)
    clusters = perm[labels]
    assert cluster_accuracy(labels, clusters) == 1.0
    assert nmi(labels, clusters) == pytest.approx(1.0)
    assert ari(labels, clusters) == pytest.approx(1.0)
    assert cluster_matching(labels, clusters) == {int(perm[k]): k for k in range(10)}


def test_random_clustering_scores_low() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 5000)
    clusters = rng.integers(0, 10, 5000)
    assert abs(ari(labels, clusters)) < 0.01
    assert nmi(labels, clusters) < 0.02
    assert cluster_accuracy(labels, clusters) < 0.15


def test_hungarian_with_more_clusters_than_labels() -> None:
    # 12 clusters, 10 labels: clusters 10 and 11 hold points of labels 0 and 1.
    labels = np.repeat(np.arange(10), 10)
    clusters = labels.copy()
    clusters[[0, 1, 2]] = 10  # three points of label 0
    clusters[[10, 11]] = 11  # two points of label 1
    mapping = cluster_matching(labels, clusters)
    assert len(mapping) == 10  # one-to-one: only 10 of the 12 clusters are matched
    assert all(mapping[k] == k for k in range(10))
    assert cluster_accuracy(labels, clusters) == pytest.approx(95 / 100)
    # A cluster that holds more of a label than the "natural" one wins the match.
    clusters[[0, 1, 2, 3, 4, 5]] = 10  # six of label 0's ten points now in cluster 10
    assert cluster_matching(labels, clusters)[10] == 0
    assert cluster_accuracy(labels, clusters) == pytest.approx(94 / 100)


def test_more_labels_than_clusters_and_arbitrary_ids() -> None:
    labels = np.array([3, 3, 7, 7, 9, 9])
    clusters = np.array([-1, -1, 42, 42, 42, 42])
    assert cluster_matching(labels, clusters) == {-1: 3, 42: 7}
    assert cluster_accuracy(labels, clusters) == pytest.approx(4 / 6)


def test_clustering_accepts_torch_and_validates() -> None:
    y = torch.tensor([0, 1, 1, 2])
    assert cluster_accuracy(y, torch.tensor([2, 0, 0, 1])) == 1.0
    with pytest.raises(ValueError, match="differ in length"):
        cluster_accuracy(np.array([0, 1, 2]), np.array([0, 1]))
    with pytest.raises(ValueError, match="1-D"):
        nmi(np.zeros((2, 2), int), np.zeros((2, 2), int))
    with pytest.raises(ValueError, match="integers"):
        ari(np.array([0.5, 1.0]), np.array([0, 1]))


def test_prediction_entropy() -> None:
    assert prediction_entropy(np.arange(1000) % 10, 10) == pytest.approx(math.log(10))
    assert prediction_entropy(np.full(100, 3), 10) == 0.0
    assert prediction_entropy(np.array([0, 0, 1, 1]), 10) == pytest.approx(math.log(2))
    with pytest.raises(ValueError):
        prediction_entropy(np.array([0, 10]), 10)


# --- distances --------------------------------------------------------------------------------


def test_frechet_identical_is_zero_and_known_shift() -> None:
    rng = np.random.default_rng(2)
    a = rng.normal(size=(500, 16))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # Shifting by a vector s changes only the mean term: the distance is |s|^2 exactly.
    s = np.full(16, 0.5)
    assert frechet_distance(a, a + s) == pytest.approx(16 * 0.25, rel=1e-6)
    # Scaling by 2: tr(C + 4C - 2*2C) = tr(C).
    assert frechet_distance(a, 2 * a - a.mean(0)) == pytest.approx(np.trace(np.cov(a, rowvar=False)), rel=1e-6)


def test_frechet_rises_monotonically_with_noise() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=(2000, 8)) @ rng.normal(size=(8, 8))
    noise = rng.normal(size=a.shape)
    dists = [frechet_distance(a, a + sigma * noise) for sigma in (0.0, 0.25, 0.5, 1.0, 2.0)]
    assert dists[0] == pytest.approx(0.0, abs=1e-6)
    assert all(d1 < d2 for d1, d2 in zip(dists, dists[1:])), dists


def test_frechet_handles_singular_covariance_and_torch() -> None:
    rng = np.random.default_rng(4)
    a = np.zeros((100, 6))
    a[:, :3] = rng.normal(size=(100, 3))  # three dead dimensions
    assert frechet_distance(torch.from_numpy(a), a) == pytest.approx(0.0, abs=1e-4)
    with pytest.raises(ValueError, match="dimensions differ"):
        frechet_distance(a, a[:, :5])


def test_kid_identical_near_zero_and_separates() -> None:
    rng = np.random.default_rng(5)
    a = rng.normal(size=(600, 16))
    a2 = rng.normal(size=(600, 16))  # same distribution, independent draw
    b = rng.normal(size=(600, 16)) + 0.5
    kid = lambda x, y: kernel_inception_distance(x, y, subsets=20, subset_size=200, rng=np.random.default_rng(0))  # noqa: E731
    diff_mean, _ = kid(a, b)
    assert diff_mean > 0.5
    # Identical sets: about 0 (slightly negative, since the two subsets share rows).
    same_mean, same_std = kid(a, a)
    assert abs(same_mean) < 0.05 * diff_mean and same_std < 0.05 * diff_mean
    indep_mean, indep_std = kid(a, a2)
    assert abs(indep_mean) < 0.05 * diff_mean
    # subset_size is clipped to the set sizes; a seeded generator makes the result reproducible.
    r1 = kernel_inception_distance(a[:50], b, subsets=5, subset_size=1000, rng=np.random.default_rng(7))
    r2 = kernel_inception_distance(a[:50], b, subsets=5, subset_size=1000, rng=np.random.default_rng(7))
    assert r1 == r2
    with pytest.raises(TypeError):
        kernel_inception_distance(a, b, rng=0)  # type: ignore[arg-type]


def test_kid_matches_direct_formula() -> None:
    # One subset covering both whole sets: no sampling, so compare to a literal double loop.
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=(7, 3)) + 1.0
    k = lambda u, v: (u @ v / 3 + 1) ** 3  # noqa: E731
    m = 7
    expected = (
        sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        + sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        - 2 * sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m**2
    )
    mean, std = kernel_inception_distance(x, y, subsets=1, subset_size=m, rng=np.random.default_rng(0))
    assert mean == pytest.approx(expected, rel=1e-10)
    assert std == 0.0


# --- image statistics -------------------------------------------------------------------------


def _bar(angle: float, width: float, length: float = 16.0, size: int = 28, ss: int = 4, shift: float = 0.0) -> np.ndarray:
    """A bar through the image centre (moved right and down by ``shift`` pixels), tilted
    ``angle`` radians from vertical (top to the right for angle > 0), anti-aliased by ``ss`` x
    ``ss`` supersampling."""
    coords = (np.arange(size * ss) + 0.5) / ss - size / 2 - shift
    x = coords[None, :]
    y = -coords[:, None]  # y up
    along = x * math.sin(angle) + y * math.cos(angle)
    across = x * math.cos(angle) - y * math.sin(angle)
    ink = (np.abs(along) <= length / 2) & (np.abs(across) <= width / 2)
    return ink.reshape(size, ss, size, ss).mean((1, 3))


def test_slant_of_rotated_bars() -> None:
    angles = [-0.6, -0.3, -0.1, 0.0, 0.1, 0.3, 0.6]
    for width in (1.5, 4.0):
        imgs = np.stack([_bar(a, width) for a in angles])
        np.testing.assert_allclose(slant(imgs), angles, atol=0.03)
        shear = slant(imgs[:, None], method="shear")  # [N, 1, H, W] accepted too
        assert np.all(np.sign(shear[np.array(angles) != 0]) == np.sign([a for a in angles if a != 0]))
    assert abs(slant(_bar(0.0, 2.0)[None])[0]) < 1e-9
    with pytest.raises(ValueError):
        slant(imgs, method="nope")


def test_stroke_width_grows_with_thickness() -> None:
    widths = [1.0, 2.0, 3.0, 4.0, 5.0]
    for angle in (0.0, 0.4, math.pi / 4, math.pi / 2):
        for shift in (0.0, 0.5):  # bar centred on a pixel edge / on a pixel centre
            sw = stroke_width(np.stack([_bar(angle, w, shift=shift) for w in widths]))
            assert np.all(np.diff(sw) > 0.3), (angle, shift, sw)
            # About w * L / (L + w) for a bar of length L = 16; staircase edges cost up to ~15%.
            np.testing.assert_allclose(sw, [w * 16 / (16 + w) for w in widths], rtol=0.2)


def test_ink_width_and_empty_images() -> None:
    horiz, vert = np.zeros((28, 28)), np.zeros((28, 28))
    horiz[14, 6:22] = 1.0
    vert[6:22, 14] = 1.0
    w = ink_width(np.stack([horiz, vert]))
    assert w[0] == pytest.approx(math.sqrt((16**2 - 1) / 12))  # std of 16 evenly spaced pixels
    assert w[1] == pytest.approx(0.0)
    assert ink_width(2 * horiz[None])[0] == pytest.approx(w[0])  # ink is clipped to [0, 1]
    empty = np.zeros((1, 28, 28))
    assert np.isnan(slant(empty)).all() and np.isnan(ink_width(empty)).all() and np.isnan(stroke_width(empty)).all()


def test_code_effect() -> None:
    code = np.linspace(-1, 1, 9)
    imgs = np.stack([_bar(0.5 * c, 2.0) for c in code])
    eff = code_effect(code, slant(imgs))
    assert eff["spearman"] == pytest.approx(1.0) and eff["pearson"] > 0.99 and eff["n"] == 9
    eff = code_effect(code, -(code**3))
    assert eff["spearman"] == pytest.approx(-1.0)
    flat = code_effect(code, np.ones(9))
    assert math.isnan(flat["spearman"]) and flat["n"] == 9
    with pytest.raises(ValueError):
        code_effect(code, code[:-1])


# --- information ------------------------------------------------------------------------------


def test_mutual_information_lower_bound() -> None:
    h = math.log(10)
    # A perfect recogniser (NLL 0) attains the full entropy; a uniform guess (NLL ln 10) gets 0.
    assert mutual_information_lower_bound(h, np.zeros(100)) == pytest.approx(h)
    assert mutual_information_lower_bound(h, np.full(100, math.log(10))) == pytest.approx(0.0)
    assert mutual_information_lower_bound(h, torch.tensor([0.5, 1.5])) == pytest.approx(h - 1.0)
    with pytest.raises(ValueError):
        mutual_information_lower_bound(h, np.array([]))


def test_kid_of_a_set_with_itself_is_slightly_negative() -> None:
    """The two subsets share rows, so the unbiased estimate drops below 0 (as the docstring says)."""
    a = np.random.default_rng(5).normal(size=(600, 16))
    for seed in range(5):
        mean, _ = kernel_inception_distance(a, a, subsets=20, subset_size=200, rng=np.random.default_rng(seed))
        assert -0.1 < mean < 0


def test_ari_is_negative_when_worse_than_chance() -> None:
    assert ari([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-0.5)


def test_the_mutual_information_bound_can_be_negative_and_refuses_non_finite_input() -> None:
    # a continuous code's NLL can exceed the entropy: the bound is then negative, not clipped
    assert mutual_information_lower_bound(math.log(2), np.full(10, 2.0)) == pytest.approx(math.log(2) - 2.0)
    with pytest.raises(ValueError, match="finite"):
        mutual_information_lower_bound(math.log(2), np.array([np.nan, 1.0]))
