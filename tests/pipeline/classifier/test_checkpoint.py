"""Checkpoints: atomic save, validated load, model rebuild, RNG states, compatibility checks."""

from __future__ import annotations

import datetime
import random

import numpy as np
import pytest
import torch

from models import create_model
from pipeline.classifier.checkpoint import (
    check_cache_compatible,
    load_checkpoint,
    load_model_from_checkpoint,
    restore_rng_states,
    rng_states,
    save_checkpoint,
)
from pipeline.training.config import TrainConfig, check_resume_compatible
from preprocess.cache import CacheManifest, read_manifest
from tests.pipeline.training.test_loop import make_cache
from tests.recipes import recipe_config


def _checkpoint(net: torch.nn.Module, **changes) -> dict:
    config = TrainConfig(cache="c", model="resnet16", model_kwargs={"stem": "imagenet"})
    checkpoint = {
        "model_name": "resnet16", "model_kwargs": {"stem": "imagenet"},
        "model": net.state_dict(), "config": config.to_dict(), "cache_config_hash": "0" * 16,
        "cache_config": recipe_config(), "versions": {"torch": str(torch.__version__)}, "epoch": 1,
        "rng": rng_states(), "world_size": 1,
    }
    return {**checkpoint, **changes}


@pytest.fixture()
def model() -> torch.nn.Module:
    return create_model("resnet16", stem="imagenet").eval()


def test_round_trip_rebuilds_the_same_model(tmp_path, model) -> None:
    path = save_checkpoint(tmp_path / "a.pt", _checkpoint(model))
    assert [p.name for p in tmp_path.iterdir()] == ["a.pt"]  # no temporary file left
    rebuilt, checkpoint = load_model_from_checkpoint(path, device="cpu")
    x = torch.randn(2, 3, 24, 33)
    assert not rebuilt.training and checkpoint["epoch"] == 1
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))
    wrapped = {f"module._orig_mod.{k}": v for k, v in model.state_dict().items()}  # DDP+compile
    save_checkpoint(tmp_path / "b.pt", _checkpoint(model, model=wrapped))
    with torch.no_grad():
        assert torch.equal(load_model_from_checkpoint(tmp_path / "b.pt")[0](x), model(x))


def test_failed_save_leaves_nothing(tmp_path, model) -> None:
    with pytest.raises(Exception):  # noqa: B017 (pickling a lambda fails inside torch.save)
        save_checkpoint(tmp_path / "a.pt", _checkpoint(model, extra=lambda: 0))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="lacks epoch"):
        save_checkpoint(tmp_path / "a.pt", {k: v for k, v in _checkpoint(model).items()
                                           if k != "epoch"})


def test_bad_checkpoints_are_named(tmp_path, model) -> None:
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt: not a gwspec checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"model": model.state_dict(), "any": datetime.date(2021, 7, 29)},
               tmp_path / "pickled.pt")  # refused by weights_only: torch advises on it
    with pytest.raises(ValueError, match="pickled.pt: not a gwspec checkpoint") as refused:
        load_checkpoint(tmp_path / "pickled.pt")
    assert "weights_only" not in str(refused.value)
    torch.save({"model": model.state_dict()}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="foreign.pt: not a gwspec training checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    save_checkpoint(tmp_path / "other.pt", _checkpoint(model, model_name="resnet18"))
    with pytest.raises(ValueError, match="do not fit model 'resnet18'"):
        load_model_from_checkpoint(tmp_path / "other.pt")


def test_rng_states_restore_every_generator() -> None:
    states = rng_states()
    first = (random.random(), np.random.rand(), torch.rand(3))  # noqa: NPY002
    restore_rng_states(states)
    again = (random.random(), np.random.rand(), torch.rand(3))  # noqa: NPY002
    assert first[0] == again[0] and first[1] == again[1] and torch.equal(first[2], again[2])


def test_cache_compatibility_names_the_setting(tmp_path, model) -> None:
    manifest = read_manifest(make_cache(tmp_path / "cache", n=8, config=recipe_config()))
    same = _checkpoint(model, cache_config_hash=manifest.config_hash,
                       cache_config=manifest.config)
    check_cache_compatible(same, manifest)
    other = _checkpoint(model, cache_config=recipe_config(bins_per_octave=16))
    with pytest.raises(ValueError, match=r"cache.*cqt\.bins_per_octave: 16 -> 12"):
        check_cache_compatible(other, manifest)


def test_resume_compatibility_ignores_runtime_settings(model) -> None:
    checkpoint = _checkpoint(model)
    saved = TrainConfig.from_dict(checkpoint["config"])
    runtime = TrainConfig(**{**vars(saved), "device": "cuda", "workers": 7, "progress": False})
    check_resume_compatible(checkpoint, runtime.to_dict(), 1, "last.pt")
    changed = saved.to_dict()
    changed["batch_size"] = 32
    changed["augment"]["time_mask"] = True
    with pytest.raises(ValueError, match=r"augment.time_mask: False -> True; batch_size: 64 -> 32"):
        check_resume_compatible(checkpoint, changed, 1, "last.pt")
    with pytest.raises(ValueError, match="world_size: 1 -> 2"):
        check_resume_compatible(checkpoint, saved.to_dict(), 2, "last.pt")


def test_only_the_cache_format_version_may_differ(tmp_path, model) -> None:
    config = {"format_version": 1, "cqt": {"hop_length": 32}}
    checkpoint = _checkpoint(model, cache_config=config, cache_config_hash="a" * 16)
    newer = CacheManifest(root=tmp_path, config={**config, "format_version": 2},
                          config_hash="b" * 16, n_samples=0, image_shape=(3, 8, 8), shards=[],
                          psd=None, versions={})
    check_cache_compatible(checkpoint, newer)  # same images, stored with checksums
    other = CacheManifest(root=tmp_path, config={"format_version": 2, "cqt": {"hop_length": 64}},
                          config_hash="c" * 16, n_samples=0, image_shape=(3, 8, 8), shards=[],
                          psd=None, versions={})
    with pytest.raises(ValueError, match=r"cqt\.hop_length: 32 -> 64"):
        check_cache_compatible(checkpoint, other)
