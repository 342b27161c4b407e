"""The family's comparison: ensembles of the members, test scores, family.csv/.md and plots.

One row per member and per ensemble (``COLUMNS``). Ensembles combine the finished members:
``ensemble-mean`` and ``ensemble-rank`` (``pipeline.predict.ensemble``) and ``ensemble-stack``
(``pipeline.stacking``, scored on its cross-validated out-of-fold predictions). An ensemble's
parameters and multiply-adds are the members' sums, its inference rate that of running the
members one after another. Test scores come from ``pipeline.evaluate``, whose report (with the
efficiency curves of members and ensembles on one figure) is written to ``report/``. Each
ensemble's test AUC is also compared with the best member's by a paired bootstrap over the test
samples, below the table in family.md and under ``test_auc_differences`` in family.json.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from pipeline.classifier.predict import ensemble, mean_probability_logit
from pipeline.evaluate.auc_stats import paired_auc_difference
from pipeline.evaluate.config import EvaluateConfig
from pipeline.evaluate.metrics import align_scores, evaluate, read_predictions, write_report
from pipeline.family.plots import plot_auc_vs_cost, plot_auc_vs_depth
from pipeline.family.stacking import (
    ENSEMBLES,
    StackWeights,
    apply_stack,
    fit_stack,
    frame_logits,
    member_matrix,
    save_weights,
)
from preprocess.layout import read_labels
from runtime.provenance import atomic_path, write_json_atomic

log = logging.getLogger(__name__)

COLUMNS = (
    "name", "kind", "depth", "params", "macs", "train_images_per_s", "infer_images_per_s",
    "peak_mem_mib", "peak_mem_kind", "epochs", "best_val_auc", "oof_auc", "test_auc",
    "test_auc_se", "tpr@fpr=1e-2", "snr@50%", "snr@90%", "status",
)
TEST_FPR = 1e-2  # the FPR of the tpr@fpr column
N_BOOT = 1000  # paired bootstrap resamples of the test set per ensemble-member difference
MINUS = "\u2212"  # the typeset minus sign of the difference lines


def ensemble_rows(out: Path, rows: Sequence[Mapping[str, Any]], seed: int = 0,
                  test: bool = False) -> list[dict[str, Any]]:
    """Rows of the three ensembles of ``rows``' members (none for fewer than two); saves the
    stack's weights as ``ensemble_weights.json`` and, with ``test``, each ensemble's test
    predictions as ``ensembles/<name>.csv``."""
    if len(rows) < 2:
        return []
    names = [r["name"] for r in rows]
    oof = {n: pd.read_csv(out / n / "oof.csv", dtype={"id": str}) for n in names}
    ids, targets = member_matrix(oof, "target")
    logits = np.stack([frame_logits(oof[n].set_index("id").loc[ids.to_numpy()], "prediction")
                       for n in names])  # (M, N), aligned to ids
    weights, stacked = fit_stack(logits, targets[0], names, seed=seed)
    weights.checkpoints = {r["name"]: list(r["checkpoints"]) for r in rows}
    save_weights(out / "ensemble_weights.json", weights)
    log.info("stack weights %s, intercept %.3f, cross-validated AUC %.4f",
             {n: round(w, 3) for n, w in zip(names, weights.coef, strict=True)},
             weights.intercept, weights.cv_auc)
    frames = {n: pd.read_csv(out / n / "test.csv", dtype={"id": str}) for n in names} \
        if test else {}
    result = []
    for method in ENSEMBLES:
        name = f"ensemble-{method}"
        oof_pred = stacked if method == "stack" else combine(logits, method)
        rates = [r["infer_images_per_s"] for r in rows]
        result.append({
            "name": name, "kind": "ensemble", "params": sum(r["params"] for r in rows),
            "macs": sum(r["macs"] for r in rows),
            "infer_images_per_s": 1 / sum(1 / r for r in rates),
            "oof_auc": float(roc_auc_score(targets[0], oof_pred)),
        })
        if frames:
            frame = ensemble_test_predictions(frames, method, weights)
            (out / "ensembles").mkdir(exist_ok=True)
            with atomic_path(out / "ensembles" / f"{name}.csv") as tmp:
                frame.to_csv(tmp, index=False)
    return result


def ensemble_test_predictions(frames: Mapping[str, pd.DataFrame], method: str,
                  weights: StackWeights) -> pd.DataFrame:
    """The ensemble ``method`` of members' test predictions (``id,target[,logit]`` frames)."""
    ids, _ = member_matrix(frames, "target")
    aligned = {n: f.set_index(f["id"].astype(str)).loc[ids.to_numpy()] for n, f in frames.items()}
    logits = np.stack([frame_logits(f) for f in aligned.values()])  # (M, N)
    if method == "stack":
        return pd.DataFrame({"id": ids, "target": apply_stack(weights, logits)})
    if method == "mean":  # the exact logit keeps the order where probabilities round to 1
        score = mean_probability_logit(logits, axis=0)
        return pd.DataFrame({"id": ids, "target": expit(score), "logit": score})
    return pd.DataFrame({"id": ids, "target": ensemble(list(logits), method)})


def combine(logits: np.ndarray, method: str) -> np.ndarray:
    """Scores ``(N,)`` of the ``mean`` or ``rank`` ensemble of members' logits ``(M, N)``:
    the logit of the mean probability, or the mean rank (ranking the logits loses no ties)."""
    if method == "mean":
        return mean_probability_logit(logits, axis=0)
    return ensemble(list(logits), method)


def score_test_set(out: Path, predictions: Mapping[str, pd.DataFrame], truth: pd.DataFrame,
                   labels: str | Path, injections: str | Path = "",
                   paths: Mapping[str, Path] | None = None) -> dict[str, dict[str, Any]]:
    """Test AUC with its standard error, TPR at ``TEST_FPR`` and SNR at 50% / 90% efficiency
    per name of ``predictions`` (read from ``paths``, by default ``prediction_paths``) against
    ``truth`` (read from ``labels``), by ``pipeline.evaluate`` (report.json and plots in
    ``out/report``)."""
    paths = dict(paths or prediction_paths(out, list(predictions)))
    inj = pd.read_csv(injections, dtype={"id": str}) if injections else None
    inputs = {"labels": str(labels)} | ({"injections": str(injections)} if injections else {})
    report = evaluate(dict(predictions), truth, inj, EvaluateConfig(),
                      {n: str(p) for n, p in paths.items()}, inputs)
    write_report(report, out / "report")
    scores = {}
    for name, method in report["methods"].items():
        tpr = next((t["tpr"] for t in method["tpr_at_fpr"] if t["fpr"] == TEST_FPR), None)
        at = (method.get("efficiency") or {}).get("snr_at_efficiency") or {}
        scores[name] = {"test_auc": method["auc"], "test_auc_se": method["auc_se"],
                        "tpr@fpr=1e-2": tpr,
                        "snr@50%": at.get("0.5"), "snr@90%": at.get("0.9")}
    return scores


def prediction_paths(out: Path, names: Sequence[str]) -> dict[str, Path]:
    """Each name's test predictions: ``<member>/test.csv`` or ``ensembles/<ensemble>.csv``."""
    return {n: (out / "ensembles" / f"{n}.csv" if n.startswith("ensemble-") else
                out / n / "test.csv") for n in names}


def ensemble_differences(rows: Sequence[Mapping[str, Any]],
                         scores: Mapping[str, Mapping[str, Any]],
                         predictions: Mapping[str, pd.DataFrame], truth: pd.DataFrame,
                         seed: int = 0) -> list[dict[str, Any]]:
    """Each ensemble's test AUC minus that of the best member by test AUC, with the standard
    deviation of the difference over paired bootstrap resamples of the test samples; the
    scores are those test AUC uses (``read_predictions``: the logit where present)."""
    scored = [r for r in rows if (scores.get(r["name"]) or {}).get("test_auc") is not None]
    members = [r["name"] for r in scored if r.get("kind") == "member"]
    ensembles = [r["name"] for r in scored if r.get("kind") == "ensemble"]
    if not members or not ensembles:
        return []
    best = max(members, key=lambda n: scores[n]["test_auc"])
    ids = truth["id"].astype(str).reset_index(drop=True)
    targets = truth["target"].to_numpy(dtype=np.int64)
    aligned = {n: align_scores(n, predictions[n], ids) for n in [best, *ensembles]}
    differences = []
    for name in ensembles:
        diff, se = paired_auc_difference(targets, aligned[name], aligned[best], N_BOOT, seed)
        differences.append({"ensemble": name, "member": best, "auc_difference": diff,
                            "se": se, "n_boot": N_BOOT, "seed": seed})
    return differences


def difference_line(entry: Mapping[str, Any]) -> str:
    """``ensemble-rank − resnet34 (best member by test AUC): −0.0011 ± 0.0037 (...)``."""
    diff = f"{entry['auc_difference']:.4f}".replace("-", MINUS)
    return (f"{entry['ensemble']} {MINUS} {entry['member']} (best member by test AUC): "
            f"{diff} ± {entry['se']:.4f} (paired bootstrap over test samples)")


def record_differences(path: Path, differences: Sequence[Mapping[str, Any]]) -> None:
    """Store ``differences`` in the family's ``family.json`` (when it exists) under
    ``test_auc_differences``, or drop a stale entry when there are none."""
    if not path.is_file():
        return
    data = json.loads(path.read_text())
    if differences:
        data["test_auc_differences"] = list(differences)
    elif data.pop("test_auc_differences", None) is None:
        return
    write_json_atomic(path, data)


def comparison_table(rows: Sequence[Mapping[str, Any]], failures: Mapping[str, str],
                     scores: Mapping[str, Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """One row per member, ensemble and failed member, every column of ``COLUMNS``."""
    records = []
    for row in rows:
        record = {c: row.get(c) for c in COLUMNS} | dict((scores or {}).get(row["name"], {}))
        records.append(record | {"status": "ok"})
    for name, reason in failures.items():
        records.append({c: None for c in COLUMNS} | {"name": name, "kind": "member",
                                                     "status": f"failed: {reason}"})
    return pd.DataFrame(records, columns=list(COLUMNS))


def _cell(column: str, value: Any) -> str:
    """A table cell: counts in M / G, AUCs to 4 decimals, missing values as '-'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if column == "params":
        return f"{value / 1e6:.2f}M"
    if column == "macs":
        return f"{value / 1e9:.3f}G"
    if column == "depth":
        return str(int(value))
    if isinstance(value, float):
        if "auc" in column or "tpr" in column:
            return f"{value:.4f}"
        return f"{value:.0f}" if value.is_integer() else f"{value:.1f}"
    return str(value).replace("|", "/")


def markdown_table(frame: pd.DataFrame) -> str:
    """``frame`` as a GitHub Markdown table (columns that are empty in every row left out)."""
    columns = [c for c in frame.columns if frame[c].notna().any()]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(_cell(c, row[c]) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def write_comparison(out: str | Path, rows: Sequence[Mapping[str, Any]],
                     failures: Mapping[str, str], *, labels: str = "", injections: str = "",
                     test: bool = False, seed: int = 0, reference: str = "",
                     reference_name: str = "matched filter") -> pd.DataFrame:
    """Ensembles, test scores, ``family.csv``, ``family.md`` and the plots; returns the table.

    ``reference`` (optional) is a predictions CSV of a reference detector on the same test
    set, e.g. ``pipeline baseline matched-filter``'s: scored alike, it is a row of kind
    ``reference`` and the line every plot measures the family against.
    """
    out = Path(out)
    all_rows = list(rows) + ensemble_rows(out, rows, seed, test)
    scores, differences = None, []
    if test and labels and all_rows:  # each file read once, for the scores and the differences
        truth = read_labels(labels)
        paths = prediction_paths(out, [r["name"] for r in all_rows])
        if reference:
            paths[reference_name] = Path(reference)
        predictions = {n: read_predictions(p) for n, p in paths.items()}
        scores = score_test_set(out, predictions, truth, labels, injections, paths)
        differences = ensemble_differences(all_rows, scores, predictions, truth, seed)
        if reference:
            all_rows.append({"name": reference_name, "kind": "reference"})
    table = comparison_table(all_rows, failures, scores)
    lines = [difference_line(d) for d in differences]
    for line in lines:
        log.info("%s", line)
    with atomic_path(out / "family.csv") as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(out / "family.md") as tmp:
        notes = "".join(f"\n- {line}" for line in lines)  # a blank line ends the table
        tmp.write_text(markdown_table(table) + notes + ("\n" if notes else ""),
                       encoding="utf-8")
    record_differences(out / "family.json", differences)
    done = table[table["status"] == "ok"]
    if len(done):
        plot_auc_vs_depth(done, out / "auc_vs_depth.png")
        plot_auc_vs_cost(done, out / "auc_vs_cost.png")
    return table
