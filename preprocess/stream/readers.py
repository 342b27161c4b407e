"""Read strain from files of any supported layout as ``(detector, gps_start, rate, array)``.

``read_segments(paths, detectors, options)`` accepts any mix of

- gwspec stream chunk files (``layout.py``), or a ``background/`` or ``foreground/`` folder;
- MLGWSC-1 strain files (``mlgwsc.py``): one group per detector, a dataset per segment;
- GWOSC strain files (``gwosc.py``): one detector per file, with a 1-Hz DQ bitmask;

recognised by their content, not their names. Files of one detector that follow each other join
into one stretch; the detectors are then combined into the time they all share, where every
chosen DQ bit is on. Data at 4096 or 16384 Hz is resampled to 2048 Hz (``resample.py``).
Common segments shorter than ``min_duration`` are skipped and counted; longer ones are yielded
in pieces of at most ``max_duration``. Each piece is checked second by second (finite, no
|value| above 1e-16, no constant second) before it is yielded: a bad one stops the reading with
a one-line ``BadSegmentError`` naming the file and the segment, or with ``skip_bad`` is skipped
and counted. What was skipped is in the ``ReadReport`` passed in.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np

from preprocess.highpass import highpass
from preprocess.layout import MAX_AMPLITUDE, MIN_STD, STRAIN_SCALE
from preprocess.stream import gwosc, layout, mlgwsc
from preprocess.stream.config import HIGHPASS_PAD, SAMPLE_RATE, ReadOptions
from preprocess.stream.errors import BadSegmentError, StreamError, gps_span, gps_time
from preprocess.stream.runs import DetectorStrain, Interval, Run, intersect
from runtime.provenance import file_identity

logger = logging.getLogger(__name__)

SUFFIXES = (".h5", ".hdf5", ".hdf")


class StrainSegment(NamedTuple):
    """One detector's contiguous strain: ``data`` ``(n,)`` float64 from GPS ``gps_start``."""

    detector: str
    gps_start: float
    sample_rate: int
    data: np.ndarray


@dataclass
class ReadReport:
    """What a reading yielded and what it skipped (seconds are of common time)."""

    segments: int = 0  # pieces yielded (each once per detector)
    seconds: float = 0.0
    short: int = 0  # common segments shorter than min_duration
    short_seconds: float = 0.0
    bad: int = 0  # pieces skipped for bad values (skip_bad)
    bad_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)  # one line per bad piece


def expand(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    """Files named by ``paths``; a folder stands for its HDF5 files (sorted by name)."""
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    files: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            if (item / "stream.json").is_file():
                raise StreamError(item, "is a gwspec stream folder; read its background/ or "
                                  "foreground/ folder")
            found = sorted(p for p in item.iterdir() if p.suffix in SUFFIXES and p.is_file())
            if not found:
                raise StreamError(item, f"holds no {'/'.join(SUFFIXES)} files")
            files += found
        else:
            files.append(item)
    if not files:
        raise ValueError("no strain files given")
    return files


def scan_file(path: Path, options: ReadOptions) -> tuple[list[Run], str | None]:
    """The runs of one file, whatever its layout, and the configuration hash of the gwspec
    stream it belongs to (None for other layouts)."""
    if not path.is_file():
        raise StreamError(path, "no such file" if not path.exists() else "not a file")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise StreamError(path, "not an HDF5 file (expected a gwspec stream, MLGWSC-1 or "
                          "GWOSC strain file)") from error
    with handle as f:
        if layout.is_stream_file(f):
            return layout.scan(path, f), str(f.attrs.get("config_hash", "")) or None
        if gwosc.is_gwosc(f):
            return gwosc.scan(path, f, options), None
        if mlgwsc.is_mlgwsc(f):
            return mlgwsc.scan(path, f), None
        keys = ", ".join(list(f)[:6]) or "nothing"
    raise StreamError(path, f"unknown layout: not a gwspec stream file (format attribute), a "
                      f"GWOSC file (strain/Strain) or an MLGWSC-1 file (a group of datasets per "
                      f"detector); it holds {keys}")


class StrainSet:
    """The strain of several files per detector, and the time every detector has."""

    def __init__(self, paths: str | Path | Sequence[str | Path],
                 detectors: Sequence[str] | None = None, options: ReadOptions = ReadOptions()):
        self.options = options
        self.files = expand(paths)
        runs: dict[str, list[Run]] = {}
        streams: set[str] = set()
        for path in self.files:
            found, stream = scan_file(path, options)
            for run in found:
                runs.setdefault(run.detector, []).append(run)
            streams |= {stream} if stream else set()
        self.streams = tuple(sorted(streams))  # gwspec streams' configuration hashes
        self.detectors = tuple(detectors) if detectors else tuple(sorted(runs))
        for detector in self.detectors:
            if detector not in runs:
                raise StreamError(self.files[0], f"no file holds {detector} data (found: "
                                  f"{', '.join(sorted(runs)) or 'none'})")
        self.strains = {d: DetectorStrain(d, runs[d]) for d in self.detectors}
        self.common = self._common_time(runs)

    def _common_time(self, runs: dict[str, list[Run]]) -> list[Interval]:
        for d in self.detectors:
            if not self.strains[d].good:
                raise StreamError(runs[d][0].path, f"{d}: no second has data with DQ bits "
                                  f"{' '.join(self.options.dq_bits)} on")
        common = self.strains[self.detectors[0]].good
        for i, a in enumerate(self.detectors):
            for b in self.detectors[i + 1 :]:
                if not intersect(self.strains[a].good, self.strains[b].good):
                    raise StreamError(runs[a][0].path, f"{a} ({self._cover(a)}) and {b} in "
                                      f"{runs[b][0].path} ({self._cover(b)}) never overlap in time")
            common = intersect(common, self.strains[a].good)
        if not common:
            raise StreamError(self.files[0], f"detectors {', '.join(self.detectors)} share no "
                              "time with all of them on")
        return common

    def identities(self) -> dict[str, str]:
        """Each file's content identity (``runtime.provenance.file_identity``), by its
        resolved path: what a resumed search checks its data against."""
        return {str(p.resolve()): file_identity(p) for p in self.files}

    def _cover(self, detector: str) -> str:
        good = self.strains[detector].good
        return gps_span(good[0][0] / SAMPLE_RATE, good[-1][1] / SAMPLE_RATE)

    def read(self, detector: str, a: int, b: int) -> np.ndarray:
        """Output ticks ``[a, b)`` of ``detector`` at 2048 Hz, float64 ``(b - a,)``."""
        return self.strains[detector].read(a, b)

    def checked(self, a: int, b: int) -> np.ndarray:
        """``(D, b - a)`` strain of every detector; ``BadSegmentError`` for bad values."""
        data = np.stack([self.read(d, a, b) for d in self.detectors])
        for d, row in zip(self.detectors, data, strict=True):
            problem = implausible(row, a)
            if problem:
                reason, tick = problem
                path = self.strains[d].source_of(tick)
                raise BadSegmentError(path, d, (a / SAMPLE_RATE, b / SAMPLE_RATE), reason)
        return data

    def conditioned(self, a: int, b: int) -> np.ndarray:
        """``checked(a, b)`` high-passed (``options.highpass``) over the piece and up to
        ``HIGHPASS_PAD`` s either side within its common segment: what is analysed."""
        if not self.options.highpass:
            return self.checked(a, b)
        pad = int(HIGHPASS_PAD * SAMPLE_RATE)
        low, high = next(((c, d) for c, d in self.common if c <= a and b <= d), (a, b))
        first, last = max(low, a - pad), min(high, b + pad)
        try:
            data = self.checked(first, last)
        except BadSegmentError:  # the bad strain may lie in the padding only: not padded then
            first, last = a, b
            data = self.checked(a, b)
        return highpass(data, self.options.highpass)[:, a - first : b - first]

    def segments(self, report: ReadReport | None = None,
                 shortest: float = 1.0) -> list[Interval]:
        """Common intervals of at least ``min_duration`` s (``shortest`` when the options set
        none: what the caller can use); shorter ones counted in ``report``. None long enough
        is a ``StreamError`` naming the longest and the option that would take it."""
        report = report if report is not None else ReadReport()
        seconds = self.options.min_duration or shortest
        kept = [(a, b) for a, b in self.common if b - a >= seconds * SAMPLE_RATE]
        for a, b in self.common:
            if b - a < seconds * SAMPLE_RATE:
                report.short += 1
                report.short_seconds += (b - a) / SAMPLE_RATE
        if not kept:
            longest = max(b - a for a, b in self.common) / SAMPLE_RATE
            hint = (f"; pass --min-duration {longest:g} to search it"
                    if self.options.min_duration and longest >= shortest else "")
            ones = "one" if report.short == 1 else "ones"
            raise StreamError(self.files[0], f"no common segment of at least {seconds:g} s "
                              f"({report.short} shorter {ones}, the longest {longest:g} s, "
                              f"{report.short_seconds:g} s in all){hint}")
        if report.short:
            logger.info("skipped %d common segment(s) shorter than %g s (%g s)", report.short,
                        seconds, report.short_seconds)
        return kept


def implausible(data: np.ndarray, first: int) -> tuple[str, int] | None:
    """``(reason, tick)`` for the first bad second of ``data`` ``(n,)`` starting at output tick
    ``first``: non-finite, |value| above 1e-16 or a constant (std < 1e-26) second; else None."""
    limit, floor = MAX_AMPLITUDE * STRAIN_SCALE, MIN_STD * STRAIN_SCALE
    bad = ~np.isfinite(data)
    if bad.any():
        i = int(np.argmax(bad))
        return f"non-finite values from GPS {gps_time((first + i) / SAMPLE_RATE)}", first + i
    loud = np.abs(data) > limit
    if loud.any():
        i = int(np.argmax(loud))
        return (f"|value| {abs(data[i]):.3g} at GPS {gps_time((first + i) / SAMPLE_RATE)}, "
                f"implausible for strain (limit {limit:.0e})", first + i)
    whole = len(data) // SAMPLE_RATE * SAMPLE_RATE
    stds = data[:whole].reshape(-1, SAMPLE_RATE).std(axis=1)  # (seconds,)
    if len(data) - whole > 1:
        stds = np.append(stds, data[whole:].std())
    quiet = np.flatnonzero(stds < floor)
    if len(quiet):
        i = int(quiet[0]) * SAMPLE_RATE
        return (f"constant (std {stds[quiet[0]]:.3g}) in the second from GPS "
                f"{gps_time((first + i) / SAMPLE_RATE)}", first + i)
    return None


def read_segments(paths: str | Path | Sequence[str | Path], detectors: Sequence[str] | None = None,
                  options: ReadOptions = ReadOptions(),
                  report: ReadReport | None = None) -> Iterator[StrainSegment]:
    """Yield every detector's ``StrainSegment`` over the common analysable time (module docstring).

    Pieces come in time order, each as one ``StrainSegment`` per detector (in ``detectors`` order,
    by default every detector found, sorted) with the same ``gps_start`` and length.
    """
    report = report if report is not None else ReadReport()
    strain = StrainSet(paths, detectors, options)
    step = int(options.max_duration * SAMPLE_RATE) if options.max_duration else None
    for start, stop in strain.segments(report):
        for a in range(start, stop, step or stop - start):
            b = min(a + step, stop) if step else stop
            try:
                data = strain.checked(a, b)
            except BadSegmentError as error:
                if not options.skip_bad:
                    raise
                report.bad += 1
                report.bad_seconds += (b - a) / SAMPLE_RATE
                report.problems.append(str(error))
                logger.warning("skipped: %s", error)
                continue
            report.segments += 1
            report.seconds += (b - a) / SAMPLE_RATE
            for detector, row in zip(strain.detectors, data, strict=True):
                yield StrainSegment(detector, a / SAMPLE_RATE, SAMPLE_RATE, row)


@functools.lru_cache(maxsize=2)
def cached_strain_set(paths: tuple[str, ...], detectors: tuple[str, ...],
                      options: ReadOptions) -> StrainSet:
    """One ``StrainSet`` per process for the same files (workers reuse their scan)."""
    return StrainSet(paths, detectors, options)
