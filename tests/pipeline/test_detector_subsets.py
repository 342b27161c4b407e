"""Any detector subset end to end: simulate, build-cqt, train and predict on H1 L1 alone; a
model refuses a cache of other detectors, naming both sets; G2Net's three stay the default."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main as pipeline_main
from preprocess.cache import read_manifest
from preprocess.cli import main as preprocess_main
from preprocess.layout import DETECTORS, LayoutError, check_detectors, data_detectors
from preprocess.psd.read import read_psd


@pytest.fixture(scope="module")
def two_detectors(tmp_path_factory):
    """An H1 L1 data set, its caches and a model trained on them (one epoch, tiny)."""
    root = tmp_path_factory.mktemp("h1l1")
    data, cache = root / "data", root / "cache"
    assert preprocess_main(["simulate", "--out", str(data), "--n-train", "48", "--n-test", "12",
                            "--detectors", "H1", "L1", "--workers", "1", "--no-progress"]) == 0
    for split, extra in (("train", []), ("test", ["--psd-from", str(cache / "train")])):
        assert preprocess_main(["build-cqt", "--data", str(data), "--split", split, "--out",
                                str(cache / split), "--workers", "0", "--batch-size", "16",
                                "--no-progress", *extra]) == 0
    run = root / "run"
    assert pipeline_main(["train", "--cache", str(cache / "train"), "--depth", "16",
                          "--epochs", "1", "--batch-size", "8", "--folds", "2", "--workers",
                          "0", "--device", "cpu", "--no-progress", "--out", str(run)]) == 0
    return data, cache, run


def test_two_detectors_flow_end_to_end(two_detectors, tmp_path) -> None:
    data, cache, run = two_detectors
    assert data_detectors(data) == ("H1", "L1")
    assert json.loads((data / "simulation.json").read_text())["detectors"] == ["H1", "L1"]
    assert read_psd(data)[1].shape == (2, 2049)
    assert list(pd.read_csv(data / "injections.csv").filter(like="snr_").columns) == [
        "snr_H1", "snr_L1", "snr_network"]
    manifest = read_manifest(cache / "train")
    assert manifest.image_shape[0] == 2 and manifest.detectors == ("H1", "L1")
    assert manifest.config["detectors"] == ["H1", "L1"] and manifest.psd.shape == (2, 2049)
    out = tmp_path / "sub.csv"
    assert pipeline_main(["predict", "--cache", str(cache / "test"), "--checkpoint",
                          str(run / "best.pt"), "--tta", "--out", str(out),
                          "--no-progress"]) == 0
    assert len(pd.read_csv(out)) == 12


def test_a_model_refuses_other_detectors_naming_both(two_detectors, simulated_data, tmp_path,
                                                     capsys) -> None:
    """The three-detector fixture's cache against the H1 L1 model, one line, exit 2."""
    _, _, run = two_detectors
    cache = tmp_path / "three"
    assert preprocess_main(["build-cqt", "--data", str(simulated_data), "--split", "train",
                            "--out", str(cache), "--workers", "0", "--no-progress"]) == 0
    assert "detectors" not in read_manifest(cache).config  # the default keeps its hash
    capsys.readouterr()
    assert pipeline_main(["predict", "--cache", str(cache), "--split", "train", "--checkpoint",
                          str(run / "best.pt"), "--out", str(tmp_path / "x.csv"),
                          "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "the model was trained on detectors H1 L1, the cache holds H1 L1 V1" in err


def test_detector_sets_are_checked() -> None:
    assert check_detectors(["H1", "V1"]) == ("H1", "V1") and check_detectors(DETECTORS)
    for bad, reason in ((["L1", "H1"], "in the order H1 L1"), (["H1", "H1"], "distinct"),
                        (["K1"], "distinct ones of H1 L1 V1"), ([], "(none)")):
        with pytest.raises(LayoutError, match=reason):
            check_detectors(bad)


def test_an_exchange_of_h1_and_l1_needs_both(tmp_path, capsys) -> None:
    """H1 V1 data: --swap-ligo (a default) and --tta would exchange H1 with V1: refused."""
    data = tmp_path / "data"
    assert preprocess_main(["simulate", "--out", str(data), "--n-train", "24", "--n-test", "0",
                            "--detectors", "H1", "V1", "--workers", "1", "--no-progress"]) == 0
    assert preprocess_main(["build-cqt", "--data", str(data), "--split", "train", "--out",
                            str(tmp_path / "cache"), "--workers", "0", "--no-progress"]) == 0
    capsys.readouterr()
    argv = ["train", "--cache", str(tmp_path / "cache"), "--depth", "16", "--epochs", "1",
            "--batch-size", "4", "--folds", "2", "--workers", "0", "--device", "cpu",
            "--no-progress", "--out", str(tmp_path / "run")]
    assert pipeline_main(argv) == 2
    assert "exchanges the H1 and L1 images, but the cache holds H1 V1" in capsys.readouterr().err
    assert pipeline_main([*argv, "--no-swap-ligo"]) == 0
    assert np.isfinite(pd.read_csv(tmp_path / "run" / "metrics.csv")["val_auc"]).all()


def test_the_matched_filter_takes_the_datas_detectors(two_detectors, tmp_path) -> None:
    data, _, _ = two_detectors
    out = tmp_path / "mf.csv"
    assert pipeline_main(["baseline", "matched-filter", "--data", str(data), "--n-templates",
                          "4", "--no-progress", "--out", str(out)]) == 0
    scores = pd.read_csv(out)
    assert len(scores) == 12 and np.isfinite(scores["target"]).all()
