"""The search job both searches run: bad pieces skipped and accounted for, data identified by
content, the settings that change scores recorded (and those that do not, not), the analysed
time the time the windows cover, the strain high-passed before it is scored."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from pipeline.search.config import SlideConfig
from pipeline.search.job import NothingAnalysedError, bad_marker
from pipeline.search.matched_filter.search import run_search
from pipeline.search.network import search as net_search
from pipeline.search.triggers import read_trigger_file
from preprocess.stream.config import ReadOptions
from preprocess.stream.errors import BadSegmentError, SettingsMismatchError
from preprocess.stream.readers import StrainSet
from tests.pipeline.search.helpers import DETECTORS
from tests.pipeline.search.matched_filter.test_search import CONFIG as MF
from tests.pipeline.search.network.test_search import CONFIG as NETWORK

# a NaN second at GPS 1238166018 + 40 s: in the second 48-s piece of the first segment
NAN_AT = 40


def _copy(stream: Path, tmp_path: Path, nan_chunks: tuple[int, ...] = ()) -> Path:
    """The stream's foreground files, copied; a NaN second in each chunk of ``nan_chunks``."""
    out = tmp_path / "foreground"
    shutil.copytree(stream / "foreground", out)
    files = sorted(out.glob("*.h5"))
    for k in nan_chunks:
        with h5py.File(files[k], "r+") as f:
            strain = f["strain/H1"]
            values = strain[()]
            values[(NAN_AT % 32) * 2048 : (NAN_AT % 32 + 1) * 2048] = np.nan
            strain[...] = values
    return out


def _mf_search(strain: Path, out: Path, skip_bad: bool, bank_file: Path, **changes):
    config = replace(MF, read=replace(MF.read, skip_bad=skip_bad), **changes)
    return run_search(strain, out, config, bank=bank_file, workers=1, progress=False)


def test_a_bad_piece_is_skipped_counted_and_left_out_in_the_matched_filter(
        stream, bank_file, tmp_path) -> None:
    strain = _copy(stream, tmp_path, nan_chunks=(1,))
    with pytest.raises(BadSegmentError, match="H1 segment GPS .*non-finite.*--skip-bad"):
        _mf_search(strain, tmp_path / "stop", False, bank_file)
    out = _mf_search(strain, tmp_path / "skip", True, bank_file)
    result = json.loads((out / "result.json").read_text())
    assert result["segments"] == 3 and result["skipped"]["pieces"] == 1
    assert result["skipped"]["seconds"] == 48 and "non-finite" in result["skipped"]["reasons"][0]
    assert result["analysed_seconds"] == pytest.approx(3 * 35)  # three 48-s pieces analysed
    assert result["read_report"]["bad"] == 1
    table, attrs, analysed = read_trigger_file(out / "zerolag-newsnr.hdf")
    assert attrs["duration"] == pytest.approx(3 * 35) and len(analysed) == 3
    _, slide_attrs, _ = read_trigger_file(out / "slides-newsnr.hdf")
    assert slide_attrs["duration"] == pytest.approx(result["slides"]["background_seconds"])
    skipped = [p for p in (out / "segments").iterdir() if p.name.endswith(".bad.json")]
    assert len(skipped) == 1  # the record the ranking counts on every later run
    again = _mf_search(strain, out, True, bank_file)  # a re-run ranks again, filters nothing
    assert json.loads((again / "result.json").read_text())["skipped"]["pieces"] == 1


def test_a_search_that_analysed_nothing_says_so(stream, bank_file, tmp_path) -> None:
    strain = _copy(stream, tmp_path, nan_chunks=(0, 1, 2, 3, 4, 5))
    with pytest.raises(NothingAnalysedError, match=r"nothing analysed: every one of the 4 "):
        _mf_search(strain, tmp_path / "none", True, bank_file)
    assert not (tmp_path / "none" / "zerolag-newsnr.hdf").exists()


def test_a_bad_piece_is_skipped_counted_and_left_out_in_the_network_search(
        stream, checkpoint, tmp_path) -> None:
    strain = _copy(stream, tmp_path, nan_chunks=(1,))
    config = replace(NETWORK, read=replace(NETWORK.read, skip_bad=True))
    out = net_search.run_network_search(strain, [checkpoint], tmp_path / "s", config,
                                        progress=False)
    result = json.loads((out / "result.json").read_text())
    assert result["segments"] == 3 and result["skipped"]["pieces"] == 1
    assert result["analysed_seconds"] == pytest.approx(3 * 48)  # the windows cover each piece
    zero, attrs, analysed = read_trigger_file(out / "zerolag-network.hdf")
    assert attrs["duration"] == pytest.approx(3 * 48) and len(analysed) == 3
    piece = [p for p in (out / "segments").iterdir() if p.name.endswith(".bad.json")][0]
    start = float(piece.name.split("-")[0])
    assert not ((zero["time"] > start) & (zero["time"] < start + 48)).any()


def test_replaced_strain_is_told_from_the_strain_searched(stream, bank_file, tmp_path) -> None:
    strain = _copy(stream, tmp_path)
    out = _mf_search(strain, tmp_path / "s", False, bank_file)
    first = sorted(strain.glob("*.h5"))[0]
    with h5py.File(first, "r+") as f:  # other data under the same name
        f["strain/L1"][:2048] = f["strain/L1"][:2048] * 0.5
    with pytest.raises(SettingsMismatchError, match=rf"files\..*{first.name}: "):
        _mf_search(strain, out, False, bank_file)


def test_the_device_and_precision_are_recorded_not_the_batch_size(
        stream, checkpoint, tmp_path) -> None:
    config = replace(NETWORK, slides=SlideConfig(step=4.0, count=1))
    out = net_search.run_network_search(stream / "foreground", [checkpoint], tmp_path / "s",
                                        config, progress=False)
    settings = json.loads((out / "search.json").read_text())
    assert settings["device"] == "cpu" and settings["precision"] == "float32"
    assert "batch_size" not in settings["scoring"]
    before = pd.read_csv(out / "zerolag-network.csv")
    net_search.run_network_search(stream / "foreground", [checkpoint], out,
                                  replace(config, batch_size=7), progress=False)
    pd.testing.assert_frame_equal(pd.read_csv(out / "zerolag-network.csv"), before)
    with pytest.raises(SettingsMismatchError, match="precision: 'float32' -> 'bfloat16'"):
        net_search.run_network_search(stream / "foreground", [checkpoint], out,
                                      replace(config, amp=True), progress=False)


def test_the_analysed_time_is_what_the_windows_cover(stream, checkpoint, tmp_path) -> None:
    """Windows 2 s long every 10 s cover a fifth of the strain: that, not the stride, is the
    analysed time (and the background)."""
    config = replace(NETWORK, stride=10.0, slides=SlideConfig(step=20.0, count=1),
                     read=ReadOptions(max_duration=96.0, min_duration=32.0))
    out = net_search.run_network_search(stream / "foreground", [checkpoint], tmp_path / "s",
                                        config, progress=False)
    result = json.loads((out / "result.json").read_text())
    windows = (96 - 2) // 10 + 1  # per 96-s piece
    assert result["analysed_seconds"] == pytest.approx(2 * windows * 2.0)
    assert result["slides"]["background_seconds"] == pytest.approx(2 * windows * 2.0)


def test_bad_markers_name_their_piece(tmp_path) -> None:
    assert bad_marker(tmp_path, (2048 * 100, 2048 * 148)).name == "100-48.bad.json"


def test_every_piece_is_scored_high_passed(stream, checkpoint, tmp_path, monkeypatch) -> None:
    """The job hands each search its piece high-passed over the strain around it
    (``StrainSet.conditioned``), and records the corner among the settings."""
    seen: dict = {}
    score = net_search.NetworkSearch.score

    def spy(self, out, piece, data, held, progress):
        seen[piece] = data.copy()
        return score(self, out, piece, data, held, progress)

    monkeypatch.setattr(net_search.NetworkSearch, "score", spy)
    config = replace(NETWORK, slides=SlideConfig(step=4.0, count=1))
    out = net_search.run_network_search(stream / "foreground", [checkpoint], tmp_path / "s",
                                        config, progress=False)
    strain = StrainSet((str(stream / "foreground"),), DETECTORS, config.read)
    raw = StrainSet((str(stream / "foreground"),), DETECTORS, replace(config.read, highpass=0.0))
    assert len(seen) > 1
    for piece, data in seen.items():
        np.testing.assert_array_equal(data, strain.conditioned(*piece))
        # the simulated seismic wall, most of the raw strain's power, is gone
        assert data.std() < 0.2 * raw.checked(*piece).std()
    settings = json.loads((out / "search.json").read_text())
    assert settings["scoring"]["read"]["highpass"] == config.read.highpass == 15.0
