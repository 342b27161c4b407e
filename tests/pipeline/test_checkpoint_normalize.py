"""A model trained on one per-sample normalisation refuses caches built with another."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from models import create_model
from pipeline.checkpoint import check_cache_compatible, save_checkpoint
from pipeline.config import PredictConfig
from pipeline.predict import predict
from preprocess.build import build_cache
from preprocess.cache import read_manifest
from preprocess.config import BuildOptions, NormalizeConfig
from preprocess.layout import sample_path
from preprocess.provenance import library_versions

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
    ("none", "row-median", r"normalize: None -> \{'method': 'row-median'\}"),
    ("row-median", "none", r"normalize: \{'method': 'row-median'\} -> None"),
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
