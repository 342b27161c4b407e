"""``pipeline train`` under torchrun: two CPU processes (gloo) train one short epoch with DDP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pipeline.classifier.checkpoint import load_checkpoint, load_model_from_checkpoint
from preprocess.dataset import SpectrogramCache
from tests.pipeline.training.test_loop import make_cache

REPO = Path(__file__).resolve().parents[3]


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


def _claim_as_rank(rank: int, root: str, results: str) -> None:
    """One of two gloo processes: rank 0 claims the run folder slowly; rank 1 must not look
    at it before rank 0 is done (it used to, and refused rank 0's half-written marker)."""
    import json
    import os
    import time

    import torch.distributed as dist

    import pipeline.training.loop as train_module
    from pipeline.training.config import TrainConfig
    from pipeline.training.distributed import DistContext
    from runtime import outputs

    dist.init_process_group("gloo", init_method=f"file://{root}/rendezvous", rank=rank,
                            world_size=2)
    if rank == 0:
        real = train_module.claim_dir

        def slow(path, kind, rank=None, job=None):
            (Path(path) / ".gwspec.tmp-4242").parent.mkdir(parents=True, exist_ok=True)
            (Path(path) / ".gwspec.tmp-4242").write_text("{}")  # a marker being written
            time.sleep(0.5)
            (Path(path) / ".gwspec.tmp-4242").unlink()
            return real(path, kind, rank=rank, job=job)

        train_module.claim_dir = slow
    context = DistContext(rank=rank, world_size=2, local_rank=rank, device=torch.device("cpu"))
    run_dir = train_module._run_dir(TrainConfig(cache="x", out=f"{root}/run"), context)
    seen = {"rank": rank, "marker": (run_dir / outputs.MARKER).is_file(), "pid": os.getpid(),
            "locked": [str(k) for k in outputs._held]}
    Path(results, f"{rank}.json").write_text(json.dumps(seen))
    dist.destroy_process_group()


def test_rank_0_claims_the_run_folder_while_the_others_wait(tmp_path) -> None:
    import json

    import torch.multiprocessing as mp

    mp.spawn(_claim_as_rank, args=(str(tmp_path), str(tmp_path)), nprocs=2, join=True)
    seen = [json.loads((tmp_path / f"{rank}.json").read_text()) for rank in (0, 1)]
    assert all(s["marker"] for s in seen)  # rank 1 passed only once rank 0 had claimed
    assert seen[0]["locked"] == [str((tmp_path / "run").resolve())] and not seen[1]["locked"]
    holder = json.loads((tmp_path / "run" / ".gwspec.lock").read_text())
    assert holder["pid"] == seen[0]["pid"]  # only rank 0 holds the folder's lock
