"""Trigger files (MLGWSC-1 format) round-trip and refuse bad input; candidates cluster in time."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest

from pipeline.search.triggers import cluster, read_trigger_file, write_trigger_file
from tests.pipeline.search.helpers import trigger_attrs


def test_trigger_file_round_trip(tmp_path) -> None:
    table = pd.DataFrame({"time": [3.0, 1.0, 2.0], "stat": [9.0, 7.5, 8.0], "var": 0.3,
                          "slide": [0, 2, 1], "snr_H1": [6.0, np.nan, 5.0]})
    analysed = np.array([[0.0, 10.0], [20.0, 40.0]])
    path = write_trigger_file(tmp_path / "t.hdf", table, trigger_attrs(duration=30.0),
                              analysed)
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
                           trigger_attrs(), np.zeros((0, 2)))
    with pytest.raises(ValueError, match="records strain"):
        attrs = trigger_attrs()
        del attrs["strain"]
        table = pd.DataFrame({"time": [1.0], "stat": [1.0], "var": [0.1]})
        write_trigger_file(tmp_path / "a.hdf", table, attrs, np.zeros((0, 2)))
    with h5py.File(tmp_path / "b.hdf", "w") as f:
        f["time"] = [1.0]
    with pytest.raises(ValueError, match="lacks dataset"):
        read_trigger_file(tmp_path / "b.hdf")
    (tmp_path / "c.hdf").write_text("not hdf5")
    with pytest.raises(ValueError, match="c.hdf: not a readable"):
        read_trigger_file(tmp_path / "c.hdf")


@pytest.mark.parametrize(("column", "value", "message"), [
    ("stat", np.nan, "stat must be finite; row 1"), ("time", np.inf, "time must be finite"),
    ("var", -0.3, r"var must be finite and > 0; row 1 holds -0\.3"),
], ids=["nan-stat", "inf-time", "negative-var"])
def test_a_column_that_is_not_finite_is_refused_with_its_row(tmp_path, column, value,
                                                             message) -> None:
    path = tmp_path / "t.hdf"
    with h5py.File(path, "w") as f:
        columns = {"time": [1.0, 2.0], "stat": [5.0, 6.0], "var": [0.3, 0.3]}
        columns[column][1] = value
        for name, values in columns.items():
            f[name] = np.array(values)
    with pytest.raises(ValueError, match=rf"t\.hdf: {message}"):
        read_trigger_file(path)


def test_the_loudest_keeps_its_neighbours_out() -> None:
    times = np.array([0.0, 3.0, 5.0, 20.0, 21.0])
    stats = np.array([5.0, 9.0, 7.0, 1.0, 2.0])
    assert cluster(times, stats, 4.0).tolist() == [1, 4]  # 9 keeps 0 and 5 out; 2 keeps 1 out


def test_clustering_keeps_the_loudest() -> None:
    times, stats = np.array([0.0, 0.5, 0.9, 3.0]), np.array([5.0, 7.0, 6.0, 4.0])
    assert cluster(times, stats, 1.0).tolist() == [1, 3]
