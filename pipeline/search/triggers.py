"""Trigger tables and files: clustering in time, and the MLGWSC-1 trigger files of a search.

**Clustering** (``cluster``): the loudest trigger keeps every other within a window out, so one
event is counted once, in the foreground and the background alike (both searches).

**Trigger files** (MLGWSC-1's submission format, Schäfer et al. 2023): HDF5 with 1-D datasets
``time`` (GPS), ``stat`` (ranking statistic, louder is more significant) and ``var`` (s: an
injection within ``var`` of ``time`` is found by it), which the challenge's ``evaluate.py``
reads, plus gwspec's ``slide`` and each search's own columns (the matched filter's
``template``, ``snr_<det>``, ``chisq_<det>``, NaN where a detector took no part), and the
attributes of ``PROVENANCE``: ``duration`` (s of data the triggers stand for: the analysed
time, times the slides for a background), ``search`` (``matched-filter`` or ``network``),
``statistic``, ``detectors``, ``slides`` (the slides run; 0: zero lag), ``slide_step``,
``strain`` (the identity of the strain files searched) and, for gwspec streams, ``stream``
(the stream's configuration hash, which its injection table records too); the dataset
``analysed`` ``(n, 2)`` holds the analysed GPS spans. The CSV beside it holds the same
columns. ``write_trigger_file`` and ``read_trigger_file`` are this format's one writer and
reader; another search's file of ``time``, ``stat`` and ``var`` alone reads too.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from runtime.provenance import atomic_path

FORMAT = "gwspec-triggers"
REQUIRED = ("time", "stat", "var")  # what MLGWSC-1's evaluate.py reads


def cluster(times: np.ndarray, stats: np.ndarray, window: float) -> np.ndarray:
    """Indices kept: loudest first, each keeping out all others within ``window`` s."""
    kept: list[float] = []
    chosen = []
    for i in np.argsort(-stats, kind="stable"):
        t = float(times[i])
        j = bisect.bisect_left(kept, t - window)
        if j < len(kept) and kept[j] <= t + window:
            continue
        bisect.insort(kept, t)
        chosen.append(i)
    return np.sort(np.array(chosen, dtype=np.int64))


PROVENANCE = ("duration", "search", "statistic", "detectors", "slides", "slide_step", "strain")


def write_trigger_file(path: str | Path, table: pd.DataFrame, attrs: Mapping[str, Any],
                       analysed: np.ndarray) -> Path:
    """Write ``table`` (``time``, ``stat``, ``var`` and any numeric columns) as an MLGWSC-1
    trigger file at ``path`` (.hdf) and as CSV beside it, atomically; ``attrs`` holds
    ``PROVENANCE`` (and ``stream`` for a gwspec stream). Returns ``path``."""
    path = Path(path)
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: a trigger table needs columns {', '.join(missing)}")
    unrecorded = [a for a in PROVENANCE if a not in attrs]
    if unrecorded:
        raise ValueError(f"{path}: a trigger file records {', '.join(unrecorded)}")
    table = table.sort_values("time", kind="stable").reset_index(drop=True)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for column in table.columns:
            f.create_dataset(column, data=table[column].to_numpy())
        f.create_dataset("analysed", data=np.asarray(analysed, dtype=np.float64).reshape(-1, 2))
        f.attrs.update({"format": FORMAT, **attrs})
    with atomic_path(path.with_suffix(".csv")) as tmp:
        table.to_csv(tmp, index=False)
    return path


def read_trigger_file(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any], np.ndarray]:
    """``(table, attributes, analysed spans (n, 2))`` of a trigger file; MLGWSC-1 files of
    other searches (``time``, ``stat``, ``var`` only) read too, with empty attributes.
    ``ValueError`` naming the file for a column that is not finite, a ``var`` that is not
    > 0, or datasets of different lengths."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such trigger file")
    try:
        with h5py.File(path, "r") as f:
            missing = [c for c in REQUIRED if c not in f]
            if missing:
                raise ValueError(f"{path}: not an MLGWSC-1 trigger file (lacks dataset(s) "
                                 f"{', '.join(missing)})")
            columns = {k: f[k][()] for k in f if isinstance(f[k], h5py.Dataset)
                       and k != "analysed" and f[k].ndim == 1}
            analysed = f["analysed"][()] if "analysed" in f else np.zeros((0, 2))
            attrs = {k: (v.item() if isinstance(v, np.generic) else v)
                     for k, v in f.attrs.items()}
    except OSError as error:
        raise ValueError(f"{path}: not a readable HDF5 trigger file ({error})") from error
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"{path}: trigger datasets differ in length ({sorted(lengths)})")
    table = pd.DataFrame(columns)
    for name in REQUIRED:
        try:
            values = table[name].to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: dataset {name} is not numeric ({error})") from error
        bad = ~np.isfinite(values) | ((values <= 0) if name == "var" else False)
        if bad.any():
            row = int(np.argmax(bad))
            what = "finite and > 0" if name == "var" else "finite"
            raise ValueError(f"{path}: {name} must be {what}; row {row} holds {values[row]:g}")
    analysed = np.asarray(analysed, dtype=np.float64).reshape(-1, 2)
    if not np.isfinite(analysed).all() or (analysed[:, 1] < analysed[:, 0]).any():
        raise ValueError(f"{path}: its analysed spans are not finite, increasing GPS spans")
    return table, attrs, analysed
