"""The whole job in one call: simulate, CQT caches, train, predict, matched filter, evaluate.

``make demo`` runs it on a small default that fits in about 15 minutes on a 2-core CPU;
``bench/quality.py`` runs the same chain at larger sizes. Each step skips work that is already
complete in ``out`` (the simulator's ``simulation.json``, complete cache shards, a finished
training run, existing prediction files), so an interrupted chain resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from models import check_model_name
from pipeline.bank.config import BankConfig
from pipeline.demo.config import ChainConfig
from pipeline.evaluate.config import EvaluateConfig
from pipeline.baseline.config import MatchedFilterConfig
from pipeline.classifier.config import PredictConfig
from pipeline.training.config import TrainConfig
from pipeline.evaluate.metrics import evaluate, read_predictions, write_report
from pipeline.classifier.predict import predict, write_predictions
from pipeline.baseline.matched_filter import run_matched_filter
from pipeline.training.loop import fit
from preprocess.build import SettingsMismatchError, build_cache
from preprocess.config import BuildOptions
from preprocess.layout import read_labels
from runtime.outputs import claim_dir
from runtime.provenance import library_versions, write_json_atomic
from preprocess.simulate import SimulationConfig, simulate

log = logging.getLogger(__name__)


def _timed(steps: dict[str, float], name: str, start: float) -> None:
    steps[name] = round(time.perf_counter() - start, 1)
    log.info("step %s done in %.1f s", name, steps[name])


def _simulate(config: ChainConfig) -> Path:
    data = config.root / "data"
    sim = SimulationConfig(n_train=config.n_train, n_test=config.n_test, seed=config.seed,
                           detectors=tuple(config.detectors))
    record = data / "simulation.json"
    if record.is_file() and json.loads(record.read_text()).get("config") == sim.to_dict():
        log.info("simulation already complete in %s", data)
        return data
    return simulate(sim, data, workers=config.workers, overwrite=True, progress=config.progress)


def _build(config: ChainConfig, data: Path) -> tuple[Path, Path]:
    """Both caches, with today's defaults. Caches (and the model trained on them) that an
    earlier version of the demo built with other settings are the demo's own: they are
    replaced, not refused."""
    options = BuildOptions(progress=config.progress, device=config.device)
    train_cache, test_cache = config.root / "cache" / "train", config.root / "cache" / "test"

    def build() -> None:
        build_cache(data, "train", train_cache, options=options)
        build_cache(data, "test", test_cache, options=options, psd_from=train_cache)

    try:
        build()
    except SettingsMismatchError as error:
        log.warning("the demo's caches were built with other settings; rebuilding them and "
                    "retraining (%s)", error)
        for stale in (config.root / "cache", config.root / "runs"):
            shutil.rmtree(stale, ignore_errors=True)
        build()
    return train_cache, test_cache


def _train(config: ChainConfig, cache: Path) -> Path:
    run_dir = config.root / "runs" / config.model
    train = TrainConfig(
        cache=str(cache), model=config.model, model_kwargs=dict(config.model_kwargs),
        epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, seed=config.seed,
        device=config.device, out=str(run_dir), in_memory=True, progress=config.progress,
        resume=(run_dir / "last.pt").is_file(),
    )
    if (run_dir / "best.pt").is_file() and _finished(run_dir, config.epochs):
        log.info("training already complete in %s", run_dir)
        return run_dir / "best.pt"
    return fit(train).best_path


def _finished(run_dir: Path, epochs: int) -> bool:
    metrics = run_dir / "metrics.csv"
    return metrics.is_file() and len(pd.read_csv(metrics)) >= epochs


def summarise(report: dict[str, Any]) -> pd.DataFrame:
    """One row per method: AUC, TPR at FPR 1e-1 and 1e-2 (None where too few noise samples),
    efficiency at SNR 8 and 12 and the SNR of 50% and 90% efficiency at ``efficiency_fpr``."""
    rows = []
    for name, method in report["methods"].items():
        efficiency = method.get("efficiency") or {}
        at_snr = efficiency.get("efficiency_at_snr") or {}
        crossing = efficiency.get("snr_at_efficiency") or {}
        tpr = {row["fpr"]: row.get("tpr") for row in method.get("tpr_at_fpr", [])}
        rows.append({
            "method": name,
            "roc_auc": method["auc"],
            "tpr@fpr=1e-1": tpr.get(0.1),
            "tpr@fpr=1e-2": tpr.get(0.01),
            "efficiency_fpr": efficiency.get("fpr"),
            "eff@snr8": at_snr.get("8"),
            "eff@snr12": at_snr.get("12"),
            "snr@50%": crossing.get("0.5"),
            "snr@90%": crossing.get("0.9"),
        })
    return pd.DataFrame(rows).set_index("method")


def summarise_table(summary: dict[str, Any]) -> str:
    """The printed end of a run: step times, the comparison table and where the plots are."""
    table = pd.DataFrame(summary["table"]).set_index("method")
    steps = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in summary["steps_s"].items())
    lines = [
        f"steps: {steps}",
        "",
        table.to_string(float_format=lambda v: f"{v:.3f}", na_rep="-"),
        "",
        f"report: {summary['report']}",
        *(f"plot:   {plot}" for plot in summary["plots"]),
    ]
    return "\n".join(lines)


def run_chain(config: ChainConfig) -> dict[str, Any]:
    """Run every step and return the summary (also written to ``out/summary.json``)."""
    check_model_name(config.model)  # fail before an hour of work, not after
    claim_dir(config.root, "demo")
    steps: dict[str, float] = {}
    start = time.perf_counter()
    data = _simulate(config)
    _timed(steps, "simulate", start)

    start = time.perf_counter()
    train_cache, test_cache = _build(config, data)
    _timed(steps, "build-cqt", start)

    start = time.perf_counter()
    checkpoint = _train(config, train_cache)
    _timed(steps, "train", start)

    start = time.perf_counter()
    submission = config.root / "submission.csv"
    predict_config = PredictConfig(tta=config.tta, device=config.device)
    frame = predict(test_cache, "test", [checkpoint], predict_config, data=data,
                    progress=config.progress)
    write_predictions(frame, submission, predict_config, [checkpoint], test_cache)
    _timed(steps, "predict", start)

    start = time.perf_counter()
    mf = config.root / "matched_filter.csv"
    if not mf.is_file():
        mf_config = MatchedFilterConfig(bank=BankConfig(n_templates=config.n_templates))
        run_matched_filter(data, "test", mf, mf_config, workers=config.workers or 2,
                           progress=config.progress)
    _timed(steps, "matched-filter", start)

    start = time.perf_counter()
    predictions = {
        config.model: read_predictions(submission),
        "matched_filter": read_predictions(mf),
    }
    labels = read_labels(data / "test_labels.csv")
    injections = pd.read_csv(data / "injections.csv", dtype={"id": str})
    report = evaluate(predictions, labels, injections, EvaluateConfig())
    report_dir = config.root / "report"
    write_report(report, report_dir)
    _timed(steps, "evaluate", start)

    table = summarise(report)
    summary = {
        "config": asdict(config),
        "steps_s": steps,
        "table": table.reset_index().to_dict(orient="records"),
        "report": str(report_dir / "report.json"),
        "plots": [str(p) for p in sorted(report_dir.glob("*.png"))],
        "versions": library_versions(),
    }
    write_json_atomic(config.root / "summary.json", summary)
    return summary
