"""Every expected failure of a pipeline command ends in one line naming the file, exit 2."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from pipeline.cli import main
from preprocess.cache import write_cache
from tests.pipeline.classifier.test_predict import make_checkpoint
from tests.preprocess.test_cache import damage_chunk


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_empty_files_are_named(tmp_path, capsys) -> None:
    labels, empty = tmp_path / "labels.csv", tmp_path / "empty.csv"
    pd.DataFrame({"id": ["a", "b"], "target": [0, 1]}).to_csv(labels, index=False)
    empty.write_text("")
    argv = ["evaluate", "--out", str(tmp_path / "report")]
    assert main([*argv, "--predictions", str(empty), "--labels", str(labels)]) == 2
    assert f"{empty}: empty file" in _one_line(capsys)
    assert main([*argv, "--predictions", str(labels), "--labels", str(empty)]) == 2
    assert f"{empty}: empty file" in _one_line(capsys)


def test_a_foreign_checkpoint_gets_advice_a_user_can_act_on(tmp_path, capsys) -> None:
    cache = tmp_path / "cache"
    write_cache(cache, np.zeros((4, 3, 8, 8), np.float16), ["a", "b", "c", "d"],
                np.full(4, -1), {"kind": "tiny"})
    junk = tmp_path / "model.pt"
    junk.write_bytes(b"\x80\x02not a checkpoint")
    assert main(["predict", "--cache", str(cache), "--checkpoint", str(junk), "--out",
                 str(tmp_path / "s.csv"), "--no-progress"]) == 2
    err = _one_line(capsys)
    assert f"{junk}: not a gwspec checkpoint" in err and "weights_only" not in err


def test_damaged_cache_stops_training_with_the_shard_and_rows(tmp_path, capsys) -> None:
    """The damaged chunk is met inside a DataLoader worker: one line, not its traceback."""
    cache = tmp_path / "cache"
    rng = np.random.default_rng(0)
    write_cache(cache, rng.normal(size=(40, 3, 32, 32)).astype(np.float16),
                [f"{i:04d}" for i in range(40)], np.arange(40) % 2, {"kind": "tiny"},
                shard_size=40)
    damage_chunk(cache / "shard-00000.h5", chunk=0)
    assert main(["train", "--cache", str(cache), "--depth", "16", "--epochs", "1",
                 "--no-in-memory", "--workers", "1", "--batch-size", "8", "--no-progress",
                 "--out", str(tmp_path / "run")]) == 2
    err = _one_line(capsys)
    assert "shard-00000.h5: rows" in err and "are damaged" in err


def test_a_model_that_predicts_nan_writes_no_submission(tmp_path, capsys) -> None:
    cache = tmp_path / "cache"
    write_cache(cache, np.zeros((4, 3, 16, 24), np.float16), ["a", "b", "c", "d"],
                np.full(4, -1), {"kind": "tiny"})
    path = make_checkpoint(tmp_path / "m.pt", cache, seed=0)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["model"] = {k: v.float().fill_(float("nan")) if v.is_floating_point() else v
                           for k, v in checkpoint["model"].items()}
    torch.save(checkpoint, path)
    out = tmp_path / "s.csv"
    assert main(["predict", "--cache", str(cache), "--checkpoint", str(path), "--out", str(out),
                 "--no-progress"]) == 2
    assert "predicts NaN" in _one_line(capsys) and not out.exists()
