"""``pipeline train`` end to end on a tiny learnable cache: outputs, resume, early stop, errors."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import expit

import pipeline.training.loop as train_module
from models import UnknownModelError, create_model
from pipeline.classifier.checkpoint import load_checkpoint
from pipeline.cli import main
from pipeline.training.config import TrainConfig
from pipeline.training.loop import fit
from preprocess.cache import CacheError, write_cache
from tests.recipes import recipe_config

SHAPE = (3, 24, 33)  # (C, F, T): tiny images keep CPU training fast


def make_cache(root: Path, n: int = 48, targets: np.ndarray | None = None,
               config: dict | None = None) -> Path:
    """A cache of ``n`` random images; signal images (target 1) carry a bright frequency stripe."""
    rng = np.random.default_rng(0)
    targets = np.arange(n) % 2 if targets is None else np.asarray(targets)
    images = rng.standard_normal((n, *SHAPE)).astype(np.float16)
    images[targets == 1, :, 10:13, :] += 3.0  # learnable: a narrow-band line in all detectors
    ids = [f"{rng.integers(16**6):06x}{i:02d}" for i in range(n)]
    write_cache(root, images, ids, targets, config=config or recipe_config())
    return root


def tiny_config(cache: Path, out: Path, **changes) -> TrainConfig:
    """A fast CPU configuration: ResNet16 with the ImageNet stem, batch 8, no workers."""
    base = TrainConfig(
        cache=str(cache), model="resnet16", model_kwargs={"stem": "imagenet"}, epochs=2,
        batch_size=8, warmup_epochs=0.5, device="cpu", workers=0, out=str(out), progress=False,
        patience=0,
    )
    return replace(base, **changes)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, train_module.TrainResult]:
    """One uninterrupted two-epoch run: (cache, run_dir, result)."""
    root = tmp_path_factory.mktemp("train")
    cache = make_cache(root / "cache")
    torch.manual_seed(0)
    result = fit(tiny_config(cache, root / "run"))
    return cache, root / "run", result


def test_run_writes_metrics_checkpoints_and_oof(trained) -> None:
    cache, run_dir, result = trained
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    for row in rows:
        values = {k: float(v) for k, v in row.items()}
        assert values["train_loss"] > 0 and values["val_loss"] > 0 and values["images_per_s"] > 0
        assert 0 <= values["val_auc"] <= 1 and values["lr"] > 0
    assert result.best_auc == max(float(r["val_auc"]) for r in rows) > 0.9  # the stripe is learnt
    assert float(rows[1]["train_loss"]) < float(rows[0]["train_loss"])

    best, last = load_checkpoint(run_dir / "best.pt"), load_checkpoint(run_dir / "last.pt")
    assert last["epoch"] == 2 and best["epoch"] == result.best_epoch
    assert best["model_name"] == "resnet16" and best["model_kwargs"] == {"stem": "imagenet"}
    for key in ("optimizer", "scheduler", "scaler", "rng", "versions", "cache_config"):
        assert key in last
    assert last["config"]["fold"] == 0 and last["config"]["amp"] is False
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["config"]["model"] == "resnet16" and "torch" in saved["versions"]
    assert saved["cache"]["config_hash"] == last["cache_config_hash"]
    assert len(list((run_dir / "tb").glob("events.out.tfevents.*"))) == 1

    oof = pd.read_csv(run_dir / "oof.csv")
    assert list(oof.columns) == ["id", "target", "prediction", "logit"] and len(oof) == 10
    assert oof["prediction"].between(0, 1).all() and set(oof["target"]) == {0, 1}
    np.testing.assert_allclose(expit(oof["logit"]), oof["prediction"], rtol=1e-12)
    from sklearn.metrics import roc_auc_score
    assert roc_auc_score(oof["target"], oof["logit"]) == pytest.approx(result.best_auc, abs=1e-9)


def test_resume_reproduces_an_uninterrupted_run(trained, tmp_path, monkeypatch) -> None:
    cache, full_dir, _ = trained
    calls = []
    real = train_module.train_one_epoch

    def crash_on_second_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module, "train_one_epoch", crash_on_second_epoch)
    config = tiny_config(cache, tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        fit(config)
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 1
    monkeypatch.setattr(train_module, "train_one_epoch", real)
    torch.manual_seed(123)  # the global state must come from last.pt, not from the caller
    fit(replace(config, resume=True))

    full, resumed = (load_checkpoint(d / "last.pt") for d in (full_dir, tmp_path / "run"))
    for name, tensor in full["model"].items():
        assert torch.equal(tensor, resumed["model"][name]), name
    drop = ("images_per_s", "epoch_seconds")
    strip = [{k: v for k, v in row.items() if k not in drop} for row in full["history"]]
    assert strip == [{k: v for k, v in r.items() if k not in drop} for r in resumed["history"]]
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert list(metrics["epoch"]) == [1, 2]
    assert (tmp_path / "run" / "oof.csv").read_text() == (full_dir / "oof.csv").read_text()


def test_early_stopping(trained, tmp_path) -> None:
    cache, _, _ = trained
    result = fit(tiny_config(cache, tmp_path / "run", epochs=8, patience=1, lr=3e-3))
    assert result.stopped_early and result.epochs < 8
    aucs = [row["val_auc"] for row in result.history]
    assert aucs[-1] <= max(aucs[:-1])  # the last epoch did not improve
    assert load_checkpoint(result.last_path)["epoch"] == result.epochs == len(aucs)


def test_resume_refuses_other_settings(trained, tmp_path) -> None:
    cache, run_dir, _ = trained
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    with pytest.raises(FileExistsError, match="--resume"):
        fit(tiny_config(cache, copy))
    with pytest.raises(ValueError, match=r"lr: 0.001 -> 0.002"):
        fit(tiny_config(cache, copy, lr=2e-3, resume=True))
    with pytest.raises(ValueError, match="model_kwargs.stem"):
        fit(tiny_config(cache, copy, model_kwargs={"stem": "small"}, resume=True))
    other = make_cache(tmp_path / "other", config=recipe_config(bins_per_octave=16))
    with pytest.raises(ValueError, match="cqt.bins_per_octave: 12 -> 16"):
        fit(tiny_config(other, copy, resume=True))
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        fit(tiny_config(cache, tmp_path / "empty", resume=True))


def test_bad_inputs_fail_clearly(trained, tmp_path) -> None:
    cache, _, _ = trained
    with pytest.raises(CacheError, match="no such cache directory"):
        fit(tiny_config(tmp_path / "missing", tmp_path / "a"))
    incomplete = tmp_path / "incomplete"
    shutil.copytree(cache, incomplete)
    (incomplete / "manifest.json").unlink()
    with pytest.raises(CacheError, match="incomplete"):
        fit(tiny_config(incomplete, tmp_path / "b"))
    with pytest.raises(UnknownModelError, match="resnet18"):
        fit(tiny_config(cache, tmp_path / "c", model="resnet81", model_kwargs={}))
    with pytest.raises(ValueError, match="fold 5 is outside 0..4"):
        fit(tiny_config(cache, tmp_path / "d", fold=5))


def test_cli_trains_and_reports_errors(trained, tmp_path, capsys) -> None:
    cache, _, _ = trained
    args = ["train", "--cache", str(cache), "--depth", "16", "--stem", "imagenet", "--epochs",
            "1", "--batch-size", "8", "--workers", "1", "--device", "cpu", "--no-progress",
            "--folds", "4", "--fold", "3", "--time-mask", "--no-swap-ligo",
            "--out", str(tmp_path / "run")]
    assert main(args) == 0
    assert "best val AUC" in capsys.readouterr().out
    saved = load_checkpoint(tmp_path / "run" / "last.pt")["config"]
    assert saved["fold"] == 3 and saved["augment"]["time_mask"] is True
    assert saved["augment"]["swap_ligo"] is False and saved["model"] == "resnet16"
    assert main(args) == 2  # the run directory already holds a run
    assert "pipeline train: error:" in capsys.readouterr().err
    missing = tmp_path / "no-cache"
    assert main(["train", "--cache", str(missing), "--out", str(tmp_path / "y")]) == 2
    assert f"{missing}: no such cache directory" in capsys.readouterr().err


def test_validation_logits_are_float32_under_autocast(tmp_path) -> None:
    """Validation under bfloat16 autocast: the logits of 2,000 images are all distinct (the
    head computes in float32), as the model's own float32 logits are, so the best
    checkpoint, oof.csv and the stacking ensemble never rank ties that autocast made."""
    from pipeline.classifier.precision import Precision
    from pipeline.training.distributed import DistContext
    from preprocess.dataset import SpectrogramCache, collate_batch

    cache = make_cache(tmp_path / "cache", n=2000)
    model = create_model("resnet16", in_chans=3, num_classes=1)
    precision = Precision(torch.device("cpu"), torch.bfloat16)
    precision.prepare_model(model)
    data = SpectrogramCache(cache, dtype=torch.float16)
    loader = torch.utils.data.DataLoader(data, batch_size=256, collate_fn=collate_batch)
    cpu = DistContext(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    validation = train_module.validate(model, loader, precision=precision, context=cpu)
    assert validation.logits.dtype == np.float32
    assert len(np.unique(validation.logits)) == 2000
