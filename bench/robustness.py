"""Robustness benchmark: network and matched filter on stationary, level-varying and glitch noise,
and on noise of spectra no training set used.

Simulates one training set per training noise and test sets of the same size and seed, so that
they hold the same signals: ``stationary`` (every sample's PSD the nominal design one),
``varying`` (each detector's PSD scaled per sample, log-uniform in ``--psd-scale``), ``glitch``
(``--glitch-rate`` glitches per sample, Poisson), and the same on *held-out* spectra
(``HELDOUT_CURVES``: lalsimulation curves that no training noise draws from, their levels
matched to the design curves'): ``heldout``, ``heldout-varying`` (levels in
``--heldout-psd-scale``) and ``heldout-glitch``. Each ``--variants`` entry
``NORMALIZE:TRAIN_NOISE[@PSD]`` is one model: the CQT caches built with that ``--normalize``
and PSD estimate (``@plain-mean``: the mean of every periodogram, as gwspec did before the
glitch gate; default: today's), trained on ``stationary`` training noise, ``nonstationary``
noise (the varying set's PSD scales *and* the glitch rate) or ``shapes`` (nonstationary, and
each sample's spectrum drawn from ``TRAINING_FAMILIES`` and distorted, ``--psd-distortion``);
``--run`` reuses a finished run for a single variant. Every test set is predicted twice: whitened
with the training cache's PSD (the method's name) and with its own PSD, estimated from all
its samples (``NAME/own-psd``: ``build-cqt --psd-from-split``, as a search whitens by the
data around). The matched filter (``noise_level auto``) whitens with each set's true PSD. Per
test set and method, with ``pipeline.evaluate``:

- ``auc``; ``fpr``, the false-positive rate at which efficiency is measured (1e-2, or the
  smallest one the set's noise supports); ``snr@50%``, ``snr@90%``: the network SNR at 50% and
  90% detection efficiency at that rate, on the set's own threshold;
- ``noise_fpr``: the rate of the set's noise above the threshold set on the *stationary* set's
  noise at that rate (a network that reads loud noise as signal shows it here);
  ``glitch_fpr``: the same for the glitch-carrying noise only;
- ``noise_logit``: the median score of the set's noise (a spectrum the model never saw moves
  the whole noise distribution: the shift against ``stationary`` is in the ratios);

then the ratios: each method's share of the matched filter's sensitive distance per set (its
SNR at 50% over the network's), each method's varying / stationary and glitch / stationary SNR
at 50%, its distance on held-out spectra as a share of its distance on the training spectrum,
its median noise-logit shift, glitch-carrying / clean (stationary) FPR, and each network's
stationary AUC against ``--reference`` (default ``none:stationary``, the model of the old
defaults), with the standard deviation of that difference over paired bootstrap resamples of
the test samples. The networks' scores are saved in ``OUT/predictions/<set>/<variant>.csv``.

    python bench/robustness.py --n-train 8000 --n-test 2000 --epochs 6 \\
        --variants sample-psd:stationary@plain-mean sample-psd:nonstationary@plain-mean \\
        sample-psd:shapes --reference sample-psd:stationary@plain-mean

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

from pipeline.bank.config import BankConfig
from pipeline.baseline.config import MatchedFilterConfig
from pipeline.baseline.matched_filter import run_matched_filter
from pipeline.classifier.config import PredictConfig
from pipeline.classifier.predict import predict
from pipeline.evaluate.auc_stats import paired_auc_difference
from pipeline.evaluate.config import EvaluateConfig
from pipeline.evaluate.metrics import (
    align_scores,
    evaluate,
    fpr_threshold,
    noise_conditions,
    read_predictions,
)
from pipeline.training.config import AugmentConfig, TrainConfig
from pipeline.training.loop import fit
from preprocess.build import build_cache
from preprocess.config import NORMALIZATIONS, BuildOptions, NormalizeConfig, WhitenConfig
from preprocess.layout import read_labels
from preprocess.simulate import SimulationConfig, simulate
from runtime.devices import resolve_device
from runtime.provenance import atomic_path, write_json_atomic

log = logging.getLogger("robustness")

TRAIN_NOISES = ("stationary", "nonstationary", "shapes")
PSD_ESTIMATES = {"": WhitenConfig(), "plain-mean": WhitenConfig(psd_average="mean",
                                                                 psd_gate=False)}
# Spectra of the held-out test sets: published curves that no training noise draws from, at
# most +-50-75% off the design curves in power below 70 Hz, within ~10% above 100 Hz.
HELDOUT_CURVES = {"psd_h1": "aLIGODesignSensitivityT1800044",
                  "psd_l1": "aLIGODesignSensitivityT1800044",
                  "psd_v1": "AdVO4IntermediateT1800545"}
# Curves the ``shapes`` training noise mixes in (none equal to a held-out one).
TRAINING_FAMILIES = {
    "psd_family_ligo": ("aLIGOO3LowT1800545", "aLIGO140MpcT1800545",
                        "aLIGOLateHighSensitivityP1200087", "aLIGOEarlyHighSensitivityP1200087",
                        "aLIGOZeroDetHighPower"),
    "psd_family_virgo": ("AdVO3LowT1800545", "AdVMidHighSensitivityP1200087",
                         "AdVLateHighSensitivityP1200087"),
}
MF = "matched_filter"
OWN = "/own-psd"  # suffix of a method whose test caches are whitened by their own PSD


def parse_variant(text: str) -> tuple[str, str, str]:
    """``NORMALIZE[:TRAIN_NOISE][@PSD]`` -> (normalisation, training noise, PSD estimate)."""
    rest, _, psd = text.partition("@")
    method, _, noise = rest.partition(":")
    noise = noise or "stationary"
    if method not in NORMALIZATIONS or noise not in TRAIN_NOISES or psd not in PSD_ESTIMATES:
        raise argparse.ArgumentTypeError(
            f"variant {text!r}: expected NORMALIZE:TRAIN_NOISE[@PSD] with NORMALIZE one of "
            f"{', '.join(NORMALIZATIONS)}, TRAIN_NOISE one of {', '.join(TRAIN_NOISES)} and PSD "
            f"plain-mean or nothing")
    return method, noise, psd


def _slug(variant: str) -> str:
    """A variant as a file or folder name: ``none:stationary@x`` -> ``none-stationary-x``."""
    return variant.replace(":", "-").replace("@", "-").replace("/", "-")


def test_sets(args: argparse.Namespace) -> dict[str, dict]:
    """Simulator options of each test set."""
    scale = {"psd_scale_min": args.psd_scale[0], "psd_scale_max": args.psd_scale[1]}
    wide = {"psd_scale_min": args.heldout_psd_scale[0],
            "psd_scale_max": args.heldout_psd_scale[1]}
    glitches = {"glitch_rate": args.glitch_rate}
    return {"stationary": {}, "varying": scale, "glitch": glitches,
            "heldout": HELDOUT_CURVES, "heldout-varying": HELDOUT_CURVES | wide,
            "heldout-glitch": HELDOUT_CURVES | glitches}


def noise_options(name: str, args: argparse.Namespace) -> dict:
    """Simulator options of a training noise."""
    scale = {"psd_scale_min": args.psd_scale[0], "psd_scale_max": args.psd_scale[1]}
    glitches = {"glitch_rate": args.glitch_rate}
    shapes = {"psd_shape_mix": 1.0, "psd_distortion": args.psd_distortion, **TRAINING_FAMILIES}
    return {"stationary": {}, "nonstationary": scale | glitches,
            "shapes": scale | glitches | shapes}[name]


def simulate_once(config: SimulationConfig, out: Path) -> Path:
    """``simulate`` into ``out`` unless it already holds this configuration."""
    record = out / "simulation.json"
    if record.is_file() and json.loads(record.read_text()).get("config") == config.to_dict():
        return out
    return simulate(config, out, overwrite=True, progress=False)


def simulate_sets(out: Path, args: argparse.Namespace) -> tuple[dict[str, Path], dict[str, Path]]:
    """The training data of each training noise the variants use and the test data of each
    set (same seed: same signals)."""
    train = {noise: simulate_once(SimulationConfig(n_train=args.n_train, n_test=0,
                                                   seed=args.seed, **noise_options(noise, args)),
                                  out / "data" / f"train-{noise}")
             for noise in sorted({noise for _, noise, _ in args.variants})}
    tests = {name: simulate_once(SimulationConfig(n_train=0, n_test=args.n_test, seed=args.seed,
                                                  **options), out / "data" / name)
             for name, options in test_sets(args).items() if name in args.sets}
    return train, tests


def build_caches(out: Path, train: Path, tests: dict[str, Path], variant: tuple[str, str, str],
                 device: str) -> tuple[Path, dict[str, dict[str, Path]]]:
    """Training cache and two caches per test set: whitened with the training PSD (``""``)
    and with the set's own (``OWN``), all with the variant's normalisation. The training PSD
    is estimated the variant's way; a set's own PSD always today's way (the gated median: the
    best estimate a search has, whatever the model was trained with)."""
    method, noise, psd = variant
    root = out / "cache" / _slug(f"{method}:{noise}@{psd}")
    options = BuildOptions(progress=False, device=device)
    normalize, whiten = NormalizeConfig(method=method), PSD_ESTIMATES[psd]
    build_cache(train, "train", root / "train", whiten=whiten, options=options,
                normalize=normalize)
    caches: dict[str, dict[str, Path]] = {}
    for name, data in tests.items():
        build_cache(data, "test", root / name, whiten=whiten, options=options,
                    psd_from=root / "train", normalize=normalize)
        build_cache(data, "test", root / f"{name}-own", whiten=PSD_ESTIMATES[""],
                    options=options, psd_from_split=True, normalize=normalize)
        caches[name] = {"": root / name, OWN: root / f"{name}-own"}
    return root / "train", caches


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


def network_scores(out: Path, name: str, method: str, cache: Path, checkpoint: Path,
                   data: Path, device: str) -> pd.DataFrame:
    """The network's scores on one test set, as ``pipeline evaluate`` reads them (the logit),
    saved as ``predictions/<set>/<method>.csv`` (computed once, then read back)."""
    path = out / "predictions" / name / f"{_slug(method)}.csv"
    if not path.is_file():
        frame = predict(cache, "test", [checkpoint], PredictConfig(tta=True, device=device),
                        data=data, progress=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False)
    return read_predictions(path)


def auc_differences(predictions: dict[str, pd.DataFrame], data: Path, methods: list[str],
                    reference: str) -> dict[str, tuple[float, float]]:
    """Each network's AUC minus ``reference``'s on the same samples, and the standard
    deviation of that difference over paired bootstrap resamples."""
    if reference not in predictions:
        return {}
    labels = read_labels(data / "test_labels.csv")
    ids, targets = labels["id"].astype(str), labels["target"].to_numpy()
    base = align_scores(reference, predictions[reference], ids)
    return {m: paired_auc_difference(targets, align_scores(m, predictions[m], ids), base)
            for m in methods if m not in (MF, reference) and m in predictions}


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
               "snr@90%": crossing.get("0.9"), "noise_fpr": None, "glitch_fpr": None,
               "noise_logit": float(np.median(scores[noise]))}
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


def ratios(table: pd.DataFrame, methods: list[str], sets: list[str],
           differences: dict[str, tuple[float, float]], reference: str) -> pd.DataFrame:
    """The target comparisons, one column per method (see the module docstring);
    ``differences``: ``auc_differences`` on the stationary set."""
    cell = table.set_index(["set", "method"])

    def get(name: str, column: str, method: str) -> float | None:
        value = cell.loc[(name, method), column] if (name, method) in cell.index else None
        return None if value is None or pd.isna(value) else float(value)

    rows = []
    for method in methods:
        row = {"method": method}
        for name in sets:  # sensitive distance ~ 1 / SNR at the threshold
            if method != MF:
                row[f"{name}: share of mf distance"] = _ratio(get(name, "snr@50%", MF),
                                                              get(name, "snr@50%", method))
        for name in sets:
            if name != "stationary":
                row[f"{name}: distance / stationary's"] = _ratio(
                    get("stationary", "snr@50%", method), get(name, "snr@50%", method))
        for name in sets:
            if name.startswith("heldout"):
                base, shifted = get("stationary", "noise_logit", method), get(
                    name, "noise_logit", method)
                row[f"{name}: noise logit shift"] = (None if base is None or shifted is None
                                                     else shifted - base)
        for name in ("glitch", "heldout-glitch"):
            if name in sets:
                row[f"{name}: glitch/clean fpr"] = _ratio(get(name, "glitch_fpr", method),
                                                          get("stationary", "noise_fpr", method))
        if method in differences:
            row[f"stationary auc - {reference}"], row["  ± (paired bootstrap)"] = \
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
                        default=[("sample-psd", "stationary", "")],
                        metavar="NORMALIZE:TRAIN_NOISE[@PSD]",
                        help="one model each: a build-cqt --normalize, the training noise "
                             "(stationary; nonstationary: the varying set's PSD scales and "
                             "the glitch rate; shapes: nonstationary with spectra drawn from "
                             "curve families and distorted) and @plain-mean for the PSD "
                             "estimate of old (default: today's)")
    parser.add_argument("--sets", nargs="+", default=list(_defaults()),
                        choices=list(_defaults()), help="test sets (default: all)")
    parser.add_argument("--reference", default="none:stationary",
                        help="the variant whose stationary AUC the others are compared with")
    parser.add_argument("--run", default=None,
                        help="reuse this finished run directory (one variant only)")
    parser.add_argument("--psd-scale", type=float, nargs=2, default=(0.5, 2.0),
                        metavar=("MIN", "MAX"))
    parser.add_argument("--heldout-psd-scale", type=float, nargs=2, default=(0.3, 3.0),
                        metavar=("MIN", "MAX"), help="levels of the heldout-varying set")
    parser.add_argument("--psd-distortion", type=float, default=0.3,
                        help="the shapes training noise's spectral distortion (log power)")
    parser.add_argument("--glitch-rate", type=float, default=1.0)
    parser.add_argument("--n-templates", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="matched-filter processes")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="runs/robustness")
    args = parser.parse_args()
    if args.run and len(args.variants) != 1:
        parser.error("--run reuses one model: give one variant")
    if "stationary" not in args.sets:
        parser.error("--sets must include stationary: the thresholds are set on it")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    out, start, steps = Path(args.out), time.perf_counter(), {}
    train, tests = simulate_sets(out, args)
    steps["simulate"] = time.perf_counter() - start
    predictions: dict[str, dict[str, pd.DataFrame]] = {name: {} for name in tests}
    device = str(resolve_device(args.device))
    names, methods = [], []
    for method, noise, psd in args.variants:
        variant = f"{method}:{noise}" + (f"@{psd}" if psd else "")
        names.append(variant)
        t = time.perf_counter()
        train_cache, test_caches = build_caches(out, train[noise], tests, (method, noise, psd),
                                                args.device)
        steps[f"build {variant}"] = time.perf_counter() - t
        t = time.perf_counter()
        checkpoint = train_model(out, train_cache, variant, args)
        steps[f"train {variant}"] = time.perf_counter() - t
        for whitened in ("", OWN):
            methods.append(variant + whitened)
            for name, caches in test_caches.items():
                predictions[name][variant + whitened] = network_scores(
                    out, name, variant + whitened, caches[whitened], checkpoint, tests[name],
                    device)
    t = time.perf_counter()
    for name, data in tests.items():
        predictions[name][MF] = matched_filter(out, name, data, args)
    steps["matched filter"] = time.perf_counter() - t

    reports, rows = {}, []
    reports["stationary"], thresholds, set_rows = score_set(predictions["stationary"],
                                                            tests["stationary"], None)
    rows += set_rows
    for name in [s for s in tests if s != "stationary"]:
        reports[name], _, set_rows = score_set(predictions[name], tests[name], thresholds)
        rows += set_rows
    table = pd.DataFrame(rows)
    summary = ratios(table, [*methods, MF], list(tests),
                     auc_differences(predictions["stationary"], tests["stationary"], methods,
                                     args.reference), args.reference)
    write_json_atomic(out / "robustness.json", {
        "args": vars(args), "heldout_curves": HELDOUT_CURVES,
        "training_families": TRAINING_FAMILIES, "table": table.to_dict(orient="records"),
        "ratios": summary.reset_index().to_dict(orient="records"), "reports": reports})

    print(f"\nrobustness: n_train={args.n_train} n_test={args.n_test} per "
          f"set, epochs={args.epochs}, model={args.model}, psd scale {args.psd_scale[0]:g}-"
          f"{args.psd_scale[1]:g}, glitch rate {args.glitch_rate:g}; held-out spectra "
          f"{HELDOUT_CURVES} ({', '.join(f'{k} {v:.0f} s' for k, v in steps.items())})")
    print(table.set_index(["set", "method"]).to_string(float_format=_fmt, na_rep="-"))
    print()
    print(summary.to_string(float_format=_fmt, na_rep="-"))
    print(f"\nreport: {out / 'robustness.json'}")


def _defaults() -> dict:
    """The names of every test set (the options do not matter for the names)."""
    return test_sets(argparse.Namespace(psd_scale=(1, 1), heldout_psd_scale=(1, 1),
                                        glitch_rate=1.0))


if __name__ == "__main__":
    main()
