"""Single-detector triggers: peaks of the SNR, their clustering, and the per-piece files.

**Peaks** (``cluster_peaks``): per template, the samples whose ``|z|`` reaches the threshold,
grouped into runs whose consecutive members are at most ``window`` samples apart; each run
keeps its loudest sample. A loud event so leaves one trigger per template (PyCBC clusters per
template over a window the same way), and coincidence then pairs templates across detectors.

**Piece files** (``segments/<gps>-<seconds>.h5`` of a search folder, the unit of resuming):
one group per detector with ``time`` (GPS, float64), ``template`` (int32), ``snr`` (|z|,
float32) and ``chisq`` (reduced, float32); attributes ``gps_start``, ``gps_stop`` (the data
read), ``analysed_start``, ``analysed_stop`` (where triggers can be), ``detectors``,
``filter_hash`` and ``cpu_seconds``. Written under a temporary name and renamed: a file
there is complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from runtime.provenance import atomic_path


@dataclass
class SingleTriggers:
    """One detector's triggers: each array ``(T,)``."""

    time: np.ndarray  # GPS s, float64
    template: np.ndarray  # bank index, int32
    snr: np.ndarray  # |z|, float32
    chisq: np.ndarray  # reduced chi-squared, float32

    @classmethod
    def empty(cls) -> SingleTriggers:
        return cls(np.zeros(0), np.zeros(0, np.int32), np.zeros(0, np.float32),
                   np.zeros(0, np.float32))

    @classmethod
    def concat(cls, parts: Sequence[SingleTriggers]) -> SingleTriggers:
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, name) for p in parts])
                     for name in ("time", "template", "snr", "chisq")))

    def __len__(self) -> int:
        return len(self.time)

    def take(self, index: np.ndarray) -> SingleTriggers:
        return SingleTriggers(self.time[index], self.template[index], self.snr[index],
                              self.chisq[index])


def chain_clusters(keys: np.ndarray, times: np.ndarray, values: np.ndarray,
                   window: float) -> np.ndarray:
    """Indices of the loudest member of each run: entries of equal ``keys`` sorted by ``times``
    whose consecutive gaps are at most ``window``. Inputs ``(T,)``; output sorted by key, time."""
    if not len(times):
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((times, keys))
    k, t, v = keys[order], times[order], values[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (k[1:] != k[:-1]) | (t[1:] - t[:-1] > window)
    run = np.cumsum(new) - 1  # (T,) run id
    loudest = np.lexsort((-v, run))  # the loudest first within each run
    first = loudest[np.r_[True, run[loudest][1:] != run[loudest][:-1]]]
    return order[np.sort(first)]


def cluster_peaks(power: np.ndarray, threshold: float,
                  window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-template peaks of ``|z|^2`` ``(K, N)``: ``(template, index, |z|)``, each ``(T,)``."""
    rows, cols = np.nonzero(power >= np.float32(threshold) ** 2)
    keep = chain_clusters(rows, cols, power[rows, cols], window)
    return rows[keep], cols[keep], np.sqrt(power[rows[keep], cols[keep]])


def recluster(triggers: SingleTriggers, window: float) -> SingleTriggers:
    """The same clustering over a whole segment's triggers (joins runs cut by block edges)."""
    keep = chain_clusters(triggers.template, triggers.time, triggers.snr, window)
    return triggers.take(np.sort(keep))


@dataclass
class SegmentTriggers:
    """Every detector's triggers of one segment, and its analysed span (GPS)."""

    triggers: dict[str, SingleTriggers]
    gps_start: float
    gps_stop: float
    analysed: tuple[float, float]
    cpu_seconds: float = 0.0  # spent filtering it (the bench's speed figure)

    @property
    def detectors(self) -> tuple[str, ...]:
        return tuple(self.triggers)


def write_segment(path: str | Path, segment: SegmentTriggers, filter_hash: str) -> None:
    """Write one segment's triggers atomically (see the module docstring)."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update(format="gwspec-segment-triggers", gps_start=segment.gps_start,
                       gps_stop=segment.gps_stop, analysed_start=segment.analysed[0],
                       analysed_stop=segment.analysed[1], filter_hash=filter_hash,
                       detectors=" ".join(segment.detectors), cpu_seconds=segment.cpu_seconds)
        for detector, single in segment.triggers.items():
            for name in ("time", "template", "snr", "chisq"):
                f.create_dataset(f"{detector}/{name}", data=getattr(single, name))


def read_segment(path: str | Path) -> tuple[SegmentTriggers, str]:
    """A segment file and the filter hash it was made with."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            detectors = str(f.attrs["detectors"]).split()
            triggers = {d: SingleTriggers(*(f[f"{d}/{name}"][()] for name in
                                            ("time", "template", "snr", "chisq")))
                        for d in detectors}
            segment = SegmentTriggers(triggers, float(f.attrs["gps_start"]),
                                      float(f.attrs["gps_stop"]),
                                      (float(f.attrs["analysed_start"]),
                                       float(f.attrs["analysed_stop"])),
                                      float(f.attrs.get("cpu_seconds", 0.0)))
            return segment, str(f.attrs["filter_hash"])
    except (OSError, KeyError) as error:
        raise ValueError(f"{path}: not a readable segment trigger file ({error}); delete it "
                         "to filter that segment again") from error
