"""The ``simulate-stream`` job: determinism, resume, what it records, and its MLGWSC-1 files."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from preprocess.simulate.snr import optimal_snr
from preprocess.stream.chunk import make_chunk
from preprocess.stream.config import SAMPLE_RATE, ReadOptions, StreamConfig
from preprocess.stream.errors import SettingsMismatchError
from preprocess.stream.injections import render, segment_injections
from preprocess.stream.layout import read_levels, read_psd
from preprocess.stream.mlgwsc import read_injections
from preprocess.stream.noise import stream_psds
from preprocess.stream.plan import chunks_of, simulated_segments
from preprocess.stream.readers import StrainSet, read_segments
from preprocess.stream.simulate import simulate_stream
from tests.preprocess.stream.conftest import SMALL

FS = SAMPLE_RATE
TINY = StreamConfig(seed=11, duration=64, segment_duration=64, chunk_duration=16,
                    injection_edge=16.0, glitch_rate=400.0, level_min=0.7, level_max=1.4,
                    level_timescale=30.0)


def _files(root: Path) -> dict[str, bytes]:
    """Every file's bytes but the folder lock's (it names the process holding it)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".gwspec.lock"}


def test_same_bytes_whatever_the_workers_and_resumed_after_a_crash(tmp_path: Path) -> None:
    one = _files(simulate_stream(TINY, tmp_path / "one", workers=1, progress=False))
    two = _files(simulate_stream(TINY, tmp_path / "two", workers=2, progress=False))
    assert one.keys() == two.keys() and len([k for k in one if k.endswith(".h5")]) == 8
    assert all(one[k] == two[k] for k in one), [k for k in one if one[k] != two[k]]
    # an interrupted run: a chunk's foreground never written, tables and manifest missing
    crashed = tmp_path / "two"
    for name in ("manifest.json", "injections.csv", "glitches.csv"):
        (crashed / name).unlink()
    next((crashed / "foreground").glob("*-1238166034-16.h5")).unlink()
    assert _files(simulate_stream(TINY, crashed, workers=1, progress=False)) == one


def test_a_folder_of_other_settings_is_refused(small_stream: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(small_stream, copy)
    other = dataclasses.replace(SMALL, seed=8, glitch_rate=0.0)
    with pytest.raises(SettingsMismatchError, match=r"copy: holds a stream made with other "
                       r"settings; use another --out or delete it\. config\.glitch_rate: folder "
                       r"has 200\.0, requested 0\.0; config\.seed: folder has 7, requested 8"):
        simulate_stream(other, copy, workers=1, progress=False)


def test_injection_snrs_recomputed_from_the_written_strain(small_stream: Path) -> None:
    injections = pd.read_csv(small_stream / "injections.csv")
    assert len(injections) == 6 and (injections["tc"].diff().dropna() > 18).all()
    levels = pd.read_csv(small_stream / "levels.csv")
    foreground = StrainSet(small_stream / "foreground")
    background = StrainSet(small_stream / "background")
    drawn = {i.tc: i for s in simulated_segments(SMALL) for i in segment_injections(SMALL, s)}
    for _, row in injections.iterrows():
        first, rendered = render(SMALL, drawn[row["tc"]])  # the window the SNR was taken on
        n = rendered.shape[1]
        psd = stream_psds(SMALL, n)
        for d, detector in enumerate(SMALL.detectors):
            fg = foreground.read(detector, first, first + n)
            signal = fg - background.read(detector, first, first + n)
            level = np.exp(np.interp(row["tc"], levels["gps"], np.log(levels[detector])))
            snr = float(optimal_snr(signal, psd[d] * level, SMALL.f_lower))
            # Both files are float32: rounding noise of std |x| 2^-24 / sqrt(12) per sample
            # in each, white, whose own SNR is sqrt(4 var / fs * sum 1/S) over the band.
            var = 2 * (np.abs(fg).max() * 2.0**-24) ** 2 / 12
            band = (np.fft.rfftfreq(n, 1 / FS) >= SMALL.f_lower) & (psd[d] > 0)
            noise_snr = np.sqrt(4 * var / FS * (1 / (psd[d][band] * level)).sum())
            assert abs(snr - row[f"snr_{detector}"]) < 5 * noise_snr, (row["tc"], detector)
    expected = np.sqrt((injections[[f"snr_{d}" for d in SMALL.detectors]] ** 2).sum(axis=1))
    np.testing.assert_allclose(injections["snr_network"], expected, rtol=1e-12)


def test_recorded_levels_are_those_of_the_background(small_stream: Path) -> None:
    glitches = pd.read_csv(small_stream / "glitches.csv")
    block = 8 * FS
    window = np.hanning(block)
    freqs = np.fft.rfftfreq(block, 1 / FS)
    band = (freqs >= 30) & (freqs < 500)
    psd_grid = np.arange(4097) * 0.25
    measured, recorded = [], []
    for path in sorted((small_stream / "background").glob("*.h5")):
        psd, levels = read_psd(path), read_levels(path)
        segment, = (s for s in read_segments(path, ["H1"], _options()))
        for k in range(0, len(segment.data) - block + 1, block):
            t0 = segment.gps_start + k / FS
            if ((glitches["detector"] == "H1") & (glitches["time"].between(t0 - 2, t0 + 10))).any():
                continue  # a glitch adds power that is not the noise level
            spectrum = np.abs(np.fft.rfft(segment.data[k : k + block] * window)) ** 2
            expected = np.interp(freqs[band], psd_grid, psd["H1"]) * FS * (window**2).sum() / 2
            measured.append((spectrum[band] / expected).mean())
            seconds = int(k / FS)
            recorded.append(levels["H1"][seconds : seconds + 9].mean())
    ratio = np.array(measured) / np.array(recorded)
    assert np.ptp(recorded) > 0.2  # the level does drift
    # Each block averages 3776 bins of a Hann periodogram (neighbours correlated: about half
    # independent, relative std sqrt(2 / 3776) = 2.3%); the level moves within a block by a
    # few per cent, which its mean follows to second order.
    assert np.abs(ratio - 1).max() < 5 * np.sqrt(2 / band.sum()) + 0.01
    assert abs(ratio.mean() - 1) < 5 * np.sqrt(2 / band.sum() / len(ratio)) + 0.005


def _options() -> ReadOptions:
    return ReadOptions(min_duration=1.0, max_duration=None)


def test_glitches_are_those_recorded(small_stream: Path) -> None:
    chunk = chunks_of(simulated_segments(SMALL), SMALL.chunk_duration)[1]
    with_glitches, _ = make_chunk(SMALL, chunk)
    without, _ = make_chunk(dataclasses.replace(SMALL, glitch_rate=0.0), chunk)
    difference = with_glitches.strain - without.strain
    assert with_glitches.glitches, "expected glitches in this chunk at 200 per hour"
    every = pd.read_csv(small_stream / "glitches.csv")
    start, checked = chunk.start * FS, 0
    for glitch in with_glitches.glitches:
        d = SMALL.detectors.index(glitch["detector"])
        centre = int(round(glitch["time"] * FS)) - start
        lo, hi = max(centre - 2 * FS, 0), min(centre + 2 * FS, difference.shape[1])
        near = every[(every["detector"] == glitch["detector"])
                     & ((every["time"] - glitch["time"]).abs() < 4)]
        if lo == centre - 2 * FS and hi == centre + 2 * FS and len(near) == 1:
            checked += 1  # wholly inside and alone in its 4 s: the difference is this glitch
            piece = difference[d, lo:hi]
            level = np.exp(np.interp(glitch["time"] - chunk.start, np.arange(chunk.duration + 1),
                                     np.log(with_glitches.levels[d])))
            snr = optimal_snr(piece, stream_psds(SMALL, 4 * FS)[d] * level, SMALL.f_lower)
            assert float(snr) == pytest.approx(glitch["snr"], rel=1e-6)  # the same sums
    assert checked > 0
    reaching = every[every["time"].between(chunk.start - 2, chunk.stop + 2)]
    for d, detector in enumerate(SMALL.detectors):  # no glitch, no difference: same noise
        if detector not in set(reaching["detector"]):
            assert not difference[d].any(), detector


def test_a_detector_subset_holds_the_same_strain(small_stream: Path) -> None:
    pair = dataclasses.replace(SMALL, detectors=("H1", "L1"))
    chunk = chunks_of(simulated_segments(SMALL), SMALL.chunk_duration)[2]
    background, foreground = make_chunk(pair, chunk)
    all_three = StrainSet(small_stream / "foreground")
    for d, detector in enumerate(pair.detectors):
        written = all_three.read(detector, chunk.start * FS, chunk.stop * FS)
        np.testing.assert_array_equal(foreground.strain[d].astype(np.float32), written)
    assert background.strain.shape == (2, chunk.duration * FS)


def test_mlgwsc_files(small_stream: Path) -> None:
    injections, attrs = read_injections(small_stream / "injections.hdf")
    record = json.loads((small_stream / "stream.json").read_text())
    assert attrs["stream"] == record["config_hash"]  # the stream they were made for
    for name in ("tc", "mass1", "mass2", "distance", "chirp_distance", "spin1z", "coa_phase",
                 "ra", "dec", "inclination", "polarization", "snr_H1"):
        assert injections[name].shape == (6,) and injections[name].dtype == np.float64, name
    assert (np.diff(injections["tc"]) > 0).all()
    table = pd.read_csv(small_stream / "injections.csv")
    np.testing.assert_array_equal(injections["distance"], table["distance"])
    with h5py.File(small_stream / "injections.hdf") as f:
        assert f.attrs["approximant"] == "IMRPhenomPv2" and f.attrs["f_lower"] == 20.0
    for kind in ("background", "foreground"):
        with h5py.File(small_stream / "mlgwsc" / f"{kind}.hdf") as f:
            assert sorted(f) == ["H1", "L1", "V1"]
            assert sorted(f["H1"]) == ["1238166018", "1238166122"]  # 96 s + an 8-s gap
            dataset = f["L1/1238166122"]
            assert dataset.shape == (96 * FS,)
            assert dataset.attrs["start_time"] == 1238166122.0
            assert dataset.attrs["delta_t"] == 1 / FS
        ours = list(read_segments(small_stream / kind, options=_options()))
        theirs = list(read_segments(small_stream / "mlgwsc" / f"{kind}.hdf", options=_options()))
        assert [(s.detector, s.gps_start) for s in ours] == [(s.detector, s.gps_start)
                                                              for s in theirs]
        assert all(np.array_equal(a.data, b.data) for a, b in zip(ours, theirs, strict=True))
    manifest = json.loads((small_stream / "manifest.json").read_text())
    assert (manifest["seconds"], manifest["n_injections"]) == (192, 6)
