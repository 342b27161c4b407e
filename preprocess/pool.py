"""The mixing pool: a simulated split's noise and clean signals, kept apart, so that training can
pair them anew for every image (``pipeline.training.mixing``).

The simulator makes every sample from its own random streams, so a split's noise (with its
level and glitches) and its clean signals can be made again from ``simulation.json`` alone:
``build_pool(data, split, out)`` does so and writes them, with what mixing needs to set a
signal's SNR exactly against any other sample's noise. One file, HDF5, whose one writer and
reader are here:

==============  =================================================================================
``ids``         ``(N,)`` the split's sample ids, in CSV order
``noise``       ``(N, D, 4096)`` float32: each sample's noise and glitches, strain / ``raw_scale``
``scale``       ``(N, D)`` float64: each sample's PSD scale per detector (1: ``psd.csv``'s level)
``signal``      ``(M, D, 4096)`` float32: the clean signals of the samples with target 1
``signal_of``   ``(M,)`` int64: the row of ``ids`` each signal was simulated for
``snr``         ``(M, D)`` float64: each signal's optimal SNR per detector as stored, against
                the PSD of the sample it was simulated for
attributes      ``format``, ``split``, ``detectors``, ``raw_scale``, ``simulation`` (canonical
                JSON of the simulation's configuration) and ``simulation_hash``
==============  =================================================================================

A signal stored for sample j at SNR ``snr_j`` has, in the noise of sample i at amplitude
factor ``a``, SNR ``a * snr_j * sqrt(scale_j / scale_i)`` per detector: exact when the noise
varies in level only (``--psd-scale-min/-max``, glitches), which is what a pool accepts.
"""

from __future__ import annotations

import json
import multiprocessing
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from preprocess.layout import N_TIME, read_split
from runtime.errors import ignore_interrupt
from runtime.provenance import atomic_path, canonical_json

FORMAT = "gwspec-mixing-pool"
RAW_SCALE = 1e-20  # strain unit of the stored arrays (WhitenConfig.raw_scale's default)
CHUNK = 64  # samples per worker task


@dataclass
class Pool:
    """A pool read back: arrays as the module docstring describes them."""

    path: Path
    ids: np.ndarray  # (N,) str
    noise: np.ndarray  # (N, D, 4096) float32
    scale: np.ndarray  # (N, D)
    signal: np.ndarray  # (M, D, 4096) float32
    signal_of: np.ndarray  # (M,)
    snr: np.ndarray  # (M, D)
    detectors: tuple[str, ...]
    simulation_hash: str
    raw_scale: float


def _simulation(data: Path):
    """The ``SimulationConfig`` a data folder was simulated with (its ``simulation.json``)."""
    from preprocess.simulate.config import SimulationConfig

    record = data / "simulation.json"
    if not record.is_file():
        raise ValueError(f"{data}: no simulation.json: a mixing pool is made again from a "
                         "simulated data set's configuration (preprocess simulate)")
    saved = json.loads(record.read_text())
    config = SimulationConfig(**saved["config"])
    if config.psd_shape_mix or config.psd_distortion or config.has_families:
        raise ValueError(f"{record}: its noise varies in spectral shape; a mixing pool needs "
                         "noise that varies in level only, so that a signal's SNR in another "
                         "sample's noise is exact")
    return config, saved["config_hash"]


def _make(args: tuple) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Samples ``[start, stop)`` of a split: ``(start, noise, scale, signal, snr)``."""
    from preprocess.simulate.sample import simulate_sample

    config, split, start, stop = args
    noise, scale, signal, snr = [], [], [], []
    for index in range(start, stop):
        strain, clean, row = simulate_sample(config, split, index)
        noise.append((strain - clean) / RAW_SCALE)
        scale.append([row.get(f"psd_scale_{d}", 1.0) for d in config.detectors])
        signal.append(clean / RAW_SCALE)
        snr.append([row.get(f"snr_{d}", np.nan) for d in config.detectors])
    return (start, np.asarray(noise, np.float32), np.asarray(scale, np.float64),
            np.asarray(signal, np.float32), np.asarray(snr, np.float64))


def build_pool(data: str | Path, split: str, out: str | Path, workers: int = 1,
               progress: bool = True) -> Path:
    """Make the split's noise and signals again from ``data``'s ``simulation.json`` and write
    them as a pool at ``out`` (module docstring); returns ``out``."""
    data, out = Path(data), Path(out)
    config, simulation_hash = _simulation(data)
    frame = read_split(data, split)
    n, d = len(frame), len(config.detectors)
    noise = np.empty((n, d, N_TIME), np.float32)
    scale = np.empty((n, d))
    signal = np.empty((n, d, N_TIME), np.float32)
    snr = np.empty((n, d))
    tasks = [(config, split, a, min(a + CHUNK, n)) for a in range(0, n, CHUNK)]
    with tqdm(total=n, unit="sample", desc="pool", disable=not progress) as bar:
        if workers > 1:
            with multiprocessing.get_context().Pool(workers, initializer=ignore_interrupt) as p:
                results = p.imap_unordered(_make, tasks)
                for start, *parts in results:
                    _place(start, parts, noise, scale, signal, snr)
                    bar.update(len(parts[0]))
        else:
            for task in tasks:
                start, *parts = _make(task)
                _place(start, parts, noise, scale, signal, snr)
                bar.update(len(parts[0]))
    order = _generation_order(data, config, split, frame["id"].tolist())
    noise, scale, signal, snr = noise[order], scale[order], signal[order], snr[order]
    targets = frame["target"].to_numpy()
    rows = np.flatnonzero(targets == 1)
    with atomic_path(out, noise.nbytes + len(rows) * signal[0].nbytes) as tmp, \
            h5py.File(tmp, "w") as f:
        f.create_dataset("ids", data=frame["id"].to_numpy().astype("S"))
        f.create_dataset("noise", data=noise, chunks=(1, d, N_TIME))
        f.create_dataset("scale", data=scale)
        f.create_dataset("signal", data=signal[rows], chunks=(1, d, N_TIME))
        f.create_dataset("signal_of", data=rows.astype(np.int64))
        f.create_dataset("snr", data=snr[rows])
        f.attrs.update(format=FORMAT, split=split, detectors=" ".join(config.detectors),
                       raw_scale=RAW_SCALE, simulation=canonical_json(config.to_dict()),
                       simulation_hash=simulation_hash)
    return out


def _generation_order(data: Path, config, split: str, ids: list[str]) -> np.ndarray:
    """For each id in the split's CSV order, its index in the simulator's generation order."""
    from preprocess.simulate.sample import sample_ids

    made = {sample_id: i for i, sample_id in enumerate(sample_ids(config)[split])}
    missing = [sample_id for sample_id in ids if sample_id not in made]
    if missing or len(ids) != len(made):
        raise ValueError(f"{data}: the {split} split's ids are not the ones its simulation.json "
                         f"makes ({len(missing)} unknown, e.g. {missing[:3]}); was the folder "
                         "edited after simulating?")
    return np.array([made[sample_id] for sample_id in ids])


def _place(start: int, parts: list[np.ndarray], *arrays: np.ndarray) -> None:
    for array, part in zip(arrays, parts, strict=True):
        array[start : start + len(part)] = part


def read_pool(path: str | Path) -> Pool:
    """A pool ``build_pool`` wrote, in memory; ``ValueError`` naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such mixing pool")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise ValueError(f"{path}: not a gwspec mixing pool (format {FORMAT})")
            pool = Pool(path, f["ids"][()].astype(str), f["noise"][()], f["scale"][()],
                        f["signal"][()], f["signal_of"][()], f["snr"][()],
                        tuple(str(f.attrs["detectors"]).split()),
                        str(f.attrs["simulation_hash"]), float(f.attrs["raw_scale"]))
    except (OSError, KeyError) as error:
        raise ValueError(f"{path}: not a readable mixing pool ({error})") from error
    if not (np.isfinite(pool.noise).all() and np.isfinite(pool.signal).all()
            and np.isfinite(pool.snr).all() and (pool.snr > 0).any(axis=1).all()):
        raise ValueError(f"{path}: holds NaN, infinite values or silent signals")
    return pool


def simulation_hash(data: str | Path) -> str:
    """The configuration hash of a simulated data folder, as its pool records it."""
    return _simulation(Path(data))[1]
