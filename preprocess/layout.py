"""The Kaggle G2Net on-disk layout: where samples live, which ids a split holds, and safe loading.

Every command that reads detector data goes through this module, so the real Kaggle download and
the simulator's output are read by exactly the same code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DETECTORS: tuple[str, ...] = ("H1", "L1", "V1")
SAMPLE_RATE = 2048  # Hz
N_TIME = 4096  # 2 s at 2048 Hz
SAMPLE_SHAPE = (len(DETECTORS), N_TIME)
SPLITS = ("train", "test")
UNKNOWN_TARGET = -1  # target of a sample whose label is hidden

_LABEL_FILES = {"train": "training_labels.csv", "test": "sample_submission.csv"}


class LayoutError(ValueError):
    """A data directory or one of its CSV files does not follow the G2Net layout."""


class BadSampleError(ValueError):
    """One sample file is missing, unreadable, of the wrong shape or holds non-finite values."""

    def __init__(self, path: Path, sample_id: str, reason: str):
        self.path, self.sample_id, self.reason = Path(path), sample_id, reason
        super().__init__(f"{path}: sample {sample_id}: {reason}")


def check_split(split: str) -> str:
    """Return ``split`` if it is a known split name, else raise ``LayoutError``."""
    if split not in SPLITS:
        raise LayoutError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return split


def sample_path(root: str | Path, split: str, sample_id: str) -> Path:
    """Path of one sample: ``root/split/a/b/c/<id>.npy`` with a, b, c the id's first characters."""
    return Path(root) / check_split(split) / sample_id[0] / sample_id[1] / sample_id[2] / (
        f"{sample_id}.npy"
    )


def label_file(root: str | Path, split: str) -> Path:
    """The CSV that lists a split's ids: training labels, or the sample submission for test."""
    return Path(root) / _LABEL_FILES[check_split(split)]


def read_split(root: str | Path, split: str) -> pd.DataFrame:
    """Ids and targets of a split, in file order: columns ``id`` (str) and ``target`` (int).

    Test targets are ``UNKNOWN_TARGET`` (the sample submission carries placeholders only).
    Raises ``LayoutError`` naming the file for a missing file, missing column, duplicate id or
    a training target that is not 0 or 1.
    """
    path = label_file(root, split)
    if not path.is_file():
        raise LayoutError(f"{path}: missing; is {root} a G2Net-layout data directory?")
    frame = pd.read_csv(path, dtype={"id": str})
    missing = {"id", "target"} - set(frame.columns)
    if missing:
        raise LayoutError(f"{path}: missing column(s) {sorted(missing)}; expected id,target")
    if frame["id"].isna().any():
        raise LayoutError(f"{path}: row {int(frame['id'].isna().argmax()) + 2} has no id")
    duplicated = frame["id"][frame["id"].duplicated()]
    if len(duplicated):
        raise LayoutError(f"{path}: duplicate id {duplicated.iloc[0]!r}")
    if split == "train":
        bad = ~frame["target"].isin([0, 1])
        if bad.any():
            row = frame[bad].iloc[0]
            raise LayoutError(f"{path}: id {row['id']}: target {row['target']!r} is not 0 or 1")
        targets = frame["target"].astype(np.int64)
    else:
        targets = np.full(len(frame), UNKNOWN_TARGET, dtype=np.int64)
    return pd.DataFrame({"id": frame["id"].astype(str), "target": targets})


def read_labels(path: str | Path) -> pd.DataFrame:
    """A labelled ``id,target`` CSV (training labels or the simulator's ``test_labels.csv``)."""
    path = Path(path)
    if not path.is_file():
        raise LayoutError(f"{path}: missing")
    frame = pd.read_csv(path, dtype={"id": str})
    if {"id", "target"} - set(frame.columns):
        raise LayoutError(f"{path}: expected columns id,target, found {list(frame.columns)}")
    if not frame["target"].isin([0, 1]).all():
        raise LayoutError(f"{path}: targets must be 0 or 1")
    return frame[["id", "target"]]


def load_sample(path: str | Path, sample_id: str | None = None) -> np.ndarray:
    """Load one sample as float64 of shape ``(3, 4096)``, checking what a model would choke on."""
    path = Path(path)
    sample_id = sample_id or path.stem
    if not path.is_file():
        raise BadSampleError(path, sample_id, "file is missing")
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise BadSampleError(path, sample_id, f"unreadable .npy ({error})") from error
    if array.shape != SAMPLE_SHAPE:
        raise BadSampleError(path, sample_id, f"shape {array.shape}, expected {SAMPLE_SHAPE}")
    if not np.isfinite(array).all():
        raise BadSampleError(path, sample_id, "holds NaN or infinite values")
    return array.astype(np.float64, copy=False)


def read_psd(root: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The simulator's noise PSD: frequencies ``(F,)`` in Hz and one-sided PSD ``(3, F)`` in 1/Hz.

    ``psd.csv`` has columns ``frequency,H1,L1,V1`` on the rFFT grid of a 2-s sample
    (0 to 1024 Hz in 0.5 Hz steps); a value of 0 marks a frequency where the noise has no power.
    """
    path = Path(root) / "psd.csv"
    if not path.is_file():
        raise LayoutError(f"{path}: missing (the real G2Net data ships no PSD; estimate one)")
    frame = pd.read_csv(path)
    missing = {"frequency", *DETECTORS} - set(frame.columns)
    if missing:
        raise LayoutError(f"{path}: missing column(s) {sorted(missing)}")
    return frame["frequency"].to_numpy(), frame[list(DETECTORS)].to_numpy().T
