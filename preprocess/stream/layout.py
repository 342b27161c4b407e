"""gwspec's stream layout: one HDF5 file per chunk of a segment; its writer and its reader.

A stream folder holds ``background/`` (noise and glitches) and ``foreground/`` (the same noise
plus injections), each with one file per chunk named ``<DETS>-<KIND>-<gps>-<seconds>.h5``
(``H1L1V1-FOREGROUND-1238166018-256.h5``), the LIGO frame-file convention. Consecutive chunks
join into contiguous segments when read. One file:

====================  =========================================================================
``/`` attributes      ``format`` ("gwspec-stream"), ``format_version`` (1), ``kind``
                      ("background" or "foreground"), ``noise`` ("simulated" or "real"),
                      ``detectors`` ("H1 L1 V1"), ``gps_start`` (GPS s, int), ``duration`` (s,
                      int), ``sample_rate`` (2048), ``segment``, ``segment_start`` (GPS s),
                      ``chunk`` (index in the segment), ``config`` (canonical JSON of the
                      ``StreamConfig``), ``config_hash``
``strain/<det>``      ``(duration * 2048,)`` float32 or float64: strain from ``gps_start``
``level/<det>``       simulated noise: ``(duration + 1,)`` float64, the PSD level (power scale)
                      at each GPS second ``gps_start ... gps_start + duration``; between
                      seconds ``ln(level)`` is linear
``psd/<det>``         simulated noise: ``(4097,)`` float64, one-sided PSD (1/Hz) at level 1 on
                      0-1024 Hz in 0.25-Hz steps (attribute ``delta_f``); the local PSD is
                      ``level(t) * psd``
``glitches/<col>``    glitches peaking in this chunk: ``time`` (GPS), ``detector``, ``type``,
                      ``frequency`` (Hz), ``q``, ``duration`` (s), ``snr``, ``phase``
``injections/<col>``  foreground: injections whose ``tc`` is in this chunk (``injections.py``)
====================  =========================================================================

Every dataset has HDF5's Fletcher-32 checksum. A file is built in memory and written under a
temporary name, then renamed: a file under its final name is complete.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from preprocess.stream.config import KNOWN_DETECTORS, SAMPLE_RATE
from preprocess.stream.errors import StreamError
from preprocess.stream.runs import Run, file_run
from runtime.provenance import atomic_path, canonical_json, config_hash

FORMAT = "gwspec-stream"
FORMAT_VERSION = 1
KINDS = ("background", "foreground")
PSD_DELTA_F = 0.25  # Hz: grid of the stored PSDs (an 8-s rFFT grid)
STRING_COLUMNS = ("detector", "type")
INT_COLUMNS = ("segment",)
H5_CHUNK = 1 << 16  # samples per HDF5 chunk of strain


@dataclass
class ChunkFile:
    """What one chunk file holds; ``strain`` is ``(D, duration * 2048)``."""

    kind: str
    noise: str
    detectors: tuple[str, ...]
    gps_start: int
    duration: int
    segment: int
    segment_start: int
    chunk: int
    strain: np.ndarray
    levels: np.ndarray | None = None  # (D, duration + 1)
    psd: np.ndarray | None = None  # (D, 4097)
    glitches: list[dict] = field(default_factory=list)
    injections: list[dict] | None = None  # foreground only


def chunk_name(kind: str, detectors: Sequence[str], gps_start: int, duration: int) -> str:
    return f"{''.join(detectors)}-{kind.upper()}-{gps_start}-{duration}.h5"


def _column(name: str, values: list) -> np.ndarray:
    if name in STRING_COLUMNS:
        return np.array([str(v).encode() for v in values], dtype="S16")
    return np.array(values, dtype=np.int64 if name in INT_COLUMNS else np.float64)


def _write_table(f: h5py.File, group: str, columns: Sequence[str], rows: list[dict]) -> None:
    g = f.create_group(group)
    g.attrs["columns"] = " ".join(columns)
    for name in columns:
        g.create_dataset(name, data=_column(name, [row[name] for row in rows]), fletcher32=True,
                         chunks=True, maxshape=(None,))


def write_chunk(path: str | Path, data: ChunkFile, config: Mapping[str, Any], dtype: str,
                glitch_columns: Sequence[str], injection_columns: Sequence[str]) -> None:
    """Write one chunk file atomically (built in memory, then one plain write)."""
    image = io.BytesIO()
    n = data.duration * SAMPLE_RATE
    if data.strain.shape != (len(data.detectors), n):
        raise ValueError(f"{path}: strain {data.strain.shape}, expected {(len(data.detectors), n)}")
    with h5py.File(image, "w") as f:
        f.attrs.update(format=FORMAT, format_version=FORMAT_VERSION, kind=data.kind,
                       noise=data.noise, detectors=" ".join(data.detectors),
                       gps_start=data.gps_start, duration=data.duration, sample_rate=SAMPLE_RATE,
                       segment=data.segment, segment_start=data.segment_start, chunk=data.chunk,
                       config=canonical_json(config), config_hash=config_hash(config))
        for d, detector in enumerate(data.detectors):
            f.create_dataset(f"strain/{detector}", data=data.strain[d].astype(dtype),
                             chunks=(min(H5_CHUNK, n),), fletcher32=True)
            if data.levels is not None:
                f.create_dataset(f"level/{detector}", data=data.levels[d], fletcher32=True)
            if data.psd is not None:
                f.create_dataset(f"psd/{detector}", data=data.psd[d], fletcher32=True)
                f[f"psd/{detector}"].attrs["delta_f"] = PSD_DELTA_F
        _write_table(f, "glitches", glitch_columns, data.glitches)
        if data.injections is not None:
            _write_table(f, "injections", injection_columns, data.injections)
    buffer = image.getbuffer()
    with atomic_path(path, len(buffer)) as tmp, open(tmp, "wb") as handle:
        handle.write(buffer)


def _open(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except FileNotFoundError as error:
        raise StreamError(path, "no such file") from error
    except OSError as error:
        raise StreamError(path, f"not a readable HDF5 file ({error})") from error


def is_stream_file(f: h5py.File) -> bool:
    return f.attrs.get("format") == FORMAT


def read_attrs(path: str | Path) -> dict[str, Any]:
    """A chunk file's root attributes, ``config`` parsed from JSON."""
    path = Path(path)
    with _open(path) as f:
        if not is_stream_file(f):
            raise StreamError(path, f"not a gwspec stream file (no format={FORMAT!r} attribute)")
        attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
    attrs["config"] = json.loads(attrs["config"])
    attrs["detectors"] = tuple(attrs["detectors"].split())
    return attrs


def scan(path: str | Path, f: h5py.File) -> list[Run]:
    """The runs of an open chunk file: one per detector, all of ``duration`` s."""
    path = Path(path)
    missing = [k for k in ("detectors", "gps_start", "sample_rate", "duration")
               if k not in f.attrs]
    if missing:
        raise StreamError(path, f"gwspec stream file lacks attribute(s) {', '.join(missing)}")
    detectors = str(f.attrs["detectors"]).split()
    if not detectors or len(set(detectors)) != len(detectors):
        raise StreamError(path, f"gwspec stream file: detectors {f.attrs['detectors']!r} must "
                          "name distinct detectors")
    runs = []
    for detector in detectors:
        name = f"strain/{detector}"
        if detector not in KNOWN_DETECTORS:
            raise StreamError(path, f"gwspec stream file: unknown detector {detector!r} "
                              f"(expected one of {' '.join(KNOWN_DETECTORS)})")
        if name not in f or not isinstance(f[name], h5py.Dataset):
            raise StreamError(path, f"gwspec stream file lacks dataset {name}")
        runs.append(file_run(path, detector, f[name], f.attrs["gps_start"],
                             f.attrs["sample_rate"], f.attrs["duration"]))
    return runs


def read_table(path: str | Path, group: str) -> list[dict]:
    """Rows of a chunk file's ``glitches`` or ``injections`` table (strings decoded)."""
    with _open(Path(path)) as f:
        if group not in f:
            return []
        g = f[group]
        columns = str(g.attrs["columns"]).split()
        values = {c: g[c][()] for c in columns}
    n = len(values[columns[0]]) if columns else 0
    return [{c: (values[c][i].decode() if c in STRING_COLUMNS else values[c][i].item())
             for c in columns} for i in range(n)]


def read_levels(path: str | Path) -> dict[str, np.ndarray]:
    """``{detector: level (duration + 1,)}`` of a simulated chunk file ({} for real noise)."""
    with _open(Path(path)) as f:
        return {d: f[f"level/{d}"][()] for d in f.get("level", {})}


def read_psd(path: str | Path) -> dict[str, np.ndarray]:
    """``{detector: PSD (4097,)}`` at level 1 of a simulated chunk file ({} for real noise)."""
    with _open(Path(path)) as f:
        return {d: f[f"psd/{d}"][()] for d in f.get("psd", {})}
