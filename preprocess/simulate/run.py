"""The simulation job: many samples in parallel, written in the G2Net layout, atomically.

Workers write their own ``.npy`` files (temporary name, then rename). The CSV files and
``simulation.json`` are written last, so a directory without ``simulation.json`` is an
interrupted run.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from preprocess.layout import DETECTORS, N_TIME, SAMPLE_RATE, SPLITS, label_file, sample_path
from preprocess.outputs import claim_dir, owner_kind
from preprocess.provenance import atomic_path, config_hash, library_versions, write_json_atomic
from preprocess.simulate.config import SimulationConfig
from preprocess.simulate.sample import (
    injection_columns,
    sample_ids,
    sample_psds,
    simulate_sample,
    split_size,
)

logger = logging.getLogger(__name__)

CHUNK = 32  # samples per task handed to a worker
OUTPUTS = (  # everything a run writes at the top of its directory; simulation.json is last
    "simulation.json",
    "training_labels.csv",
    "sample_submission.csv",
    "test_labels.csv",
    "injections.csv",
    "psd.csv",
    "train",
    "test",
)

Task = tuple[str, int, int]  # (split, first index, stop index)


def save_npy_atomic(path: Path, array: np.ndarray) -> None:
    """``np.save`` under a temporary name, then rename onto ``path``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array, allow_pickle=False)


def _run_task(config: SimulationConfig, out: Path, task: Task) -> list[dict]:
    split, start, stop = task
    rows = []
    for index in range(start, stop):
        strain, _, row = simulate_sample(config, split, index)
        save_npy_atomic(sample_path(out, split, row["id"]), strain)
        rows.append(row)
    return rows


def _worker(args: tuple[SimulationConfig, Path, Task]) -> list[dict]:
    return _run_task(*args)


def _tasks(config: SimulationConfig) -> list[Task]:
    return [
        (split, start, min(start + CHUNK, split_size(config, split)))
        for split in SPLITS
        for start in range(0, split_size(config, split), CHUNK)
    ]


def _prepare(out: Path, overwrite: bool) -> None:
    """Refuse a folder that is not an empty one or a simulation of ours; refuse one of ours
    unless ``overwrite``, then clear our outputs (only those: other files are never touched)."""
    if out.is_dir() and any(out.iterdir()) and owner_kind(out) == "simulation":
        if not overwrite:
            state = "data" if (out / "simulation.json").exists() else "an incomplete run"
            raise FileExistsError(f"{out} already holds {state}; pass --overwrite to replace it")
        for name in OUTPUTS:  # simulation.json first: the directory is incomplete from here on
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    claim_dir(out, "simulation")


def _rows(config: SimulationConfig, out: Path, workers: int) -> Iterator[list[dict]]:
    tasks = _tasks(config)
    if workers == 1 or len(tasks) == 1:
        for task in tasks:
            yield _run_task(config, out, task)
        return
    with multiprocessing.get_context().Pool(min(workers, len(tasks))) as pool:
        yield from pool.imap_unordered(_worker, [(config, out, task) for task in tasks])


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def _write_tables(config: SimulationConfig, out: Path, rows: list[dict]) -> None:
    """Label CSVs, injections.csv and psd.csv, each sorted by id like the Kaggle files.

    ``psd.csv`` is the nominal PSD; a non-stationary run records each sample's own in
    ``injections.csv`` (``psd_scale_<det>``, ``psd_mix_<det>``).
    """
    table = pd.DataFrame(rows, columns=list(injection_columns(config)))
    table["split"] = pd.Categorical(table["split"], categories=list(SPLITS))
    table = table.sort_values(["split", "id"], kind="stable").reset_index(drop=True)
    table["split"] = table["split"].astype(str)
    train = table[table["split"] == "train"][["id", "target"]]
    test = table[table["split"] == "test"][["id", "target"]]
    _write_csv(label_file(out, "train"), train)
    _write_csv(out / "test_labels.csv", test)
    _write_csv(label_file(out, "test"), test.assign(target=0.5))
    _write_csv(out / "injections.csv", table)
    psd = pd.DataFrame({"frequency": np.fft.rfftfreq(N_TIME, 1.0 / SAMPLE_RATE)})
    for detector, values in zip(DETECTORS, sample_psds(config), strict=True):
        psd[detector] = values
    _write_csv(out / "psd.csv", psd)


def simulate(
    config: SimulationConfig,
    out: str | Path,
    *,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write a simulated data set in the G2Net layout to ``out`` and return ``out``.

    ``workers`` defaults to the number of CPU cores; the bytes written do not depend on it.
    Raises ``FileExistsError`` if ``out`` already holds data and ``overwrite`` is false.
    """
    out = Path(out)
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    _prepare(out, overwrite)
    sample_ids(config)  # ids, labels and PSDs made once here; forked workers inherit the caches
    sample_psds(config)
    total = config.n_train + config.n_test
    logger.info("simulating %d samples into %s with %d worker(s)", total, out, workers)
    rows: list[dict] = []
    with tqdm(total=total, unit="sample", disable=not progress, desc="simulate") as bar:
        for chunk in _rows(config, out, workers):
            rows.extend(chunk)
            bar.update(len(chunk))
    _write_tables(config, out, rows)
    write_json_atomic(
        out / "simulation.json",
        {
            "config": config.to_dict(),
            "config_hash": config_hash(config.to_dict()),
            "seed": config.seed,
            "n_samples": {"train": config.n_train, "test": config.n_test},
            "detectors": list(DETECTORS),
            "versions": library_versions(),
        },
    )
    return out
