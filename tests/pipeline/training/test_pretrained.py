"""``pipeline train --pretrained PATH``: the run starts from the file, and its checkpoints
rebuild the model without it."""

from __future__ import annotations

import json
import logging

import pytest
import torch

import pipeline.training.loop as train_module
from models import create_model
from pipeline.classifier.checkpoint import load_model_from_checkpoint
from pipeline.cli import main
from tests.pipeline.training.test_loop import make_cache

TINY_TIMM = "mobilenetv3_small_050"


def test_pretrained_file_starts_the_run_and_is_not_needed_afterwards(tmp_path, monkeypatch,
                                                                     caplog) -> None:
    cache = make_cache(tmp_path / "cache")
    torch.manual_seed(5)
    source = create_model(TINY_TIMM).state_dict()
    weights = tmp_path / "weights.pt"
    torch.save(source, weights)
    first_batch = {}
    real = train_module.train_one_epoch

    def record_start(net, *args, **kwargs):  # the weights training starts from
        first_batch.update({k: v.clone() for k, v in net.state_dict().items()})
        return real(net, *args, **kwargs)

    monkeypatch.setattr(train_module, "train_one_epoch", record_start)
    argv = ["train", "--cache", str(cache), "--model", TINY_TIMM, "--pretrained", str(weights),
            "--epochs", "1", "--batch-size", "8", "--workers", "0", "--device", "cpu",
            "--folds", "2", "--no-progress", "--out", str(tmp_path / "run")]
    with caplog.at_level(logging.INFO, logger="models.pretrained"):
        assert main(argv) == 0
    for key, value in source.items():
        assert torch.equal(first_batch[key], value), key
    assert f"initialised from {weights}: loaded {len(source)} tensors" in caplog.text
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["config"]["pretrained"] == str(weights)

    weights.unlink()  # prediction never needs the initial weights
    model, checkpoint = load_model_from_checkpoint(tmp_path / "run" / "best.pt")
    assert "pretrained" not in checkpoint["model_kwargs"]
    for key, value in checkpoint["model"].items():
        assert torch.equal(model.state_dict()[key], value), key


def test_missing_pretrained_file_fails_clearly(tmp_path, capsys) -> None:
    cache = make_cache(tmp_path / "cache")
    missing = tmp_path / "nope.pt"
    argv = ["train", "--cache", str(cache), "--depth", "16", "--pretrained", str(missing),
            "--device", "cpu", "--out", str(tmp_path / "run"), "--no-progress"]
    assert main(argv) == 2
    assert f"{missing}: no such pretrained weights file" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError):
        create_model("resnet16", pretrained=str(missing))
