"""Disentanglement metrics as pure functions: a representation ``codes [n, d]`` (floats, one row
per image) and the ground-truth ``factors [n, F]`` (integer value indices) in, numbers out.
Randomness only from an explicit ``numpy.random.Generator``.

- :func:`mig` -- Mutual Information Gap (Chen et al. 2018): per factor, the gap between the two
  code dimensions sharing most information with it (codes discretised into 20-bin histograms),
  over the factor's entropy, averaged over factors.
- :func:`dci` -- Disentanglement, Completeness, Informativeness (Eastwood & Williams 2018): a
  predictor per factor gives an importance matrix R [d, F]; disentanglement weighs each code's
  1 - entropy (base F) of its row, completeness each factor's 1 - entropy (base d) of its column;
  informativeness is the predictors' accuracy.
- :func:`sap` -- Separated Attribute Predictability (Kumar et al. 2018): per factor, the gap between
  the two code dimensions that predict it best (R^2 of a linear fit, or a 1-d classifier's accuracy).
- :func:`factor_vae_score` -- FactorVAE metric (Kim & Mnih 2018): batches with one factor fixed;
  the code dimension of least normalised variance votes for that factor; the score is the
  accuracy of the majority-vote classifier from dimensions to factors.

The defaults are those of the reference study, disentanglement_lib (Locatello et al. 2019): 20 bins
for MIG; DCI's gradient-boosted *classifier* per factor (``predictor="gbt_classifier"``); SAP's
discrete variant (``continuous=False``); FactorVAE batches of 64 and a 0.05 pruning threshold.
tests/test_disentanglement_golden.py holds them to disentanglement_lib's own numbers. Faster
variants are one argument away and report their name: DCI with ``"gbt_regressor"`` (regression
trees on the factor's value index, rounded: about 20x less CPU on dSprites, but disentanglement
and completeness up to 0.5 higher on noisy codes) or ``"lasso"`` (Eastwood & Williams' linear
predictor), and SAP with ``continuous=True``. Their numbers are not comparable with the study's.

Scale: a representation equal to the factors scores 1 on MIG (when every factor has at most
``bins`` values), DCI disentanglement/completeness, the continuous SAP and FactorVAE. The discrete
SAP (the default) stays below 1 even then: a linear classifier on one code cannot cut a middle
value out of a factor's range, so its accuracy, and the gap, shrink as the factor has more values.
A representation independent of the factors scores about 0 on MIG, DCI and SAP, and about 1/F on
FactorVAE (its chance level: the majority vote guesses among F factors). Permuting the code
dimensions changes none of them. Factors that are constant in the data carry no information and
are left out. docs/metrics.md lists each of these claims with the test that holds it.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from scipy import stats
from sklearn.metrics import mutual_info_score

Predictor = Literal["gbt_classifier", "gbt_regressor", "lasso"]


def _as_arrays(codes: Any, factors: Any) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(codes, dtype=np.float64)
    y = np.asarray(factors)
    if z.ndim == 1:
        z = z[:, None]
    if y.ndim == 1:
        y = y[:, None]
    if z.ndim != 2 or y.ndim != 2 or len(z) != len(y):
        raise ValueError(f"codes must be [n, d] and factors [n, F] with the same n, got {z.shape} and {y.shape}")
    if y.dtype.kind not in "iub":
        raise ValueError(f"factors must be integer value indices, got {y.dtype}")
    if not np.isfinite(z).all():
        raise ValueError("codes hold non-finite values")
    return z, y.astype(np.int64)


def varying_factors(factors: Any) -> np.ndarray:
    """Indices of the factor columns that take at least two values."""
    y = np.asarray(factors)
    y = y[:, None] if y.ndim == 1 else y
    return np.array([j for j in range(y.shape[1]) if len(np.unique(y[:, j])) > 1], dtype=np.int64)


def histogram_discretize(codes: Any, bins: int = 20) -> np.ndarray:
    """Each code dimension cut into ``bins`` equal-width bins over its range, int64 ``[n, d]``."""
    z = np.asarray(codes, dtype=np.float64)
    z = z[:, None] if z.ndim == 1 else z
    out = np.empty(z.shape, dtype=np.int64)
    for j in range(z.shape[1]):
        edges = np.histogram(z[:, j], bins)[1][:-1]
        out[:, j] = np.digitize(z[:, j], edges)
    return out


def _top_two_gap(matrix: np.ndarray) -> np.ndarray:
    """Per column, the largest entry minus the second largest (the largest when there is one row)."""
    ranked = np.sort(matrix, axis=0)[::-1]
    second = ranked[1] if len(ranked) > 1 else np.zeros(matrix.shape[1])
    return ranked[0] - second


def mig(codes: Any, factors: Any, *, bins: int = 20) -> dict[str, Any]:
    """Mutual Information Gap. Returns ``{"mig", "per_factor", "mutual_information" [d, F'],
    "factors_used", "points"}``; ``per_factor`` and the matrix cover the varying factors only."""
    z, y = _as_arrays(codes, factors)
    used = varying_factors(y)
    if len(used) == 0:
        raise ValueError("every factor is constant; MIG needs a factor that varies")
    binned = histogram_discretize(z, bins)
    m = np.array([[mutual_info_score(y[:, k], binned[:, j]) for k in used] for j in range(z.shape[1])])
    entropy = np.array([mutual_info_score(y[:, k], y[:, k]) for k in used])
    per_factor = _top_two_gap(m) / entropy
    return {
        "mig": float(per_factor.mean()),
        "per_factor": per_factor.tolist(),
        "mutual_information": m.tolist(),
        "factors_used": used.tolist(),
        "points": len(z),
        "bins": bins,
    }


def _entropy_complement(p: np.ndarray, base: int) -> np.ndarray:
    """1 - entropy (in ``base``) of each column of non-negative weights (1 when base < 2)."""
    if base < 2:
        return np.ones(p.shape[1])
    return 1.0 - stats.entropy(p + 1e-11, base=base)


def importance_scores(importance: np.ndarray) -> tuple[float, float]:
    """DCI's disentanglement and completeness of an importance matrix ``[d, F]`` (non-negative)."""
    r = np.abs(np.asarray(importance, dtype=np.float64))
    d, f = r.shape
    weights = r if r.sum() > 0 else np.ones_like(r)
    per_code = _entropy_complement(r.T, f)  # each code's distribution over factors
    per_factor = _entropy_complement(r, d)  # each factor's distribution over codes
    code_weight = weights.sum(axis=1) / weights.sum()
    factor_weight = weights.sum(axis=0) / weights.sum()
    return float(np.sum(per_code * code_weight)), float(np.sum(per_factor * factor_weight))


def _fit_predictor(kind: Predictor, z_train: np.ndarray, y_train: np.ndarray, seed: int, lasso_alpha: float):
    """(importances [d], predict(z) -> factor indices) of one factor's predictor."""
    top = int(y_train.max())
    if kind == "gbt_regressor":
        from sklearn.ensemble import GradientBoostingRegressor

        model = GradientBoostingRegressor(random_state=seed).fit(z_train, y_train)
        return model.feature_importances_, lambda z: np.clip(np.rint(model.predict(z)), 0, top).astype(np.int64)
    if kind == "gbt_classifier":
        from sklearn.ensemble import GradientBoostingClassifier

        model = GradientBoostingClassifier(random_state=seed).fit(z_train, y_train)
        return model.feature_importances_, model.predict
    if kind == "lasso":
        from sklearn.linear_model import Lasso

        mean, std = z_train.mean(0), z_train.std(0)
        std = np.where(std > 1e-12, std, 1.0)
        y_mean, y_std = y_train.mean(), max(float(y_train.std()), 1e-12)
        model = Lasso(alpha=lasso_alpha, random_state=seed).fit((z_train - mean) / std, (y_train - y_mean) / y_std)

        def predict(z: np.ndarray) -> np.ndarray:
            raw = model.predict((z - mean) / std) * y_std + y_mean
            return np.clip(np.rint(raw), 0, top).astype(np.int64)

        return np.abs(model.coef_), predict
    raise ValueError(f"unknown DCI predictor {kind!r}; use gbt_classifier, gbt_regressor or lasso")


def dci(
    codes_train: Any,
    factors_train: Any,
    codes_test: Any,
    factors_test: Any,
    *,
    rng: np.random.Generator,
    predictor: Predictor = "gbt_classifier",
    lasso_alpha: float = 0.02,
) -> dict[str, Any]:
    """DCI from one predictor per factor fitted on the training points. Informativeness is the
    predictors' mean accuracy at naming the factor's value index (regressions rounded to the
    nearest index). Returns ``{"disentanglement", "completeness", "informativeness_train",
    "informativeness_test", "importance" [d, F'], "factors_used", "train_points", "test_points",
    "predictor"}``."""
    z_tr, y_tr = _as_arrays(codes_train, factors_train)
    z_te, y_te = _as_arrays(codes_test, factors_test)
    if z_tr.shape[1] != z_te.shape[1] or y_tr.shape[1] != y_te.shape[1]:
        raise ValueError("the training and test points differ in width")
    used = varying_factors(y_tr)
    if len(used) == 0:
        raise ValueError("every factor is constant; DCI needs a factor that varies")
    seeds = rng.integers(0, 2**31 - 1, size=len(used))
    importance = np.zeros((z_tr.shape[1], len(used)))
    acc_train, acc_test = [], []
    for i, k in enumerate(used):
        weights, predict = _fit_predictor(predictor, z_tr, y_tr[:, k], int(seeds[i]), lasso_alpha)
        importance[:, i] = np.abs(weights)
        acc_train.append(float(np.mean(predict(z_tr) == y_tr[:, k])))
        acc_test.append(float(np.mean(predict(z_te) == y_te[:, k])))
    d_score, c_score = importance_scores(importance)
    return {
        "disentanglement": d_score,
        "completeness": c_score,
        "informativeness_train": float(np.mean(acc_train)),
        "informativeness_test": float(np.mean(acc_test)),
        "importance": importance.tolist(),
        "factors_used": used.tolist(),
        "train_points": len(z_tr),
        "test_points": len(z_te),
        "predictor": predictor,
    }


def sap(
    codes_train: Any, factors_train: Any, codes_test: Any = None, factors_test: Any = None, *, continuous: bool = False
) -> dict[str, Any]:
    """SAP score. By default the reference study's discrete variant: the score of code j for
    factor k is the accuracy on the test points of a linear SVM on that one code dimension
    (``C=0.01``, balanced classes) fitted on the training points. ``continuous=True`` (genfw's fast
    variant, disentanglement_lib's other mode): the R^2 of a linear fit (squared correlation) on the
    training points, so a code equal to a factor scores 1. Returns ``{"sap", "per_factor", "scores" [d, F'], "factors_used", "points", "continuous"}``."""
    z, y = _as_arrays(codes_train, factors_train)
    used = varying_factors(y)
    if len(used) == 0:
        raise ValueError("every factor is constant; SAP needs a factor that varies")
    scores = np.zeros((z.shape[1], len(used)))
    if continuous:
        for j in range(z.shape[1]):
            for i, k in enumerate(used):
                cov = np.cov(z[:, j], y[:, k], ddof=1)
                if cov[0, 0] > 1e-12 and cov[1, 1] > 0:
                    scores[j, i] = cov[0, 1] ** 2 / (cov[0, 0] * cov[1, 1])
        points = len(z)
    else:
        from sklearn.svm import LinearSVC

        if codes_test is None or factors_test is None:
            raise ValueError("the discrete SAP score needs test points")
        z_te, y_te = _as_arrays(codes_test, factors_test)
        for j in range(z.shape[1]):
            for i, k in enumerate(used):
                clf = LinearSVC(C=0.01, class_weight="balanced").fit(z[:, j : j + 1], y[:, k])
                scores[j, i] = float(np.mean(clf.predict(z_te[:, j : j + 1]) == y_te[:, k]))
        points = len(z) + len(z_te)
    per_factor = _top_two_gap(scores)
    return {
        "sap": float(per_factor.mean()),
        "per_factor": per_factor.tolist(),
        "scores": scores.tolist(),
        "factors_used": used.tolist(),
        "points": int(points),
        "continuous": continuous,
    }


def fixed_factor_batches(
    factors: Any, n: int, batch_size: int, rng: np.random.Generator, used: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` batches of row indices into ``factors``, each with one factor fixed: ``(fixed factor
    per batch [n], rows [n, batch_size])``. As in the FactorVAE metric: a factor is drawn uniformly
    (among ``used``), its value is that of a uniformly drawn row, and the batch is drawn uniformly
    (with replacement) from the rows sharing that value, so the other factors vary as they do in
    the data. The rows are the fixed-factor batches a generator of ground-truth data would render."""
    y = np.asarray(factors)
    y = y[:, None] if y.ndim == 1 else y
    used = varying_factors(y) if used is None else np.asarray(used)
    groups = {}
    for k in used:
        order = np.argsort(y[:, k], kind="stable")
        values, starts = np.unique(y[order, k], return_index=True)
        ends = np.append(starts[1:], len(order))
        groups[int(k)] = (order, {int(v): (int(s), int(e)) for v, s, e in zip(values, starts, ends)})
    fixed = used[rng.integers(0, len(used), size=n)]
    anchors = rng.integers(0, len(y), size=n)
    rows = np.empty((n, batch_size), dtype=np.int64)
    draws = rng.random((n, batch_size))
    for b in range(n):
        order, spans = groups[int(fixed[b])]
        s, e = spans[int(y[anchors[b], fixed[b]])]
        rows[b] = order[s + (draws[b] * (e - s)).astype(np.int64)]
    return fixed, rows


def factor_vae_score(
    codes: Any,
    factors: Any,
    *,
    rng: np.random.Generator,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance: int = 10000,
    prune_threshold: float = 0.05,
) -> dict[str, Any]:
    """The FactorVAE metric on a pool of ``codes`` with their ``factors``: fixed-factor batches
    are drawn from the pool (:func:`fixed_factor_batches`), so the pool should cover each factor's
    values with many rows (a held-out split of a full factor grid does). Dimensions whose standard
    deviation over ``num_variance`` rows is below ``prune_threshold`` are left out; each batch
    votes (fixed factor, dimension of least variance / global variance); the majority vote of each
    dimension is the classifier. Returns ``{"eval_accuracy", "train_accuracy", "active_dims",
    "votes" [F', d], "factors_used", "batch_size", "num_train", "num_eval", "num_variance"}``."""
    z, y = _as_arrays(codes, factors)
    used = varying_factors(y)
    if len(used) == 0:
        raise ValueError("every factor is constant; the FactorVAE score needs a factor that varies")
    pick = rng.choice(len(z), size=min(num_variance, len(z)), replace=False)
    global_var = np.var(z[pick], axis=0, ddof=1)
    active = np.flatnonzero(np.sqrt(global_var) >= prune_threshold)
    base = {
        "factors_used": used.tolist(),
        "batch_size": batch_size,
        "num_train": num_train,
        "num_eval": num_eval,
        "num_variance": len(pick),
        "prune_threshold": prune_threshold,
    }
    if len(active) == 0:
        return {"eval_accuracy": 0.0, "train_accuracy": 0.0, "active_dims": 0, "votes": [], **base}
    column = {int(k): i for i, k in enumerate(used)}

    def votes(n: int) -> np.ndarray:
        out = np.zeros((len(used), z.shape[1]), dtype=np.int64)
        fixed, rows = fixed_factor_batches(y, n, batch_size, rng, used)
        for s in range(0, n, 1000):
            batch = z[rows[s : s + 1000]][:, :, active]  # [b, batch_size, active]
            local = np.var(batch, axis=1, ddof=1) / global_var[active]
            dims = active[np.argmin(local, axis=1)]
            np.add.at(out, ([column[int(k)] for k in fixed[s : s + 1000]], dims), 1)
        return out

    train_votes = votes(num_train)
    classifier = np.argmax(train_votes, axis=0)  # each dimension's factor
    cols = np.arange(z.shape[1])
    train_acc = train_votes[classifier, cols].sum() / max(train_votes.sum(), 1)
    eval_votes = votes(num_eval)
    eval_acc = eval_votes[classifier, cols].sum() / max(eval_votes.sum(), 1)
    return {
        "eval_accuracy": float(eval_acc),
        "train_accuracy": float(train_acc),
        "active_dims": len(active),
        "votes": train_votes.tolist(),
        **base,
    }
