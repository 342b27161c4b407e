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
    sample_path,
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


# Ids are names, never paths (issue: ids used as paths)

TRAVERSAL_IDS = ["../outside00", "/etc/passwd", "ab", "a.b.c", "x/../y"]


def test_ids_that_are_not_plain_names_are_refused_with_their_rows(tmp_path) -> None:
    ids = ["good_id-01", *TRAVERSAL_IDS]
    pd.DataFrame({"id": ids, "target": 0}).to_csv(tmp_path / "training_labels.csv", index=False)
    with pytest.raises(LayoutError) as refused:
        read_split(tmp_path, "train")
    message = str(refused.value)
    assert "training_labels.csv: 5 bad id(s)" in message
    for row, bad in enumerate(TRAVERSAL_IDS, start=3):  # header is row 1, good_id-01 row 2
        assert f"row {row}: id {bad!r}" in message
    assert "good_id-01" not in message


def test_sample_paths_stay_inside_the_data_folder(tmp_path) -> None:
    assert sample_path(tmp_path, "test", "abc123") == tmp_path / "test/a/b/c/abc123.npy"
    for bad in TRAVERSAL_IDS:
        with pytest.raises(LayoutError, match="not a plain name|shorter than 3"):
            sample_path(tmp_path, "train", bad)


def test_label_files_name_empty_cells_and_duplicates(tmp_path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("id,target\nabc1,0\nabc2,\n")
    with pytest.raises(LayoutError, match=r"row 3, id abc2: target is empty"):
        read_labels(labels)
    labels.write_text("id,target\nabc1,0\nabc2,1\nabc1,1\n")
    with pytest.raises(LayoutError, match=r"duplicate id 'abc1' \(rows 2, 4\)"):
        read_labels(labels)


def test_a_sample_linked_to_a_device_is_not_read(tmp_path) -> None:
    path = sample_path(tmp_path, "train", "dev000")
    path.parent.mkdir(parents=True)
    path.symlink_to("/dev/zero")
    with pytest.raises(BadSampleError, match=r"not a regular file \(a device\)"):
        load_sample(path)
    (tmp_path / "gone.npy").symlink_to(tmp_path / "nowhere.npy")
    with pytest.raises(BadSampleError, match="broken link"):
        load_sample(tmp_path / "gone.npy")


def test_loading_never_unpickles(tmp_path) -> None:
    """Untrusted .npy files are loaded with allow_pickle=False: an object array is refused
    without running anything it holds."""
    path = tmp_path / "obj123.npy"
    np.save(path, np.array([{"payload": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(BadSampleError, match="unreadable .npy"):
        load_sample(path)
