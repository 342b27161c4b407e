"""Where each detector's strain lies in a set of files, and reading any stretch of it at 2048 Hz.

A ``Run`` is one contiguous stretch of one detector in one HDF5 dataset, at its native rate,
with the parts of it that pass data quality (``good``). Every layout module turns a file into
runs; ``DetectorStrain`` joins one detector's runs into spans (consecutive runs of one rate,
from one file or several), and reads any stretch of a span at 2048 Hz, resampling across file
boundaries (``resample``), so a stretch's samples do not depend on where files or chunks end.

Times are integers: a native tick is ``GPS * rate``, an output tick ``GPS * 2048``; a span's
start must lie on the 2048-Hz grid.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from preprocess.stream.config import SAMPLE_RATE
from preprocess.stream.errors import StreamError, gps_span
from preprocess.stream.resample import decimate, factor_of, margin, trim_seconds

Interval = tuple[int, int]  # [start, stop) in ticks


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
        """Native ticks ``[a, b)`` (inside the run) as float64 ``(b - a,)``."""
        i = self.offset + a - self.start
        with h5py.File(self.path, "r") as f:
            return np.asarray(f[self.dataset][i : i + b - a], dtype=np.float64)


def gps_ticks(path: Path, gps: float, rate: float, what: str) -> int:
    """``gps * rate`` as an integer; ``StreamError`` when it is not on the sample grid."""
    ticks = gps * rate
    if abs(ticks - round(ticks)) > 1e-3:
        raise StreamError(path, f"{what}: start time {gps!r} is not on the {rate:g}-Hz sample grid")
    return int(round(ticks))


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
            passing = merge([(a // factor + (a % factor > 0), b // factor)
                             for run in span for a, b in (run.good or [(run.start, run.stop)])])
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
