"""Coincidence: single-detector triggers of the same template, consistent in time across sites.

Two triggers of detectors ``a`` and ``b`` are coincident when they come from the same template
and their times differ by at most the light-travel time between the sites (lal geometry: H1-L1
10.0 ms, H1-V1 27.3 ms, L1-V1 26.4 ms) plus ``coinc_margin`` (the scatter of a peak's time in
noise). Every pair of detectors is searched; a coincident pair then takes, from each other
detector, the loudest trigger of the same template consistent with both of its members (so
H1-L1-V1 triples form when all three see it). The network statistic is the quadrature sum of
the members' statistics (``ranking.py``); the candidate's ``time`` is that of its first member
in detector order (the first detector is never slid).

Candidates of one piece and slide are then clustered in time (``triggers.cluster``): the
loudest keeps every other within ``cluster_window`` s out, so one event, seen by many templates
and pairs, is counted once, in the foreground and the background alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pipeline.search.matched_filter.config import RankingConfig
from pipeline.search.matched_filter.ranking import network_statistic, single_statistic
from pipeline.search.matched_filter.singles import SegmentTriggers
from pipeline.search.sites import light_travel_time
from pipeline.search.slides import shifts, slide_times
from pipeline.search.triggers import cluster

KEY_STRIDE = 1e6  # s between templates in the (template, time) sort key: longer than a segment


def windows(detectors: Sequence[str], margin: float) -> np.ndarray:
    """Coincidence windows ``(D, D)`` in s: light-travel time plus ``margin``."""
    out = np.zeros((len(detectors), len(detectors)))
    for i, a in enumerate(detectors):
        for j, b in enumerate(detectors):
            if i != j:
                out[i, j] = light_travel_time(a, b) + margin
    return out


def _pairs(keys_a: np.ndarray, keys_b: np.ndarray, window: float) -> tuple[np.ndarray, ...]:
    """Index pairs ``(ia, ib)`` with ``|keys_a - keys_b| <= window``; ``keys_b`` sorted."""
    lo = np.searchsorted(keys_b, keys_a - window, side="left")
    hi = np.searchsorted(keys_b, keys_a + window, side="right")
    counts = hi - lo
    ia = np.repeat(np.arange(len(keys_a)), counts)
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    ib = np.repeat(lo, counts) + np.arange(int(counts.sum())) - offsets
    return ia, ib


def coincidences(times: Sequence[np.ndarray], templates: Sequence[np.ndarray],
                 stats: Sequence[np.ndarray], window: np.ndarray) -> np.ndarray:
    """Members ``(C, D)`` (trigger index per detector, -1 for none) of every coincidence.

    ``times``, ``templates``, ``stats``: per detector ``(T_d,)``; ``window`` ``(D, D)`` s.
    """
    n = len(times)
    keys = [templates[d] * KEY_STRIDE + times[d] for d in range(n)]
    order = [np.argsort(k, kind="stable") for k in keys]
    sorted_keys = [k[o] for k, o in zip(keys, order, strict=True)]
    rows = []
    for a in range(n):
        for b in range(a + 1, n):
            ia, jb = _pairs(keys[a], sorted_keys[b], window[a, b])
            members = np.full((len(ia), n), -1, dtype=np.int64)
            members[:, a], members[:, b] = ia, order[b][jb]
            for c in range(n):
                if c not in (a, b):
                    members[:, c] = _third(members[:, a], members[:, b], a, b, c, keys,
                                           sorted_keys[c], order[c], stats[c], window)
            rows.append(members)
    if not rows:
        return np.zeros((0, n), dtype=np.int64)
    return np.unique(np.concatenate(rows), axis=0)


def _third(ia: np.ndarray, ib: np.ndarray, a: int, b: int, c: int, keys: list[np.ndarray],
           sorted_c: np.ndarray, order_c: np.ndarray, stats_c: np.ndarray,
           window: np.ndarray) -> np.ndarray:
    """For each pair ``(ia, ib)``, the loudest trigger of ``c`` consistent with both, or -1."""
    out = np.full(len(ia), -1, dtype=np.int64)
    lo = np.searchsorted(sorted_c, keys[a][ia] - window[a, c], side="left")
    hi = np.searchsorted(sorted_c, keys[a][ia] + window[a, c], side="right")
    for row in np.flatnonzero(hi > lo):
        found = order_c[lo[row] : hi[row]]
        found = found[np.abs(keys[c][found] - keys[b][ib[row]]) <= window[b, c]]
        if len(found):
            out[row] = found[np.argmax(stats_c[found])]
    return out


def segment_candidates(segment: SegmentTriggers, detectors: Sequence[str], statistic: str,
                       config: RankingConfig, slide: int, step: float) -> pd.DataFrame:
    """Clustered candidates of one segment at one slide: ``time``, ``stat``, ``var``,
    ``slide``, ``template``, ``snr_<det>``, ``chisq_<det>`` (NaN where a detector took no
    part); times are in the first detector's frame."""
    singles = [segment.triggers[d] for d in detectors]
    offsets = shifts(slide, step, len(detectors))
    times = [slide_times(s.time, float(o), segment.analysed) if slide else s.time
             for s, o in zip(singles, offsets, strict=True)]
    stats = [single_statistic(statistic, s.snr, s.chisq) for s in singles]
    members = coincidences(times, [s.template for s in singles], stats,
                           windows(detectors, config.coinc_margin))
    present = members >= 0  # (C, D)
    safe = np.where(present, members, 0)

    def column(values: Sequence[np.ndarray]) -> np.ndarray:  # (D, C), NaN where absent
        return np.stack([np.where(present[:, d], np.asarray(v, dtype=np.float64)[safe[:, d]]
                                   if len(v) else np.nan, np.nan)
                         for d, v in enumerate(values)])

    stat = network_statistic(column(stats))
    first = np.argmax(present, axis=1)  # (C,) first member's detector
    time = column(times)[first, np.arange(len(members))]
    template = np.stack([np.asarray(s.template)[safe[:, d]] if len(s.template)
                         else np.zeros(len(members), np.int64) for d, s in enumerate(singles)])
    table = pd.DataFrame({"time": time, "stat": stat, "var": config.var, "slide": slide,
                          "template": template[first, np.arange(len(members))]})
    snrs, chisqs = column([s.snr for s in singles]), column([s.chisq for s in singles])
    for d, detector in enumerate(detectors):
        table[f"snr_{detector}"], table[f"chisq_{detector}"] = snrs[d], chisqs[d]
    keep = cluster(table["time"].to_numpy(), table["stat"].to_numpy(), config.cluster_window)
    return table.iloc[keep].reset_index(drop=True)
