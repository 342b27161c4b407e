"""A finished stream's tables, gathered from its chunk files, and its MLGWSC-1 files.

=====================  ======================================================================
``injections.csv``     one row per injection, in ``tc`` order (``chunk.injection_columns``)
``injections.hdf``     the same as an MLGWSC-1 injection file (``mlgwsc.py``)
``glitches.csv``       one row per glitch, in time order: ``time`` (GPS), ``detector``,
                       ``type``, ``frequency``, ``q``, ``duration``, ``snr``, ``phase``
``levels.csv``         simulated noise: ``gps`` and the PSD level of each detector at every
                       GPS second of every segment (its ends included)
``mlgwsc/``            with ``--mlgwsc``: ``background.hdf``, ``foreground.hdf`` (MLGWSC-1)
=====================  ======================================================================

The chunk files are the record: these are rebuilt from them whenever a run completes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from preprocess.stream import mlgwsc
from preprocess.stream.chunk import injection_columns
from preprocess.stream.config import SAMPLE_RATE, StreamConfig
from preprocess.stream.glitches import COLUMNS as GLITCH_COLUMNS
from preprocess.stream.layout import KINDS, chunk_name, read_levels, read_table
from preprocess.stream.plan import Chunk
from preprocess.stream.readers import StrainSet
from runtime.provenance import atomic_path, config_hash


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def _levels(config: StreamConfig, files: list[Path], chunks: list[Chunk]) -> pd.DataFrame:
    rows: dict[int, list[float]] = {}
    for path, chunk in zip(files, chunks, strict=True):
        levels = read_levels(path)
        for k in range(chunk.duration + 1):
            rows[chunk.start + k] = [float(levels[d][k]) for d in config.detectors]
    gps = sorted(rows)
    frame = pd.DataFrame([rows[t] for t in gps], columns=list(config.detectors))
    frame.insert(0, "gps", gps)
    return frame


def write_outputs(out: Path, config: StreamConfig, chunks: list[Chunk],
                  mlgwsc_strain: bool) -> dict[str, Any]:
    """Write the tables (and MLGWSC-1 strain files); return the manifest's summary."""
    def files(kind: str) -> list[Path]:
        return [out / kind / chunk_name(kind, config.detectors, c.start, c.duration)
                for c in chunks]

    background = files("background")
    glitches = [row for path in background for row in read_table(path, "glitches")]
    _write_csv(out / "glitches.csv",
               pd.DataFrame(glitches, columns=list(GLITCH_COLUMNS)).sort_values("time"))
    if config.simulated:
        _write_csv(out / "levels.csv", _levels(config, background, chunks))
    injections: list[dict] = []
    if config.has_injections:
        columns = injection_columns(config)
        injections = [row for path in files("foreground") for row in read_table(path,
                                                                                  "injections")]
        _write_csv(out / "injections.csv",
                   pd.DataFrame(injections, columns=list(columns)).sort_values("tc"))
        mlgwsc.write_injections(out / "injections.hdf", injections, columns, {
            "approximant": config.approximant, "f_lower": config.f_lower,
            "f_ref": config.f_lower, "distance_prior": config.distance_prior,
            "stream": config_hash(config.to_dict())})
    if mlgwsc_strain:
        for kind in KINDS if config.has_injections else KINDS[:1]:
            strain = StrainSet(out / kind)
            mlgwsc.write_strain(out / "mlgwsc" / f"{kind}.hdf", config.detectors, strain.common,
                                strain.read, config.dtype)
    return {
        "seconds": sum(c.duration for c in chunks),
        "segments": len({c.segment.index for c in chunks}),
        "chunks": len(chunks),
        "n_injections": len(injections),
        "n_glitches": len(glitches),
        "sample_rate": SAMPLE_RATE,
        "detectors": list(config.detectors),
    }
