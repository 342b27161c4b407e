"""Figures of an evaluation report: ROC and efficiency curves, every method on one axes.

Built on ``matplotlib.figure.Figure`` directly (no pyplot), so no display or backend is needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from runtime.figures import save_figure


def plot_roc(report: Mapping[str, Any], path: str | Path) -> None:
    """ROC curves on a log FPR axis, down to one false alarm among the noise samples."""
    fig = Figure(figsize=(6, 4.5))
    ax = fig.add_subplot()
    floor = min(1.0 / max(report["n_noise"], 1), 0.5)  # an axis even with one noise sample
    for name, method in report["methods"].items():
        fpr = np.maximum(np.asarray(method["roc"]["fpr"]), floor)
        ax.step(fpr, method["roc"]["tpr"], where="post", label=f"{name} (AUC {method['auc']:.3f})")
    ax.plot([floor, 1], [floor, 1], color="0.6", linestyle=":", label="chance")
    ax.set(xscale="log", xlim=(floor, 1), ylim=(0, 1.01), xlabel="false-positive rate",
           ylabel="true-positive rate", title=f"ROC ({report['n_noise']} noise samples)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    save_figure(fig, path)


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
    save_figure(fig, path)
