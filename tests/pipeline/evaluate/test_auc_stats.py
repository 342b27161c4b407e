"""AUC uncertainty: Hanley-McNeil against the bootstrap, weighted AUCs against sklearn, and
the paired difference of two methods."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pipeline.evaluate.auc_stats import auc_standard_error, paired_auc_difference, weighted_aucs
from pipeline.evaluate.metrics import evaluate


def _frames(scores: np.ndarray, targets: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = [f"{i:010x}" for i in range(len(targets))]
    return (pd.DataFrame({"id": ids, "target": scores}),
            pd.DataFrame({"id": ids, "target": targets}))


def _two_gaussians(n: int = 2000, separation: float = 1.466, seed: int = 4):
    """Balanced 0/1 targets and scores N(separation * target, 1): AUC about 0.85."""
    rng = np.random.default_rng(seed)
    targets = np.r_[np.zeros(n // 2, int), np.ones(n - n // 2, int)]
    return targets, rng.normal(size=n) + separation * targets, rng


def _sklearn_bootstrap(targets, *scores, n_boot: int, seed: int) -> np.ndarray:
    """AUC differences (or AUCs, for one score) ``(n_boot,)`` by resampling with roc_auc_score."""
    rng, out = np.random.default_rng(seed), []
    for _ in range(n_boot):
        i = rng.integers(0, len(targets), len(targets))
        aucs = [roc_auc_score(targets[i], s[i]) for s in scores]
        out.append(aucs[0] - aucs[1] if len(aucs) == 2 else aucs[0])
    return np.array(out)


def test_auc_standard_error_agrees_with_the_bootstrap() -> None:
    targets, scores, _ = _two_gaussians()
    auc = roc_auc_score(targets, scores)
    assert 0.83 < auc < 0.87
    se = auc_standard_error(targets, scores)
    boot = _sklearn_bootstrap(targets, scores, n_boot=400, seed=1).std(ddof=1)
    assert se == pytest.approx(boot, rel=0.15)
    assert 0.005 < se < 0.015  # about 0.0085 for 1000 + 1000 samples at AUC 0.85
    preds, labels = _frames(scores, targets)
    method = evaluate({"m": preds}, labels)["methods"]["m"]
    assert method["auc_se"] == pytest.approx(se, rel=1e-12)
    with pytest.raises(ValueError, match="single class"):
        auc_standard_error(np.zeros(5), np.arange(5.0))


def test_weighted_aucs_match_sklearn_sample_weights() -> None:
    rng = np.random.default_rng(2)
    targets = rng.integers(0, 2, 300)
    scores = np.round(rng.normal(size=300) + targets, 1)  # ties
    weights = rng.integers(0, 3, (4, 300)).astype(float)
    expected = [roc_auc_score(targets, scores, sample_weight=w) for w in weights]
    assert weighted_aucs(targets, scores, weights) == pytest.approx(expected, abs=1e-12)
    one_class = np.where(targets == 1, 0.0, 1.0)[None]
    assert np.isnan(weighted_aucs(targets, scores, one_class)).all()


def test_paired_auc_difference() -> None:
    targets, good, rng = _two_gaussians()
    assert paired_auc_difference(targets, good, good) == (0.0, 0.0)
    worse = good + rng.normal(size=len(good))  # the same information plus noise
    diff, se = paired_auc_difference(targets, good, worse, n_boot=400, seed=3)
    assert diff == pytest.approx(roc_auc_score(targets, good) - roc_auc_score(targets, worse))
    assert diff > 3 * se > 0
    boot = _sklearn_bootstrap(targets, good, worse, n_boot=400, seed=7).std(ddof=1)
    assert se == pytest.approx(boot, rel=0.15)
    # Pairing removes the shared variation: well below the unpaired error of the difference.
    unpaired = np.hypot(auc_standard_error(targets, good), auc_standard_error(targets, worse))
    assert se < 0.8 * unpaired
    assert paired_auc_difference(targets, good, worse, n_boot=400, seed=3) == (diff, se)
    # Resamples without a signal are skipped, not fatal.
    tiny = paired_auc_difference(np.array([0, 0, 0, 0, 1]), np.arange(5.0), -np.arange(5.0),
                                 n_boot=200)
    assert tiny[0] == 1.0 and np.isfinite(tiny[1])
    with pytest.raises(ValueError, match="lengths differ"):
        paired_auc_difference(targets, good, worse[:-1])
