"""Stream benchmark: ``simulate-stream``'s speed and what its files hold, checked from the strain.

Usage: ``python bench/stream.py [--minutes 30] [--workers 1 2]``. Simulates ``--minutes`` of
H1-L1-V1 strain (level drift 0.5-2 on a 5-min timescale, the O3-like shape mix up to 0.5, 6
glitches per hour per detector, an injection every 24 s) once per worker count and prints:

- seconds of 3-detector strain simulated per second of wall time, per worker count (the files
  are compared: they must not depend on it);
- the Welch PSD of the background (median average, 4-s Hann segments, divided by the recorded
  level) over the stored PSD, as band power in 10-Hz bands over 20-1000 Hz: max |ratio - 1|;
- the level measured from the strain (30-500 Hz power in 16-s Hann blocks without a glitch)
  over the recorded level: median and max |ratio - 1|, and the recorded range;
- the injection SNRs recomputed from foreground minus background against the stored PSD and
  recorded level: max relative difference from the table;
- a GWOSC-layout file (64 s of H1 at 4096 Hz, 2 s flagged) and the MLGWSC-1 files, written and
  read back.

Writes into a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import resample_poly, welch

from preprocess.simulate.snr import optimal_snr
from preprocess.stream.config import ReadOptions, StreamConfig
from preprocess.stream.gwosc import write_gwosc
from preprocess.stream.layout import read_psd
from preprocess.stream.noise import stream_psds
from preprocess.stream.readers import StrainSet, read_segments
from preprocess.stream.simulate import simulate_stream

FS = 2048
READ = ReadOptions(min_duration=1.0, max_duration=None)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".gwspec.lock"}


def _levels_at(levels: pd.DataFrame, detector: str, times: np.ndarray) -> np.ndarray:
    return np.exp(np.interp(times, levels["gps"], np.log(levels[detector])))


def psd_ratio(out: Path, config: StreamConfig) -> tuple[float, str, float]:
    """Band power of the Welch PSD over the stored PSD in 10-Hz bands over 20-1000 Hz (band
    power: the Welch window smooths Virgo's narrow lines but keeps their power): the max
    |ratio - 1|, where, and the max |ratio - 1| in standard errors of its band."""
    levels = pd.read_csv(out / "levels.csv")
    psd = read_psd(next((out / "background").glob("*.h5")))
    worst, where, most = 0.0, "", 0.0
    for detector in config.detectors:
        parts = list(read_segments(out / "background", [detector], READ))
        x = np.concatenate([s.data / np.sqrt(_levels_at(
            levels, detector, s.gps_start + np.arange(len(s.data)) / FS)) for s in parts])
        freqs, estimate = welch(x, FS, nperseg=4 * FS, average="median")
        stored = np.interp(freqs, np.arange(4097) * 0.25, psd[detector])
        k = 2 * len(x) // (4 * FS) - 1  # Hann segments at 50% overlap
        # per bin: Hann-Welch dof 36 K^2 / (19 K - 1); a median of exponentials has (ln 2)^-2
        # times the variance of a mean
        per_bin = np.sqrt(2 / (36 * k**2 / (19 * k - 1)) / np.log(2) ** 2)
        for low in range(20, 1000, 10):
            band = (freqs >= low) & (freqs < low + 10)
            error = abs(estimate[band].sum() / stored[band].sum() - 1)
            effective = stored[band].sum() ** 2 / (stored[band] ** 2).sum() / 2
            most = max(most, error / (per_bin / np.sqrt(effective)))
            if error > worst:
                worst, where = error, f"{detector} {low}-{low + 10} Hz"
    return worst, where, most


def level_agreement(out: Path, config: StreamConfig) -> tuple[float, float, float, float]:
    """Median and max |measured / recorded level - 1|, recorded min and max level."""
    levels, glitches = pd.read_csv(out / "levels.csv"), pd.read_csv(out / "glitches.csv")
    psd = read_psd(next((out / "background").glob("*.h5")))
    block, window = 16 * FS, np.hanning(16 * FS)
    freqs = np.fft.rfftfreq(block, 1 / FS)
    band = (freqs >= 30) & (freqs < 500)
    ratios, recorded = [], []
    for detector in config.detectors:
        expected = np.interp(freqs[band], np.arange(4097) * 0.25, psd[detector])
        expected = expected * FS * (window**2).sum() / 2
        mine = glitches[glitches["detector"] == detector]["time"].to_numpy()
        for s in read_segments(out / "background", [detector], READ):
            for k in range(0, len(s.data) - block + 1, block):
                t0 = s.gps_start + k / FS
                if ((mine > t0 - 2) & (mine < t0 + 18)).any():
                    continue
                power = np.abs(np.fft.rfft(s.data[k : k + block] * window))[band] ** 2
                level = _levels_at(levels, detector, t0 + np.arange(17)).mean()
                ratios.append((power / expected).mean() / level)
                recorded.append(level)
    error = np.abs(np.array(ratios) - 1)
    return float(np.median(error)), float(error.max()), min(recorded), max(recorded)


def snr_agreement(out: Path, config: StreamConfig) -> tuple[int, float]:
    """Number of injections and the max relative difference of recomputed SNRs."""
    table, levels = pd.read_csv(out / "injections.csv"), pd.read_csv(out / "levels.csv")
    foreground, background = StrainSet(out / "foreground"), StrainSet(out / "background")
    n = 16 * FS  # tc - 14 s to tc + 2 s: the whole signal (< 12 s), no neighbour (24 s away)
    psd = stream_psds(config, n)
    worst = 0.0
    for _, row in table.iterrows():
        a = int((np.floor(row["tc"]) - 14) * FS)
        for d, det in enumerate(config.detectors):
            signal = foreground.read(det, a, a + n) - background.read(det, a, a + n)
            level = _levels_at(levels, det, np.array(row["tc"]))
            snr = float(optimal_snr(signal, psd[d] * level, config.f_lower))
            worst = max(worst, abs(snr / row[f"snr_{det}"] - 1))
    return len(table), worst


def gwosc_round_trip(out: Path, folder: Path) -> str:
    """64 s of H1 as a 4096-Hz GWOSC file with 2 s flagged, read back at 2048 Hz."""
    original = next(iter(read_segments(out / "background", ["H1"], READ)))
    start, x = int(original.gps_start), original.data[: 64 * FS]
    mask = np.full(64, 0b11)
    mask[30:32] = 0b01  # CBC_CAT1 off for two seconds
    write_gwosc(folder / "H-H1_GWOSC-test.hdf5", "H1", start, resample_poly(x, 2, 1), 2 * FS,
                mask)
    segments = list(read_segments(folder / "H-H1_GWOSC-test.hdf5", options=READ))
    spans = [(s.gps_start - start, len(s.data) / FS) for s in segments]
    freqs = np.fft.rfftfreq(len(segments[0].data), 1 / FS)
    a = int((segments[0].gps_start - start) * FS)
    back = np.fft.rfft(segments[0].data)
    sent = np.fft.rfft(x[a : a + len(segments[0].data)])
    band = (freqs >= 20) & (freqs < 800)
    gain = np.abs(back[band]).sum() / np.abs(sent[band]).sum()
    return (f"segments (s from start, s) {spans}; 20-800 Hz amplitude read/written "
            f"{gain:.5f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=30, help="minutes of strain")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    config = StreamConfig(seed=0, duration=60 * args.minutes, segment_duration=7200,
                          level_min=0.5, level_max=2.0, level_timescale=300.0,
                          psd_shape_mix=0.5, glitch_rate=6.0)
    with tempfile.TemporaryDirectory() as tmp:
        outs, reference = {}, None
        for workers in args.workers:
            out = Path(tmp) / f"w{workers}"
            begin = time.perf_counter()
            simulate_stream(config, out, workers=workers, mlgwsc=True, progress=False)
            elapsed = time.perf_counter() - begin
            files = _files(out)
            same = "" if reference is None else f", files identical: {files == reference}"
            reference = reference or files
            outs[workers] = out
            print(f"workers={workers}: {config.duration} s of H1-L1-V1 strain in {elapsed:.1f} s"
                  f" = {config.duration / elapsed:.0f} s of strain per s{same}")
        out = outs[args.workers[0]]
        worst, where, most = psd_ratio(out, config)
        print(f"Welch PSD / stored PSD, band power in 10-Hz bands over 20-1000 Hz: max "
              f"|ratio - 1| = {worst:.3f} ({where}); at most {most:.1f} standard errors")
        median, worst, low, high = level_agreement(out, config)
        print(f"level measured / recorded (16-s blocks, 30-500 Hz): median |r - 1| {median:.3f},"
              f" max {worst:.3f}; recorded level {low:.2f}-{high:.2f}")
        count, snr = snr_agreement(out, config)
        print(f"injection SNRs recomputed from foreground - background: {count} injections, "
              f"max relative difference {snr:.2e}")
        print("GWOSC layout: " + gwosc_round_trip(out, Path(tmp)))
        ours = list(read_segments(out / "foreground", options=READ))
        theirs = list(read_segments(out / "mlgwsc" / "foreground.hdf", options=READ))
        equal = all(np.array_equal(a.data, b.data) for a, b in zip(ours, theirs, strict=True))
        print(f"MLGWSC-1 layout: {len(theirs)} detector segments read back, equal to the "
              f"gwspec layout: {equal and len(ours) == len(theirs)}")


if __name__ == "__main__":
    main()
