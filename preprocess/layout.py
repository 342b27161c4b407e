"""The Kaggle G2Net on-disk layout: where samples live, which ids a split holds, and safe loading.

Every command that reads detector data goes through this module, so the real Kaggle download and
the simulator's output are read by exactly the same code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DETECTORS: tuple[str, ...] = ("H1", "L1", "V1")
SAMPLE_RATE = 2048  # Hz
N_TIME = 4096  # 2 s at 2048 Hz
SAMPLE_SHAPE = (len(DETECTORS), N_TIME)
SPLITS = ("train", "test")
UNKNOWN_TARGET = -1  # target of a sample whose label is hidden
STRAIN_SCALE = 1e-20  # typical raw strain of one sample (G2Net and the simulator alike)
# A plausible sample: every |value| at most MAX_AMPLITUDE strain scales, and every detector's
# standard deviation at least MIN_STD strain scales (wide: a loud glitch or a quiet detector
# passes; a corrupt value of 1e30, an all-zero or a constant detector does not).
MAX_AMPLITUDE = 1e4
MIN_STD = 1e-6
SKIP_HINT = "pass --skip-bad to skip such samples"

_LABEL_FILES = {"train": "training_labels.csv", "test": "sample_submission.csv"}


class LayoutError(ValueError):
    """A data directory or one of its CSV files does not follow the G2Net layout."""


class BadSampleError(ValueError):
    """One sample file is missing, unreadable, of the wrong shape or holds non-finite values."""

    def __init__(self, path: Path, sample_id: str, reason: str):
        self.path, self.sample_id, self.reason = Path(path), sample_id, reason
        super().__init__(f"{path}: sample {sample_id}: {reason} ({SKIP_HINT})")


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


def read_csv(path: str | Path, **kwargs: Any) -> pd.DataFrame:
    """``pandas.read_csv`` whose failures (missing, empty, not CSV) raise ``LayoutError`` naming
    the file."""
    path = Path(path)
    if not path.is_file():
        raise LayoutError(f"{path}: missing" if not path.exists() else f"{path}: not a file")
    try:
        return pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError as error:
        raise LayoutError(f"{path}: empty file (expected a CSV with a header row)") from error
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        reason = " ".join(str(error).split())
        raise LayoutError(f"{path}: not a readable CSV ({reason})") from error


def check_targets(frame: pd.DataFrame, path: Path) -> pd.Series:
    """The ``target`` column as int64 0/1; ``LayoutError`` naming the first bad row's id."""
    values = pd.to_numeric(frame["target"], errors="coerce")
    bad = ~values.isin([0, 1])
    if bad.any():
        first = int(np.argmax(bad.to_numpy()))
        raise LayoutError(f"{path}: row {first + 2}, id {frame['id'].iloc[first]}: target "
                          f"{frame['target'].iloc[first]!r} is not 0 or 1")
    return values.astype(np.int64)


def read_split(root: str | Path, split: str) -> pd.DataFrame:
    """Ids and targets of a split, in file order: columns ``id`` (str) and ``target`` (int).

    Test targets are ``UNKNOWN_TARGET`` (the sample submission carries placeholders only).
    Raises ``LayoutError`` naming the file for a missing or empty file, missing column,
    duplicate id or a training target that is not 0 or 1 (naming that row's id).
    """
    path = label_file(root, split)
    if not path.is_file():
        raise LayoutError(f"{path}: missing; is {root} a G2Net-layout data directory?")
    frame = read_csv(path, dtype={"id": str})
    missing = {"id", "target"} - set(frame.columns)
    if missing:
        raise LayoutError(f"{path}: missing column(s) {sorted(missing)}; expected id,target")
    if frame["id"].isna().any():
        raise LayoutError(f"{path}: row {int(frame['id'].isna().argmax()) + 2} has no id")
    duplicated = frame["id"][frame["id"].duplicated()]
    if len(duplicated):
        raise LayoutError(f"{path}: duplicate id {duplicated.iloc[0]!r}")
    if split == "train":
        targets = check_targets(frame, path)
    else:
        targets = np.full(len(frame), UNKNOWN_TARGET, dtype=np.int64)
    return pd.DataFrame({"id": frame["id"].astype(str), "target": targets})


def read_labels(path: str | Path) -> pd.DataFrame:
    """A labelled ``id,target`` CSV (training labels or the simulator's ``test_labels.csv``)."""
    path = Path(path)
    frame = read_csv(path, dtype={"id": str})
    if {"id", "target"} - set(frame.columns):
        raise LayoutError(f"{path}: expected columns id,target, found {list(frame.columns)}")
    return pd.DataFrame({"id": frame["id"].astype(str), "target": check_targets(frame, path)})


def check_sample(array: np.ndarray, scale: float = STRAIN_SCALE) -> str:
    """Why ``array`` is no plausible ``(3, 4096)`` strain sample, or ``""`` when it is one.

    Refuses other shapes, integer, complex or object dtypes (which would be cast silently),
    NaN or infinite values, a value beyond ``MAX_AMPLITUDE * scale`` and a detector whose
    standard deviation is below ``MIN_STD * scale`` (all zero or constant).
    """
    if array.shape != SAMPLE_SHAPE:
        return f"shape {array.shape}, expected {SAMPLE_SHAPE}"
    if array.dtype.kind != "f":
        return f"dtype {array.dtype}, expected floating-point strain (float32 or float64)"
    if not np.isfinite(array).all():
        return "holds NaN or infinite values"
    largest = float(np.abs(array).max())
    if largest > MAX_AMPLITUDE * scale:
        return (f"|value| up to {largest:.3g}, implausible for strain of scale {scale:g} "
                f"(limit {MAX_AMPLITUDE * scale:.3g})")
    stds = array.astype(np.float64).std(axis=1)
    quiet = np.nonzero(stds < MIN_STD * scale)[0]
    if len(quiet):
        detector = DETECTORS[int(quiet[0])]
        return (f"detector {detector} is all zero or nearly constant (std {stds[quiet[0]]:.3g}, "
                f"limit {MIN_STD * scale:.3g})")
    return ""


def load_sample(path: str | Path, sample_id: str | None = None,
                scale: float = STRAIN_SCALE) -> np.ndarray:
    """Load one sample as float64 of shape ``(3, 4096)``, refusing what ``check_sample`` refuses.

    Every failure, an empty or truncated file included, is a ``BadSampleError`` naming the file.
    """
    path = Path(path)
    sample_id = sample_id or path.stem
    if not path.is_file():
        raise BadSampleError(path, sample_id, "file is missing")
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as error:  # OSError, ValueError, EOFError (empty file), pickle refusal
        reason = " ".join(str(error).split()) or type(error).__name__
        raise BadSampleError(path, sample_id, f"unreadable .npy ({reason})") from error
    problem = check_sample(np.asarray(array), scale)
    if problem:
        raise BadSampleError(path, sample_id, problem)
    return array.astype(np.float64, copy=False)


def read_psd(root: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The simulator's noise PSD: frequencies ``(F,)`` in Hz and one-sided PSD ``(3, F)`` in 1/Hz.

    ``psd.csv`` has columns ``frequency,H1,L1,V1`` on the rFFT grid of a 2-s sample
    (0 to 1024 Hz in 0.5 Hz steps); a value of 0 marks a frequency where the noise has no power.
    """
    path = Path(root) / "psd.csv"
    if not path.is_file():
        raise LayoutError(f"{path}: missing (the real G2Net data ships no PSD; estimate one)")
    frame = read_csv(path)
    missing = {"frequency", *DETECTORS} - set(frame.columns)
    if missing:
        raise LayoutError(f"{path}: missing column(s) {sorted(missing)}")
    return frame["frequency"].to_numpy(), frame[list(DETECTORS)].to_numpy().T
