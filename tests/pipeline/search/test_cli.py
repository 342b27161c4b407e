"""The commands: evaluate-search end to end, and bad input as one line with exit status 2."""

from __future__ import annotations

import json
import re

import h5py
import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.search.evaluate.volume import SECONDS_PER_MONTH
from pipeline.search.triggers import write_trigger_file
from tests.pipeline.search.helpers import trigger_attrs
from tests.runtime.test_cli import (
    test_help_and_argument_errors_import_nothing_heavy as answers_at_once,
)


def trigger_file(path, times, stats, duration, analysed=((0.0, 1e4),), **attrs):
    table = pd.DataFrame({"time": times, "stat": stats, "var": 0.3})
    return write_trigger_file(path, table, trigger_attrs(duration=duration, **attrs),
                              np.array(analysed))


def test_evaluate_search(tmp_path, capsys) -> None:
    n = 40
    tc = 100.0 + 24.0 * np.arange(n)
    pd.DataFrame({"tc": tc, "distance": np.linspace(100, 1000, n), "snr_network":
                  np.linspace(20, 2, n)}).to_csv(tmp_path / "injections.csv", index=False)
    # foreground: the 20 nearest injections found, stat 30 down to 11; background: one
    # trigger of each stat 1..10 over 10 days
    fg = trigger_file(tmp_path / "fg.hdf", tc[:20] + 0.01, np.linspace(30, 11, 20), 1e4)
    bg = trigger_file(tmp_path / "bg.hdf", np.arange(10.0), np.arange(1.0, 11.0), 864000.0,
                      slides=86)
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
        (["--strain", fg, "--n-templates", "2", "--slides", "1", "--slide-step", "0.5"],
             "slide step 0.5 s"),
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


def test_another_searchs_bare_file_is_scored_with_the_durations_given(tmp_path, capsys) -> None:
    """A genuine MLGWSC-1 file of another search holds time, stat and var only: its durations
    come from the options, and a duration the file records is not overridden silently."""
    n = 40
    tc = 100.0 + 24.0 * np.arange(n)
    pd.DataFrame({"tc": tc, "distance": np.linspace(100, 1000, n)}).to_csv(
        tmp_path / "injections.csv", index=False)
    bare = {}
    for name, times, stats in (("fg", tc[:20] + 0.01, np.linspace(30, 11, 20)),
                               ("bg", np.arange(10.0), np.arange(1.0, 11.0))):
        bare[name] = tmp_path / f"{name}.hdf"
        with h5py.File(bare[name], "w") as f:
            f["time"], f["stat"], f["var"] = times, stats, np.full(len(times), 0.3)
    argv = ["evaluate-search", "--foreground", str(bare["fg"]), "--background",
            str(bare["bg"]), "--injections", str(tmp_path / "injections.csv")]
    err = one_line_error(capsys, [*argv, "--out", str(tmp_path / "r0")])
    assert "bg.hdf: the trigger file records no duration" in err
    assert "--background-duration S" in err
    assert main([*argv, "--background-duration", "864000", "--foreground-duration", "1e4",
                 "--out", str(tmp_path / "r1")]) == 0
    search = json.loads((tmp_path / "r1" / "search_report.json").read_text())["searches"][0]
    assert search["background_seconds"] == 864000.0 and search["foreground_seconds"] == 1e4
    assert {r["far_per_month"]: r["found"] for r in search["table"]}[10.0] == 20
    own = trigger_file(tmp_path / "own.hdf", np.arange(10.0), np.arange(1.0, 11.0), 864000.0,
                       slides=86)
    err = one_line_error(capsys, ["evaluate-search", "--foreground", str(bare["fg"]),
                                  "--background", str(own), "--background-duration", "1000",
                                  "--foreground-duration", "1e4", "--injections",
                                  str(tmp_path / "injections.csv"), "--out",
                                  str(tmp_path / "r2")])
    assert "own.hdf: records a duration of 864000 s, --background-duration says 1000 s" in err


def test_files_that_do_not_belong_together_are_refused(tmp_path, capsys) -> None:
    tc = 100.0 + 24.0 * np.arange(10)
    pd.DataFrame({"tc": tc, "distance": np.full(10, 500.0)}).to_csv(tmp_path / "inj.csv",
                                                                    index=False)
    (tmp_path / "stream.json").write_text(json.dumps({"config_hash": "a" * 16, "config": {}}))
    fg = trigger_file(tmp_path / "fg.hdf", tc + 0.01, np.full(10, 9.0), 1e4, stream="a" * 16)
    cases = {
        "other search": (trigger_file(tmp_path / "b1.hdf", [1.0], [2.0], 1e5, slides=9,
                                      search="network", statistic="network"),
                         r"fg\.hdf \(search matched-filter\) and .*b1\.hdf \(search network\)"),
        "other detectors": (trigger_file(tmp_path / "b2.hdf", [1.0], [2.0], 1e5, slides=9,
                                         detectors="H1 L1 V1"), "detectors"),
        "its own zero lag": (trigger_file(tmp_path / "b3.hdf", [1.0], [2.0], 1e4),
                             "b3.hdf: is the zero lag of the foreground's own strain"),
    }
    for name, (background, expected) in cases.items():
        err = one_line_error(capsys, ["evaluate-search", "--foreground", str(fg),
                                      "--background", str(background), "--injections",
                                      str(tmp_path / "inj.csv"), "--out", str(tmp_path / name)])
        assert re.search(expected, err), (name, err)
    bg = trigger_file(tmp_path / "bg.hdf", [1.0], [2.0], 1e5, slides=9)
    outside = trigger_file(tmp_path / "outside.hdf", [2e4], [9.0], 1e4)
    err = one_line_error(capsys, ["evaluate-search", "--foreground", str(outside),
                                  "--background", str(bg), "--injections",
                                  str(tmp_path / "inj.csv"), "--out", str(tmp_path / "o")])
    assert "outside.hdf: 1 trigger(s) lie outside its own analysed spans" in err
    (tmp_path / "stream.json").write_text(json.dumps({"config_hash": "b" * 16, "config": {}}))
    err = one_line_error(capsys, ["evaluate-search", "--foreground", str(fg), "--background",
                                  str(bg), "--injections", str(tmp_path / "inj.csv"), "--out",
                                  str(tmp_path / "s")])
    assert f"fg.hdf: searched stream {'a' * 16}, but the injections were made for stream" in err
    frame = pd.read_csv(tmp_path / "inj.csv")
    frame.loc[3, "distance"] = np.nan
    frame.to_csv(tmp_path / "inj.csv", index=False)
    (tmp_path / "stream.json").unlink()
    err = one_line_error(capsys, ["evaluate-search", "--foreground", str(fg), "--background",
                                  str(bg), "--injections", str(tmp_path / "inj.csv"), "--out",
                                  str(tmp_path / "n")])
    assert "inj.csv: column distance must be finite and > 0; row 4 holds nan" in err


@pytest.mark.parametrize("argv", [
    ["baseline", "matched-filter-search", "--snr-threshold", "nan"],
    ["baseline", "matched-filter-search", "--background-duration", "inf"],
    ["search", "--checkpoint", "x.pt", "--stride", "nan"],
    ["search", "--checkpoint", "x.pt", "--psd-update", "inf"],
    ["search", "--checkpoint", "x.pt", "--background-duration", "nan"],
    ["evaluate-search", "--foreground", "a", "--background", "b", "--injections", "c",
     "--fars", "nan"],
], ids=lambda argv: " ".join(argv[:1] + argv[-2:]))
def test_numbers_that_are_not_finite_are_refused_by_the_parser(tmp_path, capsys, argv) -> None:
    if argv[0] != "evaluate-search":
        argv = [*argv, "--strain", str(tmp_path / "s.h5")]
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--out", str(tmp_path / "out")])
    assert stopped.value.code == 2
    assert "is not a finite number" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
