"""Known-answer tests of the disentanglement metrics (genfw.metrics.disentanglement): a
representation equal to the factors scores about 1, one independent of them about 0 (the
FactorVAE score: about chance, 1/F), and permuting the code dimensions changes nothing.

These properties are those of the metrics' definitions, checked here with the fast variants (DCI's
regression trees, SAP's R^2), which hold them exactly (a 1-d linear classifier, SAP's reference
variant, cannot score 1 on a factor of many values); the defaults are held to the reference
implementation's numbers in tests/test_disentanglement_golden.py."""

from __future__ import annotations

import numpy as np
import pytest

from genfw.metrics import disentanglement as dm

SIZES = (3, 6, 10, 8)  # values per factor (at most 20: MIG's histogram keeps them apart)
N = 3000


@pytest.fixture(scope="module")
def factors() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.stack([rng.integers(0, s, N) for s in SIZES], axis=1)


@pytest.fixture(scope="module")
def representations(factors):
    rng = np.random.default_rng(1)
    perfect = factors.astype(np.float64) + rng.normal(0, 0.01, factors.shape)  # a little noise: still perfect
    return {
        "perfect": perfect,
        "random": rng.normal(size=(N, len(SIZES) + 2)),
        "permuted": perfect[:, [2, 0, 3, 1]],
        "scaled": perfect * np.array([2.0, -0.5, 10.0, 3.0]) + 7.0,  # each code rescaled: still disentangled
        "mixed": perfect @ rng.normal(size=(len(SIZES), len(SIZES))),  # every code mixes every factor
    }


def all_scores(z: np.ndarray, y: np.ndarray, predictor: str = "gbt_regressor") -> dict[str, float]:
    split = 2000
    return {
        "mig": dm.mig(z, y)["mig"],
        **{f"dci_{k}": v for k, v in dm.dci(z[:split], y[:split], z[split:], y[split:], rng=np.random.default_rng(3),
                                             predictor=predictor).items() if isinstance(v, float)},
        "sap": dm.sap(z, y, continuous=True)["sap"],
        "factor_vae": dm.factor_vae_score(z, y, rng=np.random.default_rng(4), num_train=1500, num_eval=800,
                                          num_variance=2000)["eval_accuracy"],
    }


@pytest.fixture(scope="module")
def scores(representations, factors):
    return {name: all_scores(z, factors) for name, z in representations.items()}


def test_a_representation_equal_to_the_factors_scores_about_one(scores):
    s = scores["perfect"]
    assert s["mig"] > 0.97
    assert s["dci_disentanglement"] > 0.97 and s["dci_completeness"] > 0.97
    assert s["dci_informativeness_test"] > 0.97
    assert s["sap"] > 0.97
    assert s["factor_vae"] > 0.97


def test_a_random_representation_scores_about_zero(scores):
    s = scores["random"]
    assert s["mig"] < 0.02
    assert s["dci_disentanglement"] < 0.1 and s["dci_completeness"] < 0.1
    assert s["sap"] < 0.02
    # FactorVAE's floor is its chance level: the majority vote guesses among the 4 factors.
    assert abs(s["factor_vae"] - 1 / len(SIZES)) < 0.1


def test_permuting_the_codes_changes_nothing(scores):
    for key, value in scores["perfect"].items():
        assert scores["permuted"][key] == pytest.approx(value, abs=0.01), key


def test_rescaling_each_code_changes_nothing(scores):
    for key, value in scores["perfect"].items():
        assert scores["scaled"][key] == pytest.approx(value, abs=0.01), key


def test_a_mixed_representation_scores_in_between(scores):
    s = scores["mixed"]
    assert s["mig"] < 0.5 and s["dci_disentanglement"] < 0.6 and s["sap"] < 0.6
    assert s["dci_informativeness_test"] > 0.3  # the information is there, just not separated


def test_lasso_dci_on_known_answers(representations, factors):
    perfect = dm.dci(representations["perfect"][:2000], factors[:2000], representations["perfect"][2000:], factors[2000:],
                     rng=np.random.default_rng(0), predictor="lasso")
    permuted = dm.dci(representations["permuted"][:2000], factors[:2000], representations["permuted"][2000:],
                      factors[2000:], rng=np.random.default_rng(0), predictor="lasso")
    assert perfect["disentanglement"] > 0.97 and perfect["completeness"] > 0.97
    assert permuted["disentanglement"] == pytest.approx(perfect["disentanglement"], abs=1e-9)
    assert permuted["completeness"] == pytest.approx(perfect["completeness"], abs=1e-9)


def test_the_discrete_sap_variant_runs_and_ranks(representations, factors):
    good = dm.sap(representations["perfect"][:2000], factors[:2000], representations["perfect"][2000:], factors[2000:])
    bad = dm.sap(representations["random"][:2000], factors[:2000], representations["random"][2000:], factors[2000:])
    assert good["sap"] > bad["sap"] and bad["sap"] < 0.05


def test_constant_factors_are_left_out(factors, representations):
    y = np.concatenate([factors, np.zeros((N, 1), dtype=np.int64)], axis=1)  # a factor that never varies
    z = representations["perfect"]
    out = dm.mig(z, y)
    assert out["factors_used"] == [0, 1, 2, 3] and out["mig"] > 0.97
    fv = dm.factor_vae_score(z, y, rng=np.random.default_rng(0), num_train=500, num_eval=300, num_variance=1000)
    assert fv["factors_used"] == [0, 1, 2, 3] and fv["eval_accuracy"] > 0.97


def test_same_rng_same_numbers_and_no_global_state(representations, factors):
    z = representations["mixed"]
    np.random.seed(123)
    before = np.random.random()
    a = dm.factor_vae_score(z, factors, rng=np.random.default_rng(9), num_train=300, num_eval=200, num_variance=500)
    np.random.seed(123)
    b = dm.factor_vae_score(z, factors, rng=np.random.default_rng(9), num_train=300, num_eval=200, num_variance=500)
    assert a == b and np.random.random() == before


def test_fixed_factor_batches_share_the_fixed_value(factors):
    fixed, rows = dm.fixed_factor_batches(factors, 200, 16, np.random.default_rng(0))
    for k, r in zip(fixed, rows):
        assert len(np.unique(factors[r, k])) == 1
    assert set(fixed.tolist()) == {0, 1, 2, 3}


def test_bad_inputs_are_value_errors():
    with pytest.raises(ValueError, match="integer value indices"):
        dm.mig(np.zeros((10, 2)), np.zeros((10, 2)))
    with pytest.raises(ValueError, match="same n"):
        dm.mig(np.zeros((10, 2)), np.zeros((9, 2), dtype=int))
    with pytest.raises(ValueError, match="needs test points"):
        dm.sap(np.zeros((10, 2)), np.arange(10)[:, None] % 2)  # the default, discrete variant
    with pytest.raises(ValueError, match="constant"):
        dm.mig(np.random.default_rng(0).normal(size=(10, 2)), np.zeros((10, 2), dtype=int))
    with pytest.raises(ValueError, match="unknown DCI predictor"):
        y = np.arange(10)[:, None] % 2
        dm.dci(np.zeros((10, 1)), y, np.zeros((10, 1)), y, rng=np.random.default_rng(0), predictor="svm")  # type: ignore[arg-type]


def test_the_reference_defaults_on_known_answers(representations, factors):
    """DCI's gradient-boosted classifier and the discrete SAP (the defaults): a perfect
    representation scores 1 on DCI; on SAP it scores below 1 (a linear classifier on one code
    cannot cut out a middle value of a factor) but far above an independent one; permuting the
    codes changes neither."""

    def defaults(z):
        tr, te = slice(0, 600), slice(600, 900)
        dci = dm.dci(z[tr], factors[tr], z[te], factors[te], rng=np.random.default_rng(3))
        return dci, dm.sap(z[tr], factors[tr], z[te], factors[te])

    (perfect, sap_perfect), (permuted, sap_permuted) = defaults(representations["perfect"]), defaults(representations["permuted"])
    (random, sap_random) = defaults(representations["random"])
    assert perfect["predictor"] == "gbt_classifier" and sap_perfect["continuous"] is False
    assert perfect["disentanglement"] > 0.97 and perfect["completeness"] > 0.97 and perfect["informativeness_test"] > 0.97
    assert random["disentanglement"] < 0.1 and random["completeness"] < 0.1
    assert 0.2 < sap_perfect["sap"] < 0.9 and sap_random["sap"] < 0.05
    for key in ("disentanglement", "completeness", "informativeness_test"):
        assert permuted[key] == pytest.approx(perfect[key], abs=0.01), key
    assert sap_permuted["sap"] == pytest.approx(sap_perfect["sap"], abs=1e-9)


def test_dci_and_sap_leave_constant_factors_out(factors, representations):
    y = np.concatenate([factors, np.zeros((N, 1), dtype=np.int64)], axis=1)  # a factor that never varies
    z = representations["perfect"]
    dci = dm.dci(z[:600], y[:600], z[600:900], y[600:900], rng=np.random.default_rng(0), predictor="gbt_regressor")
    sap = dm.sap(z[:600], y[:600], continuous=True)
    assert dci["factors_used"] == [0, 1, 2, 3] and dci["disentanglement"] > 0.97
    assert sap["factors_used"] == [0, 1, 2, 3] and sap["sap"] > 0.97


def test_factor_vae_prunes_collapsed_dimensions(factors, representations):
    """A dimension whose standard deviation is under the threshold (0.05) takes no vote; a
    representation with no dimension left scores 0."""
    rng = np.random.default_rng(5)
    z = np.concatenate([representations["perfect"], rng.normal(0, 0.01, (N, 1))], axis=1)  # one collapsed dim
    kept = dm.factor_vae_score(z, factors, rng=np.random.default_rng(0), num_train=500, num_eval=300, num_variance=1000)
    assert kept["active_dims"] == len(SIZES) and kept["eval_accuracy"] > 0.97
    assert all(row[-1] == 0 for row in kept["votes"])  # the collapsed dimension never voted
    collapsed = dm.factor_vae_score(
        rng.normal(0, 0.01, (N, 3)), factors, rng=np.random.default_rng(0), num_train=50, num_eval=50
    )
    assert (collapsed["active_dims"], collapsed["eval_accuracy"]) == (0, 0.0)


def test_with_one_code_dimension_the_gap_is_the_top_score(factors, representations):
    z = representations["perfect"][:, :1]  # codes only factor 0
    out = dm.mig(z, factors)
    assert out["per_factor"][0] > 0.97  # no second dimension: nothing is subtracted
    assert max(out["per_factor"][1:]) < 0.02  # the other factors are independent of it
