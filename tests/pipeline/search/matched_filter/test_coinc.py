"""Coincidence, ranking and slid coincidences on hand-made single-detector triggers."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.search.matched_filter.coinc import segment_candidates, windows
from pipeline.search.matched_filter.config import RankingConfig
from pipeline.search.matched_filter.ranking import newsnr
from pipeline.search.matched_filter.singles import SegmentTriggers, SingleTriggers
from pipeline.search.slides import shifts, slide_times

RANKING = RankingConfig(statistics=("snr",), coinc_margin=0.005, cluster_window=1.0)
SPAN = (1000.0, 1400.0)  # analysed GPS span of the made-up segment


def singles(times, templates=None, snrs=None, chisqs=None) -> SingleTriggers:
    n = len(times)
    return SingleTriggers(np.asarray(times, dtype=float),
                          np.asarray(templates if templates is not None else [0] * n, np.int32),
                          np.asarray(snrs if snrs is not None else [6.0] * n, np.float32),
                          np.asarray(chisqs if chisqs is not None else [1.0] * n, np.float32))


def segment(**triggers: SingleTriggers) -> SegmentTriggers:
    return SegmentTriggers(dict(triggers), SPAN[0] - 10, SPAN[1] + 5, SPAN)


def test_coincidence_refuses_pairs_beyond_the_light_travel_time() -> None:
    w = windows(("H1", "L1"), RANKING.coinc_margin)[0, 1]  # 10 ms + 5 ms
    h1 = singles([1100.0, 1200.0, 1300.0])
    # inside the window, just beyond it, and inside but with another template
    l1 = singles([1100.0 + 0.99 * w, 1200.0 + 1.01 * w, 1300.0], templates=[0, 0, 1])
    table = segment_candidates(segment(H1=h1, L1=l1), ("H1", "L1"), "snr", RANKING, 0, 8.0)
    assert table["time"].tolist() == [1100.0]
    assert table["stat"].iloc[0] == pytest.approx(np.hypot(6.0, 6.0))
    assert table["var"].iloc[0] == RANKING.var


def test_triples_and_the_network_statistic() -> None:
    h1, l1 = singles([1100.0], snrs=[6.0]), singles([1100.008], snrs=[5.0])
    v1 = singles([1100.02, 1100.05], snrs=[7.0, 9.0])  # 20 ms fits both windows, 50 ms neither
    table = segment_candidates(segment(H1=h1, L1=l1, V1=v1), ("H1", "L1", "V1"), "snr",
                               RANKING, 0, 8.0)
    assert len(table) == 1
    assert table["stat"].iloc[0] == pytest.approx(np.sqrt(36 + 25 + 49))
    assert table["snr_V1"].iloc[0] == pytest.approx(7.0)


def test_newsnr() -> None:
    assert newsnr(np.array([8.0]), np.array([0.7]))[0] == 8.0  # chi_r <= 1: unchanged
    # chi_r = 3: 8 / ((1 + 27) / 2)^(1/6)
    assert newsnr(np.array([8.0]), np.array([3.0]))[0] == pytest.approx(8 / 14 ** (1 / 6))


def test_slides_shift_exactly_one_detector() -> None:
    step, k = 8.0, 3
    assert shifts(k, step, 2).tolist() == [0.0, k * step]
    h1 = singles([1100.0, 1250.0])
    # L1's trigger 24 s before H1's: coincident at slide 3 only, at H1's (unshifted) time
    l1 = singles([1100.0 - k * step + 0.004, 1399.0])
    seg = segment(H1=h1, L1=l1)
    for slide in range(0, 6):
        table = segment_candidates(seg, ("H1", "L1"), "snr", RANKING, slide, step)
        assert table["time"].tolist() == ([1100.0] if slide == k else [])
    # cyclic within the analysed span: 1399 + 8 wraps to 1007
    assert slide_times(np.array([1399.0]), 8.0, SPAN)[0] == pytest.approx(1007.0)
