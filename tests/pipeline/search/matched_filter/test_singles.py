"""Single-detector triggers: per-template clustering of peaks, and per-piece files round-trip."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.search.matched_filter.singles import (
    SegmentTriggers,
    SingleTriggers,
    chain_clusters,
    cluster_peaks,
    read_segment,
    write_segment,
)


def test_segment_file_round_trip(tmp_path) -> None:
    h1 = SingleTriggers(np.array([1.5, 2.5]), np.array([3, 4], np.int32),
                        np.array([6.0, 7.0], np.float32), np.array([1.1, 0.9], np.float32))
    segment = SegmentTriggers({"H1": h1, "L1": SingleTriggers.empty()}, 0.0, 100.0,
                              (10.0, 95.0), 1.25)
    write_segment(tmp_path / "s.h5", segment, "abc")
    back, filter_hash = read_segment(tmp_path / "s.h5")
    assert filter_hash == "abc" and back.analysed == (10.0, 95.0) and back.cpu_seconds == 1.25
    assert back.detectors == ("H1", "L1") and len(back.triggers["L1"]) == 0
    for name in ("time", "template", "snr", "chisq"):
        assert np.array_equal(getattr(back.triggers["H1"], name), getattr(h1, name))


def test_per_template_clustering() -> None:
    power = np.zeros((2, 100), np.float32)
    power[0, [10, 11, 12, 40]] = [30, 40, 35, 50]  # one run of three, one apart
    power[1, [11, 14]] = [36, 26]  # 26 is below threshold 5^2
    rows, cols, snr = cluster_peaks(power, 5.0, window=5)
    assert list(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 11), (0, 40), (1, 11)]
    assert snr.tolist() == pytest.approx(np.sqrt([40, 50, 36]).tolist())
    keep = chain_clusters(np.array([0, 0, 0]), np.array([0.0, 0.8, 1.6]), np.array([1, 3, 2]),
                          1.0)
    assert keep.tolist() == [1]  # a chain: each within the window of the next
