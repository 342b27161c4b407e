"""Figures of a model family: its AUC against depth and against cost, with error bars, the
ensembles and the reference detector (the matched filter) as lines.

Built on ``matplotlib.figure.Figure`` directly (no pyplot), so no display or backend is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from runtime.figures import save_figure


def _auc_column(table: pd.DataFrame) -> str:
    """The test AUC when the table has it, else the out-of-fold AUC."""
    return "test_auc" if table["test_auc"].notna().any() else "oof_auc"


def _errors(table: pd.DataFrame, column: str) -> np.ndarray | None:
    """Standard errors of ``column`` (only the test AUC has them: Hanley & McNeil)."""
    if column != "test_auc" or "test_auc_se" not in table:
        return None
    return table["test_auc_se"].astype(float).fillna(0).to_numpy()


def _reference(ax: Any, table: pd.DataFrame, column: str) -> None:
    """Each reference detector (the matched filter) as a line with its +-1 sigma band."""
    for _, row in table[table["kind"] == "reference"].iterrows():
        value = float(row[column])
        se = float(row.get("test_auc_se") or 0.0) if column == "test_auc" else 0.0
        ax.axhspan(value - se, value + se, color="0.85", zorder=0)
        ax.axhline(value, color="0.3", linewidth=1.2, zorder=1,
                   label=f"{row['name']} {value:.4f}" + (f" ± {se:.4f}" if se else ""))


def _legend_outside(fig: Figure, ax: Any) -> None:
    """The legend right of the axes: entries never overprint the data or each other."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small", frameon=False)


def plot_auc_vs_depth(table: pd.DataFrame, path: str | Path) -> None:
    """AUC of the ResNet members against depth with +-1 sigma error bars; ensembles and the
    reference detector as horizontal lines (bands: +-1 sigma), named in the legend."""
    column = _auc_column(table)
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    members = table[table["depth"].notna()].sort_values("depth")
    ax.errorbar(members["depth"], members[column].astype(float), yerr=_errors(members, column),
                marker="o", capsize=3, label="ResNet members (±1σ)")
    styles = ["--", "-.", ":", (0, (5, 1, 1, 1))]
    ensembles = table[table["kind"] == "ensemble"]
    for k, (_, row) in enumerate(ensembles.iterrows()):
        ax.axhline(float(row[column]), linestyle=styles[k % len(styles)], linewidth=1,
                   color=f"C{k + 1}", label=f"{row['name']} {float(row[column]):.4f}")
    _reference(ax, table, column)
    ax.set_xscale("log")
    ax.set_xticks(members["depth"].astype(int).tolist(),
                  [str(int(d)) for d in members["depth"]])
    ax.set(xlabel="ResNet depth (weighted layers)", ylabel=column.replace("_", " "),
           title="AUC against depth")
    ax.grid(True, alpha=0.3)
    _legend_outside(fig, ax)
    save_figure(fig, path)


def plot_auc_vs_cost(table: pd.DataFrame, path: str | Path) -> None:
    """AUC of every member and ensemble (+-1 sigma) against multiply-adds per image (log
    axis), each named in the legend; the reference detector as a line."""
    column = _auc_column(table)
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    models = table[table["kind"].isin(["member", "ensemble"])].reset_index(drop=True)
    errors = _errors(models, column)
    for k, row in models.iterrows():
        ax.errorbar(float(row["macs"]), float(row[column]),
                    yerr=None if errors is None else errors[k], capsize=3, color=f"C{k % 10}",
                    marker="o" if row["kind"] == "member" else "s", linestyle="none",
                    label=row["name"])
    _reference(ax, table, column)
    ax.set(xscale="log", xlabel="multiply-adds per image", ylabel=column.replace("_", " "),
           title="AUC against cost")
    ax.grid(True, which="both", alpha=0.3)
    _legend_outside(fig, ax)
    save_figure(fig, path)
