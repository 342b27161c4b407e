"""``pipeline family``: the comparison table and plots, resume, failures, saved stack weights."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import pipeline.family.run as family_module
import pipeline.training.loop as train_module
from models import create_model
from pipeline.cli import main
from pipeline.evaluate.auc_stats import hanley_mcneil_se
from pipeline.family.config import FamilyConfig
from pipeline.family.costs import count_parameters, multiply_adds
from pipeline.family.report import COLUMNS
from pipeline.family.run import run_family
from preprocess.dataset import SpectrogramCache
from tests.pipeline.training.test_loop import SHAPE, make_cache, tiny_config

TINY_TIMM = "mobilenetv3_small_050"
MEMBERS = ["resnet16", TINY_TIMM]
PNG = b"\x89PNG"


def family_config(cache: Path, out: Path, **changes) -> FamilyConfig:
    """Two members, one epoch on fold 0 of 2 (24 training images), on the CPU."""
    train = replace(tiny_config(cache, out), epochs=1, folds=2, model_kwargs={})
    base = FamilyConfig(members=list(MEMBERS), train=train, out=str(out), folds=[0],
                        resnet_kwargs={"stem": "imagenet"})
    return replace(base, **changes)


@pytest.fixture(scope="module")
def family(tmp_path_factory) -> tuple[FamilyConfig, family_module.FamilyRun]:
    """One two-member family with a labelled test cache and injections."""
    root = tmp_path_factory.mktemp("family")
    cache = make_cache(root / "cache")
    test = make_cache(root / "test", n=40)
    index = SpectrogramCache(test)
    labels = pd.DataFrame({"id": index.ids, "target": index.targets})
    labels.to_csv(root / "labels.csv", index=False)
    snr = np.where(labels["target"] == 1, np.linspace(2, 15.9, len(labels)), np.nan)
    labels.assign(snr_network=snr).to_csv(root / "injections.csv", index=False)
    config = family_config(cache, root / "family", test_cache=str(test),
                           labels=str(root / "labels.csv"),
                           injections=str(root / "injections.csv"))
    return config, run_family(config)


def test_family_writes_every_column_and_the_plots(family) -> None:
    config, result = family
    out = Path(config.out)
    table = pd.read_csv(out / "family.csv")
    assert list(table.columns) == list(COLUMNS)
    assert table["name"].tolist() == [*MEMBERS, "ensemble-mean", "ensemble-rank",
                                      "ensemble-stack"]
    assert (table["status"] == "ok").all() and not result.failures
    members = table[table["kind"] == "member"].set_index("name")
    numeric = ["params", "macs", "train_images_per_s", "infer_images_per_s", "peak_mem_mib",
               "epochs", "best_val_auc", "oof_auc", "test_auc", "test_auc_se", "snr@50%",
               "snr@90%"]
    assert members[numeric].notna().all().all()
    resnet = create_model("resnet16", stem="imagenet")
    assert members.loc["resnet16", "params"] == count_parameters(resnet)
    assert members.loc["resnet16", "macs"] == multiply_adds(resnet, SHAPE) > 1e6
    assert members.loc["resnet16", "depth"] == 16 and np.isnan(members.loc[TINY_TIMM, "depth"])
    assert (members["epochs"] == 1).all() and (members["peak_mem_kind"] == "cpu_rss_growth").all()
    assert members[["best_val_auc", "oof_auc", "test_auc"]].stack().between(0, 1).all()
    assert members.loc["resnet16", "snr@50%"] <= members.loc["resnet16", "snr@90%"]
    # 20 noise samples cannot support an FPR of 1e-2: reported empty, as evaluate decides
    assert table["tpr@fpr=1e-2"].isna().all()

    ensembles = table[table["kind"] == "ensemble"]
    assert (ensembles["params"] == members["params"].sum()).all()
    assert ensembles[["macs", "infer_images_per_s", "oof_auc", "test_auc",
                      "test_auc_se"]].notna().all().all()
    assert (table["test_auc_se"].notna() == table["test_auc"].notna()).all()
    labels = pd.read_csv(config.labels)
    n_pos, n_neg = int(labels["target"].sum()), int((labels["target"] == 0).sum())
    for auc, se in zip(table["test_auc"], table["test_auc_se"], strict=True):
        assert se == pytest.approx(hanley_mcneil_se(auc, n_pos, n_neg), abs=1e-12)
    oof = {m: pd.read_csv(out / m / "oof.csv", dtype={"id": str}) for m in MEMBERS}
    mean = (oof["resnet16"]["prediction"] + oof[TINY_TIMM]["prediction"]) / 2
    expected = roc_auc_score(oof["resnet16"]["target"], mean)
    assert ensembles.set_index("name").loc["ensemble-mean", "oof_auc"] == pytest.approx(expected)

    for name in ("auc_vs_depth.png", "auc_vs_cost.png", "report/efficiency.png",
                 "report/roc.png"):
        assert (out / name).read_bytes()[:4] == PNG, name
    markdown = (out / "family.md").read_text(encoding="utf-8").splitlines()
    assert markdown[0].startswith("| name | kind | depth | params | macs |")
    assert "| test_auc | test_auc_se |" in markdown[0]
    _check_ensemble_differences(out, table, markdown[2 + len(table):])
    assert (out / "ensemble_weights.json").is_file()


def _check_ensemble_differences(out: Path, table: pd.DataFrame, notes: list[str]) -> None:
    """family.md ends with one line per ensemble: its test AUC minus the best member's, also
    stored in family.json."""
    by_name = table.set_index("name")
    best = by_name[by_name["kind"] == "member"]["test_auc"].idxmax()
    ensembles = ["ensemble-mean", "ensemble-rank", "ensemble-stack"]
    assert notes[0] == "" and len(notes) == 1 + len(ensembles)  # a blank line ends the table
    saved = json.loads((out / "family.json").read_text())["test_auc_differences"]
    assert [d["ensemble"] for d in saved] == ensembles and {d["member"] for d in saved} == {best}
    for line, entry in zip(notes[1:], saved, strict=True):
        expected = by_name.loc[entry["ensemble"], "test_auc"] - by_name.loc[best, "test_auc"]
        assert entry["auc_difference"] == pytest.approx(expected, abs=1e-9)
        assert 0 <= entry["se"] < 0.2
        diff = f"{entry['auc_difference']:.4f}".replace("-", "\u2212")
        assert line == (f"- {entry['ensemble']} \u2212 {best} (best member by test AUC): "
                        f"{diff} ± {entry['se']:.4f} (paired bootstrap over test samples)")


def test_predict_applies_the_saved_stack_weights(family, tmp_path, capsys) -> None:
    config, _ = family
    out = Path(config.out)
    argv = ["predict", "--cache", config.test_cache, "--weights",
            str(out / "ensemble_weights.json"), "--out", str(tmp_path / "stack.csv"),
            "--batch-size", "8", "--no-progress"]
    assert main(argv) == 0
    stacked = pd.read_csv(tmp_path / "stack.csv", dtype={"id": str})
    saved = pd.read_csv(out / "ensembles" / "ensemble-stack.csv", dtype={"id": str})
    assert stacked["id"].tolist() == saved["id"].tolist()
    assert stacked["target"].to_numpy() == pytest.approx(saved["target"].to_numpy())
    both = argv + ["--checkpoint", str(out / "resnet16" / "fold0" / "best.pt")]
    assert main(both) == 2
    assert "give --checkpoint (one or more) or --weights, not both" in capsys.readouterr().err


def _family_holding(done: FamilyConfig, member: str, out: Path) -> Path:
    """A family folder holding one finished member of ``done``."""
    out.mkdir()
    shutil.copy(Path(done.out) / ".gwspec", out / ".gwspec")  # the family's folder marker
    shutil.copytree(Path(done.out) / member, out / member)
    return out


def _spy_on_fit(monkeypatch) -> list[tuple[str, bool]]:
    """Record (model, resume) of every ``fit`` the family makes."""
    calls, real = [], family_module.fit

    def spy(config):
        calls.append((config.model, config.resume))
        return real(config)

    monkeypatch.setattr(family_module, "fit", spy)
    return calls


def test_killed_family_resumes_without_retraining_finished_members(family, tmp_path,
                                                                   monkeypatch) -> None:
    done, _ = family
    out = _family_holding(done, "resnet16", tmp_path / "family")
    finished = (out / "resnet16" / "fold0" / "best.pt").stat().st_mtime_ns
    config = family_config(Path(done.train.cache), out)
    calls = _spy_on_fit(monkeypatch)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(train_module, "_write_oof", killed)  # after last.pt, before oof.csv
    with pytest.raises(KeyboardInterrupt):
        run_family(config)
    assert calls == [(TINY_TIMM, False)]
    assert (out / TINY_TIMM / "fold0" / "last.pt").is_file()
    assert not (out / TINY_TIMM / "fold0" / "oof.csv").exists()

    monkeypatch.undo()
    calls = _spy_on_fit(monkeypatch)
    result = run_family(config)
    assert calls == [(TINY_TIMM, True)]  # resumed from last.pt; resnet16 not retrained
    assert (out / "resnet16" / "fold0" / "best.pt").stat().st_mtime_ns == finished
    assert len(pd.read_csv(out / TINY_TIMM / "fold0" / "metrics.csv")) == 1
    assert result.table["name"].tolist()[:2] == MEMBERS and len(result.table) == 5
    calls.clear()
    run_family(config)  # everything finished: nothing trains
    assert calls == []


def test_a_failing_member_is_reported_and_the_others_run(family, tmp_path, monkeypatch,
                                                         capsys) -> None:
    done, _ = family
    out = _family_holding(done, TINY_TIMM, tmp_path / "family")
    real = family_module.fit

    def fails_for_resnet16(config):
        if config.model == "resnet16":
            raise RuntimeError("CUDA out of memory\nTried to allocate 2 GiB")
        return real(config)

    monkeypatch.setattr(family_module, "fit", fails_for_resnet16)
    argv = ["family", "--cache", done.train.cache, "--out", str(out), "--depths", "16",
            "--model", TINY_TIMM, "--folds", "2", "--epochs", "1", "--batch-size", "8",
            "--warmup-epochs", "0.5", "--patience", "0", "--device", "cpu", "--workers", "0",
            "--stem", "imagenet", "--no-progress"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "pipeline family: resnet16 failed: RuntimeError: CUDA out of memory\n" in captured.err
    assert f"| {TINY_TIMM} | member |" in captured.out
    table = pd.read_csv(out / "family.csv").set_index("name")
    assert table.loc[TINY_TIMM, "status"] == "ok"
    assert table.loc["resnet16", "status"] == "failed: RuntimeError: CUDA out of memory"
    assert "ensemble-mean" not in table.index  # one member left: nothing to ensemble


def test_all_folds_cover_the_cache(family, tmp_path) -> None:
    done, _ = family
    out = tmp_path / "family"
    argv = ["family", "--cache", done.train.cache, "--out", str(out), "--model", TINY_TIMM,
            "--folds", "2", "--all-folds", "--epochs", "1", "--batch-size", "8",
            "--warmup-epochs", "0.5", "--patience", "0", "--device", "cpu", "--workers", "0",
            "--no-progress"]
    assert main(argv) == 0
    oof = pd.read_csv(out / TINY_TIMM / "oof.csv", dtype={"id": str})
    assert sorted(oof["id"]) == sorted(SpectrogramCache(done.train.cache).ids)
    row = pd.read_csv(out / "family.csv").iloc[0]
    assert row["name"] == TINY_TIMM  # --model alone: no ResNet depths
    assert row["oof_auc"] == pytest.approx(roc_auc_score(oof["target"], oof["prediction"]))


def test_bad_family_settings_fail_clearly(family, tmp_path, capsys) -> None:
    done, _ = family
    base = ["family", "--cache", done.train.cache, "--out", str(tmp_path / "f")]
    assert main([*base, "--depths", "16", "--labels", "labels.csv"]) == 2
    assert "labels given without a test cache" in capsys.readouterr().err
    assert main([*base, "--model", "resnt50"]) == 2
    assert "unknown model 'resnt50'" in capsys.readouterr().err
    assert main([*base, "--depths", "16", "--fold", "3", "--folds", "3"]) == 2
    assert "fold 3 is outside 0..2" in capsys.readouterr().err
    assert main([*base, "--depths", "16", "--pretrained", str(tmp_path / "w.pt")]) == 2
    assert f"{tmp_path / 'w.pt'}: no such pretrained weights file" in capsys.readouterr().err
    assert not (tmp_path / "f").exists()  # refused before any work
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("the user's own file")
    assert main(["family", "--cache", done.train.cache, "--out", str(mine), "--depths", "16"]) == 2
    assert "holds files that are not a gwspec family" in capsys.readouterr().err
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


def test_a_rerun_with_another_recipe_is_refused(family, tmp_path) -> None:
    """A finished family re-run with --epochs 2, or on another cache, is refused listing the
    differences (family.json keeps the settings it was trained with); the same settings
    with other members or runtime options go on."""
    config, _ = family
    saved = (Path(config.out) / "family.json").read_text()
    longer = replace(config, train=replace(config.train, epochs=2))
    with pytest.raises(ValueError, match=r"other settings \(saved -> now\): train\.epochs: 1 -> 2"):
        family_module.check_rerun(longer, family_module.cache_identity(config.train.cache))
    other = make_cache(tmp_path / "other", n=32)
    moved = replace(config, train=replace(config.train, cache=str(other)))
    with pytest.raises(ValueError, match="training cache contents: .*n_samples': 48.* 32"):
        run_family(moved)
    assert (Path(config.out) / "family.json").read_text() == saved  # not rewritten
    runtime = replace(config, members=MEMBERS[:1],
                      train=replace(config.train, progress=True, workers=1, patience=5))
    family_module.check_rerun(runtime, family_module.cache_identity(config.train.cache))


def test_a_reference_detector_is_scored_and_drawn(family, tmp_path) -> None:
    """``--reference`` (the matched filter's predictions on the test set) becomes a row of
    kind ``reference`` scored like the members, and the line both AUC plots show."""
    from pipeline.family.report import write_comparison

    config, result = family
    out = tmp_path / "family"
    shutil.copytree(config.out, out)
    labels = pd.read_csv(config.labels, dtype={"id": str})
    noise = np.random.default_rng(0).normal(size=len(labels))
    reference = tmp_path / "mf.csv"
    labels.assign(target=labels["target"] + noise).to_csv(reference, index=False)
    table = write_comparison(out, result.rows, {}, labels=config.labels,
                             injections=config.injections, test=True, reference=str(reference))
    row = table.set_index("name").loc["matched filter"]
    expected = roc_auc_score(labels["target"], labels["target"] + noise)
    assert row["kind"] == "reference" and row["test_auc"] == pytest.approx(expected)
    assert row["test_auc_se"] == pytest.approx(hanley_mcneil_se(expected, 20, 20))
    for name in ("auc_vs_depth.png", "auc_vs_cost.png"):
        assert (out / name).read_bytes()[:4] == PNG
    report = json.loads((out / "report" / "report.json").read_text())
    assert "matched filter" in report["methods"]  # on the efficiency figure too
