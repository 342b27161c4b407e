"""``preprocess simulate-stream`` end to end: a run, a resume, real noise, and bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from preprocess.cli import main
from preprocess.stream.config import SAMPLE_RATE
from preprocess.stream.gwosc import write_gwosc
from preprocess.stream.readers import StrainSet

FS = SAMPLE_RATE
QUICK = ["--duration", "64", "--segment-duration", "64", "--chunk-duration", "32",
         "--injection-edge", "16", "--workers", "1", "--no-progress"]


def _error(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # one line, no traceback
    return err[0]


def test_help_loads_no_heavy_library() -> None:
    code = ("import sys\nfrom preprocess.cli import main\ntry:\n"
            "    main(['simulate-stream', '--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = ('numpy', 'scipy', 'h5py', 'lalsimulation', 'pandas', 'torch')\n"
            "print([m for m in heavy if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_run_resume_and_other_settings(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "stream"
    assert main(["simulate-stream", "--out", str(out), *QUICK, "--detectors", "H1", "L1",
                 "--mlgwsc"]) == 0
    for name in ("stream.json", "manifest.json", "injections.csv", "injections.hdf",
                 "glitches.csv", "levels.csv", "mlgwsc/foreground.hdf"):
        assert (out / name).is_file(), name
    assert json.loads((out / "stream.json").read_text())["config"]["detectors"] == ["H1", "L1"]
    assert main(["simulate-stream", "--out", str(out), *QUICK, "--detectors", "H1", "L1"]) == 0
    assert main(["simulate-stream", "--out", str(out), *QUICK, "--detectors", "H1", "L1",
                 "--seed", "1"]) == 2
    line = _error(capsys)
    assert line.startswith(f"preprocess simulate-stream: error: {out}: holds a stream made "
                           "with other settings")
    assert "config.seed: folder has 0, requested 1" in line


@pytest.mark.parametrize(("options", "message"), [
    (["--level-min", "2", "--level-max", "1"], "level range must satisfy 0.0001 <= min <= max"),
    (["--level-min", "1e-30", "--level-max", "1e-30"], "level range must satisfy"),
    (["--gps-start", "100000000000000000000"], "must lie before GPS 4000000000"),
    (["--duration", "10"], "no injection fits: the longest segment is 10 s"),
    (["--detectors", "H1", "X1"], "bad detector list ['H1', 'X1']"),
    (["--injection-edge", "5"], "injection-edge (5 s) is shorter than the longest signal"),
    (["--approximant", "TaylorF2"], "unknown approximant 'TaylorF2'"),
    (["--workers", "0"], "workers must be >= 1, got 0"),
])
def test_bad_options_end_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture,
                                     options: list[str], message: str) -> None:
    args = ["simulate-stream", "--out", str(tmp_path / "s"), *QUICK, *options]
    assert main(args) == 2
    assert message in _error(capsys)
    assert not (tmp_path / "s" / "stream.json").exists()  # refused before anything is written


@pytest.mark.parametrize(("options", "message"), [
    (["--level-max", "inf"], "argument --level-max: 'inf' is not a finite number"),
    (["--glitch-rate", "1", "--glitch-snr-max", "nan"],
     "argument --glitch-snr-max: 'nan' is not a finite number"),
])
def test_numbers_that_are_not_finite_are_refused_by_the_parser(
        tmp_path: Path, capsys: pytest.CaptureFixture, options: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["simulate-stream", "--out", str(tmp_path / "s"), *QUICK, *options])
    assert stopped.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_real_noise_with_a_bad_second(small_stream: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    noise = tmp_path / "noise.hdf"
    shutil.copy(small_stream / "mlgwsc" / "background.hdf", noise)
    with h5py.File(noise, "a") as f:
        f["L1/1238166018"][40 * FS : 40 * FS + 10] = np.nan
    args = ["simulate-stream", "--real-noise", str(noise), "--detectors", "H1", "L1",
            "--chunk-duration", "32", "--injection-edge", "16", "--min-segment", "32",
            "--workers", "1", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 2
    assert _error(capsys).endswith(
        f"{noise}: L1 segment GPS 1238166050-1238166082: non-finite values from GPS "
        "1238166058 (pass --skip-bad to skip such segments)")
    out = tmp_path / "b"
    assert main([*args, "--out", str(out), "--skip-bad"]) == 0
    record = json.loads((out / "stream.json").read_text())
    assert record["read_report"]["bad"] == 1 and record["read_report"]["bad_seconds"] == 32
    assert record["segments"] == [[1238166018, 32], [1238166082, 32], [1238166122, 96]]
    written, given = StrainSet(out / "background"), StrainSet(noise, ["H1", "L1"])
    a = 1238166122 * FS
    np.testing.assert_array_equal(written.read("H1", a, a + 96 * FS),
                                  given.read("H1", a, a + 96 * FS))
    injections = json.loads((out / "manifest.json").read_text())["n_injections"]
    assert injections == 3  # only the 96-s segment has room for 2 x 16 s of edge


def test_bad_files_end_in_one_line_naming_them(tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "notes.txt").write_text("strain?\n")
    rng = np.random.default_rng(0)
    write_gwosc(tmp_path / "H.hdf5", "H1", 1238166016, rng.standard_normal(64 * FS) * 1e-21, FS)
    write_gwosc(tmp_path / "L.hdf5", "L1", 1238166216, rng.standard_normal(64 * FS) * 1e-21, FS)
    cases = {
        (str(tmp_path / "notes.txt"),): f"{tmp_path / 'notes.txt'}: not an HDF5 file",
        (str(tmp_path / "H.hdf5"), str(tmp_path / "L.hdf5")): "never overlap in time",
    }
    for files, message in cases.items():
        args = ["simulate-stream", "--out", str(tmp_path / "o"), "--real-noise", *files,
                "--no-progress", "--min-segment", "16"]
        assert main(args) == 2
        assert message in _error(capsys)
    write_gwosc(tmp_path / "S.hdf5", "H1", 1238166016, rng.standard_normal(32 * FS) * 1e-21, FS)
    args = ["simulate-stream", "--out", str(tmp_path / "o"), "--real-noise",
            str(tmp_path / "S.hdf5"), "--no-progress"]  # 32 s, under --min-segment's 64 s
    assert main(args) == 2
    assert ("S.hdf5: no common segment of at least 64 s (1 shorter one, the longest 32 s"
            in _error(capsys))
