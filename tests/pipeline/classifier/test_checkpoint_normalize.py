"""A model trained on one per-sample normalisation refuses caches built with another."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from models import create_model
from pipeline.classifier.checkpoint import check_cache_compatible, save_checkpoint
from pipeline.classifier.config import PredictConfig
from pipeline.classifier.predict import predict
from preprocess.build import build_cache
from preprocess.cache import read_manifest
from preprocess.config import BuildOptions, NormalizeConfig
from preprocess.layout import sample_path
from runtime.provenance import library_versions

QUIET = BuildOptions(workers=0, progress=False, batch_size=4, shard_size=8, threads=1)


@pytest.fixture(scope="module")
def caches(tmp_path_factory):
    """One tiny split (8 samples of white noise) built with each normalisation."""
    root = tmp_path_factory.mktemp("normalize")
    rng = np.random.default_rng(3)
    ids = [f"{i:03d}abcdef" for i in range(8)]
    for sample_id in ids:
        path = sample_path(root / "data", "train", sample_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, rng.normal(scale=1e-21, size=(3, 4096)))
    pd.DataFrame({"id": ids, "target": [0, 1] * 4}).to_csv(
        root / "data" / "training_labels.csv", index=False)
    return {method: build_cache(root / "data", "train", root / method, options=QUIET,
                                normalize=NormalizeConfig(method=method)).manifest.root
            for method in ("none", "row-median", "sample-psd")}


def _checkpoint(path, cache):
    """A checkpoint of an untrained ResNet16 'trained' on ``cache``."""
    torch.manual_seed(0)
    manifest = read_manifest(cache)
    return save_checkpoint(path, {
        "model_name": "resnet16", "model_kwargs": {},
        "model": create_model("resnet16").state_dict(),
        "config": {}, "cache_config_hash": manifest.config_hash, "cache_config": manifest.config,
        "versions": library_versions(), "epoch": 1,
    })


@pytest.mark.parametrize(("trained", "other", "detail"), [
    ("none", "row-median", r"normalize\.method: 'none' -> 'row-median'"),
    ("row-median", "none", r"normalize\.method: 'row-median' -> 'none'"),
    ("row-median", "sample-psd", r"normalize\.method: 'row-median' -> 'sample-psd'"),
], ids=["none-on-row-median", "row-median-on-none", "row-median-on-sample-psd"])
def test_other_normalisation_is_refused(caches, tmp_path, trained, other, detail):
    checkpoint = _checkpoint(tmp_path / "best.pt", caches[trained])
    loaded = torch.load(checkpoint, weights_only=True)
    check_cache_compatible(loaded, read_manifest(caches[trained]))  # its own kind: accepted
    with pytest.raises(ValueError, match=detail) as refused:
        check_cache_compatible(loaded, read_manifest(caches[other]))
    assert f"build this cache with --normalize {trained}," in str(refused.value)
    with pytest.raises(ValueError, match=f"best.pt: .*{detail}"):
        predict(caches[other], "train", [checkpoint], PredictConfig(), progress=False)


def test_same_normalisation_predicts(caches, tmp_path):
    checkpoint = _checkpoint(tmp_path / "best.pt", caches["row-median"])
    frame = predict(caches["row-median"], "train", [checkpoint], PredictConfig(), progress=False)
    assert len(frame) == 8 and np.isfinite(frame["target"]).all()


def test_the_contract_is_the_whitening_method_not_the_psd(caches, tmp_path):
    """A cache whitened the same way by another PSD (here the split's own, all samples) is
    accepted, and the distance between the PSDs is in the prediction's provenance; a cache
    whitened another way (another band-pass) is refused; resuming training asks for the
    same PSD."""
    from pipeline.classifier.checkpoint import load_checkpoint, psd_distance
    from preprocess.config import WhitenConfig

    trained = read_manifest(caches["sample-psd"])
    data = Path(trained.info["data"])
    own = build_cache(data, "train", tmp_path / "own", options=QUIET,
                      psd_from_split=True).manifest
    other_way = build_cache(data, "train", tmp_path / "band", options=QUIET,
                            whiten=WhitenConfig(bandpass_low=30.0)).manifest
    assert own.config_hash != trained.config_hash and own.config["psd_sha256"] != \
        trained.config["psd_sha256"]
    path = _checkpoint(tmp_path / "best.pt", caches["sample-psd"])
    checkpoint = load_checkpoint(path)
    checkpoint["cache_psd"] = torch.from_numpy(trained.psd)
    check_cache_compatible(checkpoint, own)  # another PSD, the same method: accepted
    with pytest.raises(ValueError, match=r"psd_sha256"):
        check_cache_compatible(checkpoint, own, same_psd=True)  # a resume: refused
    with pytest.raises(ValueError, match=r"whiten\.bandpass_low: 20\.0 -> 30\.0"):
        check_cache_compatible(checkpoint, other_way)
    distance = psd_distance(checkpoint, own)
    assert distance["band_hz"] == [20.0, 500.0]
    assert all(0 < m <= x for m, x in zip(distance["median_abs_log_ratio"],
                                          distance["max_abs_log_ratio"], strict=True))
    assert psd_distance(checkpoint, trained)["max_abs_log_ratio"] == [0.0, 0.0, 0.0]
    save_checkpoint(path, checkpoint)
    frame = predict(own.root, "train", [path], PredictConfig(), progress=False)
    from pipeline.classifier.predict import write_predictions

    out = write_predictions(frame, tmp_path / "sub.csv", PredictConfig(), [path], own.root)
    record = json.loads(out.with_suffix(".json").read_text())["whitening"]
    assert record["psd_distance_to_training"][str(path)] == distance
    assert "split of" in record["cache_psd_source"] and "itself" in record["cache_psd_source"]
