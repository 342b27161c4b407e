"""GWOSC strain files (one detector per HDF5 file): their reader, and a writer for tests.

The layout read (as the Gravitational Wave Open Science Center distributes O1-O4 strain):

=============================  ===============================================================
``strain/Strain``              strain samples; attributes ``Xstart`` (GPS of the first sample),
                               ``Xspacing`` (1 / sample rate: 4096 or 16384 Hz), ``Npoints``
``meta/GPSstart``              GPS second of the file's start (equals ``Xstart``)
``meta/Duration``              seconds (4096 for GWOSC's files)
``meta/Detector``              "H1", "L1", "V1", ...
``quality/simple/DQmask``      ``(Duration,)`` integers at 1 Hz: bit ``i`` set when the second
                               passes ``DQShortnames[i]``
``quality/simple/DQShortnames`` the bits' names: DATA, CBC_CAT1, CBC_CAT2, CBC_CAT3,
                               BURST_CAT1, ...
=============================  ===============================================================

A second is analysed when every bit of ``ReadOptions.dq_bits`` is set (default DATA and
CBC_CAT1). Strain exists where DATA is set (elsewhere GWOSC stores NaN): each stretch of DATA
seconds is one ``Run``, resampled as a whole, with its passing seconds as ``good``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from preprocess.stream.config import ReadOptions
from preprocess.stream.errors import StreamError
from preprocess.stream.runs import Run, file_run, number_of, sample_rate

SHORTNAMES = ("DATA", "CBC_CAT1", "CBC_CAT2", "CBC_CAT3", "BURST_CAT1", "BURST_CAT2",
              "BURST_CAT3")  # GWOSC's bits for O1-O3


def is_gwosc(f: h5py.File) -> bool:
    return "strain/Strain" in f


def _require(path: Path, f: h5py.File, name: str) -> h5py.Dataset:
    if name not in f:
        raise StreamError(path, f"GWOSC file lacks {name}")
    return f[name]


def _attribute(path: Path, dataset: h5py.Dataset, name: str) -> object:
    if name not in dataset.attrs:
        raise StreamError(path, f"GWOSC file: {dataset.name} lacks attribute {name}")
    return dataset.attrs[name]


def _value(path: Path, f: h5py.File, name: str) -> object:
    """A scalar dataset's value (``meta/GPSstart``, ``meta/Duration``)."""
    value = _require(path, f, name)[()]
    return value.item() if isinstance(value, np.ndarray) and value.size == 1 else value


def _text(value: object) -> str:
    value = value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value
    return value.decode() if isinstance(value, bytes) else str(value)


def _stretches(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` of each run of True in ``mask`` ``(n,)``."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(),
                    strict=True))


def scan(path: str | Path, f: h5py.File, options: ReadOptions) -> list[Run]:
    """The runs of an open GWOSC file: one per stretch of DATA seconds."""
    path = Path(path)
    strain = _require(path, f, "strain/Strain")
    start = _attribute(path, strain, "Xstart")
    spacing = number_of(path, "GWOSC file: strain/Strain Xspacing",
                      _attribute(path, strain, "Xspacing"))
    if spacing <= 0:
        raise StreamError(path, f"GWOSC file: strain/Strain Xspacing {spacing!r} must be > 0 s")
    rate = sample_rate(path, "/strain/Strain", 1.0 / spacing)
    npoints = number_of(path, "GWOSC file: strain/Strain Npoints", _attribute(path, strain,
                                                                            "Npoints"))
    gps_start = number_of(path, "GWOSC file: meta/GPSstart", _value(path, f, "meta/GPSstart"))
    duration = _value(path, f, "meta/Duration")
    detector = _text(_require(path, f, "meta/Detector")[()])
    mask = np.asarray(_require(path, f, "quality/simple/DQmask")[()])
    names = [_text(n) for n in _require(path, f, "quality/simple/DQShortnames")[()]]
    whole = file_run(path, detector, strain, start, rate, duration)  # the checks of every layout
    if npoints != len(strain):
        raise StreamError(path, f"GWOSC file: strain/Strain holds {len(strain)} samples, Npoints "
                          f"says {npoints:g}")
    if abs(number_of(path, "Xstart", start) - gps_start) > spacing:
        raise StreamError(path, f"GWOSC file: Xstart {start!r} and meta/GPSstart {gps_start!r} "
                          "disagree")
    seconds = len(strain) // rate
    if mask.ndim != 1 or mask.dtype.kind not in "iu" or len(mask) != seconds:
        raise StreamError(path, f"GWOSC file: quality/simple/DQmask must hold one integer per "
                          f"second ({seconds}), got {mask.dtype} {mask.shape}")
    mask = mask.astype(np.int64)
    first = whole.start
    passing = _bits_on(path, mask, names, options.dq_bits)
    data = _bits_on(path, mask, names, ("DATA",)) if "DATA" in names else np.ones_like(passing)
    runs = []
    for a, b in _stretches(data):
        good = tuple((first + (a + s) * rate, first + (a + e) * rate)
                     for s, e in _stretches(passing[a:b]))
        runs.append(Run(path, detector, "strain/Strain", a * rate, first + a * rate,
                        (b - a) * rate, rate, good))
    return runs


def _bits_on(path: Path, mask: np.ndarray, names: list[str], bits: Sequence[str]) -> np.ndarray:
    """Seconds ``(n,)`` with every bit of ``bits`` set."""
    unknown = [b for b in bits if b not in names]
    if unknown:
        raise StreamError(path, f"GWOSC file has no DQ bit {', '.join(unknown)}; its "
                          f"DQShortnames are {', '.join(names)}")
    wanted = sum(1 << names.index(b) for b in bits)
    return (mask & wanted) == wanted


def write_gwosc(path: str | Path, detector: str, gps_start: int, strain: np.ndarray, rate: int,
                dq_mask: np.ndarray | None = None, shortnames: Sequence[str] = SHORTNAMES) -> None:
    """Write ``strain`` ``(duration * rate,)`` as a GWOSC file (``dq_mask`` ``(duration,)``:
    all bits on by default). For tests and benchmarks: real files come from GWOSC."""
    duration = len(strain) // rate
    if len(strain) != duration * rate:
        raise ValueError(f"{path}: {len(strain)} samples are not whole seconds at {rate} Hz")
    mask = np.full(duration, 2 ** len(shortnames) - 1) if dq_mask is None else dq_mask
    with h5py.File(path, "w") as f:
        dataset = f.create_dataset("strain/Strain", data=np.asarray(strain, dtype=np.float64))
        dataset.attrs.update(Xstart=float(gps_start), Xspacing=1.0 / rate, Npoints=len(strain),
                             Xunits="second", Yunits="")
        f["meta/GPSstart"] = int(gps_start)
        f["meta/Duration"] = duration
        f["meta/Detector"] = detector.encode()
        f["quality/simple/DQmask"] = np.asarray(mask, dtype=np.uint32)
        f["quality/simple/DQShortnames"] = np.array([n.encode() for n in shortnames])
