"""The one PSD reader: CSV files, data folders, caches and .npy alike, and every bad input
refused in one line that names the file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from preprocess.psd.read import read_psd

FREQS = np.arange(0.0, 1024.5, 0.5)  # the rFFT grid of a 2-s sample


def _csv(path, columns: dict) -> None:
    pd.DataFrame({"frequency": FREQS, **columns}).to_csv(path, index=False)


def test_csv_rows_follow_the_detectors_asked(tmp_path) -> None:
    path = tmp_path / "psd.csv"
    _csv(path, {"H1": np.full(len(FREQS), 1e-46), "L1": np.full(len(FREQS), 2e-46)})
    frequencies, psd = read_psd(path, ("L1", "H1"))
    np.testing.assert_array_equal(frequencies, FREQS)
    assert psd.shape == (2, len(FREQS)) and psd[0, 5] == 2e-46 and psd[1, 5] == 1e-46
    assert read_psd(path)[1].shape == (2, len(FREQS))  # every detector the file holds


def test_a_data_folder_and_a_cache_read_their_psd(tmp_path, simulated_data) -> None:
    from preprocess.build import build_cache
    from preprocess.config import BuildOptions

    frequencies, psd = read_psd(simulated_data)  # its psd.csv, its detectors
    assert psd.shape == (3, 2049) and frequencies[1] == 0.5
    options = BuildOptions(workers=0, progress=False)
    manifest = build_cache(simulated_data, "train", tmp_path / "cache", options=options).manifest
    frequencies, psd = read_psd(tmp_path / "cache", ("H1", "L1", "V1"))
    np.testing.assert_array_equal(psd, manifest.psd)
    np.testing.assert_array_equal(frequencies, manifest.recipe.whiten.frequencies)


def test_a_npy_spans_zero_to_nyquist(tmp_path) -> None:
    path = tmp_path / "psd.npy"
    np.save(path, np.full((2, 4097), 1e-46))
    frequencies, psd = read_psd(path, ("H1", "L1"))
    assert frequencies[0] == 0 and frequencies[-1] == 1024 and psd.shape == (2, 4097)
    with pytest.raises(ValueError, match=r"psd\.npy: holds 2 PSD rows, for 3 detectors"):
        read_psd(path, ("H1", "L1", "V1"))


@pytest.mark.parametrize(("columns", "message"), [
    ({"H1": np.full(len(FREQS), 1e-46)}, r"holds no PSD of L1 \(it has H1"),
    ({"H1": np.full(len(FREQS), 1e-46), "L1": np.zeros(len(FREQS))},
     "the PSD of L1 is zero at every frequency"),
    ({"H1": np.full(len(FREQS), np.nan), "L1": np.ones(len(FREQS))}, "negative, NaN or infinite"),
    ({"H1": np.full(len(FREQS), -1.0), "L1": np.ones(len(FREQS))}, "negative, NaN or infinite"),
], ids=["missing-detector", "zeros", "nan", "negative"])
def test_bad_csv_names_the_file_and_the_problem(tmp_path, columns, message) -> None:
    path = tmp_path / "bad.csv"
    _csv(path, columns)
    with pytest.raises(ValueError, match=rf"bad\.csv: .*{message}"):
        read_psd(path, ("H1", "L1"))


def test_missing_foreign_and_irregular_files(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="none.csv: no such PSD file"):
        read_psd(tmp_path / "none.csv", ("H1",))
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(ValueError, match="folder: a folder with neither psd.csv nor a cache"):
        read_psd(folder, ("H1",))
    irregular = tmp_path / "irregular.csv"
    pd.DataFrame({"frequency": [0.0, 1.0, 3.0], "H1": [1.0, 1.0, 1.0]}).to_csv(irregular,
                                                                             index=False)
    with pytest.raises(ValueError, match="irregular.csv: PSD frequencies must be a uniform"):
        read_psd(irregular, ("H1",))
    pickle = tmp_path / "pickle.npy"
    np.save(pickle, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickle.npy: not a readable PSD .npy"):
        read_psd(pickle, ("H1",))
    text = tmp_path / "text.csv"
    text.write_text("frequency,H1\n0,a\n1,b\n")
    with pytest.raises(ValueError, match="text.csv: holds values that are not numbers"):
        read_psd(text, ("H1",))
