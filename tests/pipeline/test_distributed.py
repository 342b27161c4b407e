"""``pipeline train`` under torchrun: two CPU processes (gloo) train one short epoch with DDP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pipeline.checkpoint import load_checkpoint, load_model_from_checkpoint
from preprocess.dataset import SpectrogramCache
from tests.pipeline.test_train import make_cache

REPO = Path(__file__).resolve().parents[2]


def test_two_process_gloo_run(tmp_path) -> None:
    cache = make_cache(tmp_path / "cache")
    run_dir = tmp_path / "run"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "pipeline.cli", "train", "--cache", str(cache), "--depth", "16", "--stem",
        "imagenet", "--epochs", "1", "--batch-size", "4", "--workers", "0", "--device", "cpu",
        "--no-progress", "--out", str(run_dir),
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("best val AUC") == 1  # only rank 0 reports

    files = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file())
    assert [f for f in files if not f.startswith("tb/")] == [
        ".gwspec", ".gwspec.lock", "best.pt", "config.json", "last.pt", "metrics.csv", "oof.csv",
    ]
    assert len([f for f in files if f.startswith("tb/")]) == 1  # one TensorBoard writer: rank 0

    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert list(metrics["epoch"]) == [1] and metrics["val_auc"].between(0, 1).all()
    last = load_checkpoint(run_dir / "last.pt")
    assert last["world_size"] == 2 and last["epoch"] == 1
    oof = pd.read_csv(run_dir / "oof.csv")
    assert len(oof) == 10 and oof["id"].is_unique  # both ranks' validation shares, gathered

    # Every rank validated rank 0's model: best.pt alone reproduces the gathered predictions.
    model, _ = load_model_from_checkpoint(run_dir / "best.pt")
    data = SpectrogramCache(cache)
    position = {name: k for k, name in enumerate(data.ids)}
    images = torch.stack([data[position[name]][0] for name in oof["id"]])  # (10, 3, F, T)
    with torch.no_grad():
        expected = torch.sigmoid(model(images).view(-1)).numpy()
    np.testing.assert_allclose(oof["prediction"].to_numpy(), expected, rtol=1e-4, atol=1e-6)
