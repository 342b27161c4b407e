"""Evaluation: metrics against sklearn, a known efficiency curve, refusals, the command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from pipeline.cli import main
from pipeline.evaluate import (
    EvaluateConfig,
    align_scores,
    efficiency_at_snr,
    evaluate,
    snr_at_efficiency,
    write_report,
)


def _frames(scores: np.ndarray, targets: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = [f"{i:010x}" for i in range(len(targets))]
    return (pd.DataFrame({"id": ids, "target": scores}),
            pd.DataFrame({"id": ids, "target": targets}))


def test_auc_and_tpr_match_sklearn_roc_curve() -> None:
    rng = np.random.default_rng(3)
    targets = rng.integers(0, 2, 4000)
    # Rounded scores create ties, the hard case for thresholds.
    scores = np.round(rng.normal(size=4000) + 1.5 * targets, 1)
    preds, labels = _frames(scores, targets)
    config = EvaluateConfig(fprs=(1e-1, 1e-2, 1e-3))
    method = evaluate({"m": preds}, labels, config=config)["methods"]["m"]
    assert method["auc"] == pytest.approx(roc_auc_score(targets, scores), abs=1e-12)
    fpr, tpr, _ = roc_curve(targets, scores, drop_intermediate=False)
    n_noise = int((targets == 0).sum())
    for entry in method["tpr_at_fpr"]:
        assert entry["n_noise"] == n_noise
        if n_noise >= 10 / entry["fpr"]:
            expected = tpr[fpr <= entry["fpr"] + 1e-12].max()
            assert entry["tpr"] == pytest.approx(expected, abs=1e-12)
            assert np.mean(scores[targets == 0] > entry["threshold"]) <= entry["fpr"]
        else:  # 1e-3 needs 10000 noise samples
            assert entry["tpr"] is None and "noise samples" in entry["reason"]
    assert [e["tpr"] is None for e in method["tpr_at_fpr"]] == [False, False, True]


def test_efficiency_step_curve_is_exact() -> None:
    """Scores = SNR - 7 for signals, in (-1, 0) for noise: detected exactly above SNR 7."""
    rng = np.random.default_rng(5)
    n_noise, n_signal = 1000, 700
    snr = rng.uniform(2, 16, n_signal)
    scores = np.r_[rng.uniform(-1, 0, n_noise), snr - 7]
    targets = np.r_[np.zeros(n_noise, int), np.ones(n_signal, int)]
    preds, labels = _frames(scores, targets)
    injections = pd.DataFrame({"id": labels["id"], "snr_network": np.r_[np.full(n_noise, np.nan),
                                                                        snr]})
    config = EvaluateConfig(fpr=1e-2, snr_min=2, snr_max=16, snr_bin_width=2)
    eff = evaluate({"m": preds}, labels, injections, config)["methods"]["m"]["efficiency"]
    assert eff["fpr"] == 1e-2 and eff["threshold"] < 0
    for b in eff["bins"]:
        inside = (snr >= b["snr_low"]) & (snr < b["snr_high"])
        assert b["n"] == inside.sum()
        assert b["efficiency"] == pytest.approx(np.mean(snr[inside] - 7 > eff["threshold"]))
        assert b["ci_low"] <= b["efficiency"] <= b["ci_high"]
    effs = [b["efficiency"] for b in eff["bins"]]
    assert effs[:2] == [0.0, 0.0] and effs[3:] == [1.0] * 4  # bin [6, 8) is partial
    # Curve through centres 3, 5, 7, 9: 0, 0, e, 1.
    e = effs[2]
    assert eff["snr_at_efficiency"]["0.5"] == pytest.approx(7 + 2 * (0.5 - e) / (1 - e)
                                                            if e < 0.5 else 5 + 2 * 0.5 / e)
    assert eff["efficiency_at_snr"]["8"] == pytest.approx((e + 1) / 2)
    assert eff["efficiency_at_snr"]["12"] == 1.0


def test_crossing_and_interpolation_helpers() -> None:
    bins = [{"snr_low": lo, "snr_high": lo + 2, "n": 10, "efficiency": e}
            for lo, e in [(2, 0.0), (4, 0.2), (6, 0.6), (8, 0.8)]]
    assert snr_at_efficiency(bins, 0.5) == pytest.approx(5 + 2 * 0.3 / 0.4)
    assert snr_at_efficiency(bins, 0.9) is None
    assert efficiency_at_snr(bins, 8.0) == pytest.approx(0.7)
    assert efficiency_at_snr(bins, 12.0) is None


def test_too_few_noise_samples_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(0)
    targets = np.r_[np.zeros(200, int), np.ones(100, int)]
    scores = rng.normal(size=300) + targets
    preds, labels = _frames(scores, targets)
    injections = pd.DataFrame({"id": labels["id"], "snr_network": rng.uniform(2, 16, 300)})
    eff = evaluate({"m": preds}, labels, injections)["methods"]["m"]["efficiency"]
    assert eff["fpr_requested"] == 1e-2 and eff["fpr"] == pytest.approx(10 / 200)
    assert "instead of" in caplog.text


def test_refuses_missing_ids_nan_and_duplicates() -> None:
    preds, labels = _frames(np.arange(6.0), np.array([0, 1] * 3))
    with pytest.raises(ValueError, match=r"sub\.csv: 1 id\(s\) .* no prediction"):
        align_scores("sub.csv", preds.iloc[1:], labels["id"])
    with pytest.raises(ValueError, match=r"sub\.csv: 1 score\(s\) are NaN"):
        align_scores("sub.csv", preds.assign(target=[0, 1, np.nan, 3, 4, 5]), labels["id"])
    with pytest.raises(ValueError, match=r"sub\.csv: duplicate id"):
        align_scores("sub.csv", pd.concat([preds, preds.iloc[:1]]), labels["id"])
    with pytest.raises(ValueError, match="other.csv"):
        evaluate({"m": preds.iloc[1:]}, labels, sources={"m": "other.csv"})


def test_command_writes_report_and_plots(tmp_path) -> None:
    rng = np.random.default_rng(1)
    targets = np.r_[np.zeros(300, int), np.ones(300, int)]
    snr = np.r_[np.full(300, np.nan), rng.uniform(2, 16, 300)]
    good, labels = _frames(np.r_[rng.normal(size=300), rng.normal(size=300) + snr[300:] / 3],
                           targets)
    weak = good.assign(target=rng.normal(size=600) + targets * 0.3)
    good.to_csv(tmp_path / "good.csv", index=False)
    weak.iloc[::-1].to_csv(tmp_path / "weak.csv", index=False)  # row order must not matter
    labels.to_csv(tmp_path / "labels.csv", index=False)
    pd.DataFrame({"id": labels["id"], "snr_network": snr}).to_csv(tmp_path / "inj.csv",
                                                                   index=False)
    out = tmp_path / "report"
    code = main(["evaluate", "--predictions", str(tmp_path / "good.csv"), "--predictions",
                 str(tmp_path / "weak.csv"), "--labels", str(tmp_path / "labels.csv"),
                 "--injections", str(tmp_path / "inj.csv"), "--out", str(out)])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert set(report["methods"]) == {"good", "weak"}
    assert report["methods"]["good"]["auc"] > report["methods"]["weak"]["auc"]
    assert report["config"]["fpr"] == 1e-2 and "numpy" in report["versions"]
    for png in ("roc.png", "efficiency.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A file with a NaN is refused with its name, exit code 2.
    weak.assign(target=np.nan).to_csv(tmp_path / "bad.csv", index=False)
    assert main(["evaluate", "--predictions", str(tmp_path / "bad.csv"), "--labels",
                 str(tmp_path / "labels.csv"), "--out", str(tmp_path / "r2")]) == 2


def test_write_report_without_injections_has_no_efficiency_plot(tmp_path) -> None:
    preds, labels = _frames(np.arange(20.0), np.array([0, 1] * 10))
    write_report(evaluate({"m": preds}, labels), tmp_path)
    assert (tmp_path / "roc.png").is_file() and not (tmp_path / "efficiency.png").exists()
