"""Evaluation: metrics against sklearn, a known efficiency curve, refusals, the command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from pipeline.cli import main
from pipeline.evaluate.config import EvaluateConfig
from pipeline.evaluate.metrics import (
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


def test_glitch_noise_fpr_at_the_clean_noise_threshold(tmp_path, capsys) -> None:
    """Glitchy noise scores high: its FPR at the clean-noise threshold, per-condition curves."""
    rng = np.random.default_rng(8)
    n_clean, n_glitch, n_signal = 2000, 400, 1000
    targets = np.r_[np.zeros(n_clean + n_glitch, int), np.ones(n_signal, int)]
    glitches = np.r_[np.zeros(n_clean, int), rng.integers(1, 3, n_glitch),
                     rng.integers(0, 2, n_signal)]
    snr = np.r_[np.full(n_clean + n_glitch, np.nan), rng.uniform(2, 16, n_signal)]
    scores = np.r_[rng.normal(size=n_clean), rng.normal(2.5, 1, n_glitch),
                   snr[-n_signal:] - 7 + 3 * glitches[-n_signal:]]
    preds, labels = _frames(scores, targets)
    scale = rng.uniform(0.5, 2, (len(targets), 3))
    injections = pd.DataFrame({"id": labels["id"], "snr_network": snr, "n_glitches": glitches,
                               **{f"psd_scale_{d}": scale[:, i]
                                  for i, d in enumerate(("H1", "L1", "V1"))}})
    report = evaluate({"m": preds}, labels, injections, EvaluateConfig(fpr=1e-2))
    section = report["methods"]["m"]["noise_conditions"]
    clean_noise = scores[:n_clean]
    threshold = np.sort(clean_noise)[::-1][20]  # 1e-2 of 2000: 20 false alarms allowed
    assert section["threshold_noise"] == "clean" and section["threshold"] == threshold
    conditions = section["conditions"]
    assert set(conditions) == {"clean", "glitch", "quiet", "loud"}
    assert conditions["clean"]["fpr"] == pytest.approx(20 / n_clean)
    glitch = conditions["glitch"]
    assert glitch["n_noise"] == n_glitch
    assert glitch["fpr"] == pytest.approx(np.mean(scores[n_clean:n_clean + n_glitch] > threshold))
    assert glitch["fpr"] > 0.3 and glitch["fpr_ci"][0] < glitch["fpr"] < glitch["fpr_ci"][1]
    # Signals carrying a glitch score 3 higher: detected 3 units of SNR earlier.
    s50 = {name: conditions[name]["efficiency"]["snr_at_efficiency"]["0.5"]
           for name in ("clean", "glitch")}
    assert s50["glitch"] < s50["clean"] - 2
    level = np.log(scale).mean(axis=1)
    assert conditions["loud"]["n_noise"] == int(((level >= 0) & (targets == 0)).sum())
    # The command prints the table.
    preds.to_csv(tmp_path / "m.csv", index=False)
    labels.to_csv(tmp_path / "labels.csv", index=False)
    injections.to_csv(tmp_path / "inj.csv", index=False)
    assert main(["evaluate", "--predictions", str(tmp_path / "m.csv"), "--labels",
                 str(tmp_path / "labels.csv"), "--injections", str(tmp_path / "inj.csv"),
                 "--out", str(tmp_path / "report")]) == 0
    printed = capsys.readouterr().out
    assert "threshold set on clean noise" in printed and "glitch" in printed
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert saved["methods"]["m"]["noise_conditions"]["conditions"]["glitch"]["fpr"] == glitch["fpr"]


def test_no_condition_columns_no_condition_report() -> None:
    preds, labels = _frames(np.arange(20.0), np.array([0, 1] * 10))
    injections = pd.DataFrame({"id": labels["id"], "snr_network": np.linspace(2, 16, 20)})
    method = evaluate({"m": preds}, labels, injections)["methods"]["m"]
    assert "noise_conditions" not in method and "efficiency" in method


def test_duplicate_labels_and_edited_columns_are_refused(tmp_path, capsys) -> None:
    """A label counted twice, or a target column edited while the logit column stayed, would
    be scored wrongly without a word: both are refused, naming the file."""
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"id": ["a", "b", "c", "a"], "target": [0, 1, 1, 0]}).to_csv(labels,
                                                                           index=False)
    logits = np.array([-2.0, 1.0, 3.0])
    predictions = tmp_path / "sub.csv"
    pd.DataFrame({"id": ["a", "b", "c"], "target": 1 / (1 + np.exp(-logits)),
                  "logit": logits}).to_csv(predictions, index=False)
    argv = ["evaluate", "--predictions", str(predictions), "--out", str(tmp_path / "r")]
    assert main([*argv, "--labels", str(labels)]) == 2
    assert "labels.csv: duplicate id 'a' (rows 2, 5)" in capsys.readouterr().err
    pd.DataFrame({"id": ["a", "b", "c"], "target": [0, 1, 1]}).to_csv(labels, index=False)
    assert main([*argv, "--labels", str(labels)]) == 0
    capsys.readouterr()
    inverted = pd.read_csv(predictions).assign(target=lambda f: 1 - f["target"])
    inverted.to_csv(predictions, index=False)
    assert main([*argv, "--labels", str(labels)]) == 2
    err = capsys.readouterr().err
    assert "sub.csv: its target and logit columns disagree in order (2 adjacent pair" in err
