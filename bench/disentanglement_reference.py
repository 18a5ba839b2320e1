"""The golden numbers of tests/test_disentanglement_golden.py, from disentanglement_lib itself.

Runs disentanglement_lib's own metric code (Locatello et al. 2019; its files
``evaluation/metrics/{utils,mig,dci,sap_score,factor_vae}.py``, unchanged) on the seeded inputs
the test builds, and prints the expected values to paste into the test. Its gin and absl imports
are stubbed (only their decorators and logging are used), and gin's study configuration is passed
as arguments: 20 histogram bins for MIG, ``continuous_factors=False`` for SAP, and for FactorVAE
batches of 64, 10,000 training and 5,000 evaluation votes, 10,000 points for the variances and a
pruning threshold of 0.05. The FactorVAE score samples, so it runs with several random states and
prints their mean and spread.

    git clone <disentanglement_lib> /tmp/disentanglement_lib
    python bench/disentanglement_reference.py /tmp/disentanglement_lib/disentanglement_lib/evaluation/metrics
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _stub_modules() -> None:
    """gin (its decorators as no-ops), absl.logging and six.moves.range, which the metric files import."""
    gin = types.ModuleType("gin")
    gin.REQUIRED = object()
    gin.configurable = lambda *args, **kwargs: (lambda f: f)
    gin.tf = gin
    absl = types.ModuleType("absl")
    absl.logging = types.SimpleNamespace(info=lambda *a, **k: None)
    six = types.ModuleType("six")
    six.moves = types.SimpleNamespace(range=range)
    sys.modules.update({"gin": gin, "gin.tf": gin, "absl": absl, "absl.logging": absl.logging,
                        "six": six, "six.moves": six.moves})


def _load_reference(folder: Path) -> dict[str, types.ModuleType]:
    _stub_modules()
    package = "disentanglement_lib.evaluation.metrics"
    for name in ("disentanglement_lib", "disentanglement_lib.evaluation", package):
        sys.modules.setdefault(name, types.ModuleType(name))
    modules = {}
    for name in ("utils", "mig", "dci", "sap_score", "factor_vae"):
        spec = importlib.util.spec_from_file_location(f"{package}.{name}", folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[f"{package}.{name}"] = module
        setattr(sys.modules[package], name, module)
        spec.loader.exec_module(module)
        modules[name] = module
    # gin binds the study's discretizer: equal-width histograms with 20 bins.
    utils = modules["utils"]
    utils.make_discretizer = lambda target: utils._histogram_discretize(target, num_bins=20)
    # ... and FactorVAE's pruning threshold: 0.05.
    prune = modules["factor_vae"]._prune_dims
    modules["factor_vae"]._prune_dims = lambda variances: prune(variances, threshold=0.05)
    return modules


class GridData:
    """disentanglement_lib's GroundTruthData over the golden grid: factors drawn uniformly, and an
    observation is the index of the grid's row with those factors (the representation function
    looks its code up, fixed noise included)."""

    def __init__(self, sizes: tuple[int, ...]):
        self.sizes = sizes
        self.num_factors = len(sizes)

    def sample_factors(self, num, random_state):
        return np.stack([random_state.randint(s, size=num) for s in self.sizes], axis=1)

    def sample_observations_from_factors(self, factors, random_state):
        return np.ravel_multi_index(factors.T, self.sizes)  # the grid is in C order

    def sample_observations(self, num, random_state):
        return self.sample_observations_from_factors(self.sample_factors(num, random_state), random_state)


def factor_vae_reference(module: types.ModuleType, codes: np.ndarray, sizes: tuple[int, ...], seeds: range) -> list[float]:
    data = GridData(sizes)
    return [
        module.compute_factor_vae(data, lambda rows: codes[rows], np.random.RandomState(seed), None,
                                  batch_size=64, num_train=10000, num_eval=5000, num_variance_estimate=10000)["eval_accuracy"]
        for seed in seeds
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("metrics_folder", type=Path, help="disentanglement_lib/evaluation/metrics of a checkout")
    args = parser.parse_args()
    ref = _load_reference(args.metrics_folder)
    sys.path.insert(0, str(REPO / "tests"))
    from test_disentanglement_golden import REPRESENTATIONS, SIZES, golden_inputs, grid_inputs

    print("EXPECTED = {")
    for name in REPRESENTATIONS:
        (z_tr, y_tr), (z_te, y_te) = golden_inputs(name)
        # disentanglement_lib takes [dims, points].
        mig = ref["mig"]._compute_mig(z_tr.T, y_tr.T)["discrete_mig"]
        dci = ref["dci"]._compute_dci(z_tr.T, y_tr.T, z_te.T, y_te.T)
        sap = ref["sap_score"]._compute_sap(z_tr.T, y_tr.T, z_te.T, y_te.T, continuous_factors=False)["SAP_score"]
        sap_continuous = ref["sap_score"]._compute_sap(z_tr.T, y_tr.T, z_te.T, y_te.T, continuous_factors=True)["SAP_score"]
        values = {"mig": mig, "dci_disentanglement": dci["disentanglement"], "dci_completeness": dci["completeness"],
                  "dci_informativeness_train": dci["informativeness_train"],
                  "dci_informativeness_test": dci["informativeness_test"], "sap": sap, "sap_continuous": sap_continuous}
        print(f"    {name!r}: {{" + ", ".join(f"{k!r}: {float(v):.4f}" for k, v in values.items()) + "},")
    print("}")
    print("EXPECTED_FACTOR_VAE = {  # the mean of random states 0-9; (min, max) in the comment")
    for name in REPRESENTATIONS:
        codes, _ = grid_inputs(name)
        scores = factor_vae_reference(ref["factor_vae"], codes, SIZES, range(10))
        print(f"    {name!r}: {np.mean(scores):.4f},  # {min(scores):.4f} - {max(scores):.4f}")
    print("}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
