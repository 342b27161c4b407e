"""Figures: ROC and efficiency curves of an evaluation report (every method on one axes), and
the AUC of a model family against depth and against cost.

Built on ``matplotlib.figure.Figure`` directly (no pyplot), so no display or backend is needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from preprocess.provenance import atomic_path


def _save(fig: Figure, path: Path) -> None:
    """Write a PNG atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")


def plot_roc(report: Mapping[str, Any], path: str | Path) -> None:
    """ROC curves on a log FPR axis, down to one false alarm among the noise samples."""
    fig = Figure(figsize=(6, 4.5))
    ax = fig.add_subplot()
    floor = 1.0 / max(report["n_noise"], 1)
    for name, method in report["methods"].items():
        fpr = np.maximum(np.asarray(method["roc"]["fpr"]), floor)
        ax.step(fpr, method["roc"]["tpr"], where="post", label=f"{name} (AUC {method['auc']:.3f})")
    ax.plot([floor, 1], [floor, 1], color="0.6", linestyle=":", label="chance")
    ax.set(xscale="log", xlim=(floor, 1), ylim=(0, 1.01), xlabel="false-positive rate",
           ylabel="true-positive rate", title=f"ROC ({report['n_noise']} noise samples)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    _save(fig, Path(path))


def plot_efficiency(report: Mapping[str, Any], path: str | Path) -> None:
    """Detection efficiency vs network optimal SNR with binomial error bars, per method."""
    fig = Figure(figsize=(6, 4.5))
    ax = fig.add_subplot()
    for name, method in report["methods"].items():
        eff = method.get("efficiency") or {}
        bins = [b for b in eff.get("bins", []) if b["n"]]
        if not bins:
            continue
        centres = np.array([(b["snr_low"] + b["snr_high"]) / 2 for b in bins])
        values = np.array([b["efficiency"] for b in bins])
        errors = np.array([[v - b["ci_low"], b["ci_high"] - v] for v, b in zip(values, bins,
                                                                                 strict=True)]).T
        ax.errorbar(centres, values, yerr=errors, marker="o", capsize=3,
                    label=f"{name} (FPR {eff['fpr']:.2g})")
    ax.set(ylim=(-0.02, 1.02), xlabel="network optimal SNR", ylabel="detection efficiency",
           title="Efficiency at fixed false-positive rate")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    _save(fig, Path(path))


def _auc_column(table: pd.DataFrame) -> str:
    """The test AUC when the table has it, else the out-of-fold AUC."""
    return "test_auc" if table["test_auc"].notna().any() else "oof_auc"


def plot_auc_vs_depth(table: pd.DataFrame, path: str | Path) -> None:
    """AUC of the ResNet members against depth; ensembles as horizontal lines."""
    column = _auc_column(table)
    fig = Figure(figsize=(6, 4.5))
    ax = fig.add_subplot()
    members = table[table["depth"].notna()].sort_values("depth")
    ax.plot(members["depth"], members[column], marker="o", label="ResNet members")
    for _, row in table[table["kind"] == "ensemble"].iterrows():
        ax.axhline(row[column], linestyle="--", linewidth=1, color="0.5")
        ax.annotate(row["name"], (ax.get_xlim()[0], row[column]), fontsize="x-small",
                    va="bottom")
    ax.set(xlabel="ResNet depth (weighted layers)", ylabel=column.replace("_", " "),
           title="AUC against depth")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    _save(fig, Path(path))


def plot_auc_vs_cost(table: pd.DataFrame, path: str | Path) -> None:
    """AUC of every member and ensemble against multiply-adds per image (log axis)."""
    column = _auc_column(table)
    fig = Figure(figsize=(6, 4.5))
    ax = fig.add_subplot()
    for kind, marker in (("member", "o"), ("ensemble", "s")):
        rows = table[table["kind"] == kind]
        ax.scatter(rows["macs"].astype(float), rows[column].astype(float), marker=marker,
                   label=f"{kind}s")
        for _, row in rows.iterrows():
            ax.annotate(row["name"], (row["macs"], row[column]), fontsize="x-small",
                        xytext=(3, 3), textcoords="offset points")
    ax.set(xscale="log", xlabel="multiply-adds per image", ylabel=column.replace("_", " "),
           title="AUC against cost")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    _save(fig, Path(path))
