"""Figures of ``evaluate-search``: sensitive distance against FAR, and found/missed injections.

Built on ``matplotlib.figure.Figure`` directly (no pyplot), as ``pipeline.evaluate.plots`` is.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from runtime.figures import save_figure


def plot_distance_vs_far(report: Mapping[str, Any], path: str | Path) -> None:
    """Every search's sensitive distance (± 1 sigma band) against FAR per month, log axis,
    from its lowest supported FAR (one louder background trigger) up."""
    fig = Figure(figsize=(6.5, 4.5))
    ax = fig.add_subplot()
    for search in report["searches"]:
        curve = search["curve"]
        far = np.asarray(curve["far_per_month"])[1:]  # index 0: above every background trigger
        r = np.asarray(curve["distance_mpc"])[1:]
        e = np.nan_to_num(np.asarray(curve["distance_error_mpc"], dtype=float)[1:])
        line = ax.step(far, r, where="post", label=search["name"])[0]
        ax.fill_between(far, r - e, r + e, step="post", alpha=0.2, color=line.get_color())
    for far in report["config"]["fars_per_month"]:
        ax.axvline(far, color="0.7", linestyle=":", linewidth=1)
    ax.set(xscale="log", xlabel="false-alarm rate (per month)", ylabel="sensitive distance (Mpc)",
           title="Sensitive distance against false-alarm rate")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    save_figure(fig, path)


def plot_found_missed(report: Mapping[str, Any], path: str | Path) -> None:
    """Per search, the injections by luminosity distance and optimal network SNR, found (at
    ``found_far_per_month``) or missed."""
    searches = report["searches"]
    fig = Figure(figsize=(4.5 * len(searches), 4))
    far = report["config"]["found_far_per_month"]
    for k, search in enumerate(searches):
        ax = fig.add_subplot(1, len(searches), k + 1)
        shown = search["injections"]
        distance, snr = np.asarray(shown["distance"]), np.asarray(shown["snr"], dtype=float)
        found = np.asarray(shown["found"], dtype=bool)
        y = snr if np.isfinite(snr).any() else np.ones_like(distance)
        ax.scatter(distance[~found], y[~found], s=8, color="tab:red", label="missed")
        ax.scatter(distance[found], y[found], s=8, color="tab:blue", label="found")
        flag = "" if shown.get("far_supported", True) else ", unsupported"
        ax.set(xlabel="luminosity distance (Mpc)",
               title=f"{search['name']} (FAR {far:g}/month{flag})")
        if np.isfinite(snr).any():
            ax.set(yscale="log", ylabel="optimal network SNR")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="upper right", fontsize="small")
    save_figure(fig, path)
