"""Real detector data: GW150914 found by both searches and scored by a G2Net model, against the
model's simulated noise and the real noise around the event.

Usage: ``python bench/real.py --out runs/real [--checkpoint RUN/best.pt] [--n-train 8000]
[--epochs 6] [--n-noise 10000]``

1. **The model**: ``--checkpoint`` (an H1-L1 model), else a ResNet18 trained by the README's
   recipe for real noise: ``simulate --detectors H1 L1 --psd-scale-min 0.5 --psd-scale-max 2
   --glitch-rate 1``, ``build-cqt``'s defaults, ``pipeline train --depth 18 --epochs E``.
2. **Simulated noise**: ``--n-noise`` noise-only samples of the same recipe (another seed),
   and as many of stationary Gaussian noise of the design PSDs, each whitened by its own noise
   (``--psd-from-split``); the model's logit thresholds at FPR 1e-2 and 1e-3, and the 2-s
   matched filter's (network SNR, the recorded noise level; no chi-squared, so the recipe's
   glitches set its thresholds).
3. **GW150914 as G2Net samples** (``data/gwosc``, 30 s of H1 and L1 after resampling): the
   2-s sample around the event (``preprocess cut``) and real-noise samples: every pair of
   disjoint 2-s H1 and L1 windows at least ``--guard`` s from the event (the zero-lag pairs and
   time-lagged ones: detector noise is independent at lags of seconds), all whitened by the
   PSD of the 30 s around (the training estimator over the cut samples, ``--psd-from-split``).
   The event's logit and its rank among the real-noise samples; the share of real-noise
   samples above each simulated-noise threshold (the model's FPR on real noise, with its
   binomial error over the disjoint windows), and the same for the matched filter.
4. **Which step matters** (against the Gaussian-noise thresholds): the same with one step of
   the real-data path swapped: the PSD (the training cache's instead of the 30 s around), the
   15-Hz zero-phase high-pass of the strain before it is cut left out (the seismic noise that a
   2-s taper leaks into the band), and the resampler (scipy's default ``resample_poly`` filter
   instead of gwspec's Kaiser FIR).
5. **Both searches on the two files**: the loudest zero-lag trigger, its time against GPS
   1126259462.4 and its statistic against the loudest of the background of time slides within
   the 30 s that do not pair the event's window (windows within ``--guard`` s of it in either
   detector left out), with the number of independent background windows that leaves.
6. **The figure**: the event's whitened strain and CQT images as the model sees them, H1 and L1
   (``--figure``, docs/gw150914.png by default).

Everything goes under ``--out``; a second run reuses what is there.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.demo.real import GPS, shipped_files
from preprocess.layout import N_TIME, sample_path
from preprocess.stream.config import SAMPLE_RATE, ReadOptions
from preprocess.stream.readers import StrainSet

log = logging.getLogger("bench.real")
DETECTORS = ("H1", "L1")
FPRS = (1e-2, 1e-3)
MERGER_OFFSET = 1.55  # s from a sample's start to the event (preprocess cut's default)


# --- the model and simulated noise ---------------------------------------------------------

def train_model(out: Path, n_train: int, epochs: int) -> Path:
    """The README's recipe for real noise, H1 and L1; reused when ``out/r18/best.pt`` is there."""
    from pipeline.training.config import TrainConfig
    from pipeline.training.loop import fit
    from preprocess.build import build_cache
    from preprocess.config import BuildOptions
    from preprocess.simulate import SimulationConfig, simulate

    best = out / "r18" / "best.pt"
    if best.is_file():
        return best
    data = simulate(SimulationConfig(n_train=n_train, n_test=0, detectors=DETECTORS,
                                     psd_scale_min=0.5, psd_scale_max=2.0, glitch_rate=1.0,
                                     seed=26), out / "data", progress=False)
    cache = build_cache(data, "train", out / "cache", options=BuildOptions(progress=False))
    fit(TrainConfig(cache=str(cache.manifest.root), model="resnet18",
                    model_kwargs={"stem": "imagenet"}, epochs=epochs, out=str(out / "r18"),
                    progress=False))
    return best


def simulated_noise(out: Path, n_noise: int, recipe: bool) -> Path:
    """Noise-only samples, another seed: of the training recipe (levels 0.5-2, a glitch per
    sample on average), or stationary Gaussian noise of the design PSDs."""
    from preprocess.simulate import SimulationConfig, simulate

    folder = out / ("noise" if recipe else "noise-gaussian")
    if (folder / "simulation.json").is_file():
        return folder
    noise = {"psd_scale_min": 0.5, "psd_scale_max": 2.0, "glitch_rate": 1.0} if recipe else {}
    return simulate(SimulationConfig(n_train=1, n_test=n_noise, detectors=DETECTORS,
                                     signal_fraction=0.0, seed=27 if recipe else 28, **noise),
                    folder, progress=False)


def scores(data: Path, cache: Path, checkpoint: Path, psd_from: Path | None = None,
           tta: bool = True) -> pd.Series:
    """The model's logits of the test split of ``data`` by id (built whitened by its own
    noise, or by ``psd_from``'s PSD)."""
    from pipeline.classifier.config import PredictConfig
    from pipeline.classifier.predict import predict
    from preprocess.build import build_cache
    from preprocess.config import BuildOptions

    if not (cache / "manifest.json").is_file():
        build_cache(data, "test", cache, psd_from=psd_from, psd_from_split=psd_from is None,
                    options=BuildOptions(progress=False))
    frame = predict(cache, "test", [checkpoint], PredictConfig(tta=tta), data=data,
                    progress=False)
    return frame.set_index("id")["logit"]


def matched_filter(data: Path, out: Path, psd: Path | None, noise_level: str) -> pd.Series:
    """The 2-s matched filter's network SNR of the test split of ``data`` by id."""
    from pipeline.baseline.config import MatchedFilterConfig
    from pipeline.baseline.matched_filter import run_matched_filter
    from preprocess.psd.read import read_psd

    if not out.is_file():
        config = MatchedFilterConfig(noise_level=noise_level)
        run_matched_filter(data, "test", out, config,
                           psd=read_psd(psd, DETECTORS) if psd else None, workers=2,
                           progress=False)
    return pd.read_csv(out, dtype={"id": str}).set_index("id")["target"]


def threshold(noise: np.ndarray, fpr: float) -> float:
    """The statistic a sample must exceed for a false-positive rate of ``fpr`` on ``noise``."""
    ordered = np.sort(noise)[::-1]
    return float(ordered[int(math.floor(fpr * len(noise)))])


# --- real strain, and samples of it ------------------------------------------------------

def strain_variants(files: list[Path]) -> dict[str, tuple[int, np.ndarray]]:
    """``{variant: (first output tick, (2, n) strain at 2048 Hz)}`` of the files over the same
    30 s: as gwspec reads it for analysis (``gwspec``: resampled by its Kaiser FIR and
    high-passed at 15 Hz, ``StrainSet.conditioned``), without the high-pass (``no-highpass``),
    and resampled by scipy's default ``resample_poly`` filter instead (``resample``)."""
    import h5py
    from scipy.signal import resample_poly

    from preprocess.highpass import highpass

    options = ReadOptions(min_duration=2.0)
    strain = StrainSet([str(p) for p in files], DETECTORS, options)
    (a, b), = strain.common
    raw = []
    for path in files:
        with h5py.File(path) as f:
            start = float(f["strain/Strain"].attrs["Xstart"])
            raw.append((start, f["strain/Strain"][()]))
    resampled = np.stack([resample_poly(x, 1, 2)[int((a / SAMPLE_RATE - s) * SAMPLE_RATE):
                                                  int((a / SAMPLE_RATE - s) * SAMPLE_RATE)
                                                  + b - a] for s, x in raw])
    return {"gwspec": (a, strain.conditioned(a, b)), "no-highpass": (a, strain.checked(a, b)),
            "resample": (a, highpass(resampled, options.highpass))}


def window_pairs(first: int, n: int, guard: float) -> list[tuple[str, int, int]]:
    """``(id, H1 start, L1 start)`` (ticks): the event's sample, then every pair of disjoint
    2-s windows (on a 2-s grid from the segment's start) both at least ``guard`` s from the
    event, at zero lag and at every lag."""
    event = int(round((GPS - MERGER_OFFSET) * SAMPLE_RATE))
    starts = [s for s in range(first, first + n - N_TIME + 1, N_TIME)
              if s + N_TIME <= (GPS - guard) * SAMPLE_RATE or s >= (GPS + guard) * SAMPLE_RATE]
    pairs = [("event0000", event, event)]
    pairs += [(f"noise{i:03d}{j:03d}", h1, l1)
              for i, h1 in enumerate(starts) for j, l1 in enumerate(starts)]
    return pairs


def write_samples(folder: Path, first: int, data: np.ndarray,
                  pairs: list[tuple[str, int, int]]) -> Path:
    """The pairs as a G2Net test split (``cut.json`` records the detectors)."""
    if (folder / "sample_submission.csv").is_file():
        return folder
    for sample_id, h1, l1 in pairs:
        path = sample_path(folder, "test", sample_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, np.stack([data[0, h1 - first : h1 - first + N_TIME],
                                data[1, l1 - first : l1 - first + N_TIME]]))
    pd.DataFrame({"id": [p[0] for p in pairs], "target": 0.5}).to_csv(
        folder / "sample_submission.csv", index=False)
    (folder / "cut.json").write_text(json.dumps({"detectors": list(DETECTORS),
                                                 "samples": len(pairs)}))
    return folder


def binomial(k: int, n: int) -> str:
    """``k/n`` with a 68% Wilson interval on the rate."""
    if not n:
        return "no samples"
    z, p = 1.0, k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return f"{k}/{n} = {p:.3f} ({max(centre - half, 0):.3f}-{min(centre + half, 1):.3f})"


def g2net_figures(name: str, logits: pd.Series, mf: pd.Series | None, thresholds: dict,
                  mf_thresholds: dict | None, independent: int) -> dict:
    """The event's logit, its rank among real noise, and real noise above each threshold."""
    noise = logits.drop("event0000")
    event = float(logits["event0000"])
    figures = {"variant": name, "event_logit": event, "noise_samples": len(noise),
               "noise_louder": int((noise >= event).sum()), "noise_max": float(noise.max())}
    for fpr in FPRS:
        above = int((noise > thresholds[fpr]).sum())
        figures[f"fpr{fpr:g}"] = {"event_above": event > thresholds[fpr], "noise_above": above,
                                  "share": above / len(noise),
                                  "independent": binomial(round(above / len(noise)
                                                                * independent), independent)}
        if mf is not None and mf_thresholds is not None:
            mf_noise = mf.drop("event0000")
            figures[f"fpr{fpr:g}"]["mf_noise_above"] = int((mf_noise > mf_thresholds[fpr]).sum())
            figures[f"fpr{fpr:g}"]["mf_event_above"] = bool(mf["event0000"] > mf_thresholds[fpr])
    if mf is not None:
        figures["mf_event_snr"] = float(mf["event0000"])
        figures["mf_noise_max"] = float(mf.drop("event0000").max())
    return figures


# --- the searches ----------------------------------------------------------------------------

def overlaps(start: np.ndarray, guard: float) -> np.ndarray:
    """Which 2-s windows starting at GPS ``start`` come within ``guard`` s of the event."""
    return (start + 2.0 > GPS - guard) & (start < GPS + guard)


def network_search(files: list[Path], checkpoint: Path, out: Path, guard: float) -> dict:
    """Zero lag and the slides' background of the network search on the files."""
    from pipeline.demo.real import loudest
    from pipeline.search.config import SlideConfig
    from pipeline.search.network.config import NetworkSearchConfig
    from pipeline.search.network.search import NetworkSearch, run_network_search

    config = NetworkSearchConfig(slides=SlideConfig(step=2.5, count=20), slides_per_file=32)
    folder = run_network_search(files, [checkpoint], out, config, progress=False)
    zero = loudest(folder / "zerolag-network.hdf")
    result = json.loads((folder / "result.json").read_text())
    settings = json.loads((folder / "search.json").read_text())
    (start, seconds), = settings["segments"]
    piece = (int(round(start * SAMPLE_RATE)), int(round((start + seconds) * SAMPLE_RATE)))
    search = NetworkSearch(config, None)
    chunks = sorted((folder / "segments").glob("*/scores-*.npy"))
    scores_ = np.concatenate([np.load(c) for c in chunks])  # (slides + 1, W)
    windows = start + search._windows(piece) / SAMPLE_RATE  # (W,) H1 window starts, GPS
    step = config.step_windows
    kept = []
    for k in range(1, len(scores_)):
        partner = np.roll(windows, -k * step)  # the L1 window each H1 window meets
        keep = ~overlaps(windows, guard) & ~overlaps(partner, guard)
        kept.append(scores_[k][keep])
    background = np.concatenate(kept)
    disjoint = len(background) * config.stride / config.window_seconds
    return {"zerolag": zero, "slides": result["slides"]["count"],
            "background_windows": len(background), "independent_windows": disjoint,
            "background_max": float(background.max()),
            "event_louder_than_background": bool(zero and zero["stat"] > background.max())}


def mf_search(files: list[Path], out: Path, guard: float) -> dict:
    """Zero lag (the default bank) and the slides' background (a 20-50 Msun bank, whose
    shorter templates let slides fit in 30 s) of the matched-filter search on the files."""
    from pipeline.bank.config import SearchBankConfig
    from pipeline.demo.real import loudest
    from pipeline.search.config import SlideConfig
    from pipeline.search.matched_filter.config import FilterConfig, SearchConfig
    from pipeline.search.matched_filter.search import run_search
    from pipeline.search.slides import slide_times
    from pipeline.search.triggers import read_trigger_file

    zero = loudest(run_search(files, out / "default-bank", SearchConfig(), workers=2,
                              progress=False) / "zerolag-newsnr.hdf")
    bank = SearchBankConfig(n_templates=100, mass_min=20.0, mass_max=50.0)
    config = SearchConfig(filter=FilterConfig(bank=bank),
                          slides=SlideConfig(step=2.5, count=20))
    folder = run_search(files, out / "slides", config, workers=2, progress=False)
    slides, _, spans = read_trigger_file(folder / "slides-newsnr.hdf")
    slid_zero = loudest(folder / "zerolag-newsnr.hdf")
    span = (float(spans[0, 0]), float(spans[0, 1]))
    h1 = slides["time"].to_numpy()
    l1 = np.array([slide_times(np.array([t]), -k * 2.5, span)[0]
                   for t, k in zip(h1, slides["slide"], strict=True)])
    keep = (np.abs(h1 - GPS) > guard) & (np.abs(l1 - GPS) > guard)
    result = json.loads((folder / "result.json").read_text())
    count = result["slides"]["count"]
    background = slides["stat"].to_numpy()[keep]
    # each slide pairs the analysed span with itself shifted; the event's window (2 guards)
    # is left out in each detector
    seconds = (span[1] - span[0] - 2 * guard) * count
    return {"zerolag": zero, "zerolag_20_50": slid_zero, "slides": count,
            "background_seconds_event_free": seconds,
            "background_triggers": int(keep.sum()),
            "background_max": float(background.max()) if len(background) else None}


# --- the figure ------------------------------------------------------------------------------

def figure(files: list[Path], checkpoint: Path, cache: Path, path: Path) -> None:
    """The event's whitened strain (as the images are made from it) and its CQT images."""
    import torch
    from matplotlib.figure import Figure

    from pipeline.classifier.checkpoint import checkpoint_recipe, load_checkpoint
    from preprocess.cache import read_manifest
    from preprocess.dataset import SpectrogramCache
    from preprocess.whiten import Whitener
    from runtime.figures import save_figure

    manifest = read_manifest(cache)
    recipe = checkpoint_recipe(load_checkpoint(checkpoint))
    images = SpectrogramCache(cache, dtype=torch.float32)
    index = list(images.ids).index("event0000")
    image = images[index][0].numpy()  # (2, F, T)
    sample = np.load(sample_path(cache.parent / "samples", "test", "event0000"))
    whitened = Whitener(manifest.psd, recipe.whiten)(
        torch.from_numpy(sample[None] / recipe.whiten.raw_scale).float())[0].numpy()
    time_axis = np.arange(N_TIME) / SAMPLE_RATE - MERGER_OFFSET
    fig = Figure(figsize=(11, 6.5))
    axes = fig.subplots(2, 2)
    frequencies = np.geomspace(recipe.cqt.fmin, recipe.cqt.fmax, image.shape[1])
    for d, detector in enumerate(DETECTORS):
        ax = axes[0, d]
        ax.plot(time_axis, whitened[d], linewidth=0.6, color="0.2")
        ax.set(title=f"{detector}: whitened, 20-500 Hz (the 30 s around)",
               xlabel="s from GPS 1126259462.4", ylabel="whitened strain", xlim=(-0.5, 0.2))
        ax = axes[1, d]
        image_time = np.arange(image.shape[2]) * recipe.cqt.hop_length / SAMPLE_RATE
        ax.pcolormesh(image_time - MERGER_OFFSET, frequencies,
                      image[d], shading="nearest", cmap="viridis")
        ax.set(yscale="log", title=f"{detector}: CQT image the model reads",
               xlabel="s from GPS 1126259462.4", ylabel="Hz")
    fig.suptitle("GW150914 in GWOSC strain, as a 2-s G2Net sample")
    fig.tight_layout()
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/real"))
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="an H1-L1 model (default: train one by the recipe for real noise)")
    parser.add_argument("--n-train", type=int, default=8000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--n-noise", type=int, default=10000,
                        help="simulated noise-only samples (10,000 support FPR 1e-3)")
    parser.add_argument("--guard", type=float, default=3.0,
                        help="s: real-noise windows keep this far from the event")
    parser.add_argument("--figure", type=Path, default=Path("docs/gw150914.png"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    started = time.perf_counter()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    files = shipped_files()
    checkpoint = args.checkpoint or train_model(out, args.n_train, args.epochs)
    log.info("model %s (%.0f s)", checkpoint, time.perf_counter() - started)

    references = {}
    for name, recipe in (("recipe", True), ("gaussian", False)):
        noise_data = simulated_noise(out, args.n_noise, recipe)
        simulated = scores(noise_data, out / f"{noise_data.name}-cache", checkpoint)
        mf_simulated = matched_filter(noise_data, out / f"{noise_data.name}-mf.csv", None,
                                      "auto")
        references[name] = ({fpr: threshold(simulated.to_numpy(), fpr) for fpr in FPRS},
                            {fpr: threshold(mf_simulated.to_numpy(), fpr) for fpr in FPRS})
        log.info("simulated %s noise: %d samples; thresholds %s, matched filter %s (%.0f s)",
                 name, len(simulated), *references[name], time.perf_counter() - started)

    variants = strain_variants(files)
    first, data = variants["gwspec"]
    pairs = window_pairs(first, data.shape[-1], args.guard)
    disjoint = int(round(math.sqrt(len(pairs) - 1)))  # independent windows per detector
    real = {}
    own = write_samples(out / "real" / "samples", first, data, pairs)
    own_cache = out / "real" / "cache"
    logits = scores(own, own_cache, checkpoint)
    mf = matched_filter(own, out / "real" / "mf.csv", own_cache, "nominal")
    for name, (thresholds, mf_thresholds) in references.items():
        real[f"gwspec vs {name} noise"] = g2net_figures("gwspec", logits, mf, thresholds,
                                                         mf_thresholds, disjoint)
    thresholds = references["gaussian"][0]
    training_cache = Path(json.loads((checkpoint.parent / "config.json").read_text())
                          ["cache"]["path"])
    swaps: dict[str, Callable[[], pd.Series]] = {
        "training-psd": lambda: scores(own, out / "real" / "cache-training-psd", checkpoint,
                                       psd_from=training_cache),
    }
    for name in ("no-highpass", "resample"):
        first_v, data_v = variants[name]
        folder = write_samples(out / name / "samples", first_v, data_v, pairs)
        swaps[name] = (lambda f=folder, n=name: scores(f, out / n / "cache", checkpoint))
    for name, run in swaps.items():
        real[name] = g2net_figures(name, run(), None, thresholds, None, disjoint)
    log.info("real samples scored (%.0f s)", time.perf_counter() - started)

    network = network_search(files, checkpoint, out / "search-network", args.guard)
    mf_stream = mf_search(files, out / "search-mf", args.guard)
    figure(files, checkpoint, own_cache, args.figure)
    report = {"checkpoint": str(checkpoint),
              "thresholds": {name: {"model": {str(k): v for k, v in model.items()},
                                    "matched_filter": {str(k): v for k, v in mf_.items()}}
                             for name, (model, mf_) in references.items()},
              "simulated_noise": args.n_noise, "g2net": real, "network_search": network,
              "mf_search": mf_stream, "seconds": time.perf_counter() - started}
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
