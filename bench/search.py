"""Search benchmark: the matched-filter search, with and without chi-squared reweighting, and the
network search, scored as MLGWSC-1 scores a search, side by side.

Usage: ``python bench/search.py [--minutes 120] [--glitch-minutes 60] [--n-templates 200]
[--network RUN/best.pt] [--glitch-network RUN/best.pt] [--strides 0.5 1.0]``.

1. ``simulate-stream`` makes two H1-L1 streams (design PSDs, an injection every 24 s, chirp
   distance 130-350 Mpc; background = noise, foreground = the same noise + injections):
   ``stationary`` (Gaussian noise) and ``glitch`` (the simulator's three glitch families,
   ``--glitch-rate`` per hour per detector, SNR 6-60 log-uniform, and each detector's level
   drifting within ``--glitch-drift``, as the README's training recipe for real noise has them).
2. The bank is placed once (``--n-templates``) and its minimal match checked on fresh prior
   draws; every search reuses it.
3. Each search in ``searches()`` runs on each stream's background with time slides (as many as
   the data holds, or ``--slides``) and on its foreground at zero lag; ``evaluate-search``
   scores them side by side: the table at FAR 1, 10 and 100 per month is printed. The
   matched filter is filtered once per stream; ``snr`` and ``newsnr`` are its two rankings.
4. The figures of issue 18's targets: the reduced chi-squared of noise triggers (stationary
   background); the background above a network statistic of 8 with and without reweighting
   (glitch stream); sine-Gaussian glitches of SNR 20 against template injections of network SNR
   10 (made here, loudest over the slides); the filtering speed (seconds of strain per CPU
   second per detector) and the float32 error against float64.

5. With ``--network`` (a model trained on 2-s samples of the stream's detectors), the network
   search (``pipeline search``) on the stationary stream at each ``--strides`` value, with the
   same slides as the matched filter; with ``--glitch-network`` (a model trained on the
   README's recipe for real noise), on the glitch stream. Its speed: seconds of strain per
   second, zero lag (images and inference) and per slide (inference only), against a naive
   loop that makes and scores every window one at a time.

Everything goes under ``--out`` (a temporary folder by default); a second run with the same
``--out`` reuses the streams, the bank and the finished searches.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.bank.config import SearchBankConfig
from pipeline.bank.stream import (
    SearchBank,
    bank_matches,
    build_search_bank,
    load_search_bank,
    placement_psd,
    save_search_bank,
)
from pipeline.search.config import SlideConfig
from pipeline.search.evaluate.report import SearchFiles, evaluate_searches
from pipeline.search.matched_filter.coinc import segment_candidates
from pipeline.search.matched_filter.config import FilterConfig, RankingConfig, SearchConfig
from pipeline.search.matched_filter.filter import BlockFilter, padding
from pipeline.search.matched_filter.inspiral import filter_segment, pad_samples
from pipeline.search.matched_filter.search import run_search
from pipeline.search.matched_filter.singles import read_segment
from pipeline.search.network.config import NetworkSearchConfig
from pipeline.search.network.search import run_network_search
from pipeline.search.slides import max_slides
from pipeline.search.triggers import read_trigger_file
from preprocess.simulate.glitches import Glitch, glitch_waveform
from preprocess.simulate.snr import optimal_snr
from preprocess.stream.config import SAMPLE_RATE, ReadOptions, StreamConfig
from preprocess.stream.noise import colored_noise, stream_psds
from preprocess.stream.simulate import simulate_stream

DETECTORS = ("H1", "L1")
GPS = 1238166018


@dataclass
class TriggerSearch:
    """A search that turns strain folders into MLGWSC-1 trigger files.

    ``run(foreground, background, out, slides)`` returns ``{name: (foreground triggers,
    background triggers)}``: one entry per ranking it produces.
    """

    name: str
    run: Callable[[Path, Path, Path, int], dict[str, tuple[Path, Path]]]


def matched_filter(bank: Path, workers: int, n_templates: int,
                   highpass: float) -> TriggerSearch:
    """The reference search: filtered once per folder, ranked by snr and by newsnr."""
    def run(foreground: Path, background: Path, out: Path, slides: int) -> dict:
        config = SearchConfig(filter=FilterConfig(bank=SearchBankConfig(n_templates=n_templates)),
                              ranking=RankingConfig(statistics=("snr", "newsnr")))
        config = replace(config, read=replace(config.read, highpass=highpass))
        run_search(background, out / "background", replace(config,
                   slides=SlideConfig(count=slides)), bank=bank, workers=workers)
        run_search(foreground, out / "foreground", config, bank=bank, workers=workers)
        return {f"MF-{s}": (out / "foreground" / f"zerolag-{s}.hdf",
                            out / "background" / f"slides-{s}.hdf") for s in ("snr", "newsnr")}
    return TriggerSearch("matched-filter", run)


def network(checkpoints: list[Path], stride: float, highpass: float) -> TriggerSearch:
    """The network search at ``stride``: slides on the background, zero lag on the
    foreground, the matched filter's slide step."""
    def run(foreground: Path, background: Path, out: Path, slides: int) -> dict:
        config = NetworkSearchConfig(stride=stride, read=ReadOptions(max_duration=4096.0,
                                                                     highpass=highpass),
                                     slides=SlideConfig(step=8.0, count=slides))
        run_network_search(background, checkpoints, out / "background", config,
                           progress=False)
        run_network_search(foreground, checkpoints, out / "foreground",
                           replace(config, slides=SlideConfig(step=8.0)), progress=False)
        return {f"network-{stride:g}s": (out / "foreground" / "zerolag-network.hdf",
                                         out / "background" / "slides-network.hdf")}
    return TriggerSearch(f"network-{stride:g}s", run)


def searches(args: argparse.Namespace, bank: Path, stream: str) -> list[TriggerSearch]:
    """Every search the benchmark compares on ``stream``; the matched filter is the
    reference."""
    found = [matched_filter(bank, args.workers, args.n_templates, args.highpass)]
    checkpoints = args.network if stream == "stationary" else args.glitch_network
    strides = args.strides if stream == "stationary" else args.strides[:1]
    found += [network(checkpoints, stride, args.highpass) for stride in strides if checkpoints]
    return found


def search_device(name: str = "auto"):
    """The device the network search runs on (``NetworkSearchConfig.device``): every rate is
    measured there, so the ratios divide like by like."""
    from runtime.devices import prepare, resolve_device

    device = resolve_device(name)
    prepare(device, benchmark=True)
    return device


def naive_rate(stream: Path, checkpoints: list[Path], n: int = 100) -> float:
    """Windows per second of a per-window loop on the search's device: each window's images
    made alone (whitened by the training PSD) and scored alone, as a snippet classifier would
    be run over a stream."""
    import torch

    from pipeline.classifier.precision import Precision
    from pipeline.search.network.models import NetworkModels
    from preprocess.images import ImageMaker
    from preprocess.stream.readers import ReadReport, StrainSet

    device = search_device()
    network = NetworkModels.load(checkpoints, Precision.for_inference(device))
    strain = StrainSet((str(stream / "foreground"),), network.detectors,
                       ReadOptions(max_duration=512))
    a, b = next(iter(strain.segments(ReadReport())))
    data = strain.checked(a, a + (n + 3) * SAMPLE_RATE // 2) / network.recipe.whiten.raw_scale
    maker = ImageMaker(network.recipe, network.training_psd, device)
    started = time.perf_counter()
    with torch.inference_mode():
        for w in range(n):
            window = torch.from_numpy(data[None, :, w * 1024 : w * 1024 + 4096]).float()
            images = network.precision.to_device(torch.from_numpy(maker(window, "naive")))
            [model(images).cpu() for model in network.models]  # a result per window
    return n / (time.perf_counter() - started)


def score(trigger_searches: list[TriggerSearch], stream: Path, out: Path,
          slides: int) -> dict:
    """Run every search on ``stream`` and score them side by side; returns the report."""
    files: dict[str, tuple[Path, Path]] = {}
    for search in trigger_searches:
        files |= search.run(stream / "foreground", stream / "background", out / search.name,
                            slides)
    pairs = [SearchFiles(name, str(fg), str(bg)) for name, (fg, bg) in files.items()]
    return evaluate_searches(pairs, stream / "injections.hdf", out / "report")


def make_stream(out: Path, minutes: int, glitch_rate: float, seed: int, workers: int,
                detectors: tuple[str, ...] = DETECTORS,
                drift: tuple[float, float] = (1.0, 1.0)) -> Path:
    config = StreamConfig(seed=seed, detectors=detectors, duration=60 * minutes,
                          glitch_rate=glitch_rate, level_min=drift[0], level_max=drift[1])
    return simulate_stream(config, out, workers=workers, progress=False)


def make_bank(out: Path, n_templates: int) -> tuple[Path, SearchBank, np.ndarray]:
    path = out / "bank.hdf"
    config = SearchBankConfig(n_templates=n_templates)
    psd = placement_psd(config)
    if not path.is_file():
        start = time.perf_counter()
        save_search_bank(build_search_bank(config, psd), path)
        print(f"bank: {n_templates} templates placed in {time.perf_counter() - start:.0f} s")
    bank = load_search_bank(path)
    matches = bank_matches(bank, psd, 300, seed=12345)
    return path, bank, matches


def print_table(report: dict, title: str) -> None:
    rows = [{"search": s["name"], "FAR/month": r["far_per_month"],
             "distance (Mpc)": f"{r['distance_mpc']:.1f} ± {r['distance_error_mpc']:.1f}",
             "found": f"{r['found']}/{s['n_injections']}", "threshold": round(r["threshold"], 2),
             "supported": r["supported"], "lowest FAR/month": round(s["lowest_far_per_month"], 3)}
            for s in report["searches"] for r in s["table"]]
    print(f"\n{title}: background {report['searches'][0]['background_seconds']:.3g} s")
    print(pd.DataFrame(rows).to_string(index=False))


def chisq_of_noise(search: Path) -> tuple[float, int]:
    """Mean reduced chi-squared and count of every single-detector trigger of a search."""
    values = [t.chisq for path in sorted((search / "segments").glob("*.h5"))
              for t in read_segment(path)[0].triggers.values()]
    chisq = np.concatenate(values)
    return float(chisq.mean()), len(chisq)


def loud_background(path: Path, level: float = 8.0) -> int:
    return int((read_trigger_file(path)[0]["stat"] > level).sum())


def glitch_against_injections(bank: SearchBank, n: int = 8) -> dict:
    """Sine-Gaussians of SNR 20 in H1 and template injections of network SNR 10 in one stretch
    of Gaussian noise: per statistic, the loudest candidate holding each glitch over zero lag
    and every slide, and each injection's zero-lag candidate."""
    config = SearchConfig(filter=FilterConfig(bank=bank.config))
    seconds = 60 * (2 * n + 1)
    length = seconds * SAMPLE_RATE
    noise = StreamConfig(seed=99, detectors=DETECTORS, injection_spacing=0)
    data = np.stack([colored_noise(noise, d, GPS * SAMPLE_RATE, length) for d in DETECTORS])
    psd = stream_psds(noise, length)
    rng = np.random.default_rng(7)
    glitch_times = 60.0 * (2 * np.arange(n) + 1) + 0.3
    injection_times = glitch_times + 60.0
    for t in glitch_times:
        f0, q = float(np.exp(rng.uniform(np.log(40), np.log(400)))), float(rng.uniform(4, 20))
        tau = q / (np.sqrt(2) * np.pi * f0)
        shape = glitch_waveform(Glitch("sine_gaussian", "H1", t, f0, q, 2 * tau, 20.0, 0.0),
                                length) * 1e-22
        data[0] += shape * 20.0 / optimal_snr(shape, psd[0], bank.config.f_lower)
    spectra = bank.spectra(SAMPLE_RATE / length, length // 2 + 1).astype(np.complex128)
    for t in injection_times:
        wave = np.roll(np.fft.irfft(spectra[rng.integers(len(spectra))] * SAMPLE_RATE,
                                    n=length), int(t * SAMPLE_RATE)) * 1e-22
        for d in range(2):
            data[d] += wave * np.sqrt(50.0) / optimal_snr(wave, psd[d], bank.config.f_lower)
    block_filter = BlockFilter(bank, config.filter, SAMPLE_RATE)
    pads = pad_samples(padding(bank, config.filter), SAMPLE_RATE)
    segment = filter_segment(data, GPS, DETECTORS, block_filter, config.filter, pads)
    span = segment.analysed[1] - segment.analysed[0]
    out = {}
    for statistic in ("snr", "newsnr"):
        ranking = RankingConfig(statistics=(statistic,))
        zero = segment_candidates(segment, DETECTORS, statistic, ranking, 0, 8.0)
        slid = pd.concat([segment_candidates(segment, DETECTORS, statistic, ranking, k, 8.0)
                          for k in range(1, max_slides(span, 8.0, 2) + 1)] + [zero])

        def near(table: pd.DataFrame, t: float) -> float:
            close = table[(table["time"] > GPS + t - 1) & (table["time"] < GPS + t + 2)]
            return float(close["stat"].max()) if len(close) else 0.0

        out[statistic] = {"glitch": [near(slid, t) for t in glitch_times],
                          "injection": [near(zero, t) for t in injection_times]}
    return out


def float_precision(bank: SearchBank) -> dict:
    """|z| of every template on one 128-s block of Gaussian noise, in float32 and float64."""
    length = 128 * SAMPLE_RATE
    noise = StreamConfig(seed=98, detectors=DETECTORS, injection_spacing=0)
    x = colored_noise(noise, "H1", GPS * SAMPLE_RATE, length) / 1e-20
    psd = stream_psds(noise, length)[0] / 1e-40
    results = {}
    for precision in ("float32", "float64"):
        block_filter = BlockFilter(bank, FilterConfig(bank=bank.config, precision=precision),
                                   SAMPLE_RATE)
        white, inverse = block_filter.whiten(x, psd)
        white = white.astype(block_filter.complex)
        z = [np.abs(block_filter.snr(white, inverse, lo, lo + 16)[0])
             for lo in range(0, len(bank.params), 16)]
        results[precision] = np.concatenate(z)[:, 16 * SAMPLE_RATE : -8 * SAMPLE_RATE]
    difference = np.abs(results["float32"] - results["float64"])
    return {"max_abs_difference": float(difference.max()),
            "rms_abs_difference": float(np.sqrt(np.mean(difference**2))),
            "max_snr": float(results["float64"].max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=120, help="stationary stream length")
    parser.add_argument("--glitch-minutes", type=int, default=60, help="glitch stream length")
    parser.add_argument("--glitch-rate", type=float, default=30.0,
                        help="glitches per hour per detector in the glitch stream")
    parser.add_argument("--glitch-drift", type=float, nargs=2, default=(0.5, 2.0),
                        metavar=("MIN", "MAX"),
                        help="the glitch stream's PSD level drift range (1 1: none)")
    parser.add_argument("--n-templates", type=int, default=200)
    parser.add_argument("--slides", type=int, default=0,
                        help="time slides (0: as many as the data holds)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--detectors", nargs="+", default=list(DETECTORS),
                        help="detectors of the streams (the networks' must match)")
    parser.add_argument("--network", type=Path, action="append", default=[],
                        help="checkpoint(s) of the network search on the stationary stream")
    parser.add_argument("--glitch-network", type=Path, action="append", default=[],
                        help="checkpoint(s) of the network search on the glitch stream")
    parser.add_argument("--strides", type=float, nargs="+", default=[0.5],
                        help="network window strides compared on the stationary stream (s)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--highpass", type=float, default=ReadOptions().highpass,
                        help="Hz: both searches' high-pass of the strain (0 = off, as before "
                             "it existed)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-search-"))
    start = time.perf_counter()
    bank_path, bank, matches = make_bank(out, args.n_templates)
    print(f"bank: {len(bank.params)} templates, covering match {bank.covering_match:.3f} over "
          f"its {bank.n_candidates} candidates; 300 fresh prior draws: minimum "
          f"{matches.min():.3f}, 1st percentile {np.percentile(matches, 1):.3f}, 10th "
          f"{np.percentile(matches, 10):.3f}, median {np.median(matches):.3f}")
    reports = {}
    for name, minutes, rate, seed in (("stationary", args.minutes, 0.0, 1),
                                      ("glitch", args.glitch_minutes, args.glitch_rate, 2)):
        drift = tuple(args.glitch_drift) if name == "glitch" else (1.0, 1.0)
        stream = make_stream(out / f"{name}-stream", minutes, rate, seed, args.workers,
                             tuple(args.detectors), drift)
        slides = args.slides or max_slides(min(60 * minutes, 4096) - 17, 8.0,
                                           len(args.detectors))
        reports[name] = score(searches(args, bank_path, name), stream, out / name, slides)
        print_table(reports[name], f"{name} stream, {minutes} min, {slides} slides")
    mf = out / "stationary" / "matched-filter"
    mean, count = chisq_of_noise(mf / "background")
    print(f"\nreduced chi-squared of {count} noise triggers (stationary background, threshold "
          f"5): mean {mean:.3f}")
    glitch = out / "glitch" / "matched-filter" / "background"
    loud = {s: loud_background(glitch / f"slides-{s}.hdf") for s in ("snr", "newsnr")}
    print(f"glitch background above a network statistic of 8: snr {loud['snr']}, newsnr "
          f"{loud['newsnr']} (x{loud['snr'] / max(loud['newsnr'], 1):.0f} fewer)")
    ranked = glitch_against_injections(bank)
    for statistic, values in ranked.items():
        print(f"{statistic}: SNR-20 sine-Gaussians' loudest candidates "
              f"{np.round(values['glitch'], 1).tolist()}; network-SNR-10 injections "
              f"{np.round(values['injection'], 1).tolist()}")
    speed = json.loads((mf / "background" / "result.json").read_text())["filtering"]
    print(f"filtering: {speed['strain_seconds_per_cpu_second_per_detector']:.1f} s of strain per "
          f"CPU second per detector with {len(bank.params)} templates "
          f"({speed['strain_seconds']:.0f} s of {'-'.join(args.detectors)} strain, "
          f"{speed['cpu_seconds']:.0f} CPU s)")
    precision = float_precision(bank)
    print(f"float32 vs float64 |z| over {len(bank.params)} templates x 104 s: max difference "
          f"{precision['max_abs_difference']:.2e}, rms {precision['rms_abs_difference']:.2e} "
          f"(largest |z| {precision['max_snr']:.1f})")
    print_network_speed(out, args)
    print(f"total {time.perf_counter() - start:.0f} s; everything under {out}")


def print_network_speed(out: Path, args: argparse.Namespace) -> None:
    """Each network search's speed from its result.json, and the naive loop's."""
    for stride in args.strides if args.network else []:
        folder = out / "stationary" / f"network-{stride:g}s"
        speed = json.loads((folder / "background" / "result.json").read_text())["speed"]
        zero = json.loads((folder / "foreground" / "result.json").read_text())["speed"]
        print(f"network search, stride {stride:g} s: zero lag {zero['zerolag_realtime_factor']:.0f}"
              f"x real time (images alone {zero['images_realtime_factor']:.0f}x), each slide "
              f"{speed['slide_realtime_factor']:.0f}x real time")
    if args.network:
        pure = pure_inference_rate(args.network)
        for stride in args.strides:
            folder = out / "stationary" / f"network-{stride:g}s" / "background"
            speed = json.loads((folder / "result.json").read_text())["speed"]
            slide = speed["slide_realtime_factor"] / stride
            print(f"stride {stride:g} s: a slide scores {slide:.0f} windows/s, "
                  f"{slide / pure:.2f}x the models' pure inference rate ({pure:.0f} windows/s)")
        rate = naive_rate(out / "stationary-stream", args.network)
        print(f"naive per-window loop: {rate:.1f} windows/s = {rate * 0.5:.0f}x real time at "
              "a 0.5-s stride")


def pure_inference_rate(checkpoints: list[Path], batches: int = 6) -> float:
    """Windows per second of the models alone on images already in memory, in the search's
    batch size, on the search's device: what a slide could cost at best."""
    import torch

    from pipeline.classifier.precision import Precision
    from pipeline.family.costs import inference_rate
    from pipeline.search.network.models import NetworkModels

    network = NetworkModels.load(checkpoints, Precision.for_inference(search_device()))
    shape = torch.load(checkpoints[0], map_location="cpu", weights_only=True)["image_shape"]
    size = NetworkSearchConfig().batch_size
    rng = np.random.default_rng(0)
    data = [torch.from_numpy(rng.standard_normal((size, *shape)).astype(np.float16))
            for _ in range(batches)]
    seconds = sum(1.0 / inference_rate(model, data, network.precision)
                  for model in network.models)
    return 1.0 / seconds


if __name__ == "__main__":
    main()
