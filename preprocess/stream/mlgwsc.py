"""MLGWSC-1 files (Schäfer et al. 2023; gwastro/ml-mock-data-challenge-1): writer and reader.

**Strain** (``background.hdf``, ``foreground.hdf``): one HDF5 group per detector (``H1``,
``L1``, ...), and in it one 1-D dataset per contiguous segment, named by its integer GPS start
(``H1/1238166018``), with attributes ``start_time`` (GPS, float) and ``delta_t`` (1/2048 s).
This is what the challenge's ``generate_data.py`` writes (PyCBC's ``TimeSeries.save``) and what
its ``evaluate.py`` reads to find the analysed time.

**Injections** (``injections.hdf``): one 1-D float dataset per parameter, one entry per
injection, PyCBC's names: ``tc`` (GPS, geocentre), ``mass1``, ``mass2`` (detector frame,
Msun), ``spin1x`` ... ``spin2z``, ``ra``, ``dec``, ``polarization``, ``inclination``,
``coa_phase`` (rad), ``distance`` (luminosity, Mpc) and ``chirp_distance`` (Mpc), plus gwspec's
``mchirp``, ``snr_<det>``, ``snr_network`` and ``segment``; attributes ``approximant``,
``f_lower``, ``f_ref``. ``evaluate.py`` reads ``tc``, ``distance``, ``mass1``, ``mass2`` and,
because ``chirp_distance`` is present, weights found injections for a chirp-distance prior:
with ``--distance-prior volume`` drop that dataset before running it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np

from preprocess.stream.config import SAMPLE_RATE
from preprocess.stream.errors import StreamError
from preprocess.stream.runs import Interval, Run, file_run, number_of
from runtime.provenance import atomic_path

BLOCK = 256 * SAMPLE_RATE  # samples copied at a time when writing strain
Reader = Callable[[str, int, int], np.ndarray]  # (detector, first tick, stop tick) -> strain


def is_mlgwsc(f: h5py.File) -> bool:
    """Whether the root holds only groups of datasets (one group per detector)."""
    groups = [f[k] for k in f]
    return bool(groups) and all(
        isinstance(g, h5py.Group) and len(g) and all(isinstance(g[k], h5py.Dataset) for k in g)
        for g in groups
    )


def scan(path: str | Path, f: h5py.File) -> list[Run]:
    """The runs of an open MLGWSC-1 strain file: one per dataset."""
    path = Path(path)
    runs = []
    for detector in f:
        for name in f[detector]:
            dataset = f[f"{detector}/{name}"]
            missing = [a for a in ("start_time", "delta_t") if a not in dataset.attrs]
            if missing:
                raise StreamError(path, f"MLGWSC-1 file: dataset {detector}/{name} lacks "
                                  f"attribute {', '.join(missing)}")
            delta_t = number_of(path, f"{dataset.name}: delta_t", dataset.attrs["delta_t"])
            if delta_t <= 0:
                raise StreamError(path, f"{dataset.name}: delta_t {delta_t!r} must be > 0 s")
            runs.append(file_run(path, detector, dataset, dataset.attrs["start_time"],
                                 1.0 / delta_t))
    return runs


def write_strain(path: str | Path, detectors: Sequence[str], intervals: Sequence[Interval],
                 read: Reader, dtype: str = "float32") -> None:
    """Write ``intervals`` (output ticks, each on whole GPS seconds) of every detector,
    reading them ``BLOCK`` samples at a time with ``read``; atomically."""
    needed = sum(b - a for a, b in intervals) * len(detectors) * np.dtype(dtype).itemsize
    with atomic_path(path, needed) as tmp, h5py.File(tmp, "w") as f:
        for detector in detectors:
            group = f.create_group(detector)
            for a, b in intervals:
                if a % SAMPLE_RATE:
                    raise ValueError(f"{path}: segment start {a / SAMPLE_RATE} is not whole")
                dataset = group.create_dataset(str(a // SAMPLE_RATE), shape=(b - a,), dtype=dtype)
                dataset.attrs.update(start_time=float(a // SAMPLE_RATE), delta_t=1.0 / SAMPLE_RATE)
                for lo in range(a, b, BLOCK):
                    hi = min(lo + BLOCK, b)
                    dataset[lo - a : hi - a] = read(detector, lo, hi)


def write_injections(path: str | Path, rows: Sequence[Mapping[str, float]],
                     columns: Sequence[str], attrs: Mapping[str, object]) -> None:
    """Write the injection table (``columns`` of ``rows``, in ``tc`` order), atomically."""
    order = sorted(range(len(rows)), key=lambda i: rows[i]["tc"])
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for name in columns:
            dtype = np.int64 if name == "segment" else np.float64
            f.create_dataset(name, data=np.array([rows[i][name] for i in order], dtype=dtype))
        f.attrs.update(attrs)


def read_injections(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    """Every dataset of an MLGWSC-1 injection file, ``{name: (n,)}``, and its attributes
    (gwspec's record ``stream``, the configuration hash of the stream they were made for)."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in ("tc", "mass1", "mass2", "distance") if k not in f]
            if missing:
                raise StreamError(path, f"MLGWSC-1 injection file lacks {', '.join(missing)}")
            attrs = {k: (v.item() if isinstance(v, np.generic) else v)
                     for k, v in f.attrs.items()}
            return {k: f[k][()] for k in f if isinstance(f[k], h5py.Dataset)}, attrs
    except OSError as error:
        raise StreamError(path, f"not a readable HDF5 file ({error})") from error
