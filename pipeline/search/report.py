"""``pipeline evaluate-search``: searches side by side, scored as MLGWSC-1 scores them.

For each search (a foreground trigger file, from data with injections, and a background one,
from time slides or noise-only data: ``triggers.py``), with ``volume.py``'s definitions:

- the background time (the file's ``duration``) and the lowest FAR it supports (one louder
  trigger per background time);
- the injections in the foreground's analysed time, each with the loudest statistic of the
  triggers within ``var`` of it;
- sensitive volume and distance, with their standard errors, against FAR at every background
  threshold, and at the table's FARs (1, 10 and 100 per month by default), flagged where the
  background cannot support them.

Writes ``search_report.json`` (everything, with the configuration and library versions),
``table.csv`` and ``table.md`` (one row per search and FAR), ``curves.csv``,
``distance_vs_far.png`` (every search, log FAR per month) and ``found_missed.png``
(injections by distance and optimal SNR, found or missed at ``found_far_per_month``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.search.config import EvaluateSearchConfig
from pipeline.search.triggers import read_trigger_file
from pipeline.search.volume import (
    SECONDS_PER_MONTH,
    InjectionSet,
    injection_set,
    injection_statistics,
    sensitive_distance,
    sensitive_volume,
    threshold_at,
)
from preprocess.outputs import claim_dir
from preprocess.provenance import atomic_path, library_versions, write_json_atomic

log = logging.getLogger(__name__)
KIND = "search-report"
REPORT_FILE = "search_report.json"


@dataclass(frozen=True)
class SearchFiles:
    """One search to score: its name and trigger files."""

    name: str
    foreground: str
    background: str


def _duration(attrs: dict[str, Any], path: str) -> float:
    duration = attrs.get("duration")
    if duration is None or not float(duration) > 0:
        raise ValueError(f"{path}: the trigger file records no duration (attribute "
                         "'duration', s of data it stands for); gwspec searches write it")
    return float(duration)


def in_spans(times: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """Which ``times`` ``(N,)`` fall in any ``[start, stop)`` of ``spans`` ``(n, 2)``."""
    if not len(spans):
        return np.ones(len(times), dtype=bool)
    return ((times[:, None] >= spans[None, :, 0]) & (times[:, None] < spans[None, :, 1])).any(1)


def score_search(search: SearchFiles, injections: InjectionSet,
                 config: EvaluateSearchConfig) -> dict[str, Any]:
    """One search's figures (module docstring): a JSON-able dict."""
    fg, fg_attrs, analysed = read_trigger_file(search.foreground)
    bg, bg_attrs, _ = read_trigger_file(search.background)
    duration = _duration(bg_attrs, search.background)
    chosen = injections.select(in_spans(injections.tc, analysed))
    if not len(chosen.tc):
        raise ValueError(f"{search.foreground}: no injection lies in its analysed time")
    best = injection_statistics(fg["time"].to_numpy(float), fg["stat"].to_numpy(float),
                                fg["var"].to_numpy(float), chosen.tc)
    background = np.sort(bg["stat"].to_numpy(float))[::-1]
    thresholds = np.concatenate([background, [-np.inf]])  # FAR i / T at the i-th loudest
    volume, error = sensitive_volume(best[None, :] > thresholds[:, None], chosen.weights,
                                     chosen.v_max)
    radius, radius_error = sensitive_distance(volume, error)
    rows = []
    for far in config.fars_per_month:
        x = threshold_at(background, duration, far / SECONDS_PER_MONTH)
        found = best > x
        v, e = sensitive_volume(found, chosen.weights, chosen.v_max)
        r, re = sensitive_distance(v, e)
        rows.append({"far_per_month": far, "supported": far * duration / SECONDS_PER_MONTH >= 1,
                     "threshold": x, "found": int(found.sum()), "volume_mpc3": float(v),
                     "volume_error_mpc3": float(e), "distance_mpc": float(r),
                     "distance_error_mpc": float(re)})
    x = threshold_at(background, duration, config.found_far_per_month / SECONDS_PER_MONTH)
    return {
        "name": search.name, "foreground": search.foreground, "background": search.background,
        "statistic": fg_attrs.get("statistic"), "search": fg_attrs.get("search"),
        "background_seconds": duration,
        "foreground_seconds": float(fg_attrs.get("duration", np.nan)),
        "n_background": int(len(bg)), "n_foreground": int(len(fg)),
        "lowest_far_per_month": SECONDS_PER_MONTH / duration,
        "n_injections": int(len(chosen.tc)), "prior": chosen.prior, "d_max_mpc": chosen.d_max,
        "table": rows,
        "curve": {"far_per_month": (np.arange(len(thresholds)) / duration
                                    * SECONDS_PER_MONTH).tolist(),
                  "distance_mpc": radius.tolist(), "distance_error_mpc": radius_error.tolist()},
        "injections": {"distance": chosen.distance.tolist(), "snr": chosen.snr.tolist(),
                       "found": (best > x).tolist(),
                       "far_supported": config.found_far_per_month * duration
                       >= SECONDS_PER_MONTH},
    }


def table(report: dict[str, Any]) -> pd.DataFrame:
    """One row per search and FAR of the table."""
    rows = [{"search": s["name"], **row, "lowest_far_per_month": s["lowest_far_per_month"]}
            for s in report["searches"] for row in s["table"]]
    return pd.DataFrame(rows)


def markdown(frame: pd.DataFrame) -> str:
    """The table as Markdown: distance ± error, '(unsupported)' where the background is short."""
    lines = ["| search | FAR / month | threshold | found | sensitive distance (Mpc) | "
             "lowest FAR / month |", "|---|---|---|---|---|---|"]
    for _, r in frame.iterrows():
        flag = "" if r["supported"] else " (unsupported)"
        lines.append(f"| {r['search']} | {r['far_per_month']:g}{flag} | {r['threshold']:.2f} | "
                     f"{r['found']} | {r['distance_mpc']:.1f} ± {r['distance_error_mpc']:.1f} | "
                     f"{r['lowest_far_per_month']:.3g} |")
    return "\n".join(lines) + "\n"


def evaluate_searches(searches: Sequence[SearchFiles], injections: str | Path, out: str | Path,
                      config: EvaluateSearchConfig | None = None) -> dict[str, Any]:
    """Score every search against ``injections`` and write the report into ``out``."""
    config = config or EvaluateSearchConfig()
    names = [s.name for s in searches]
    if not searches or len(set(names)) != len(names):
        raise ValueError(f"searches need distinct names, got {names}")
    out = claim_dir(out, KIND)
    chosen = injection_set(injections, config.distance_prior, config.distance_max)
    report = {"config": asdict(config), "injections": str(injections),
              "searches": [score_search(s, chosen, config) for s in searches],
              "versions": library_versions()}
    frame = table(report)
    with atomic_path(out / "table.csv") as tmp:
        frame.to_csv(tmp, index=False)
    with atomic_path(out / "table.md") as tmp:
        tmp.write_text(markdown(frame))
    curves = pd.concat([pd.DataFrame({"search": s["name"], **s["curve"]})
                        for s in report["searches"]])
    with atomic_path(out / "curves.csv") as tmp:
        curves.to_csv(tmp, index=False)
    from pipeline.search.report_plots import plot_distance_vs_far, plot_found_missed

    plot_distance_vs_far(report, out / "distance_vs_far.png")
    plot_found_missed(report, out / "found_missed.png")
    write_json_atomic(out / REPORT_FILE, report)
    return report
