"""``pipeline evaluate-search``: searches side by side, scored as MLGWSC-1 scores them.

For each search (a foreground trigger file, from data with injections, and a background one,
from time slides or noise-only data: ``pipeline.search.triggers``), with ``volume.py``'s
definitions:

- the background time (the file's ``duration``) and the lowest FAR it supports (one louder
  trigger per background time);
- the injections in the foreground's analysed time, each with the loudest statistic of the
  triggers within ``var`` of it;
- sensitive volume and distance, with their standard errors, against FAR at every background
  threshold, and at the table's FARs (1, 10 and 100 per month by default), flagged where the
  background cannot support them.

First, that the files belong together (``check_pair``): the foreground and the background of
one search from the same kind of search, statistic and detectors, the background not the
foreground itself (zero lag of the same strain), the foreground's triggers inside its own
analysed spans, and the injections made for the stream the foreground searched; each where
the files record it (gwspec's do; another search's bare ``time, stat, var`` file records
nothing, and its durations come from ``--background-duration`` and ``--foreground-duration``).

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

from pipeline.search.evaluate.config import EvaluateSearchConfig
from pipeline.search.evaluate.volume import (
    SECONDS_PER_MONTH,
    InjectionSet,
    injection_set,
    injection_statistics,
    sensitive_distance,
    sensitive_volume,
    threshold_at,
)
from pipeline.search.triggers import read_trigger_file
from runtime.outputs import claim_dir
from runtime.provenance import atomic_path, library_versions, write_json_atomic

log = logging.getLogger(__name__)
KIND = "search-report"
REPORT_FILE = "search_report.json"


@dataclass(frozen=True)
class SearchFiles:
    """One search to score: its name and trigger files."""

    name: str
    foreground: str
    background: str


def duration_of(attrs: dict[str, Any], path: str, given: float, option: str) -> float:
    """The seconds a trigger file stands for: its ``duration`` attribute, else ``given``
    (``option`` on the command line); ``ValueError`` naming the file when neither is known or
    they disagree."""
    recorded = attrs.get("duration")
    if recorded is None:
        if given > 0:
            return given
        raise ValueError(f"{path}: the trigger file records no duration (attribute "
                         f"'duration', s of data it stands for); give it with {option} S")
    try:
        recorded = float(recorded)
    except (TypeError, ValueError):
        recorded = float("nan")
    if not np.isfinite(recorded) or recorded <= 0:
        raise ValueError(f"{path}: its duration {attrs.get('duration')!r} is not a number of "
                         "seconds > 0")
    if given > 0 and abs(given - recorded) > 1e-6 * recorded:
        raise ValueError(f"{path}: records a duration of {recorded:g} s, {option} says "
                         f"{given:g} s; leave the option out for gwspec's own files")
    return recorded


PAIRED = ("search", "statistic", "detectors")  # what a foreground and its background share


def check_pair(search: SearchFiles, fg: tuple[pd.DataFrame, dict, np.ndarray],
               bg: tuple[pd.DataFrame, dict, np.ndarray], injections: InjectionSet) -> None:
    """``ValueError`` naming the files unless they belong together (module docstring)."""
    (table, fg_attrs, analysed), (_, bg_attrs, _) = fg, bg
    for key in PAIRED:
        if key in fg_attrs and key in bg_attrs and str(fg_attrs[key]) != str(bg_attrs[key]):
            raise ValueError(f"{search.foreground} ({key} {fg_attrs[key]!s}) and "
                             f"{search.background} ({key} {bg_attrs[key]!s}) are not one "
                             "search's foreground and background")
    same_strain = "strain" in fg_attrs and fg_attrs.get("strain") == bg_attrs.get("strain")
    if (Path(search.foreground).resolve() == Path(search.background).resolve() or same_strain
            and int(bg_attrs.get("slides", 1)) == 0):
        raise ValueError(f"{search.background}: is the zero lag of the foreground's own strain, "
                         "not a background; give the slides file (slides-*.hdf) or a search of "
                         "noise-only data")
    if len(analysed) and len(table):
        outside = ~in_spans(table["time"].to_numpy(float), analysed)
        if outside.any():
            t = float(table["time"].to_numpy(float)[np.argmax(outside)])
            raise ValueError(f"{search.foreground}: {int(outside.sum())} trigger(s) lie outside "
                             f"its own analysed spans (first at GPS {t:.3f}): not a consistent "
                             "trigger file")
    stream = fg_attrs.get("stream")
    if stream and injections.stream and injections.stream not in str(stream).split():
        raise ValueError(f"{search.foreground}: searched stream {stream}, but the injections "
                         f"were made for stream {injections.stream}; give that stream's "
                         "injection table")


def in_spans(times: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """Which ``times`` ``(N,)`` fall in any ``[start, stop)`` of ``spans`` ``(n, 2)``."""
    if not len(spans):
        return np.ones(len(times), dtype=bool)
    return ((times[:, None] >= spans[None, :, 0]) & (times[:, None] < spans[None, :, 1])).any(1)


def score_search(search: SearchFiles, injections: InjectionSet,
                 config: EvaluateSearchConfig) -> dict[str, Any]:
    """One search's figures (module docstring): a JSON-able dict."""
    fg, fg_attrs, analysed = foreground = read_trigger_file(search.foreground)
    bg, bg_attrs, _ = background = read_trigger_file(search.background)
    check_pair(search, foreground, background, injections)
    duration = duration_of(bg_attrs, search.background, config.background_duration,
                           "--background-duration")
    foreground_seconds = duration_of(fg_attrs, search.foreground, config.foreground_duration,
                                     "--foreground-duration")
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
        "foreground_seconds": foreground_seconds,
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
    from pipeline.search.evaluate.plots import plot_distance_vs_far, plot_found_missed

    plot_distance_vs_far(report, out / "distance_vs_far.png")
    plot_found_missed(report, out / "found_missed.png")
    write_json_atomic(out / REPORT_FILE, report)
    return report
