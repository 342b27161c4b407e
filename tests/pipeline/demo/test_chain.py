"""The end-to-end chain on tiny data: every step runs, the summary holds both methods."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pipeline.cli import main
from pipeline.demo.chain import run_chain, summarise_table
from pipeline.demo.config import ChainConfig
from preprocess.build import build_cache
from preprocess.cache import read_manifest
from preprocess.config import BuildOptions, NormalizeConfig


def tiny_chain(out: Path) -> ChainConfig:
    return ChainConfig(
        out=str(out), n_train=60, n_test=40, seed=3, model="resnet16",
        model_kwargs={"stem": "imagenet"}, epochs=1, batch_size=16, n_templates=6,
        workers=1, device="cpu", progress=False,
    )


def test_chain_runs_end_to_end_and_resumes(tmp_path: Path) -> None:
    config = tiny_chain(tmp_path / "demo")
    summary = run_chain(config)
    root = Path(config.out)

    submission = pd.read_csv(root / "submission.csv", dtype={"id": str})
    order = pd.read_csv(root / "data" / "sample_submission.csv", dtype={"id": str})
    assert submission["id"].tolist() == order["id"].tolist()
    assert submission["target"].between(0, 1).all()

    report = json.loads((root / "report" / "report.json").read_text())
    assert set(report["methods"]) == {"resnet16", "matched_filter"}
    assert report["n_samples"] == 40
    methods = {row["method"]: row for row in summary["table"]}
    assert 0 <= methods["matched_filter"]["roc_auc"] <= 1
    assert {Path(p).name for p in summary["plots"]} == {"roc.png", "efficiency.png"}
    assert set(summary["steps_s"]) == {
        "simulate", "build-cqt", "train", "predict", "matched-filter", "evaluate"
    }
    text = summarise_table(summary)
    assert "matched_filter" in text and "roc_auc" in text

    stamp = (root / "data" / "simulation.json").stat().st_mtime_ns
    best = (root / "runs" / "resnet16" / "best.pt").stat().st_mtime_ns
    again = run_chain(config)  # completed steps are skipped, results unchanged
    assert (root / "data" / "simulation.json").stat().st_mtime_ns == stamp
    assert (root / "runs" / "resnet16" / "best.pt").stat().st_mtime_ns == best
    assert again["table"] == summary["table"]


def test_demo_command_rejects_unknown_model(tmp_path: Path, capsys) -> None:
    code = main(["demo", "--out", str(tmp_path / "d"), "--model", "resnet17", "--n-train", "8",
                 "--n-test", "4", "--no-progress"])
    assert code == 2
    assert "resnet17" in capsys.readouterr().err


def test_a_demo_left_by_older_settings_is_rebuilt(tmp_path: Path) -> None:
    """Caches an earlier version built (here: without per-sample normalisation) and the model
    trained on them are replaced, so `make demo` keeps working after an upgrade."""
    config = tiny_chain(tmp_path / "demo")
    root = Path(config.out)
    run_chain(config)
    old = root / "cache" / "train"
    for cache in (old, root / "cache" / "test"):  # what the previous default built
        for path in cache.iterdir():
            path.unlink()
        build_cache(root / "data", cache.name, cache, psd_from=None if cache == old else old,
                    options=BuildOptions(workers=0, progress=False),
                    normalize=NormalizeConfig(method="none"))
    assert "normalize" not in read_manifest(old).config

    summary = run_chain(config)
    assert read_manifest(old).config["normalize"]["method"] == "sample-psd"
    assert read_manifest(root / "cache" / "test").config_hash == read_manifest(old).config_hash
    assert {row["method"] for row in summary["table"]} == {"resnet16", "matched_filter"}
