"""Prediction: submission order, ensemble arithmetic, LIGO-swap TTA, cache compatibility."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import expit
from torch import nn
from torch.utils.data import DataLoader

from models import create_model
from pipeline.classifier.checkpoint import save_checkpoint
from pipeline.classifier.config import PredictConfig
from pipeline.classifier.predict import (
    ensemble,
    mean_probability_logit,
    predict,
    predict_probabilities,
    swap_ligo_channels,
)
from pipeline.cli import main
from preprocess.cache import read_manifest, write_cache
from preprocess.dataset import SpectrogramCache
from preprocess.layout import read_split
from runtime.provenance import library_versions
from tests.recipes import recipe_config

CACHE_CONFIG = recipe_config()
IMAGE = (3, 16, 24)  # (3, F, T)


def make_cache(root: Path, ids: list[str], config: dict = CACHE_CONFIG) -> Path:
    rng = np.random.default_rng(len(ids))
    images = rng.normal(size=(len(ids), *IMAGE)).astype(np.float16)
    write_cache(root, images, ids, np.full(len(ids), -1), config)
    return root


def make_checkpoint(path: Path, cache: Path, seed: int, cache_config: dict | None = None) -> Path:
    torch.manual_seed(seed)
    model = create_model("resnet16")
    manifest = read_manifest(cache)
    if cache_config is None:
        cache_config, cache_hash = manifest.config, manifest.config_hash
    else:
        cache_hash = "0" * 16
    return save_checkpoint(path, {
        "model_name": "resnet16", "model_kwargs": {}, "model": model.state_dict(),
        "config": {}, "cache_config_hash": cache_hash, "cache_config": cache_config,
        "versions": library_versions(), "epoch": 1,
    })


def test_ensemble_arithmetic() -> None:
    a, b = np.array([0.1, 0.5, 0.9, 0.2]), np.array([0.3, 0.3, 0.3, 0.7])
    assert ensemble([a, b], "mean") == pytest.approx([0.2, 0.4, 0.6, 0.45])
    # ranks of a: 0, 2, 3, 1 -> /3; of b: ties 0..2 share 1, then 3 -> /3
    assert ensemble([a, b], "rank") == pytest.approx([(0 + 1) / 6, (2 + 1) / 6, (3 + 1) / 6,
                                                      (1 + 3) / 6])
    assert ensemble([a], "rank") == pytest.approx([0, 2 / 3, 1, 1 / 3])
    with pytest.raises(ValueError, match="unknown ensemble method"):
        ensemble([a], "median")


class LigoDifference(nn.Module):
    """Logit = mean(H1) - mean(L1): flips sign when the LIGO channels are exchanged."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x[:, 0].mean(dim=(1, 2)) - x[:, 1].mean(dim=(1, 2)))[:, None]


def test_tta_swaps_ligo_channels(tmp_path) -> None:
    images = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)
    swapped = swap_ligo_channels(images)
    assert torch.equal(swapped[:, 0], images[:, 1]) and torch.equal(swapped[:, 1], images[:, 0])
    assert torch.equal(swapped[:, 2], images[:, 2])
    cache = SpectrogramCache(make_cache(tmp_path / "cache", [f"{i:010x}" for i in range(10)]))
    loader = DataLoader(cache, batch_size=4)
    _, plain = predict_probabilities([LigoDifference()], loader, progress=False)
    _, tta = predict_probabilities([LigoDifference()], loader, tta=True, progress=False)
    assert not np.allclose(plain, 0.5)
    assert tta == pytest.approx(np.full_like(tta, 0.5), abs=1e-6)  # sigmoid(a) + sigmoid(-a) = 1


class LargeLogits(nn.Module):
    """Logits of 20 and more, growing with the image mean: confident but still ordered."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 30.0 + 5.0 * x.float().mean(dim=(1, 2, 3)).unsqueeze(1)  # (B, 1)


def test_confident_predictions_keep_their_order(tmp_path) -> None:
    """float32 sigmoid rounds logits above ~17 to 1.0; predictions must stay distinct."""
    cache = SpectrogramCache(make_cache(tmp_path / "cache", [f"{i:010x}" for i in range(12)]))
    _, probs = predict_probabilities([LargeLogits()], DataLoader(cache, batch_size=5),
                                     progress=False)
    logits = 30.0 + 5.0 * np.array([cache[i][0].float().mean().item() for i in range(12)])
    assert len(np.unique(probs[0])) == 12
    assert np.array_equal(np.argsort(probs[0]), np.argsort(logits))


def test_predict_follows_sample_submission_and_ensembles(simulated_data, tmp_path) -> None:
    ids = read_split(simulated_data, "test")["id"].tolist()
    cache = make_cache(tmp_path / "cache", ids[::-1])  # cache order differs from the CSV's
    first = make_checkpoint(tmp_path / "a.pt", cache, seed=1)
    second = make_checkpoint(tmp_path / "b.pt", cache, seed=2)
    out = tmp_path / "submission.csv"
    argv = ["predict", "--cache", str(cache), "--split", "test", "--checkpoint", str(first),
            "--checkpoint", str(second), "--ensemble", "rank", "--data", str(simulated_data),
            "--out", str(out), "--batch-size", "5", "--no-progress"]
    assert main(argv) == 0
    submission = pd.read_csv(out, dtype={"id": str})
    sample = pd.read_csv(simulated_data / "sample_submission.csv", dtype={"id": str})
    assert list(submission.columns) == list(sample.columns) == ["id", "target"]
    assert submission["id"].tolist() == sample["id"].tolist()
    singles = [predict(cache, "test", [c], data=simulated_data, progress=False)["target"]
               for c in (first, second)]
    assert submission["target"].to_numpy() == pytest.approx(ensemble(singles, "rank"))
    both = predict(cache, "test", [first, second], PredictConfig(ensemble="mean"),
                   data=simulated_data, progress=False)
    assert both["target"].to_numpy() == pytest.approx((singles[0] + singles[1]) / 2, abs=1e-6)


def test_refuses_other_cache_config_and_id_mismatch(simulated_data, tmp_path) -> None:
    ids = read_split(simulated_data, "test")["id"].tolist()
    cache = make_cache(tmp_path / "cache", ids)
    other = make_checkpoint(tmp_path / "other.pt", cache, seed=1,
                            cache_config=recipe_config(bins_per_octave=16))
    with pytest.raises(ValueError, match=r"other\.pt: .*bins_per_octave"):
        predict(cache, "test", [other], progress=False)
    short = make_cache(tmp_path / "short", ids[1:])
    good = make_checkpoint(tmp_path / "good.pt", short, seed=1)
    with pytest.raises(ValueError, match=f"have no prediction, first '{ids[0]}'"):
        predict(short, "test", [good], data=simulated_data, progress=False)
    assert main(["predict", "--cache", str(cache), "--checkpoint", str(other), "--out",
                 str(tmp_path / "x.csv"), "--no-progress"]) == 2


def test_rejected_samples_never_vanish_from_a_submission(simulated_data, tmp_path) -> None:
    """A cache that build-cqt --skip-bad left without one test sample: predict (without --data)
    refuses, naming the id and why it was rejected; --fill-missing completes the submission."""
    ids = read_split(simulated_data, "test")["id"].tolist()
    images = np.random.default_rng(0).normal(size=(len(ids) - 1, *IMAGE)).astype(np.float16)
    cache = tmp_path / "cache"
    write_cache(cache, images, ids[1:], np.full(len(ids) - 1, -1), CACHE_CONFIG,
                info={"split": "test", "data": str(simulated_data)},
                rejected={ids[0]: "holds NaN or infinite values"})
    good = make_checkpoint(tmp_path / "good.pt", cache, seed=1)
    with pytest.raises(ValueError, match=f"first '{ids[0]}' \\(holds NaN.*--fill-missing"):
        predict(cache, "test", [good], progress=False)
    out = tmp_path / "submission.csv"
    assert main(["predict", "--cache", str(cache), "--checkpoint", str(good), "--out", str(out),
                 "--no-progress"]) == 2
    assert not out.exists()
    assert main(["predict", "--cache", str(cache), "--checkpoint", str(good), "--out", str(out),
                 "--fill-missing", "0.5", "--no-progress"]) == 0
    submission = pd.read_csv(out, dtype={"id": str})
    assert submission["id"].tolist() == ids
    assert submission["target"].iloc[0] == 0.5
    assert submission["logit"].iloc[0] == 0.0


def test_order_is_kept_where_probabilities_saturate() -> None:
    """Logits far beyond float64's sigmoid resolution: the probabilities tie at 1.0, the logit
    column keeps every sample's order, also through the mean of two models with TTA."""
    logits = np.array([40.0, 45.0, 50.0, 60.0, 80.0])
    two = np.stack([logits, logits + 1.0])
    assert (expit(logits) == 1.0).all()
    combined = mean_probability_logit(two, axis=0)
    assert np.array_equal(np.argsort(combined), np.arange(5))
    assert mean_probability_logit(np.array([[1.5], [-0.5]]), axis=0)[0] == pytest.approx(
        np.log(np.mean(expit([1.5, -0.5])) / (1 - np.mean(expit([1.5, -0.5])))))



def test_device_auto_and_autocast_predict_as_validation_does(tmp_path, monkeypatch) -> None:
    """``--device auto`` (the default) takes the GPU when there is one and the CPU here;
    ``--amp`` predicts under autocast with float32 logits, each within bfloat16's rounding of
    the full-precision one (inputs, weights and activations keep 8 mantissa bits)."""
    ids = [f"id{i:04d}" for i in range(300)]
    cache = make_cache(tmp_path / "cache", ids)
    checkpoint = make_checkpoint(tmp_path / "m.pt", cache, seed=3)
    out = tmp_path / "auto.csv"
    assert main(["predict", "--cache", str(cache), "--checkpoint", str(checkpoint), "--out",
                 str(out), "--no-progress"]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["config"]["device"] == "auto"  # as asked, and as it ran:
    assert record["ran"] == {"device": "cpu", "batch_size": 64, "num_workers": 0,
                             "precision": "float32", "channels_last": True}
    full = pd.read_csv(out)
    amp = predict(cache, "test", [checkpoint], PredictConfig(amp=True), progress=False)
    assert amp["logit"].nunique() == len(ids)  # no ties: the head computes in float32
    spread = float(full["logit"].std())
    # bfloat16 keeps 8 bits: 2**-8 relative per operand; a few roundings compound, so a
    # difference of a few per cent of the logits' spread is bfloat16's, not a defect
    assert np.abs(amp["logit"] - full["logit"]).max() < 0.1 * spread
    assert np.corrcoef(amp["logit"], full["logit"])[0, 1] > 0.99
