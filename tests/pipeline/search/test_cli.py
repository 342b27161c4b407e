"""The commands: evaluate-search end to end, and bad input as one line with exit status 2."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.search.triggers import write_trigger_file
from pipeline.search.volume import SECONDS_PER_MONTH
from tests.preprocess.test_commandline import (
    test_help_and_argument_errors_import_nothing_heavy as answers_at_once,
)


def trigger_file(path, times, stats, duration, analysed=((0.0, 1e4),)):
    table = pd.DataFrame({"time": times, "stat": stats, "var": 0.3})
    return write_trigger_file(path, table, {"duration": duration}, np.array(analysed))


def test_evaluate_search(tmp_path, capsys) -> None:
    n = 40
    tc = 100.0 + 24.0 * np.arange(n)
    pd.DataFrame({"tc": tc, "distance": np.linspace(100, 1000, n), "snr_network":
                  np.linspace(20, 2, n)}).to_csv(tmp_path / "injections.csv", index=False)
    # foreground: the 20 nearest injections found, stat 30 down to 11; background: one
    # trigger of each stat 1..10 over 10 days
    fg = trigger_file(tmp_path / "fg.hdf", tc[:20] + 0.01, np.linspace(30, 11, 20), 1e4)
    bg = trigger_file(tmp_path / "bg.hdf", np.arange(10.0), np.arange(1.0, 11.0), 864000.0)
    assert main(["evaluate-search", "--foreground", str(fg), str(fg), "--background", str(bg),
                 str(bg), "--names", "a", "b", "--injections", str(tmp_path / "injections.csv"),
                 "--out", str(tmp_path / "report")]) == 0
    report = json.loads((tmp_path / "report" / "search_report.json").read_text())
    search = report["searches"][0]
    assert search["lowest_far_per_month"] == pytest.approx(SECONDS_PER_MONTH / 864000.0)
    rows = {r["far_per_month"]: r for r in search["table"]}
    assert rows[10.0]["supported"] and not rows[1.0]["supported"]
    assert rows[10.0]["found"] == 20  # every background trigger is quieter than 11
    frac = 20 / 40  # volume prior (no chirp distance): V = V_max * found / N
    assert rows[10.0]["volume_mpc3"] == pytest.approx(4 * np.pi / 3 * 1000.0**3 * frac)
    for name in ("table.csv", "table.md", "curves.csv", "distance_vs_far.png",
                 "found_missed.png"):
        assert (tmp_path / "report" / name).is_file()


def one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.fixture
def inputs(tmp_path):
    bad = tmp_path / "bad.hdf"
    with h5py.File(bad, "w") as f:
        f["time"] = [1.0]
    no_duration = tmp_path / "nodur.hdf"
    with h5py.File(no_duration, "w") as f:
        for name in ("time", "stat", "var"):
            f[name] = [1.0]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    pd.DataFrame({"tc": [1.0], "distance": [100.0]}).to_csv(tmp_path / "inj.csv", index=False)
    return tmp_path


def test_search_bad_input(inputs, stream, capsys) -> None:
    fg = str(stream / "foreground")
    cases = [
        (["--strain", str(inputs / "missing.h5")], "missing.h5: no such file"),
        (["--strain", fg, "--detectors", "H1"], "at least two detectors"),
        (["--strain", fg, "--psd", str(inputs / "none.csv")], "none.csv: no such PSD file"),
        (["--strain", fg, "--bank", str(inputs / "bad.hdf")], "bad.hdf: not a gwspec search"),
        (["--strain", fg, "--n-templates", "2", "--slide-step", "0.5"], "slide step 0.5 s"),
    ]
    for argv, expected in cases:
        err = one_line_error(capsys, ["baseline", "matched-filter-search", *argv, "--out",
                                      str(inputs / "out"), "--no-progress", "--workers", "1"])
        assert expected in err
    err = one_line_error(capsys, ["baseline", "matched-filter-search", "--strain", fg, "--out",
                                  str(inputs / "foreign")])
    assert "foreign: holds files that are not a gwspec search" in err


def test_evaluate_search_bad_input(inputs, capsys) -> None:
    good = trigger_file(inputs / "good.hdf", [1.0], [5.0], 100.0)
    inj = str(inputs / "inj.csv")
    cases = [
        (["--foreground", str(good), "--background", str(good), str(good)], "give one of each"),
        (["--foreground", str(inputs / "bad.hdf"), "--background", str(good)],
         "bad.hdf: not an MLGWSC-1 trigger file"),
        (["--foreground", str(good), "--background", str(inputs / "nodur.hdf")],
         "nodur.hdf: the trigger file records no duration"),
        (["--foreground", str(good), "--background", str(inputs / "gone.hdf")],
         "gone.hdf: no such trigger file"),
    ]
    for argv, expected in cases:
        err = one_line_error(capsys, ["evaluate-search", *argv, "--injections", inj, "--out",
                                      str(inputs / "report")])
        assert expected in err


@pytest.mark.parametrize("argv", [["baseline", "matched-filter-search", "--help"],
                                  ["evaluate-search", "--help"],
                                  ["evaluate-search", "--out", "o"]])  # an argument error
def test_commands_answer_at_once(argv) -> None:
    answers_at_once("pipeline.cli", argv)
