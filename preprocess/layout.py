"""The Kaggle G2Net on-disk layout: where samples live, which ids a split holds, and safe loading.

Every command that reads detector data goes through this module, so the real Kaggle download and
the simulator's output are read by exactly the same code.

Sample ids are names, never paths: an id is 1 to 64 letters, digits, ``_`` or ``-``, starting
with a letter or digit (``ID_RULE``; the G2Net ids are 10 hexadecimal digits), and an id whose
sample lives on disk has at least 3 characters, which name its folders. Every CSV is checked
when it is read (each bad id named with its row), and ``sample_path`` refuses an id outside the
rule, so no id can lead outside the data folder (``../x``, ``/etc/passwd``).
"""

from __future__ import annotations

import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

DETECTORS: tuple[str, ...] = ("H1", "L1", "V1")  # G2Net's, in its order: every default
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
ID_RULE = "1-64 letters, digits, '_' or '-', starting with a letter or digit"
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
MIN_PATH_ID = 3  # characters of an id whose sample lives on disk: its first three name folders
MAX_LISTED = 5  # bad ids named in one error message; the rest are counted

_LABEL_FILES = {"train": "training_labels.csv", "test": "sample_submission.csv"}


class LayoutError(ValueError):
    """A data directory or one of its CSV files does not follow the G2Net layout."""


class BadSampleError(ValueError):
    """One sample file is missing, unreadable, of the wrong shape or holds non-finite values.

    ``hint`` ends the message: by default how ``build-cqt`` goes on past such samples; a
    command without ``--skip-bad`` passes its own (or ``""``).
    """

    def __init__(self, path: Path, sample_id: str, reason: str, hint: str = SKIP_HINT):
        self.path, self.sample_id, self.reason, self.hint = Path(path), sample_id, reason, hint
        super().__init__(f"{path}: sample {sample_id}: {reason}" + (f" ({hint})" if hint else ""))

    def __reduce__(self) -> tuple:
        """Rebuilt from its parts when it crosses a process boundary (a worker's error)."""
        return type(self), (self.path, self.sample_id, self.reason, self.hint)


def id_problem(sample_id: object, min_length: int = 1) -> str:
    """Why ``sample_id`` is not a valid id (``ID_RULE``, at least ``min_length`` long), or ""."""
    if not isinstance(sample_id, str) or not sample_id:
        return "no id"
    if not _SAFE_ID.fullmatch(sample_id):
        return f"id {sample_id!r} is not a plain name ({ID_RULE})"
    if len(sample_id) < min_length:
        return (f"id {sample_id!r} is shorter than {min_length} characters (the first "
                f"{min_length} of an id on disk name its folders)")
    return ""


def check_ids(ids: Iterable[object], path: str | Path, min_length: int = 1) -> None:
    """Raise ``LayoutError`` naming the rows of ``path`` (a CSV with a header row) whose ids
    break ``ID_RULE``; the first ``MAX_LISTED`` are named, the rest counted."""
    bad = [(row, problem) for row, sample_id in enumerate(ids, start=2)
           if (problem := id_problem(sample_id, min_length))]
    if bad:
        listed = "; ".join(f"row {row}: {problem}" for row, problem in bad[:MAX_LISTED])
        more = f"; and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
        raise LayoutError(f"{path}: {len(bad)} bad id(s): {listed}{more}")


def check_detectors(detectors: Iterable[str]) -> tuple[str, ...]:
    """``detectors`` as a tuple: a non-empty subset of ``DETECTORS`` in their order (images'
    channels follow it), else ``ValueError`` naming what is wrong."""
    chosen = tuple(detectors)
    unknown = [d for d in chosen if d not in DETECTORS]
    if not chosen or unknown or len(set(chosen)) != len(chosen):
        raise LayoutError(f"detectors {' '.join(chosen) or '(none)'}: expected distinct ones of "
                          f"{' '.join(DETECTORS)}")
    if list(chosen) != [d for d in DETECTORS if d in chosen]:
        raise LayoutError(f"detectors {' '.join(chosen)}: give them in the order "
                          f"{' '.join(d for d in DETECTORS if d in chosen)}")
    return chosen


RECORDS = ("simulation.json", "cut.json")  # what made a data directory: simulate, or cut


def data_detectors(root: str | Path) -> tuple[str, ...]:
    """The detectors of a data directory: what its ``simulation.json`` (``preprocess
    simulate``) or ``cut.json`` (``preprocess cut``) records, else G2Net's three (the real
    Kaggle data has no record)."""
    import json

    for name in RECORDS:
        record = Path(root) / name
        if not record.is_file():
            continue
        try:
            recorded = json.loads(record.read_text()).get("detectors")
        except (OSError, ValueError, AttributeError) as error:
            raise LayoutError(f"{record}: unreadable ({error})") from error
        if recorded:
            return check_detectors(recorded)
    return DETECTORS


def check_split(split: str) -> str:
    """Return ``split`` if it is a known split name, else raise ``LayoutError``."""
    if split not in SPLITS:
        raise LayoutError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return split


def sample_path(root: str | Path, split: str, sample_id: str) -> Path:
    """Path of one sample: ``root/split/a/b/c/<id>.npy`` with a, b, c the id's first characters.

    Refuses (``LayoutError``) an id outside ``ID_RULE`` or shorter than ``MIN_PATH_ID``: the
    path always lies inside ``root/split``.
    """
    problem = id_problem(sample_id, MIN_PATH_ID)
    if problem:
        raise LayoutError(f"{Path(root) / split}: {problem}")
    return Path(root) / check_split(split) / sample_id[0] / sample_id[1] / sample_id[2] / (
        f"{sample_id}.npy"
    )


def label_file(root: str | Path, split: str) -> Path:
    """The CSV that lists a split's ids: training labels, or the sample submission for test."""
    return Path(root) / _LABEL_FILES[check_split(split)]


def read_csv(path: str | Path, **kwargs: Any) -> pd.DataFrame:
    """``pandas.read_csv`` whose failures (missing, empty, not CSV) raise ``LayoutError`` naming
    the file."""
    import pandas as pd

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
    import pandas as pd

    values = pd.to_numeric(frame["target"], errors="coerce")
    bad = ~values.isin([0, 1])
    if bad.any():
        first = int(np.argmax(bad.to_numpy()))
        raw = frame["target"].iloc[first]
        what = "is empty" if pd.isna(raw) else f"{str(raw)!r} is not 0 or 1"
        raise LayoutError(f"{path}: row {first + 2}, id {frame['id'].iloc[first]}: target "
                          f"{what}")
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
    check_ids(frame["id"], path, MIN_PATH_ID)
    _check_unique(frame, path)
    if split == "train":
        targets = check_targets(frame, path)
    else:
        targets = np.full(len(frame), UNKNOWN_TARGET, dtype=np.int64)
    import pandas as pd

    return pd.DataFrame({"id": frame["id"].astype(str), "target": targets})


def _check_unique(frame: pd.DataFrame, path: Path) -> None:
    """Refuse a CSV that lists an id twice (a label counted twice skews every score)."""
    duplicated = frame["id"].duplicated(keep=False)
    if duplicated.any():
        rows = (np.flatnonzero(duplicated.to_numpy()) + 2).tolist()
        first = frame["id"][duplicated].iloc[0]
        raise LayoutError(f"{path}: duplicate id {first!r} (rows {', '.join(map(str, rows[:6]))}"
                          f"{', ...' if len(rows) > 6 else ''}); every id must appear once")


def read_labels(path: str | Path) -> pd.DataFrame:
    """A labelled ``id,target`` CSV (training labels or the simulator's ``test_labels.csv``)."""
    import pandas as pd

    path = Path(path)
    frame = read_csv(path, dtype={"id": str})
    if {"id", "target"} - set(frame.columns):
        raise LayoutError(f"{path}: expected columns id,target, found {list(frame.columns)}")
    check_ids(frame["id"], path)
    _check_unique(frame, path)
    return pd.DataFrame({"id": frame["id"].astype(str), "target": check_targets(frame, path)})


def check_sample(array: np.ndarray, scale: float = STRAIN_SCALE,
                 detectors: tuple[str, ...] = DETECTORS) -> str:
    """Why ``array`` is no plausible ``(D, 4096)`` strain sample of ``detectors``, or ``""``.

    Refuses other shapes, integer, complex or object dtypes (which would be cast silently),
    NaN or infinite values, a value beyond ``MAX_AMPLITUDE * scale`` and a detector whose
    standard deviation is below ``MIN_STD * scale`` (all zero or constant).
    """
    expected = (len(detectors), N_TIME)
    if array.shape != expected:
        return f"shape {array.shape}, expected {expected} ({' '.join(detectors)})"
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
        detector = detectors[int(quiet[0])]
        return (f"detector {detector} is all zero or nearly constant (std {stds[quiet[0]]:.3g}, "
                f"limit {MIN_STD * scale:.3g})")
    return ""


def file_problem(path: Path) -> str:
    """Why ``path`` is no readable regular file (missing, a folder, a device such as a link to
    ``/dev/zero``, which would read forever), or ""."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "file is missing" if not path.is_symlink() else "file is missing (broken link)"
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    if stat.S_ISREG(mode):
        return ""
    kind = ("a folder" if stat.S_ISDIR(mode) else "a device" if stat.S_ISCHR(mode)
            or stat.S_ISBLK(mode) else "a pipe or socket")
    return f"not a regular file ({kind})"


def load_sample(path: str | Path, sample_id: str | None = None,
                scale: float = STRAIN_SCALE, hint: str = SKIP_HINT,
                detectors: tuple[str, ...] = DETECTORS) -> np.ndarray:
    """Load one sample as float64 of shape ``(D, 4096)``, refusing what ``check_sample`` refuses.

    Every failure, an empty or truncated file included, is a ``BadSampleError`` naming the file.
    """
    path = Path(path)
    sample_id = sample_id or path.stem
    problem = file_problem(path)
    if problem:
        raise BadSampleError(path, sample_id, problem, hint)
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as error:  # OSError, ValueError, EOFError (empty file), pickle refusal
        reason = " ".join(str(error).split()) or type(error).__name__
        raise BadSampleError(path, sample_id, f"unreadable .npy ({reason})", hint) from error
    problem = check_sample(np.asarray(array), scale, detectors)
    if problem:
        raise BadSampleError(path, sample_id, problem, hint)
    return array.astype(np.float64, copy=False)


def read_psd(root: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The simulator's noise PSD: frequencies ``(F,)`` in Hz and one-sided PSD ``(D, F)`` in 1/Hz.

    ``psd.csv`` has columns ``frequency`` and one per detector of the data (``H1,L1,V1`` by
    default) on the rFFT grid of a 2-s sample (0 to 1024 Hz in 0.5 Hz steps); a value of 0
    marks a frequency where the noise has no power.
    """
    path = Path(root) / "psd.csv"
    if not path.is_file():
        raise LayoutError(f"{path}: missing (the real G2Net data ships no PSD; estimate one)")
    detectors = data_detectors(root)
    frame = read_csv(path)
    missing = {"frequency", *detectors} - set(frame.columns)
    if missing:
        raise LayoutError(f"{path}: missing column(s) {sorted(missing)}")
    return frame["frequency"].to_numpy(), frame[list(detectors)].to_numpy().T
