"""Golden tests: genfw's disentanglement metrics, with their default settings, against the numbers
disentanglement_lib (Locatello et al. 2019, the reference study's code) gives on the same inputs.

The inputs are built by :func:`golden_inputs` (seeded); ``EXPECTED`` holds disentanglement_lib's
values for them, printed by ``python bench/disentanglement_reference.py
<disentanglement_lib>/disentanglement_lib/evaluation/metrics`` (disentanglement_lib commit
86a644d4ed35c771560dc3360756363d35477357, scikit-learn 1.9.1): its MIG with the study's 20 bins,
its DCI (a gradient-boosted classifier per factor) and its SAP with the study's
``continuous_factors=False``; ``sap_continuous`` is its other mode, genfw's fast variant.
``EXPECTED_FACTOR_VAE`` is its FactorVAE score with the study's settings (batches of 64, 10,000 +
5,000 votes, 10,000 points for the variances, pruning at 0.05) on the full grid of the same
representations (:func:`grid_inputs`), the mean over its random states 0-9: the score samples, so
both sides are Monte Carlo estimates of the same number.
"""

from __future__ import annotations

import numpy as np
import pytest

from genfw.metrics import disentanglement as dm

SIZES = (4, 6, 10)  # values per factor
N_TRAIN, N_TEST = 1500, 750
REPRESENTATIONS = ("noisy", "mixed", "rotated", "partial")
TOLERANCE = 0.01  # disentanglement_lib's trees are unseeded; ours are seeded
# disentanglement_lib's own FactorVAE scores spread up to 0.015 from their mean over random states
# (the rotated codes: two dimensions each half of two factors, so the majority vote is a coin flip).
FACTOR_VAE_TOLERANCE = 0.02

EXPECTED: dict[str, dict[str, float]] = {
    'noisy': {'mig': 0.8657, 'dci_disentanglement': 0.8695, 'dci_completeness': 0.8709, 'dci_informativeness_train': 0.9916, 'dci_informativeness_test': 0.8942, 'sap': 0.2027, 'sap_continuous': 0.9754},
    'mixed': {'mig': 0.1082, 'dci_disentanglement': 0.0715, 'dci_completeness': 0.1534, 'dci_informativeness_train': 0.9713, 'dci_informativeness_test': 0.7511, 'sap': 0.0436, 'sap_continuous': 0.1788},
    'rotated': {'mig': 0.3473, 'dci_disentanglement': 0.5770, 'dci_completeness': 0.5770, 'dci_informativeness_train': 1.0000, 'dci_informativeness_test': 0.9933, 'sap': 0.0387, 'sap_continuous': 0.3687},
    'partial': {'mig': 0.6567, 'dci_disentanglement': 0.6161, 'dci_completeness': 0.6670, 'dci_informativeness_train': 0.9262, 'dci_informativeness_test': 0.7018, 'sap': 0.1471, 'sap_continuous': 0.6633},
}

EXPECTED_FACTOR_VAE: dict[str, float] = {  # random states 0-9: min - max
    "noisy": 1.0000,  # 1.0000 - 1.0000
    "mixed": 0.9228,  # 0.9136 - 0.9334
    "rotated": 0.7249,  # 0.7140 - 0.7392
    "partial": 0.9631,  # 0.9558 - 0.9712
}


def make_codes(name: str, factors: np.ndarray, noise: np.random.Generator) -> np.ndarray:
    """The named representation of ``factors`` ``[n, 3]`` (noise drawn from ``noise``)."""
    n = len(factors)
    scaled = factors / (np.array(SIZES) - 1.0)  # each factor in [0, 1]
    if name == "noisy":  # each code one factor, plus noise of sd 0.05
        return scaled + noise.normal(0, 0.05, scaled.shape)
    if name == "mixed":  # every code mixes every factor
        return scaled @ noise.normal(size=(3, 3)) + noise.normal(0, 0.02, scaled.shape)
    if name == "rotated":  # the first two factors rotated by 45 degrees, the third kept
        c, s = np.cos(np.pi / 4), np.sin(np.pi / 4)
        codes = np.stack([c * scaled[:, 0] - s * scaled[:, 1], s * scaled[:, 0] + c * scaled[:, 1], scaled[:, 2]], 1)
        return codes + noise.normal(0, 0.02, codes.shape)
    if name == "partial":  # two factors kept, the third lost, two codes of noise
        return np.concatenate([scaled[:, :2] + noise.normal(0, 0.02, (n, 2)), noise.normal(size=(n, 2))], axis=1)
    raise ValueError(name)


def golden_inputs(name: str) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``((codes_train, factors_train), (codes_test, factors_test))`` of one named representation:
    factors drawn uniformly (seed 0), codes made from them (seed 1) in the named way."""
    rng = np.random.default_rng(0)
    n = N_TRAIN + N_TEST
    factors = np.stack([rng.integers(0, s, n) for s in SIZES], axis=1)
    codes = make_codes(name, factors, np.random.default_rng(1))
    return (codes[:N_TRAIN], factors[:N_TRAIN]), (codes[N_TRAIN:], factors[N_TRAIN:])


def grid_inputs(name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, factors)`` over the full factor grid, one row per combination of values (as
    dSprites is): the FactorVAE score's fixed-factor batches drawn from these rows are the
    batches disentanglement_lib samples from a ground-truth dataset whose images are these codes."""
    factors = np.stack(np.meshgrid(*[np.arange(s) for s in SIZES], indexing="ij"), axis=-1).reshape(-1, len(SIZES))
    return make_codes(name, factors, np.random.default_rng(1)), factors


def genfw_scores(name: str) -> dict[str, float]:
    (z_tr, y_tr), (z_te, y_te) = golden_inputs(name)
    dci = dm.dci(z_tr, y_tr, z_te, y_te, rng=np.random.default_rng(0))
    return {
        "mig": dm.mig(z_tr, y_tr)["mig"],
        "dci_disentanglement": dci["disentanglement"], "dci_completeness": dci["completeness"],
        "dci_informativeness_train": dci["informativeness_train"], "dci_informativeness_test": dci["informativeness_test"],
        "sap": dm.sap(z_tr, y_tr, z_te, y_te)["sap"],
        "sap_continuous": dm.sap(z_tr, y_tr, continuous=True)["sap"],
    }


@pytest.mark.parametrize("name", REPRESENTATIONS)
def test_default_scores_match_disentanglement_lib(name):
    ours = genfw_scores(name)
    for key, expected in EXPECTED[name].items():
        assert ours[key] == pytest.approx(expected, abs=TOLERANCE), (name, key, ours[key], expected)


@pytest.mark.parametrize("name", REPRESENTATIONS)
def test_the_default_factor_vae_score_matches_disentanglement_lib(name):
    codes, factors = grid_inputs(name)
    ours = dm.factor_vae_score(codes, factors, rng=np.random.default_rng(0))
    assert ours["eval_accuracy"] == pytest.approx(EXPECTED_FACTOR_VAE[name], abs=FACTOR_VAE_TOLERANCE), ours
    # the study's settings are the defaults (the grid has 240 rows, all used for the variances)
    settings = ("batch_size", "num_train", "num_eval", "num_variance", "prune_threshold")
    assert tuple(ours[k] for k in settings) == (64, 10000, 5000, len(codes), 0.05)
