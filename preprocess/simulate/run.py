"""The simulation job: many samples in parallel, written in the G2Net layout, atomically.

Workers write their own ``.npy`` files (temporary name, then rename). Samples are made in
chunks of ``CHUNK``; when a chunk's files are all in place, its rows of the injection table go
to ``.simulation-chunks/<split>-<start>.json`` (atomically), so an interrupted run resumes:
the same command simulates only the chunks without a record (the bytes do not depend on
which run made a chunk: every sample has its own random streams). A re-run with other
settings is refused, listing them. The CSV files and ``simulation.json`` are written last, so
a directory without ``simulation.json`` is an incomplete run; the chunk records are removed
then. The space the run needs is checked before the first sample.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from preprocess.layout import N_TIME, SAMPLE_RATE, SPLITS, label_file, sample_path
from preprocess.simulate.config import SimulationConfig
from preprocess.simulate.sample import (
    injection_columns,
    sample_ids,
    sample_psds,
    simulate_sample,
    split_size,
)
from runtime.errors import ignore_interrupt
from runtime.outputs import check_writable, claim_dir, owner_kind
from runtime.provenance import (
    atomic_path,
    config_hash,
    ensure_free_space,
    library_versions,
    write_json_atomic,
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
    rows = _run_task(*args)
    _record_chunk(args[1], args[2], rows)
    return rows


PROGRESS_DIR = ".simulation-chunks"  # records of finished chunks while a run is incomplete
SAMPLE_BYTES = 3 * N_TIME * 8 + 128  # one float64 .npy sample of 3 detectors with its header
BLOCK = 4096  # file-system block: a sample file takes whole blocks
ROW_BYTES = 800  # one row of injections.csv and the label tables, generously


def _chunk_record(out: Path, task: Task) -> Path:
    split, start, _ = task
    return out / PROGRESS_DIR / f"{split}-{start:09d}.json"


def _record_chunk(out: Path, task: Task, rows: list[dict]) -> None:
    """Mark ``task`` done: its rows, written after every one of its sample files."""
    write_json_atomic(_chunk_record(out, task), {"task": list(task), "rows": rows})


def _done_rows(out: Path, task: Task) -> list[dict] | None:
    """The rows of a chunk an earlier run finished, or None."""
    path = _chunk_record(out, task)
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return record["rows"] if record.get("task") == list(task) else None


def needed_bytes(n_samples: int) -> int:
    """Disk space ``n_samples`` samples and their table rows take (whole blocks per file)."""
    per_file = -(-SAMPLE_BYTES // BLOCK) * BLOCK
    return n_samples * (per_file + ROW_BYTES)


def _tasks(config: SimulationConfig) -> list[Task]:
    return [
        (split, start, min(start + CHUNK, split_size(config, split)))
        for split in SPLITS
        for start in range(0, split_size(config, split), CHUNK)
    ]


def _prepare(out: Path, config: SimulationConfig, overwrite: bool) -> None:
    """Claim ``out`` for this simulation: an empty folder, one of ours to resume (same
    settings, incomplete), or, with ``overwrite``, one of ours cleared of our outputs (only
    those: other files are never touched, and nothing is deleted before every check passed)."""
    check_writable(out)
    ours = out.is_dir() and any(out.iterdir()) and owner_kind(out) == "simulation"
    if ours and not overwrite:
        if (out / "simulation.json").exists():
            raise FileExistsError(f"{out} already holds data; pass --overwrite to replace it")
        saved = _read_partial_config(out)
        if saved != config.to_dict():
            raise FileExistsError(f"{out} holds an incomplete run of other settings "
                                  f"({_describe_differences(saved, config.to_dict())}); "
                                  "pass --overwrite to replace it")
    claim_dir(out, "simulation")  # refuses foreign folders, takes the lock
    if ours and overwrite:
        _clear(out)
    write_json_atomic(out / PROGRESS_DIR / "config.json", config.to_dict())


def _read_partial_config(out: Path) -> dict | None:
    path = out / PROGRESS_DIR / "config.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _describe_differences(saved: dict | None, now: dict) -> str:
    if saved is None:
        return "settings unrecorded"
    keys = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
    return "; ".join(f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in keys)


def _clear(out: Path) -> None:
    """Remove our outputs from ``out``, after checking none is a link (a link could lead to
    what is not ours: nothing is deleted then)."""
    names = (*OUTPUTS, PROGRESS_DIR)
    links = [out / n for n in names if (out / n).is_symlink()]
    if links:
        raise FileExistsError(f"{links[0]}: is a symbolic link; gwspec deletes only what it "
                              "wrote: remove the link or choose another --out (nothing was "
                              "deleted)")
    for name in names:  # simulation.json first: the directory is incomplete from here on
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _rows(config: SimulationConfig, out: Path, tasks: list[Task],
          workers: int) -> Iterator[list[dict]]:
    if workers == 1 or len(tasks) <= 1:
        for task in tasks:
            yield _worker((config, out, task))
        return
    context = multiprocessing.get_context()
    with context.Pool(min(workers, len(tasks)), initializer=ignore_interrupt) as pool:
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
    for detector, values in zip(config.detectors, sample_psds(config), strict=True):
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
    _prepare(out, config, overwrite)
    sample_ids(config)  # ids, labels and PSDs made once here; forked workers inherit the caches
    sample_psds(config)
    total = config.n_train + config.n_test
    rows: list[dict] = []
    todo = []
    for task in _tasks(config):
        done = _done_rows(out, task)
        if done is None:
            todo.append(task)
        else:
            rows.extend(done)
    remaining = sum(stop - start for _, start, stop in todo)
    ensure_free_space(out, needed_bytes(remaining) + needed_bytes(total) // 100)
    if rows:
        logger.info("%s: resuming, %d of %d samples done earlier", out, len(rows), total)
    logger.info("simulating %d samples into %s with %d worker(s)", remaining, out, workers)
    with tqdm(total=total, initial=total - remaining, unit="sample", disable=not progress,
              desc="simulate") as bar:
        for chunk in _rows(config, out, todo, workers):
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
            "detectors": list(config.detectors),
            "versions": library_versions(),
        },
    )
    shutil.rmtree(out / PROGRESS_DIR, ignore_errors=True)
    return out
