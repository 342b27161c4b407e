"""A full disk: one line naming the path and the space needed, exit 2, nothing lost, re-run ok."""

from __future__ import annotations

import errno
import shutil
import signal
import subprocess
import sys
import time
from collections import namedtuple
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import runtime.provenance as provenance
from preprocess.cli import main
from runtime.errors import DiskFullError, one_line
from runtime.provenance import atomic_path

Usage = namedtuple("Usage", "total used free")
REPO = Path(__file__).resolve().parents[2]


def _disk_with(monkeypatch, free: int) -> None:
    monkeypatch.setattr(provenance.shutil, "disk_usage", lambda path: Usage(10**12, 0, free))


def test_a_write_that_cannot_fit_is_refused_before_it_starts(tmp_path, monkeypatch) -> None:
    target = tmp_path / "kept.bin"
    target.write_bytes(b"before")
    _disk_with(monkeypatch, 2 * 2**20)
    with pytest.raises(DiskFullError, match=r"kept\.bin: not enough disk space: needs about"):
        with atomic_path(target, 2**20) as tmp:
            tmp.write_bytes(b"after")
    assert target.read_bytes() == b"before" and list(tmp_path.iterdir()) == [target]


def test_a_disk_that_fills_during_a_write_becomes_one_clear_error(tmp_path) -> None:
    target = tmp_path / "kept.bin"
    target.write_bytes(b"before")
    with pytest.raises(DiskFullError, match=r"kept\.bin: not enough disk space") as caught:
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert "\n" not in one_line(caught.value)
    assert target.read_bytes() == b"before" and list(tmp_path.iterdir()) == [target]


def test_build_cqt_on_a_full_disk_stops_cleanly_and_resumes(simulated_data, tmp_path,
                                                            monkeypatch, capsys) -> None:
    argv = ["build-cqt", "--data", str(simulated_data), "--split", "train", "--no-progress",
            "--workers", "0", "--shard-size", "16", "--batch-size", "16"]
    assert main([*argv, "--out", str(tmp_path / "clean")]) == 0
    out = tmp_path / "c"
    shard_bytes = (tmp_path / "clean" / "shard-00000.h5").stat().st_size
    real = shutil.disk_usage
    writes = []

    def filling(path):  # room for the small files and the first shard, then the disk is full
        writes.append(path)
        free = 100 * 2**20 if len(writes) <= 4 else shard_bytes // 2
        return Usage(real(path).total, 0, free)

    monkeypatch.setattr(provenance.shutil, "disk_usage", filling)
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "shard-0000" in err[0] and "not enough disk space" in err[0], err
    assert err[0].startswith("preprocess build-cqt: error: ")
    kept = sorted(p.name for p in out.glob("shard-*.h5"))
    assert kept and "shard-00002.h5" not in kept and not list(out.glob(".*tmp*"))
    monkeypatch.undo()
    assert main([*argv, "--out", str(out)]) == 0
    for path in sorted((tmp_path / "clean").glob("shard-*.h5")):
        with h5py.File(path) as a, h5py.File(out / path.name) as b:
            assert np.array_equal(a["images"][...], b["images"][...])
    assert (out / "manifest.json").is_file()


def test_a_checkpoint_that_cannot_fit_keeps_the_previous_one(tmp_path, monkeypatch) -> None:
    from pipeline.classifier.checkpoint import load_checkpoint, save_checkpoint

    state = {"model_name": "resnet16", "model_kwargs": {}, "model": {}, "config": {},
             "cache_config_hash": "0", "cache_config": {}, "versions": {}, "epoch": 1}
    save_checkpoint(tmp_path / "last.pt", state)
    big = {**state, "epoch": 2, "model": {"w": torch.zeros(2**20)}}  # 4 MB
    _disk_with(monkeypatch, 3 * 2**20)
    with pytest.raises(DiskFullError, match=r"last\.pt: not enough disk space"):
        save_checkpoint(tmp_path / "last.pt", big)
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


# Ctrl-C: one line, exit 130, and the same command resumes


def _interrupt_when(command: list[str], ready, timeout: float = 120.0):
    """Run ``command``, send it SIGINT once ``ready()`` holds; returns the finished process.

    The child gets SIGINT's default action, as a command typed at a terminal does: a suite run
    in the background (``pytest &``) ignores SIGINT, and an ignored signal is inherited."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=REPO,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + timeout
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, process.err = process.communicate(timeout=timeout)  # stderr kept for the checks
    return process


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_during_simulate_is_one_line_and_resumes(tmp_path, workers) -> None:
    out = tmp_path / "data"
    command = [sys.executable, "-m", "preprocess.cli", "simulate", "--out", str(out),
               "--n-train", "600", "--n-test", "0", "--workers", workers, "--no-progress"]
    chunks = out / ".simulation-chunks"
    stopped = _interrupt_when(command, lambda: len(list(chunks.glob("train-*.json"))) >= 2)
    err = [line for line in stopped.err.splitlines() if line.strip()]
    if stopped.returncode == 0:
        pytest.skip("the simulation finished before it could be interrupted")
    assert stopped.returncode == 130 and "Traceback" not in stopped.err, stopped.err
    assert err[-1] == ("preprocess simulate: interrupted; completed work is kept, re-run the "
                       "same command to resume")
    assert all(line.startswith("INFO") for line in err[:-1]), err
    assert subprocess.run(command, cwd=REPO, capture_output=True).returncode == 0
    assert len(list(out.rglob("*.npy"))) == 600 and not chunks.exists()


def test_ctrl_c_during_build_cqt_is_one_line(simulated_data, tmp_path) -> None:
    out = tmp_path / "cache"
    command = [sys.executable, "-m", "preprocess.cli", "build-cqt", "--data",
               str(simulated_data), "--split", "train", "--out", str(out), "--shard-size", "8",
               "--batch-size", "8", "--threads", "1", "--no-progress"]
    stopped = _interrupt_when(command, lambda: (out / "shard-00000.h5").exists())
    if stopped.returncode == 0:
        pytest.skip("the build finished before it could be interrupted")
    assert stopped.returncode == 130 and "Traceback" not in stopped.err, stopped.err
    assert stopped.err.strip().splitlines()[-1].endswith("re-run the same command to resume")
    assert subprocess.run(command, cwd=REPO, capture_output=True).returncode == 0
    assert (out / "manifest.json").is_file()
