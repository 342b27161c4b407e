"""Robustness benchmark: network and matched filter on stationary, level-varying and glitch noise.

Simulates one training set and three test sets of the same size and seed, so that they hold
the same signals in the same noise: ``stationary`` (every sample's PSD the nominal one),
``varying`` (each detector's PSD scaled per sample, log-uniform in ``--psd-scale``) and
``glitch`` (``--glitch-rate`` glitches per sample, Poisson). Each ``--variants`` entry
``NORMALIZE:TRAIN_NOISE`` is one model: the CQT caches built with that ``--normalize`` (test
caches whitened with the training cache's PSD), trained on ``stationary`` training noise or on
``nonstationary`` noise (the varying set's PSD scales *and* the glitch rate); ``--run`` reuses a
finished run for a single variant. Predicts every test set, runs the matched filter
(``noise_level auto``: the recorded PSD scales where they vary) and prints, per test set and
method, with ``pipeline.evaluate``:

- ``auc``; ``fpr``, the false-positive rate at which efficiency is measured (1e-2, or the
  smallest one the set's noise supports); ``snr@50%``, ``snr@90%``: the network SNR at 50% and
  90% detection efficiency at that rate, on the set's own threshold;
- ``noise_fpr``: the rate of the set's noise above the threshold set on the *stationary* set's
  noise at that rate (a network that reads loud noise as signal shows it here);
  ``glitch_fpr``: the same for the glitch-carrying noise only;

then the ratios: network / matched filter SNR at 50% per set, each method's varying /
stationary and glitch / stationary SNR at 50%, glitch-carrying / clean (stationary) FPR, and
each network's stationary AUC against ``none:stationary`` (the model of the old defaults), with
the standard deviation of that difference over paired bootstrap resamples of the test samples.
The networks' scores are saved in ``OUT/predictions/<set>/<variant>.csv``.

    python bench/robustness.py --n-train 8000 --n-test 2000 --epochs 6 --variants \\
        none:stationary sample-psd:stationary sample-psd:nonstationary none:nonstationary

``--n-test 2000`` gives 1000 noise samples per set: enough for FPR 1e-2. Re-running with the
same ``--out`` reuses the data, caches, finished runs and matched-filter scores.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.auc_stats import paired_auc_difference
from pipeline.config import (
    AugmentConfig,
    BankConfig,
    EvaluateConfig,
    MatchedFilterConfig,
    PredictConfig,
    TrainConfig,
)
from pipeline.evaluate import (
    align_scores,
    evaluate,
    fpr_threshold,
    noise_conditions,
    read_predictions,
)
from pipeline.matched_filter import run_matched_filter
from pipeline.predict import predict
from pipeline.train import fit
from preprocess.build import build_cache
from preprocess.config import NORMALIZATIONS, BuildOptions, NormalizeConfig
from preprocess.devices import resolve_device
from preprocess.layout import read_labels
from preprocess.provenance import atomic_path, write_json_atomic
from preprocess.simulate import SimulationConfig, simulate

log = logging.getLogger("robustness")

TEST_SETS = ("stationary", "varying", "glitch")
TRAIN_NOISES = ("stationary", "nonstationary")
MF = "matched_filter"
REFERENCE = "none:stationary"  # the model of the old defaults


def parse_variant(text: str) -> tuple[str, str]:
    """``NORMALIZE[:TRAIN_NOISE]`` -> (normalisation, training noise); noise defaults to
    stationary."""
    method, _, noise = text.partition(":")
    noise = noise or "stationary"
    if method not in NORMALIZATIONS or noise not in TRAIN_NOISES:
        raise argparse.ArgumentTypeError(
            f"variant {text!r}: expected NORMALIZE:TRAIN_NOISE with NORMALIZE one of "
            f"{', '.join(NORMALIZATIONS)} and TRAIN_NOISE one of {', '.join(TRAIN_NOISES)}")
    return method, noise


def _slug(variant: str) -> str:
    """A variant as a file or folder name: ``none:stationary`` -> ``none-stationary``."""
    return variant.replace(":", "-")


def noise_options(name: str, args: argparse.Namespace) -> dict:
    """Simulator options of a noise condition: stationary, varying, glitch or both."""
    scale = {"psd_scale_min": args.psd_scale[0], "psd_scale_max": args.psd_scale[1]}
    glitches = {"glitch_rate": args.glitch_rate}
    return {"stationary": {}, "varying": scale, "glitch": glitches,
            "nonstationary": scale | glitches}[name]


def simulate_once(config: SimulationConfig, out: Path) -> Path:
    """``simulate`` into ``out`` unless it already holds this configuration."""
    record = out / "simulation.json"
    if record.is_file() and json.loads(record.read_text()).get("config") == config.to_dict():
        return out
    return simulate(config, out, overwrite=True, progress=False)


def simulate_sets(out: Path, args: argparse.Namespace) -> tuple[dict[str, Path], dict[str, Path]]:
    """The training data of each training noise the variants use and the test data of each
    set (same seed: same signals and noise)."""
    train = {noise: simulate_once(SimulationConfig(n_train=args.n_train, n_test=0,
                                                   seed=args.seed, **noise_options(noise, args)),
                                  out / "data" / f"train-{noise}")
             for noise in sorted({noise for _, noise in args.variants})}
    tests = {name: simulate_once(SimulationConfig(n_train=0, n_test=args.n_test, seed=args.seed,
                                                  **noise_options(name, args)),
                                 out / "data" / name)
             for name in TEST_SETS}
    return train, tests


def build_caches(out: Path, train: Path, tests: dict[str, Path], method: str, noise: str,
                 device: str) -> tuple[Path, dict[str, Path]]:
    """Training cache and one test cache per set, all with normalisation ``method`` and the
    PSD of the ``noise`` training set."""
    root = out / "cache" / f"{method}-{noise}"
    options = BuildOptions(progress=False, device=device)
    normalize = NormalizeConfig(method=method)
    build_cache(train, "train", root / "train", options=options, normalize=normalize)
    for name, data in tests.items():
        build_cache(data, "test", root / name, options=options, psd_from=root / "train",
                    normalize=normalize)
    return root / "train", {name: root / name for name in tests}


def train_model(out: Path, cache: Path, variant: str, args: argparse.Namespace) -> Path:
    """``best.pt`` of the run for ``variant``: ``--run``, a finished run, or a new one."""
    if args.run:
        return Path(args.run) / "best.pt"
    run_dir = out / "runs" / f"{args.model}-{_slug(variant)}"
    metrics = run_dir / "metrics.csv"
    if (run_dir / "best.pt").is_file() and metrics.is_file() and len(
            pd.read_csv(metrics)) >= args.epochs:
        return run_dir / "best.pt"
    config = TrainConfig(
        cache=str(cache), model=args.model, model_kwargs={"stem": "imagenet"},
        epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, device=args.device,
        out=str(run_dir), in_memory=True, patience=0, progress=False, augment=AugmentConfig(),
        resume=(run_dir / "last.pt").is_file(),
    )
    return fit(config).best_path


def network_scores(out: Path, name: str, variant: str, cache: Path, checkpoint: Path,
                   data: Path, device: str) -> pd.DataFrame:
    """The network's scores on one test set, as ``pipeline evaluate`` reads them (the logit),
    saved as ``predictions/<set>/<variant>.csv``."""
    path = out / "predictions" / name / f"{_slug(variant)}.csv"
    frame = predict(cache, "test", [checkpoint], PredictConfig(tta=True, device=device),
                    data=data, progress=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return read_predictions(path)


def auc_differences(predictions: dict[str, pd.DataFrame], data: Path,
                    methods: list[str]) -> dict[str, tuple[float, float]]:
    """Each network's AUC minus ``REFERENCE``'s on the same samples, and the standard
    deviation of that difference over paired bootstrap resamples."""
    if REFERENCE not in predictions:
        return {}
    labels = read_labels(data / "test_labels.csv")
    ids, targets = labels["id"].astype(str), labels["target"].to_numpy()
    reference = align_scores(REFERENCE, predictions[REFERENCE], ids)
    return {m: paired_auc_difference(targets, align_scores(m, predictions[m], ids), reference)
            for m in methods if m not in (MF, REFERENCE) and m in predictions}


def matched_filter(out: Path, name: str, data: Path, args: argparse.Namespace) -> pd.DataFrame:
    """Matched-filter scores of one test set (computed once, then read back)."""
    path = out / "mf" / f"{name}.csv"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        config = MatchedFilterConfig(bank=BankConfig(n_templates=args.n_templates),
                                     noise_level="auto")
        run_matched_filter(data, "test", path, config, workers=args.workers, progress=False)
    return read_predictions(path)


def score_set(predictions: dict[str, pd.DataFrame], data: Path,
              thresholds: dict[str, float] | None) -> tuple[dict, dict[str, float], list[dict]]:
    """Evaluate one set: (report, each method's threshold, table rows).

    ``thresholds`` are the stationary set's; None for the stationary set itself, whose own
    thresholds (at the efficiency FPR) are then returned.
    """
    labels = read_labels(data / "test_labels.csv")
    injections = pd.read_csv(data / "injections.csv", dtype={"id": str})
    report = evaluate(predictions, labels, injections, EvaluateConfig())
    ids, targets = labels["id"].astype(str), labels["target"].to_numpy()
    glitch = noise_conditions(labels, injections, str(data)).get("glitch")
    own, rows = {}, []
    for name, frame in predictions.items():
        method = report["methods"][name]
        efficiency = method.get("efficiency") or {}
        scores = align_scores(name, frame, ids)
        noise = targets == 0
        if efficiency.get("fpr") is not None:
            own[name] = fpr_threshold(scores[noise], efficiency["fpr"])
        threshold = (thresholds or own).get(name)
        crossing = efficiency.get("snr_at_efficiency") or {}
        row = {"set": data.name, "method": name, "auc": method["auc"],
               "fpr": efficiency.get("fpr"), "snr@50%": crossing.get("0.5"),
               "snr@90%": crossing.get("0.9"), "noise_fpr": None, "glitch_fpr": None}
        if threshold is not None:
            row["noise_fpr"] = float(np.mean(scores[noise] > threshold))
            if glitch is not None and (glitch & noise).any():
                row["glitch_fpr"] = float(np.mean(scores[glitch & noise] > threshold))
        rows.append(row)
    return report, own, rows


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def ratios(table: pd.DataFrame, methods: list[str],
           differences: dict[str, tuple[float, float]]) -> pd.DataFrame:
    """The target comparisons, one row per method (see the module docstring);
    ``differences``: ``auc_differences`` on the stationary set."""
    cell = table.set_index(["set", "method"])

    def get(name: str, column: str, method: str) -> float | None:
        value = cell.loc[(name, method), column] if (name, method) in cell.index else None
        return None if value is None or pd.isna(value) else float(value)

    rows = []
    for method in methods:
        row = {"method": method}
        for name in TEST_SETS:
            if method != MF:
                row[f"{name}: snr@50% net/mf"] = _ratio(get(name, "snr@50%", method),
                                                        get(name, "snr@50%", MF))
        row["varying/stationary snr@50%"] = _ratio(get("varying", "snr@50%", method),
                                                   get("stationary", "snr@50%", method))
        row["glitch/stationary snr@50%"] = _ratio(get("glitch", "snr@50%", method),
                                                  get("stationary", "snr@50%", method))
        row["glitch/clean fpr"] = _ratio(get("glitch", "glitch_fpr", method),
                                         get("stationary", "noise_fpr", method))
        if method in differences:
            row[f"stationary auc - {REFERENCE}"], row["  ± (paired bootstrap)"] = \
                differences[method]
        rows.append(row)
    return pd.DataFrame(rows).set_index("method").astype(float).T  # None -> NaN, printed "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--n-test", type=int, default=2000, help="per test set")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", nargs="+", type=parse_variant,
                        default=[("none", "stationary"), ("sample-psd", "stationary")],
                        metavar="NORMALIZE:TRAIN_NOISE",
                        help="one model each: a build-cqt --normalize and the training noise "
                             "(stationary, or nonstationary: the varying set's PSD scales and "
                             "the glitch rate)")
    parser.add_argument("--run", default=None,
                        help="reuse this finished run directory (one variant only)")
    parser.add_argument("--psd-scale", type=float, nargs=2, default=(0.5, 2.0),
                        metavar=("MIN", "MAX"))
    parser.add_argument("--glitch-rate", type=float, default=1.0)
    parser.add_argument("--n-templates", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="matched-filter processes")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="runs/robustness")
    args = parser.parse_args()
    if args.run and len(args.variants) != 1:
        parser.error("--run reuses one model: give one variant")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    out, start, steps = Path(args.out), time.perf_counter(), {}
    train, tests = simulate_sets(out, args)
    steps["simulate"] = time.perf_counter() - start
    predictions: dict[str, dict[str, pd.DataFrame]] = {name: {} for name in TEST_SETS}
    device = str(resolve_device(args.device))
    names = [f"{method}:{noise}" for method, noise in args.variants]
    for variant, (method, noise) in zip(names, args.variants, strict=True):
        t = time.perf_counter()
        train_cache, test_caches = build_caches(out, train[noise], tests, method, noise,
                                                args.device)
        steps[f"build {variant}"] = time.perf_counter() - t
        t = time.perf_counter()
        checkpoint = train_model(out, train_cache, variant, args)
        steps[f"train {variant}"] = time.perf_counter() - t
        for name, cache in test_caches.items():
            predictions[name][variant] = network_scores(out, name, variant, cache, checkpoint,
                                                        tests[name], device)
    t = time.perf_counter()
    for name, data in tests.items():
        predictions[name][MF] = matched_filter(out, name, data, args)
    steps["matched filter"] = time.perf_counter() - t

    reports, rows = {}, []
    reports["stationary"], thresholds, set_rows = score_set(predictions["stationary"],
                                                            tests["stationary"], None)
    rows += set_rows
    for name in TEST_SETS[1:]:
        reports[name], _, set_rows = score_set(predictions[name], tests[name], thresholds)
        rows += set_rows
    table = pd.DataFrame(rows)
    summary = ratios(table, [*names, MF],
                     auc_differences(predictions["stationary"], tests["stationary"], names))
    write_json_atomic(out / "robustness.json", {
        "args": vars(args), "table": table.to_dict(orient="records"),
        "ratios": summary.reset_index().to_dict(orient="records"), "reports": reports})

    print(f"\nrobustness: n_train={args.n_train} n_test={args.n_test} per "
          f"set, epochs={args.epochs}, model={args.model}, psd scale {args.psd_scale[0]:g}-"
          f"{args.psd_scale[1]:g}, glitch rate {args.glitch_rate:g} "
          f"({', '.join(f'{k} {v:.0f} s' for k, v in steps.items())})")
    print(table.set_index(["set", "method"]).to_string(float_format=_fmt, na_rep="-"))
    print()
    print(summary.to_string(float_format=_fmt, na_rep="-"))
    print(f"\nreport: {out / 'robustness.json'}")


if __name__ == "__main__":
    main()
