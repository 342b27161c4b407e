"""``preprocess cut``: 2-s G2Net samples of real strain around a GPS time, noise samples around
it, and the data folder ``build-cqt`` whitens by its own data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from preprocess.cli import main
from preprocess.highpass import highpass
from preprocess.layout import data_detectors, load_sample, read_split, sample_path
from preprocess.stream.config import SAMPLE_RATE, ReadOptions
from preprocess.stream.cut import CutConfig, cut_samples
from preprocess.stream.readers import StrainSet

GPS = 1126259462.4


def test_the_event_sample_holds_the_strain_around_it(gwosc_files, tmp_path) -> None:
    out = cut_samples(gwosc_files, tmp_path / "cut", CutConfig(times=(GPS,), noise_stride=2.0))
    table = pd.read_csv(out / "cut.csv")
    event = table[table["kind"] == "event"].iloc[0]
    start = round((GPS - 1.55) * SAMPLE_RATE) / SAMPLE_RATE
    assert event["id"] == "event0000" and event["gps_start"] == pytest.approx(start)
    strain = StrainSet([str(p) for p in gwosc_files], None, ReadOptions(min_duration=2.0))
    a = int(round(start * SAMPLE_RATE))
    sample = load_sample(sample_path(out, "test", "event0000"), detectors=("H1", "L1"))
    np.testing.assert_array_equal(sample, strain.conditioned(a, a + 4096))
    # high-passed over the strain around it (8 s each side), not over the 2 s alone: what the
    # whole 32 s high-passed at once holds there, to float64 rounding (the filter's memory has
    # decayed by exp(-2 pi 15 Hz sin(pi/16) 8 s) = e^-147 at the padding's ends)
    (first, last), = strain.common
    whole = highpass(strain.checked(first, last), 15.0)[:, a - first : a - first + 4096]
    np.testing.assert_allclose(sample, whole, rtol=0, atol=1e-9 * whole.std())
    # and the strain itself without the high-pass
    raw = cut_samples(gwosc_files, tmp_path / "raw", CutConfig(
        times=(GPS,), noise_stride=0.0, read=ReadOptions(min_duration=2.0, highpass=0.0)))
    np.testing.assert_array_equal(load_sample(sample_path(raw, "test", "event0000"),
                                              detectors=("H1", "L1")), strain.checked(a, a + 4096))
    noise = table[table["kind"] == "noise"]
    assert len(noise) == 10  # 15 windows of 30 s every 2 s, less 5 within 4 s of the event
    assert ((noise["gps_start"] + 2 <= GPS - 4) | (noise["gps_start"] >= GPS + 4)).all()
    assert data_detectors(out) == ("H1", "L1")  # from cut.json, as build-cqt reads it
    assert read_split(out, "test")["id"].tolist() == table["id"].tolist()
    record = json.loads((out / "cut.json").read_text())
    assert record["samples"] == {"event": 1, "noise": 10} and len(record["files"]) == 2


def test_the_command_and_build_cqt_make_the_test_cache(gwosc_files, tmp_path, capsys) -> None:
    from preprocess.build import build_cache
    from preprocess.config import BuildOptions

    out = tmp_path / "cut"
    assert main(["cut", "--strain", *map(str, gwosc_files), "--gps", str(GPS), "--out",
                 str(out), "--noise-stride", "1"]) == 0
    assert "listed in" in capsys.readouterr().out
    manifest = build_cache(out, "test", tmp_path / "cache", psd_from_split=True,
                           options=BuildOptions(workers=0, progress=False)).manifest
    assert manifest.n_samples == 20 and manifest.detectors == ("H1", "L1")
    assert np.isfinite(manifest.psd).all() and manifest.info["psd_source"].startswith(
        "estimated from 20 samples of the test split")


def test_a_time_outside_the_strain_is_named(gwosc_files, tmp_path) -> None:
    with pytest.raises(ValueError, match="GPS 1126259500: its 2 s .* do not lie in the "
                                         "analysable time"):
        cut_samples(gwosc_files, tmp_path / "cut", CutConfig(times=(1126259500.0,)))
    with pytest.raises(ValueError, match="nothing to cut"):
        CutConfig(noise_stride=0.0)
