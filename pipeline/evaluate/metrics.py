"""Scoring of predictions against labels: ROC AUC, TPR at fixed FPR and detection efficiency.

ROC AUC is the G2Net metric. A detector is only useful at a low false-alarm rate, so the report
also gives the true-positive rate at FPRs 1e-1, 1e-2 and 1e-3 and, when the simulator's
``injections.csv`` is given, the detection efficiency as a function of the network optimal SNR.

Definitions (all per method):

- Threshold at FPR ``f``: with ``n`` noise samples, ``k = floor(f * n)`` false alarms are allowed,
  and the threshold is the ``(k+1)``-th largest noise score (the empirical ``1 - f`` quantile);
  a sample is detected when its score is strictly above it. This is the ROC point of largest
  false-positive rate not above ``f``. A rate is claimed only with at least
  ``min_noise_per_fpr / f`` noise samples (default 10 false alarms' worth); otherwise it is
  reported as null with the reason.
- Efficiency: the fraction of signal samples detected per bin of ``snr_network``, with a
  binomial (Wilson) confidence interval. When the requested FPR cannot be claimed, the smallest
  claimable FPR, ``min_noise_per_fpr / n_noise``, is used instead, with a warning.
- SNR at 50% / 90% efficiency: the first crossing of the level by the curve through the
  (non-empty) bin centres, linearly interpolated; if the first bin is already above the level,
  its centre is given (an upper bound); null if never reached.
- Efficiency at SNR 8 / 12: the same piecewise-linear curve evaluated there; null outside the
  range of non-empty bin centres.
- AUC standard error (``auc_se``): the closed form of Hanley & McNeil (1982) from the AUC and
  the numbers of signal and noise samples (``pipeline.evaluate.auc_stats``, which also compares two
  methods on the same samples by a paired bootstrap).
- Noise conditions (when ``injections.csv`` records them): ``clean`` / ``glitch`` samples
  (``n_glitches`` 0 or more) and ``quiet`` / ``loud`` samples (geometric mean of
  ``psd_scale_<det>`` below 1, or not). One threshold serves every condition: the one at
  ``fpr`` (or the smallest claimable FPR) on clean noise, or on all noise without glitch
  columns. Per condition: the false-positive rate of its noise samples at that threshold
  (with a Wilson interval) and the efficiency curve of its signal samples.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from sklearn.metrics import roc_auc_score, roc_curve

from pipeline.evaluate.auc_stats import hanley_mcneil_se
from pipeline.evaluate.config import EvaluateConfig
from pipeline.evaluate.plots import plot_efficiency, plot_roc
from preprocess.layout import read_csv
from runtime.outputs import claim_dir
from runtime.provenance import library_versions, write_json_atomic

log = logging.getLogger(__name__)

MAX_ROC_POINTS = 2000  # ROC points kept per method in the report (log-spaced in FPR beyond this)


def read_predictions(path: str | Path) -> pd.DataFrame:
    """A submission-format CSV (``id,target``), checked for columns; ``target`` is the score.

    When the file has a ``logit`` column (``pipeline predict`` writes one), that is the score:
    it keeps the order of predictions whose probabilities round to 1.0.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: predictions file missing")
    frame = read_csv(path, dtype={"id": str})
    if {"id", "target"} - set(frame.columns):
        raise ValueError(f"{path}: expected columns id,target, found {list(frame.columns)}")
    score = "logit" if "logit" in frame.columns else "target"
    if score == "logit":
        check_logit_agrees(frame, path)
    return pd.DataFrame({"id": frame["id"], "target": frame[score]})


def check_logit_agrees(frame: pd.DataFrame, path: Path) -> None:
    """Refuse a file whose ``target`` and ``logit`` columns rank the samples differently.

    ``pipeline predict`` writes ``target = sigmoid(logit)``, so sorted by logit the targets
    never decrease (float64 rounding only makes ties). A file in which one column was edited
    (targets inverted, say) would be scored by the other without a word.
    """
    logits = pd.to_numeric(frame["logit"], errors="coerce").to_numpy(dtype=float)
    targets = pd.to_numeric(frame["target"], errors="coerce").to_numpy(dtype=float)
    finite = np.isfinite(logits) & np.isfinite(targets)
    order = np.argsort(logits[finite], kind="stable")
    steps = np.diff(targets[finite][order])
    inverted = np.flatnonzero(steps < -1e-12)  # 1e-12: far above float64 rounding of p
    if len(inverted):
        ids = frame["id"].to_numpy()[finite][order]
        a, b = ids[inverted[0]], ids[inverted[0] + 1]
        raise ValueError(f"{path}: its target and logit columns disagree in order ({len(inverted)}"
                         f" adjacent pair(s), first ids {a!r} and {b!r}): one column was edited; "
                         "keep only the column you mean to score (target, or logit)")


def align_scores(name: str, predictions: pd.DataFrame, ids: pd.Series) -> np.ndarray:
    """Scores ``(N,)`` in the order of ``ids``; refuses missing ids, duplicates and NaN."""
    if predictions["id"].duplicated().any():
        dup = predictions["id"][predictions["id"].duplicated()].iloc[0]
        raise ValueError(f"{name}: duplicate id {dup!r}")
    scores = pd.to_numeric(predictions["target"], errors="coerce")
    bad = ~np.isfinite(scores.to_numpy(dtype=float))
    if bad.any():
        raise ValueError(
            f"{name}: {int(bad.sum())} score(s) are NaN or not numbers, "
            f"first at id {predictions['id'][bad].iloc[0]!r}"
        )
    by_id = pd.Series(scores.to_numpy(dtype=float), index=predictions["id"].astype(str))
    missing = ~ids.isin(by_id.index)
    if missing.any():
        raise ValueError(
            f"{name}: {int(missing.sum())} id(s) of the labels have no prediction, "
            f"first {ids[missing].iloc[0]!r}"
        )
    extra = len(by_id) - int((~missing).sum())
    if extra:
        log.warning("%s: %d prediction(s) for ids not in the labels are ignored", name, extra)
    return by_id.loc[ids.to_numpy()].to_numpy()


def fpr_threshold(noise_scores: np.ndarray, fpr: float) -> float:
    """Score threshold of false-positive rate at most ``fpr``: detected means ``score > it``."""
    k = math.floor(fpr * len(noise_scores) + 1e-9)  # allowed false alarms
    ordered = np.sort(noise_scores)[::-1]
    return float(ordered[min(k, len(ordered) - 1)])


def tpr_at_fpr(
    scores: np.ndarray, targets: np.ndarray, fpr: float, min_noise_per_fpr: float
) -> dict[str, Any]:
    """TPR at one FPR with its threshold and noise count; null with a reason if not claimable."""
    noise = scores[targets == 0]
    entry: dict[str, Any] = {"fpr": fpr, "n_noise": int(len(noise))}
    needed = math.ceil(min_noise_per_fpr / fpr - 1e-9)
    if len(noise) < needed:
        reason = f"only {len(noise)} noise samples; FPR {fpr:g} needs at least {needed}"
        return entry | {"tpr": None, "threshold": None, "reason": reason}
    threshold = fpr_threshold(noise, fpr)
    tpr = float(np.mean(scores[targets == 1] > threshold))
    return entry | {"tpr": tpr, "threshold": threshold, "reason": None}


def roc_points(scores: np.ndarray, targets: np.ndarray) -> dict[str, list[float]]:
    """The ROC curve as lists ``fpr``, ``tpr`` (thinned to about ``MAX_ROC_POINTS``)."""
    fpr, tpr, _ = roc_curve(targets, scores)
    if len(fpr) > MAX_ROC_POINTS:
        grid = np.unique(np.r_[0.0, np.geomspace(max(fpr[fpr > 0].min(), 1e-8), 1, MAX_ROC_POINTS)])
        keep = np.unique(np.searchsorted(fpr, grid, side="right") - 1)
        fpr, tpr = fpr[keep], tpr[keep]
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist()}


def efficiency_curve(
    detected: np.ndarray, snr: np.ndarray, config: EvaluateConfig
) -> list[dict[str, Any]]:
    """Per SNR bin: edges, counts, efficiency and its binomial interval (signal samples only)."""
    edges = config.snr_edges()
    bins = []
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (snr >= low) & (snr < high)
        n, k = int(inside.sum()), int(detected[inside].sum())
        row: dict[str, Any] = {"snr_low": float(low), "snr_high": float(high), "n": n}
        if n:
            ci = binomtest(k, n).proportion_ci(config.confidence, method="wilson")
            row |= {"detected": k, "efficiency": k / n, "ci_low": float(ci.low),
                    "ci_high": float(ci.high)}
        else:
            row |= {"detected": 0, "efficiency": None, "ci_low": None, "ci_high": None}
        bins.append(row)
    return bins


def _curve(bins: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Bin centres and efficiencies of the non-empty bins."""
    full = [b for b in bins if b["n"]]
    centres = np.array([(b["snr_low"] + b["snr_high"]) / 2 for b in full])
    return centres, np.array([b["efficiency"] for b in full], dtype=float)


def snr_at_efficiency(bins: Sequence[Mapping[str, Any]], level: float) -> float | None:
    """SNR where the curve first reaches ``level`` (interpolated between bin centres)."""
    centres, eff = _curve(bins)
    above = np.flatnonzero(eff >= level)
    if not len(above):
        return None
    i = int(above[0])
    if i == 0:
        return float(centres[0])
    x0, x1, y0, y1 = centres[i - 1], centres[i], eff[i - 1], eff[i]
    return float(x0 + (level - y0) * (x1 - x0) / (y1 - y0))


def efficiency_at_snr(bins: Sequence[Mapping[str, Any]], snr: float) -> float | None:
    """Efficiency at ``snr`` on the piecewise-linear curve through bin centres; null outside."""
    centres, eff = _curve(bins)
    if not len(centres) or not centres[0] <= snr <= centres[-1]:
        return None
    return float(np.interp(snr, centres, eff))


def efficiency_report(
    scores: np.ndarray, targets: np.ndarray, snr: np.ndarray, config: EvaluateConfig
) -> dict[str, Any]:
    """Efficiency vs network SNR at ``config.fpr`` (or the smallest claimable FPR)."""
    noise = scores[targets == 0]
    fpr = config.fpr
    report: dict[str, Any] = {"fpr_requested": fpr, "n_noise": int(len(noise))}
    if len(noise) < config.min_noise_per_fpr / fpr - 1e-9:
        fallback = config.min_noise_per_fpr / len(noise) if len(noise) else math.inf
        if fallback >= 1:
            reason = f"only {len(noise)} noise samples: no FPR below 1 can be claimed"
            log.warning("efficiency not measured: %s", reason)
            return report | {"fpr": None, "reason": reason, "bins": []}
        log.warning(
            "only %d noise samples: efficiency at FPR %.3g instead of %.3g",
            len(noise), fallback, fpr,
        )
        fpr = fallback
    threshold = fpr_threshold(noise, fpr)
    signal = targets == 1
    bins = efficiency_curve(scores[signal] > threshold, snr[signal], config)
    return report | {
        "fpr": fpr,
        "threshold": threshold,
        "reason": None,
        "bins": bins,
        "snr_at_efficiency": {f"{lv:g}": snr_at_efficiency(bins, lv)
                              for lv in config.efficiency_levels},
        "efficiency_at_snr": {f"{s:g}": efficiency_at_snr(bins, s)
                              for s in config.efficiency_snrs},
    }


def signal_snr(labels: pd.DataFrame, injections: pd.DataFrame, source: str) -> np.ndarray:
    """``snr_network`` ``(N,)`` in label order; every signal sample must have a finite one."""
    if {"id", "snr_network"} - set(injections.columns):
        raise ValueError(f"{source}: expected columns id and snr_network")
    by_id = injections.assign(id=injections["id"].astype(str)).drop_duplicates("id").set_index("id")
    snr = by_id["snr_network"].reindex(labels["id"].to_numpy()).to_numpy(dtype=float)
    bad = (labels["target"].to_numpy() == 1) & ~np.isfinite(snr)
    if bad.any():
        raise ValueError(
            f"{source}: {int(bad.sum())} signal sample(s) without snr_network, "
            f"first {labels['id'][bad].iloc[0]!r}"
        )
    return snr


def noise_conditions(
    labels: pd.DataFrame, injections: pd.DataFrame, source: str
) -> dict[str, np.ndarray]:
    """Masks ``(N,)`` in label order of each recorded noise condition (module docstring)."""
    by_id = injections.assign(id=injections["id"].astype(str)).drop_duplicates("id").set_index("id")
    by_id = by_id.reindex(labels["id"].astype(str).to_numpy())
    masks: dict[str, np.ndarray] = {}
    if "n_glitches" in by_id.columns:
        count = by_id["n_glitches"].to_numpy(dtype=float)
        if not np.isfinite(count).all():
            raise ValueError(f"{source}: n_glitches missing for "
                             f"{int((~np.isfinite(count)).sum())} labelled sample(s)")
        masks |= {"clean": count == 0, "glitch": count > 0}
    scale_columns = [c for c in by_id.columns if c.startswith("psd_scale_")]
    if scale_columns:
        level = np.log(by_id[scale_columns].to_numpy(dtype=float)).mean(axis=1)
        if not np.isfinite(level).all():
            raise ValueError(f"{source}: psd_scale columns missing for some labelled samples")
        masks |= {"quiet": level < 0, "loud": level >= 0}
    return masks


def condition_report(
    scores: np.ndarray, targets: np.ndarray, snr: np.ndarray,
    masks: Mapping[str, np.ndarray], config: EvaluateConfig,
) -> dict[str, Any]:
    """FPR of each condition's noise and efficiency of its signals at the clean-noise threshold."""
    reference = masks.get("clean", np.ones(len(targets), dtype=bool))
    report: dict[str, Any] = {"threshold_noise": "clean" if "clean" in masks else "all",
                              "conditions": {}}
    for name, mask in masks.items():
        subset = (reference & (targets == 0)) | (mask & (targets == 1))
        eff = efficiency_report(scores[subset], targets[subset], snr[subset], config)
        noise = scores[mask & (targets == 0)]
        entry: dict[str, Any] = {"n_noise": int(len(noise)),
                                 "n_signal": int((mask & (targets == 1)).sum()),
                                 "false_alarms": None, "fpr": None, "fpr_ci": None}
        if eff["fpr"] is not None and len(noise):
            alarms = int((noise > eff["threshold"]).sum())
            ci = binomtest(alarms, len(noise)).proportion_ci(config.confidence, method="wilson")
            entry |= {"false_alarms": alarms, "fpr": alarms / len(noise),
                      "fpr_ci": [float(ci.low), float(ci.high)]}
        report |= {k: eff[k] for k in ("fpr_requested", "fpr", "threshold") if k in eff}
        report["conditions"][name] = entry | {"efficiency": eff}
    return report


def condition_table(report: Mapping[str, Any]) -> pd.DataFrame:
    """One row per method and noise condition: noise FPR and the efficiency summary."""
    rows = []
    for method, entry in report["methods"].items():
        conditions = entry.get("noise_conditions", {}).get("conditions", {})
        for name, c in conditions.items():
            eff = c["efficiency"]
            rows.append({"method": method, "condition": name, "n_noise": c["n_noise"],
                         "fpr": c["fpr"], "n_signal": c["n_signal"],
                         **{f"snr@{k}": v for k, v in eff.get("snr_at_efficiency", {}).items()},
                         **{f"eff@snr{k}": v for k, v in eff.get("efficiency_at_snr", {}).items()}})
    return pd.DataFrame(rows)


def evaluate(
    predictions: Mapping[str, pd.DataFrame],
    labels: pd.DataFrame,
    injections: pd.DataFrame | None = None,
    config: EvaluateConfig | None = None,
    sources: Mapping[str, str] | None = None,
    inputs: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Score every method in ``predictions`` (name -> ``id,target`` frame) against ``labels``.

    ``sources`` maps method names to their files and ``inputs`` names the ``labels`` and
    ``injections`` files; both are used in error messages and recorded in the report.
    Returns the report dict (JSON-serialisable); see the module docstring for definitions.
    """
    config = config or EvaluateConfig()
    sources, inputs = dict(sources or {}), dict(inputs or {})
    ids = labels["id"].astype(str).reset_index(drop=True)
    targets = labels["target"].to_numpy(dtype=np.int64)
    if len(np.unique(targets)) < 2:
        raise ValueError("labels hold a single class; ROC AUC is undefined")
    n_signal, n_noise = int((targets == 1).sum()), int((targets == 0).sum())
    snr, masks = None, {}
    if injections is not None:
        source = inputs.get("injections", "injections")
        snr = signal_snr(labels.reset_index(drop=True), injections, source)
        masks = noise_conditions(labels.reset_index(drop=True), injections, source)
    methods = {}
    for name, frame in predictions.items():
        scores = align_scores(sources.get(name, name), frame, ids)
        auc = float(roc_auc_score(targets, scores))
        method: dict[str, Any] = {
            "source": sources.get(name),
            "auc": auc,
            "auc_se": hanley_mcneil_se(auc, n_signal, n_noise),
            "tpr_at_fpr": [tpr_at_fpr(scores, targets, f, config.min_noise_per_fpr)
                           for f in config.fprs],
            "roc": roc_points(scores, targets),
        }
        if snr is not None:
            method["efficiency"] = efficiency_report(scores, targets, snr, config)
        if masks:
            method["noise_conditions"] = condition_report(scores, targets, snr, masks, config)
        methods[name] = method
        log.info("%s: ROC AUC %.3f ± %.3f", name, method["auc"], method["auc_se"])
    return {
        "config": asdict(config),
        "versions": library_versions(),
        "inputs": inputs,
        "n_samples": int(len(targets)),
        "n_signal": n_signal,
        "n_noise": n_noise,
        "methods": methods,
    }


def write_report(report: Mapping[str, Any], out_dir: str | Path) -> Path:
    """Write ``report.json``, ``roc.png`` and (with injections) ``efficiency.png``."""
    out_dir = claim_dir(out_dir, "report")
    write_json_atomic(out_dir / "report.json", report)
    plot_roc(report, out_dir / "roc.png")
    if any("efficiency" in m for m in report["methods"].values()):
        plot_efficiency(report, out_dir / "efficiency.png")
    return out_dir / "report.json"
