"""GW150914 in the shipped real strain: the matched-filter search, run as a user passes the two
GWOSC files, finds it; the files are checked before they are read."""

from __future__ import annotations

import json
import shutil

import pytest

from pipeline.cli import main
from pipeline.demo.real import GPS, shipped_files


def test_the_matched_filter_finds_gw150914_in_the_shipped_files(gwosc_files, tmp_path,
                                                                capsys) -> None:
    """No option but the files and a folder: the default bank ships, the PSD span and the
    minimum segment adapt to 30 s of strain; the loudest trigger lies within var of the
    event, with both detectors taking part."""
    out = tmp_path / "mf"
    assert main(["baseline", "matched-filter-search", "--strain", *map(str, gwosc_files),
                 "--out", str(out), "--no-progress", "--workers", "1"]) == 0
    from pipeline.search.triggers import read_trigger_file

    table, attrs, _ = read_trigger_file(out / "zerolag-newsnr.hdf")
    loudest = table.loc[table["stat"].idxmax()]
    assert abs(loudest["time"] - GPS) <= loudest["var"]
    assert loudest["stat"] > 12 and loudest["snr_H1"] > 8 and loudest["snr_L1"] > 8
    assert (table["stat"] < loudest["stat"]).sum() == len(table) - 1
    assert 10 < attrs["duration"] < 30  # the padding of a 30-s segment left out
    record = json.loads((out / "search.json").read_text())
    assert record["bank"]["n_templates"] == 200  # the shipped default bank
    assert "piece(s)" not in capsys.readouterr().out  # nothing skipped


def test_demo_real_reports_the_event_in_a_few_lines(tmp_path, capsys) -> None:
    assert main(["demo", "--real", "--out", str(tmp_path / "real"), "--no-progress"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("GW150914 (GPS 1126259462.4)") and len(lines) == 2
    assert "matched filter (newsnr): loudest trigger at GPS 1126259462.4" in lines[1]


def test_a_changed_file_is_refused(gwosc_files, tmp_path) -> None:
    for path in gwosc_files:
        shutil.copy(path, tmp_path / path.name)
    with open(tmp_path / gwosc_files[1].name, "r+b") as handle:
        handle.seek(100_000)
        handle.write(b"\x00" * 8)
    with pytest.raises(ValueError, match=r"L-L1_LOSC_4_V2-1126259446-32\.hdf5: sha256 .*not "
                                         "GWOSC's"):
        shipped_files(tmp_path)
