"""The learning curve against the matched filter, and what to train on, at equal CPU time.

Trains ResNet18 (the README's recipe for real noise: three detectors, each detector's PSD level
log-uniform in [0.5, 2] per sample, one glitch per sample on average) at each of ``--sizes``
training samples for ``--epochs`` epochs on a fixed CQT cache, and at ``--mix-size`` with
training images made anew every step from a mixing pool (``preprocess pool``,
``pipeline train --pool``), once per ``--mix`` recipe (``NAME:SNR[:SPREAD]``: the SNR
distribution ``uniform`` (the cache's [2, 16]), ``powerlaw`` or ``curriculum``, and the detector
sensitivity spread). Every model and the matched filter (200 templates, the true PSD) score the
same test sets, each whitened by its own noise (``--psd-from-split``):

- ``own``: the training recipe's noise levels without glitches, another seed (the 2-s matched
  filter has no chi-squared: on glitch-free noise it is the optimal reference);
- ``unequal``: the same signals and noise levels, the detectors coloured by other published
  curves (``UNEQUAL``, none of them a training curve): H1 at a design sensitivity, L1 and V1
  at early, far less sensitive ones, so that most signals put most of their SNR^2 in one
  detector, as real networks do;
- ``glitch``: the training recipe's noise with glitches; its noise samples give each method's
  FPR at the ``own`` set's threshold at FPR 1e-2 (a model that reads glitches as signals
  shows it here).

Per model and set: ROC AUC +- its standard error; the share of the matched filter's sensitive
distance, ``SNR_50(matched filter) / SNR_50(model)`` at FPR 1e-2 (each method's own noise
threshold), +- its standard deviation over paired bootstrap resamples of the test set; each
pool recipe's share minus the fixed cache's at the same size, +- the standard deviation of
that difference over paired resamples; efficiency against the largest single-detector share of
the SNR^2 (network SNR 8-13), as a share of the matched filter's; the glitch set's FPR;
training minutes (wall clock on this machine). The fitted trend of the distance share against
log2 of the training size says which size reaches 95%. Figure: ``--figure``.

    python bench/learning_curve.py --out runs/learning --sizes 4000 8000 16000 --epochs 6

A second run with the same ``--out`` reuses every finished step.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger("bench.learning_curve")
FPR = 1e-2
RECIPE = {"psd_scale_min": 0.5, "psd_scale_max": 2.0, "glitch_rate": 1.0}
CLEAN = RECIPE | {"glitch_rate": 0.0}
UNEQUAL = {"psd_h1": "aLIGODesignSensitivityT1800044",
           "psd_l1": "aLIGOEarlyLowSensitivityP1200087",
           "psd_v1": "AdVEarlyLowSensitivityP1200087"}
SHARE_EDGES = (1 / 3, 0.5, 0.75, 0.9, 1.0 + 1e-9)  # largest single-detector share of SNR^2
SNR_BAND = (8.0, 13.0)  # network SNR of the signals the share table counts
MF = "matched filter"


# --- data, caches, runs ------------------------------------------------------------------------

def simulated(out: Path, name: str, n_train: int, n_test: int, seed: int,
              **options: object) -> Path:
    """A simulated data set, made once."""
    from preprocess.simulate import SimulationConfig, simulate

    folder = out / "data" / name
    if (folder / "simulation.json").is_file():
        return folder
    config = SimulationConfig(n_train=n_train, n_test=n_test, seed=seed, **options)
    return simulate(config, folder, progress=False)


def cache(data: Path, split: str, folder: Path, own_psd: bool) -> Path:
    """The CQT cache of ``split`` (built once); test splits whitened by their own noise."""
    from preprocess.build import build_cache
    from preprocess.config import BuildOptions

    if not (folder / "manifest.json").is_file():
        build_cache(data, split, folder, options=BuildOptions(progress=False),
                    psd_from_split=own_psd)
    return folder


def train(run: Path, train_cache: Path, epochs: int, pool: Path | None = None,
          mix: dict | None = None) -> tuple[Path, float]:
    """``(best.pt, training minutes)`` of a ResNet18 run, trained once."""
    from pipeline.training.config import MixConfig, TrainConfig
    from pipeline.training.loop import fit

    timing = run / "minutes.json"
    if (run / "best.pt").is_file() and timing.is_file():
        return run / "best.pt", json.loads(timing.read_text())["minutes"]
    config = TrainConfig(cache=str(train_cache), model="resnet18",
                         model_kwargs={"stem": "imagenet"}, epochs=epochs, out=str(run),
                         patience=0, progress=False, in_memory=True,
                         pool=str(pool or ""), mix=MixConfig(**(mix or {})))
    start = time.perf_counter()
    fit(config)
    minutes = (time.perf_counter() - start) / 60
    timing.write_text(json.dumps({"minutes": minutes}))
    return run / "best.pt", minutes


def model_scores(path: Path, test_cache: Path, data: Path, checkpoint: Path) -> pd.Series:
    """The model's logits on a test set (with the LIGO-swap TTA), by id; saved once."""
    from pipeline.classifier.config import PredictConfig
    from pipeline.classifier.predict import predict

    if not path.is_file():
        frame = predict(test_cache, "test", [checkpoint], PredictConfig(tta=True), data=data,
                        progress=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
    return _scores(path)


def mf_scores(path: Path, data: Path) -> pd.Series:
    """The matched filter's network SNR on a test set (its true PSD); saved once."""
    from pipeline.bank.config import BankConfig
    from pipeline.baseline.config import MatchedFilterConfig
    from pipeline.baseline.matched_filter import run_matched_filter

    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        run_matched_filter(data, "test", path, MatchedFilterConfig(
            bank=BankConfig(n_templates=200), noise_level="auto"), workers=2, progress=False)
    return _scores(path)


def _scores(path: Path) -> pd.Series:
    from pipeline.evaluate.metrics import read_predictions

    return read_predictions(path).set_index("id")["target"].astype(float)  # the logit


# --- figures -----------------------------------------------------------------------------------

def snr50(scores: np.ndarray, targets: np.ndarray, snr: np.ndarray) -> float:
    """Network SNR at 50% efficiency at FPR 1e-2 on the set's own noise threshold."""
    from pipeline.evaluate.config import EvaluateConfig
    from pipeline.evaluate.metrics import efficiency_curve, fpr_threshold, snr_at_efficiency

    threshold = fpr_threshold(scores[targets == 0], FPR)
    signal = targets == 1
    bins = efficiency_curve(scores[signal] > threshold, snr[signal], EvaluateConfig())
    value = snr_at_efficiency(bins, 0.5)
    return np.nan if value is None else value


def distance_share(model: np.ndarray, mf: np.ndarray, targets: np.ndarray, snr: np.ndarray,
                   boots: int, seed: int = 0) -> tuple[float, float]:
    """``SNR_50(mf) / SNR_50(model)`` and its standard deviation over paired bootstrap
    resamples (noise and signals resampled separately, the same draws for both methods)."""
    value = snr50(mf, targets, snr) / snr50(model, targets, snr)
    rng = np.random.default_rng(seed)
    noise, signal = np.flatnonzero(targets == 0), np.flatnonzero(targets == 1)
    draws = []
    for _ in range(boots):
        rows = np.r_[rng.choice(noise, len(noise)), rng.choice(signal, len(signal))]
        draws.append(snr50(mf[rows], targets[rows], snr[rows])
                     / snr50(model[rows], targets[rows], snr[rows]))
    return float(value), float(np.nanstd(draws))


def share_difference(model: np.ndarray, reference: np.ndarray, mf: np.ndarray,
                     targets: np.ndarray, snr: np.ndarray, boots: int,
                     seed: int = 1) -> tuple[float, float]:
    """``model``'s distance share minus ``reference``'s and its standard deviation over paired
    bootstrap resamples of the test set (the same draws for all three methods)."""
    def difference(rows: np.ndarray) -> float:
        base = snr50(mf[rows], targets[rows], snr[rows])
        return (base / snr50(model[rows], targets[rows], snr[rows])
                - base / snr50(reference[rows], targets[rows], snr[rows]))

    rng = np.random.default_rng(seed)
    noise, signal = np.flatnonzero(targets == 0), np.flatnonzero(targets == 1)
    draws = [difference(np.r_[rng.choice(noise, len(noise)), rng.choice(signal, len(signal))])
             for _ in range(boots)]
    return difference(np.arange(len(targets))), float(np.nanstd(draws))


def share_table(scores: dict[str, np.ndarray], targets: np.ndarray, snr: np.ndarray,
                share: np.ndarray) -> pd.DataFrame:
    """Efficiency at FPR 1e-2 per bin of the largest single-detector share of SNR^2, signals
    of network SNR in ``SNR_BAND``: ``n``, then per method efficiency and its binomial SE."""
    from pipeline.evaluate.metrics import fpr_threshold

    band = (targets == 1) & (snr >= SNR_BAND[0]) & (snr < SNR_BAND[1])
    rows = []
    for low, high in zip(SHARE_EDGES[:-1], SHARE_EDGES[1:], strict=True):
        inside = band & (share >= low) & (share < high)
        row: dict[str, float] = {"share_low": low, "share_high": min(high, 1.0),
                                 "n": int(inside.sum())}
        for name, values in scores.items():
            detected = values[inside] > fpr_threshold(values[targets == 0], FPR)
            p = float(detected.mean()) if inside.any() else np.nan
            row[name] = p
            row[f"{name} se"] = float(np.sqrt(p * (1 - p) / max(inside.sum(), 1)))
        rows.append(row)
    return pd.DataFrame(rows)


def set_figures(name: str, data: Path, scores: dict[str, pd.Series], boots: int,
                pairs: dict[str, str] | None = None) -> dict:
    """Every method's figures on one test set (module docstring); ``pairs`` maps a model to the
    one its share is compared with, paired (``share_difference``)."""
    from sklearn.metrics import roc_auc_score

    from pipeline.evaluate.auc_stats import auc_standard_error
    from pipeline.evaluate.metrics import fpr_threshold
    from preprocess.layout import read_labels

    labels = read_labels(data / "test_labels.csv")
    injections = pd.read_csv(data / "injections.csv", dtype={"id": str}).set_index("id")
    ids = labels["id"].astype(str)
    targets = labels["target"].to_numpy()
    injections = injections.loc[ids]
    snr = injections["snr_network"].fillna(0).to_numpy()
    detectors = [c for c in injections.columns if c.startswith("snr_") and c != "snr_network"]
    power = injections[detectors].fillna(0).to_numpy() ** 2
    share = power.max(axis=1) / np.maximum(power.sum(axis=1), 1e-30)
    aligned = {m: s.loc[ids].to_numpy() for m, s in scores.items()}
    table = share_table(aligned, targets, snr, share)
    result: dict = {"set": name, "methods": {}, "share_table": table.to_dict("records")}
    for method, values in aligned.items():
        auc = float(roc_auc_score(targets, values))
        row = {"auc": auc, "auc_se": auc_standard_error(targets, values),
               "snr50": snr50(values, targets, snr),
               "threshold": fpr_threshold(values[targets == 0], FPR)}
        if method != MF:
            row["distance_share"], row["distance_share_sd"] = distance_share(
                values, aligned[MF], targets, snr, boots)
            unequal = table[table["share_low"] >= 0.75]
            model_k = float((unequal[method] * unequal["n"]).sum())
            mf_k = float((unequal[MF] * unequal["n"]).sum())
            row["one_detector_vs_mf"] = model_k / mf_k if mf_k else None
        result["methods"][method] = row
    for method, reference in (pairs or {}).items():
        result["methods"][method]["share_minus_" + reference] = share_difference(
            aligned[method], aligned[reference], aligned[MF], targets, snr, boots)
    return result


def glitch_fpr(data: Path, scores: dict[str, pd.Series], own: dict) -> dict[str, float]:
    """Each method's rate of glitch-set noise above its ``own``-set threshold at FPR 1e-2."""
    from preprocess.layout import read_labels

    labels = read_labels(data / "test_labels.csv")
    noise = labels.loc[labels["target"] == 0, "id"].astype(str)
    return {m: float(np.mean(s.loc[noise].to_numpy() > own[m]["threshold"]))
            for m, s in scores.items()}


def fitted_size(sizes: list[int], shares: list[float], target: float = 0.95) -> float | None:
    """The training size at which a straight line in log2(size) reaches ``target``."""
    if len(sizes) < 2:
        return None
    slope, intercept = np.polyfit(np.log2(sizes), shares, 1)
    return float(2 ** ((target - intercept) / slope)) if slope > 0 else None


def plot(report: dict, path: Path) -> None:
    """Distance share against training size (error bars, the pool recipes beside it) and
    efficiency against the largest single-detector SNR^2 share on the unequal set."""
    from matplotlib.figure import Figure

    from runtime.figures import save_figure

    fig = Figure(figsize=(12, 6.2))
    left, right = fig.subplots(1, 2)
    for set_name, marker in (("own", "o"), ("unequal", "s")):
        rows = [r for r in report["models"] if r["kind"] == "cache"]
        left.errorbar([r["size"] for r in rows],
                      [r["sets"][set_name]["distance_share"] for r in rows],
                      yerr=[r["sets"][set_name]["distance_share_sd"] for r in rows],
                      marker=marker, capsize=3, label=f"fixed cache, {set_name} set")
        for k, r in enumerate(x for x in report["models"] if x["kind"] == "pool"):
            left.errorbar(r["size"] * (1.04 + 0.04 * k), r["sets"][set_name]["distance_share"],
                          yerr=r["sets"][set_name]["distance_share_sd"], marker=marker,
                          linestyle="none", capsize=3, label=f"{r['name']}, {set_name} set")
    left.axhline(1.0, color="k", linestyle="--", label="matched filter")
    left.axhline(0.95, color="0.6", linestyle=":", label="95% of the matched filter")
    sizes = [r["size"] for r in report["models"]]
    left.set(xscale="log", xlim=(min(sizes) / 1.3, max(sizes) * 1.3),
             xlabel="training samples (ResNet18)",
             ylabel="share of the matched filter's distance (FPR 1e-2)",
             title="Learning curve")
    left.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3)
    table = pd.DataFrame(report["sets"]["unequal"]["share_table"])
    centres = (table["share_low"] + table["share_high"]) / 2
    for k, method in enumerate([MF, *(r["name"] for r in report["models"])]):
        right.errorbar(centres + 0.006 * k, table[method], yerr=table[f"{method} se"], marker="o",
                       capsize=3, label=method,
                       color="k" if method == MF else None,
                       linestyle="--" if method == MF else "-")
    right.set(xlabel="largest single-detector share of SNR^2",
              ylabel=f"efficiency at FPR 1e-2, network SNR {SNR_BAND[0]:g}-{SNR_BAND[1]:g}",
              title="Unequal detectors (held-out curves)", ylim=(0, 1.05))
    right.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3)
    fig.tight_layout()
    save_figure(fig, path)


# --- main --------------------------------------------------------------------------------------

def parse_mix(text: str) -> tuple[str, dict]:
    """``NAME:SNR[:SPREAD]`` -> (name, MixConfig keywords)."""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME:SNR[:SPREAD]")
    mix: dict = {"snr": parts[1]}
    if len(parts) == 3:
        mix["detector_spread"] = float(parts[2])
    return parts[0], mix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/learning"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 8000, 16000])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--mix-size", type=int, default=8000)
    parser.add_argument("--mix", type=parse_mix, nargs="*",
                        default=[("pool", {"snr": "uniform"}),
                                 ("pool-unequal", {"snr": "uniform", "detector_spread": 4.0})])
    parser.add_argument("--n-test", type=int, default=2000, help="per test set")
    parser.add_argument("--boots", type=int, default=200)
    parser.add_argument("--figure", type=Path, default=Path("docs/learning-curve.png"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    out, started = args.out, time.perf_counter()

    tests = {"own": simulated(out, "test-own", 0, args.n_test, 101, **CLEAN),
             "unequal": simulated(out, "test-unequal", 0, args.n_test, 101, **CLEAN, **UNEQUAL),
             "glitch": simulated(out, "test-glitch", 0, args.n_test, 102, **RECIPE)}
    test_caches = {n: cache(d, "test", out / "cache" / f"test-{n}", True) for n, d in tests.items()}
    scores: dict[str, dict[str, pd.Series]] = {
        n: {MF: mf_scores(out / "scores" / n / "mf.csv", d)} for n, d in tests.items()}
    log.info("test sets and matched filter ready (%.0f s)", time.perf_counter() - started)

    models = []
    runs = [("cache", f"n{size}", size, None) for size in args.sizes]
    runs += [("pool", name, args.mix_size, mix) for name, mix in args.mix]
    for kind, name, size, mix in runs:
        data = simulated(out, f"train-{size}", size, 0, 26, **RECIPE)
        train_cache = cache(data, "train", out / "cache" / f"train-{size}", False)
        pool = None
        if kind == "pool":
            from preprocess.pool import build_pool

            pool = out / "pool" / f"train-{size}.h5"
            if not pool.is_file():
                pool.parent.mkdir(parents=True, exist_ok=True)
                build_pool(data, "train", pool, workers=2, progress=False)
        best, minutes = train(out / "runs" / name, train_cache, args.epochs, pool, mix)
        for set_name, data_set in tests.items():
            scores[set_name][name] = model_scores(out / "scores" / set_name / f"{name}.csv",
                                                  test_caches[set_name], data_set, best)
        models.append({"name": name, "kind": kind, "size": size, "mix": mix,
                       "minutes": minutes})
        log.info("%s: %d samples, %.1f min (%.0f s)", name, size, minutes,
                 time.perf_counter() - started)

    by_size = {m["size"]: m["name"] for m in models if m["kind"] == "cache"}
    pairs = {m["name"]: by_size[m["size"]] for m in models
             if m["kind"] == "pool" and m["size"] in by_size}
    sets = {n: set_figures(n, tests[n], scores[n], args.boots, pairs)
            for n in ("own", "unequal")}
    glitch = glitch_fpr(tests["glitch"], scores["glitch"], sets["own"]["methods"])
    for model in models:
        model["sets"] = {n: sets[n]["methods"][model["name"]] for n in sets}
        model["glitch_fpr"] = glitch[model["name"]]
    cached = [m for m in models if m["kind"] == "cache"]
    report = {"epochs": args.epochs, "n_test": args.n_test, "models": models, "sets": sets,
              "glitch_fpr": glitch,
              "size_for_95": {n: fitted_size([m["size"] for m in cached],
                                             [m["sets"][n]["distance_share"] for m in cached])
                              for n in sets},
              "seconds": time.perf_counter() - started}
    (out / "report.json").write_text(json.dumps(report, indent=2, default=float))
    plot(report, args.figure)
    lines = [f"{'model':14s} {'size':>6s} {'min':>5s} " + " ".join(
        f"{n + ' AUC':>16s} {n + ' share':>16s} {n + ' 1-det/MF':>12s}"
        for n in sets) + "  glitch FPR"]
    for m in models:
        cells = []
        for n in sets:
            s = m["sets"][n]
            one = s["one_detector_vs_mf"]
            cells.append(f"{s['auc']:.4f}+-{s['auc_se']:.4f}  "
                         f"{s['distance_share']:.3f}+-{s['distance_share_sd']:.3f}  "
                         f"{one if one is None else round(one, 3)!s:>12s}")
        lines.append(f"{m['name']:14s} {m['size']:6d} {m['minutes']:5.1f} " + " ".join(cells)
                     + f"  {m['glitch_fpr']:.4f}")
    for n in sets:
        mf = sets[n]["methods"][MF]
        lines.append(f"{MF} on {n}: AUC {mf['auc']:.4f}+-{mf['auc_se']:.4f}, SNR50 "
                     f"{mf['snr50']:.2f}, glitch FPR {glitch[MF]:.4f}")
        lines.append(pd.DataFrame(sets[n]["share_table"]).round(3).to_string(index=False))
    for name, reference in pairs.items():
        lines.append(f"{name} - {reference}, paired: " + ", ".join(
            "{}: {:+.3f} +- {:.3f}".format(n, *sets[n]["methods"][name]["share_minus_" + reference])
            for n in sets))
    lines.append(f"training size for 95% (log2 fit): {report['size_for_95']}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
