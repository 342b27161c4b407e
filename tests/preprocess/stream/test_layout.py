"""gwspec's stream layout: one chunk file written and read back, and its name."""

from __future__ import annotations

import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from preprocess.stream.config import SAMPLE_RATE, ReadOptions
from preprocess.stream.errors import StreamError
from preprocess.stream.layout import (
    ChunkFile,
    chunk_name,
    read_attrs,
    read_levels,
    read_psd,
    read_table,
    write_chunk,
)
from preprocess.stream.readers import read_segments

GLITCH_COLUMNS = ("time", "detector", "type", "frequency", "q", "duration", "snr", "phase")
INJECTION_COLUMNS = ("tc", "segment", "mass1", "snr_H1")


def _chunk(rng: np.random.Generator) -> ChunkFile:
    duration = 4
    return ChunkFile(
        kind="foreground", noise="simulated", detectors=("H1", "V1"), gps_start=1000000000,
        duration=duration, segment=2, segment_start=999999990, chunk=3,
        strain=rng.standard_normal((2, duration * SAMPLE_RATE)) * 1e-20,
        levels=rng.uniform(0.5, 2, (2, duration + 1)), psd=rng.uniform(1, 2, (2, 4097)) * 1e-46,
        glitches=[{"time": 1000000001.5, "detector": "V1", "type": "scattered_light",
                   "frequency": 30.0, "q": math.nan, "duration": 0.5, "snr": 8.0, "phase": 1.0}],
        injections=[{"tc": 1000000002.25, "segment": 2, "mass1": 30.0, "snr_H1": 7.5}],
    )


def test_chunk_file_round_trip(tmp_path: Path) -> None:
    data = _chunk(np.random.default_rng(0))
    name = chunk_name("foreground", data.detectors, data.gps_start, data.duration)
    assert name == "H1V1-FOREGROUND-1000000000-4.h5"
    path = tmp_path / name
    write_chunk(path, data, {"seed": 1}, "float32", GLITCH_COLUMNS, INJECTION_COLUMNS)
    attrs = read_attrs(path)
    assert attrs["format"] == "gwspec-stream" and attrs["format_version"] == 1
    assert attrs["detectors"] == ("H1", "V1") and attrs["gps_start"] == 1000000000
    assert (attrs["duration"], attrs["segment"], attrs["chunk"]) == (4, 2, 3)
    assert attrs["config"] == {"seed": 1} and attrs["sample_rate"] == SAMPLE_RATE
    with h5py.File(path) as f:
        for d, detector in enumerate(data.detectors):
            stored = f[f"strain/{detector}"]
            assert stored.dtype == np.float32 and stored.fletcher32
            np.testing.assert_array_equal(stored[()], data.strain[d].astype(np.float32))
    levels, psd = read_levels(path), read_psd(path)
    np.testing.assert_array_equal(levels["V1"], data.levels[1])
    np.testing.assert_array_equal(psd["H1"], data.psd[0])
    glitch, = read_table(path, "glitches")
    assert glitch["detector"] == "V1" and glitch["type"] == "scattered_light"
    assert math.isnan(glitch["q"]) and glitch["time"] == 1000000001.5
    assert read_table(path, "injections") == data.injections
    # the reader sees one 4-s segment per detector at the file's times
    options = ReadOptions(min_duration=1.0)
    h1, v1 = read_segments(path, options=options)
    assert (h1.detector, h1.gps_start, h1.sample_rate) == ("H1", 1000000000.0, SAMPLE_RATE)
    np.testing.assert_array_equal(v1.data, data.strain[1].astype(np.float32))


def test_a_wrong_shape_or_a_foreign_file_is_refused(tmp_path: Path) -> None:
    data = _chunk(np.random.default_rng(1))
    data.strain = data.strain[:, :-1]
    with pytest.raises(ValueError, match=r"x\.h5: strain \(2, 8191\), expected \(2, 8192\)"):
        write_chunk(tmp_path / "x.h5", data, {}, "float32", GLITCH_COLUMNS, INJECTION_COLUMNS)
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = [1.0]
    with pytest.raises(StreamError, match="other.h5: not a gwspec stream file"):
        read_attrs(tmp_path / "other.h5")
