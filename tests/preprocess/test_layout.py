"""The G2Net layout: implausible samples and unreadable CSVs are refused, naming file and row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from preprocess.layout import (
    BadSampleError,
    LayoutError,
    check_sample,
    load_sample,
    read_labels,
    read_split,
)


def _noise(scale: float = 1e-20) -> np.ndarray:
    return np.random.default_rng(0).normal(scale=scale, size=(3, 4096))


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (lambda a: a.__setitem__((0, 7), 1e30), "implausible for strain"),
        (lambda a: a.astype(np.int16), "dtype int16"),
        (lambda a: a.astype(np.complex128), "dtype complex128"),
        (lambda a: a.__setitem__((2, slice(None)), 0.0), "detector V1 is all zero"),
        (lambda a: a.__setitem__((1, slice(None)), 3e-21), "detector L1 is all zero or nearly"),
        (lambda a: a.__setitem__((0, 9), np.inf), "NaN or infinite"),
        (lambda a: a[:, :4000], "shape (3, 4000)"),
    ],
)
def test_implausible_samples_are_refused(tmp_path, spoil, reason) -> None:
    array = _noise()
    spoiled = spoil(array)
    array = array if spoiled is None else spoiled
    assert reason in check_sample(array)
    path = tmp_path / "abc123.npy"
    np.save(path, array)
    with pytest.raises(BadSampleError, match="--skip-bad") as caught:
        load_sample(path)
    assert reason in str(caught.value) and "abc123" in str(caught.value)


def test_plausible_samples_pass_whatever_the_float_type(tmp_path) -> None:
    assert check_sample(_noise()) == ""
    assert check_sample(_noise().astype(np.float32)) == ""
    assert check_sample(_noise(1e-22)) == ""  # a quiet detector is not a bad one
    assert check_sample(_noise(1.0), scale=1.0) == ""  # data in other units, said so


def test_empty_and_truncated_npy_files_name_the_file(tmp_path) -> None:
    empty = tmp_path / "0empty.npy"
    empty.write_bytes(b"")
    with pytest.raises(BadSampleError, match=r"0empty\.npy: sample 0empty: unreadable \.npy"):
        load_sample(empty)
    np.save(tmp_path / "1trunc.npy", _noise())
    data = (tmp_path / "1trunc.npy").read_bytes()
    (tmp_path / "1trunc.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(BadSampleError, match=r"1trunc\.npy: sample 1trunc: unreadable"):
        load_sample(tmp_path / "1trunc.npy")


def test_a_bad_label_names_its_own_row(tmp_path) -> None:
    pd.DataFrame({"id": ["aaa", "bbb", "ccc"], "target": ["0", "x", "1"]}).to_csv(
        tmp_path / "training_labels.csv", index=False)
    with pytest.raises(LayoutError, match=r"row 3, id bbb: target 'x' is not 0 or 1"):
        read_split(tmp_path, "train")
    with pytest.raises(LayoutError, match=r"row 3, id bbb"):
        read_labels(tmp_path / "training_labels.csv")


def test_empty_csv_files_name_the_file(tmp_path) -> None:
    (tmp_path / "training_labels.csv").write_text("")
    with pytest.raises(LayoutError, match=r"training_labels\.csv: empty file"):
        read_split(tmp_path, "train")
    (tmp_path / "labels.csv").write_text("")
    with pytest.raises(LayoutError, match=r"labels\.csv: empty file"):
        read_labels(tmp_path / "labels.csv")
