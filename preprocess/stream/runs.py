"""Where each detector's strain lies in a set of files, and reading any stretch of it at 2048 Hz.

A ``Run`` is one contiguous stretch of one detector in one HDF5 dataset, at its native rate,
with the parts of it that pass data quality (``good``). Every layout module turns a file into
runs; ``DetectorStrain`` joins one detector's runs into spans (consecutive runs of one rate,
from one file or several), and reads any stretch of a span at 2048 Hz, resampling across file
boundaries (``resample``), so a stretch's samples do not depend on where files or chunks end.

Times are integers: a native tick is ``GPS * rate``, an output tick ``GPS * 2048``; a span's
start must lie on the 2048-Hz grid.

Every layout builds its runs through ``file_run``, the one check of a file's attributes and
datasets against each other: a known detector name, a finite sample rate that is a whole
multiple of 2048 Hz, a 1-D numeric strain dataset, a finite start time inside the GPS range and
on the sample grid, and the sample count a stated duration implies. Each failure is one
``StreamError`` naming the file, the dataset and the value. Strain that cannot be read (a
checksum failure, damaged bytes) is a ``BadSegmentError`` naming the file and the stretch,
which ``--skip-bad`` can skip.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from preprocess.stream.config import KNOWN_DETECTORS, SAMPLE_RATE
from preprocess.stream.errors import BadSegmentError, StreamError, gps_span
from preprocess.stream.resample import decimate, factor_of, margin, trim_seconds

Interval = tuple[int, int]  # [start, stop) in ticks
GPS_RANGE = (0.0, 4.0e9)  # s: GPS time 0 is 1980; 4e9 is the year 2106


@dataclass(frozen=True)
class Run:
    """One detector's samples ``[offset, offset + length)`` of ``dataset`` in ``path``."""

    path: Path
    detector: str
    dataset: str
    offset: int  # first sample of the run inside the dataset
    start: int  # native tick (GPS * rate) of that sample
    length: int
    rate: int  # Hz
    good: tuple[Interval, ...] | None = None  # native ticks passing data quality; None: all

    @property
    def stop(self) -> int:
        return self.start + self.length

    def read(self, a: int, b: int) -> np.ndarray:
        """Native ticks ``[a, b)`` (inside the run) as float64 ``(b - a,)``; a stretch that
        cannot be read is a ``BadSegmentError`` naming the file and the stretch."""
        i = self.offset + a - self.start
        try:
            with h5py.File(self.path, "r") as f:
                return np.asarray(f[self.dataset][i : i + b - a], dtype=np.float64)
        except OSError as error:
            reason = " ".join(str(error).split())
            raise BadSegmentError(self.path, self.detector, (a / self.rate, b / self.rate),
                                  f"{self.dataset} cannot be read (damaged bytes or a failed "
                                  f"checksum: {reason})") from error


def number_of(path: Path, what: str, value: object) -> float:
    """``value`` (an attribute, maybe an array or bytes) as a finite float, or ``StreamError``."""
    if isinstance(value, np.ndarray) and value.size == 1 or isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise StreamError(path, f"{what} {value!r} is not a number") from None
    if not np.isfinite(number):
        raise StreamError(path, f"{what} is {value!r}, not a finite number")
    return number


def gps_ticks(path: Path, gps: object, rate: float, what: str) -> int:
    """``gps * rate`` as an integer; ``StreamError`` unless ``gps`` is a finite GPS time in
    ``GPS_RANGE`` on the sample grid."""
    gps = number_of(path, f"{what}: start time", gps)
    if not GPS_RANGE[0] <= gps < GPS_RANGE[1]:
        raise StreamError(path, f"{what}: start time {gps!r} is outside the GPS range "
                          f"{GPS_RANGE[0]:g}-{GPS_RANGE[1]:g} s")
    ticks = gps * rate
    if abs(ticks - round(ticks)) > 1e-3:
        raise StreamError(path, f"{what}: start time {gps!r} is not on the {rate:g}-Hz sample grid")
    return int(round(ticks))


def sample_rate(path: Path, what: str, rate: object) -> int:
    """A sample rate in Hz (finite, a whole multiple of 2048 Hz), or ``StreamError``."""
    value = number_of(path, f"{what}: sample rate", rate)
    try:
        factor_of(value)
    except ValueError as error:
        raise StreamError(path, f"{what}: {error}") from None
    return int(round(value))


def file_run(path: Path, detector: str, dataset: h5py.Dataset, start: object, rate: object,
             duration: object | None = None, offset: int = 0, length: int | None = None,
             good: tuple[Interval, ...] | None = None) -> Run:
    """The run of ``dataset`` (all of it, or ``length`` samples from ``offset``), its
    attributes checked against each other (module docstring): ``start`` (GPS s) and ``rate``
    (Hz) as the file states them, ``duration`` (s) where it states one."""
    what = dataset.name
    if detector not in KNOWN_DETECTORS:
        raise StreamError(path, f"{what}: unknown detector {detector!r} (expected one of "
                          f"{' '.join(KNOWN_DETECTORS)})")
    if dataset.ndim != 1 or dataset.dtype.kind not in "fiu":
        raise StreamError(path, f"{what}: strain must be a 1-D array of numbers, got "
                          f"{dataset.dtype} {dataset.shape}")
    hz = sample_rate(path, what, rate)
    if duration is not None:
        seconds = number_of(path, f"{what}: duration", duration)
        if abs(seconds * hz - len(dataset)) > 0.5:
            raise StreamError(path, f"{what}: {len(dataset)} samples, but a duration of "
                              f"{seconds:g} s at {hz} Hz is {seconds * hz:.0f}")
    length = len(dataset) - offset if length is None else length
    if length <= 0:
        raise StreamError(path, f"{what}: holds no samples")
    first = gps_ticks(path, start, hz, what)
    return Run(path, detector, what, offset, first + offset, length, hz, good)


def intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """Intersection of two sorted, disjoint interval lists."""
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def merge(intervals: Sequence[Interval]) -> list[Interval]:
    """Sorted intervals with touching neighbours joined."""
    out: list[Interval] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _span(run: Run) -> str:
    return gps_span(run.start / run.rate, run.stop / run.rate)


class DetectorStrain:
    """One detector's runs from any number of files, read at 2048 Hz."""

    def __init__(self, detector: str, runs: Sequence[Run]):
        self.detector = detector
        runs = sorted(runs, key=lambda r: (r.start / r.rate, str(r.path)))
        self.spans: list[list[Run]] = []
        for run in runs:
            last = self.spans[-1][-1] if self.spans else None
            if last is not None and run.start / run.rate < last.stop / last.rate:
                raise StreamError(run.path, f"{detector} {_span(run)} overlaps the same "
                                  f"detector's data in {last.path} ({_span(last)})")
            if last is not None and run.rate == last.rate and run.start == last.stop:
                self.spans[-1].append(run)
            else:
                self.spans.append([run])
        self.good = self._good_intervals()

    def _good_intervals(self) -> list[Interval]:
        """Output ticks passing data quality, whose samples get their full filter input."""
        good: list[Interval] = []
        for span in self.spans:
            factor = factor_of(span[0].rate)
            if span[0].start % factor:
                raise StreamError(span[0].path, f"{self.detector}: start {span[0].start} / "
                                  f"{span[0].rate} s is not on the 2048-Hz grid")
            trim = trim_seconds(factor) * SAMPLE_RATE
            lo, hi = span[0].start // factor + trim, -(-span[-1].stop // factor) - trim
            passing = merge([(a // factor + (a % factor > 0), b // factor) for run in span
                             for a, b in (run.good if run.good is not None
                                          else [(run.start, run.stop)])])
            good += intersect(passing, [(lo, hi)] if lo < hi else [])
        return merge(good)

    def _span_at(self, a: int, b: int) -> list[Run]:
        """The span holding output ticks ``[a, b)``."""
        starts = [span[0].start // factor_of(span[0].rate) for span in self.spans]
        span = self.spans[max(bisect.bisect_right(starts, a) - 1, 0)]
        factor = factor_of(span[0].rate)
        if not (span[0].start <= a * factor and b * factor <= span[-1].stop):
            where = gps_span(a / SAMPLE_RATE, b / SAMPLE_RATE)
            raise ValueError(f"{self.detector}: no data for {where}")
        return span

    def _read_native(self, span: list[Run], a: int, b: int) -> np.ndarray:
        parts = [run.read(max(a, run.start), min(b, run.stop))
                 for run in span if run.start < b and run.stop > a]
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def read(self, a: int, b: int) -> np.ndarray:
        """Output ticks ``[a, b)`` (GPS * 2048) as float64 ``(b - a,)`` at 2048 Hz."""
        span = self._span_at(a, b)
        factor = factor_of(span[0].rate)
        if factor == 1:
            return self._read_native(span, a, b)
        pad = margin(factor)
        lo, hi = max(a * factor - pad, span[0].start), min(b * factor + pad, span[-1].stop)
        out = decimate(self._read_native(span, lo, hi), factor)  # out[0] is tick lo / factor
        return out[a - lo // factor : b - lo // factor]

    def source_of(self, tick: int) -> Path:
        """The file holding output tick ``tick`` (for messages)."""
        span = self._span_at(tick, tick + 1)
        factor = factor_of(span[0].rate)
        return next(r.path for r in span if r.start <= tick * factor < r.stop)
