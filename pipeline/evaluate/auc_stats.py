"""Uncertainty of ROC AUC figures: is one model really better than another on this test set?

- ``hanley_mcneil_se``: the standard error of one AUC from the AUC and the class counts
  (Hanley & McNeil 1982), close to the bootstrap's and free.
- ``paired_auc_difference``: the difference of two methods' AUCs on the same samples and its
  standard deviation over paired bootstrap resamples; pairing cancels the variation the two
  share, so differences far below either AUC's own error can be resolved.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import roc_auc_score

BOOTSTRAP_CHUNK = 2_000_000  # resamples x samples held in memory at once by the bootstrap


def hanley_mcneil_se(auc: float, n_pos: int, n_neg: int) -> float:
    """Standard error of an ROC AUC measured on ``n_pos`` signal and ``n_neg`` noise samples,
    by Hanley & McNeil (1982): cheap, needs no scores, and close to the bootstrap."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) \
        / (n_pos * n_neg)
    return math.sqrt(max(var, 0.0))  # var is 0 at AUC 1 up to rounding


def auc_standard_error(targets: np.ndarray, scores: np.ndarray) -> float:
    """Hanley-McNeil standard error of the ROC AUC of ``scores`` ``(N,)`` for 0/1 ``targets``."""
    targets = np.asarray(targets)
    n_pos, n_neg = int((targets == 1).sum()), int((targets == 0).sum())
    if not n_pos or not n_neg:
        raise ValueError("targets hold a single class; ROC AUC is undefined")
    return hanley_mcneil_se(float(roc_auc_score(targets, scores)), n_pos, n_neg)


def weighted_aucs(targets: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC ``(B,)`` of ``scores`` ``(N,)`` under each row of sample weights ``(B, N)``
    (bootstrap multiplicities), ties counting one half as in ``roc_auc_score``; NaN for a row
    that weighs one class only. One sort serves every row."""
    order = np.argsort(scores, kind="stable")
    ranked, w, pos = scores[order], weights[:, order], targets[order] == 1
    noise_below = np.zeros((len(w), len(ranked) + 1))  # (B, N+1): noise weight of the first k
    np.cumsum(w * ~pos, axis=1, out=noise_below[:, 1:])
    low = np.searchsorted(ranked, ranked[pos], "left")  # first sample tied with each signal
    high = np.searchsorted(ranked, ranked[pos], "right")
    beaten = (noise_below[:, low] + noise_below[:, high]) / 2  # (B, P): noise below, ties half
    pairs = w[:, pos].sum(axis=1) * noise_below[:, -1]
    return (w[:, pos] * beaten).sum(axis=1) / np.where(pairs > 0, pairs, np.nan)


def paired_auc_difference(targets: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray,
                          n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    """AUC of ``scores_a`` minus AUC of ``scores_b`` (both ``(N,)``, same samples), and the
    standard deviation of that difference over ``n_boot`` bootstrap resamples of the samples.

    Each resample scores both methods on the same samples, so the variation they share cancels
    and the error is well below either AUC's own. Resamples holding one class are skipped.
    """
    targets = np.asarray(targets)
    a, b = np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)
    if not len(targets) == len(a) == len(b):
        raise ValueError(f"lengths differ: {len(targets)} targets, {len(a)} and {len(b)} scores")
    if len(np.unique(targets)) < 2:
        raise ValueError("targets hold a single class; ROC AUC is undefined")
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2, got {n_boot}")
    difference = float(roc_auc_score(targets, a) - roc_auc_score(targets, b))
    rng, n = np.random.default_rng(seed), len(targets)
    chunk, diffs = max(1, BOOTSTRAP_CHUNK // n), []
    for start in range(0, n_boot, chunk):
        rows = min(chunk, n_boot - start)
        picks = rng.integers(0, n, (rows, n)) + n * np.arange(rows)[:, None]
        counts = np.bincount(picks.ravel(), minlength=rows * n).reshape(rows, n).astype(float)
        diffs.append(weighted_aucs(targets, a, counts) - weighted_aucs(targets, b, counts))
    kept = np.concatenate(diffs)
    kept = kept[np.isfinite(kept)]
    return difference, float(np.std(kept, ddof=1)) if len(kept) > 1 else math.nan
