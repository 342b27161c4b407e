"""The search job end to end: outputs, ranking again without filtering, resume after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from pipeline.search.config import SlideConfig
from pipeline.search.matched_filter.config import RankingConfig, SearchConfig
from pipeline.search.matched_filter.search import run_search
from pipeline.search.triggers import read_trigger_file
from preprocess.stream.config import ReadOptions
from preprocess.stream.errors import SettingsMismatchError
from tests.pipeline.search.helpers import FILTER

# 96-s segments searched in 48-s pieces: four segment files, 35 s analysed each
CONFIG = SearchConfig(filter=FILTER, ranking=RankingConfig(statistics=("snr", "newsnr")),
                      slides=SlideConfig(count=3),
                      read=ReadOptions(max_duration=48.0, min_duration=32.0))
OPTIONS = ["--n-templates", "12", "--block", "32", "--psd-span", "128", "--max-duration", "48",
           "--min-duration", "32", "--statistic", "snr", "newsnr", "--slides", "3",
           "--workers", "1", "--no-progress"]


def test_search_end_to_end(tmp_path, stream, bank_file) -> None:
    out = run_search(stream / "foreground", tmp_path / "s", CONFIG, bank=bank_file, workers=2,
                     progress=False)
    result = json.loads((out / "result.json").read_text())
    assert result["segments"] == 4 and result["analysed_seconds"] == pytest.approx(4 * 35)
    assert result["slides"]["background_seconds"] == pytest.approx(3 * 4 * 35)
    assert result["filtering"]["strain_seconds_per_cpu_second_per_detector"] > 10
    for statistic in ("snr", "newsnr"):
        table, attrs, analysed = read_trigger_file(out / f"zerolag-{statistic}.hdf")
        assert attrs["duration"] == pytest.approx(4 * 35) and attrs["statistic"] == statistic
        assert analysed.shape == (4, 2)
        inside = [(analysed[:, 0] <= t).any() for t in table["time"]]
        assert all(inside) and (table["slide"] == 0).all()
        _, attrs, _ = read_trigger_file(out / f"slides-{statistic}.hdf")
        assert attrs["duration"] == pytest.approx(3 * 4 * 35)
    # ranking settings may change without filtering again; filter settings may not
    files = {p: p.stat().st_mtime_ns for p in (out / "segments").iterdir()}
    run_search(stream / "foreground", out, replace(CONFIG, slides=SlideConfig(count=1)),
               workers=1, progress=False)
    assert {p: p.stat().st_mtime_ns for p in (out / "segments").iterdir()} == files
    result = json.loads((out / "result.json").read_text())
    assert result["slides"]["count"] == 1
    changed = replace(CONFIG, filter=replace(FILTER, snr_threshold=6.0))
    with pytest.raises(SettingsMismatchError, match="filter.snr_threshold: 5.0 -> 6.0"):
        run_search(stream / "foreground", out, changed, workers=1, progress=False)


def test_resume_after_kill(tmp_path, stream, bank_file) -> None:
    reference = run_search(stream / "foreground", tmp_path / "ref", CONFIG, bank=bank_file,
                           workers=1, progress=False)
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "pipeline.cli", "baseline", "matched-filter-search",
               "--strain", str(stream / "foreground"), "--out", str(out), "--bank",
               str(bank_file), *OPTIONS]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               cwd=Path(__file__).parents[4])
    deadline = time.monotonic() + 120
    while not list((out / "segments").glob("*.h5")) and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done = list((out / "segments").glob("*.h5"))
    assert 1 <= len(done) < 4 and not (out / "result.json").exists()
    from pipeline.cli import main

    assert main(command[3:]) == 0  # the same command resumes
    for name in ("zerolag-newsnr.csv", "slides-snr.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(out / name), pd.read_csv(reference / name))
