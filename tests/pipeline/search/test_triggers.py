"""Trigger formats: MLGWSC-1 files and segment files round-trip; per-template clustering."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest

from pipeline.search.triggers import (
    SegmentTriggers,
    SingleTriggers,
    chain_clusters,
    cluster_peaks,
    read_segment,
    read_trigger_file,
    write_segment,
    write_trigger_file,
)


def test_trigger_file_round_trip(tmp_path) -> None:
    table = pd.DataFrame({"time": [3.0, 1.0, 2.0], "stat": [9.0, 7.5, 8.0], "var": 0.3,
                          "slide": [0, 2, 1], "snr_H1": [6.0, np.nan, 5.0]})
    analysed = np.array([[0.0, 10.0], [20.0, 40.0]])
    path = write_trigger_file(tmp_path / "t.hdf", table,
                              {"duration": 30.0, "statistic": "newsnr"}, analysed)
    back, attrs, spans = read_trigger_file(path)
    expected = table.sort_values("time").reset_index(drop=True)
    pd.testing.assert_frame_equal(back[expected.columns], expected)
    assert attrs["duration"] == 30.0 and attrs["statistic"] == "newsnr"
    assert np.array_equal(spans, analysed)
    csv = pd.read_csv(tmp_path / "t.csv")
    pd.testing.assert_frame_equal(csv, expected)
    with h5py.File(path) as f:  # what MLGWSC-1's evaluate.py reads
        assert f["time"].shape == f["stat"].shape == f["var"].shape == (3,)


def test_trigger_file_refusals(tmp_path) -> None:
    with pytest.raises(ValueError, match="needs columns stat"):
        write_trigger_file(tmp_path / "a.hdf", pd.DataFrame({"time": [1.0], "var": [0.1]}),
                           {"duration": 1.0}, np.zeros((0, 2)))
    with h5py.File(tmp_path / "b.hdf", "w") as f:
        f["time"] = [1.0]
    with pytest.raises(ValueError, match="lacks dataset"):
        read_trigger_file(tmp_path / "b.hdf")
    (tmp_path / "c.hdf").write_text("not hdf5")
    with pytest.raises(ValueError, match="c.hdf: not a readable"):
        read_trigger_file(tmp_path / "c.hdf")


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
