"""One chunk of a stream in memory: its background (noise, glitches) and foreground (+ signals).

Everything about a chunk follows from the configuration and the chunk's place in time
(``seeds.py``), so any worker makes the same bytes. Signals and glitches that cross a chunk
boundary are drawn whole by each chunk they reach and cut to it; the chunk holding a glitch's
peak or an injection's ``tc`` records it in its table.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import welch

from preprocess.simulate.snr import optimal_snr
from preprocess.stream.config import SAMPLE_RATE, StreamConfig
from preprocess.stream.drift import chunk_levels, gain, level_at
from preprocess.stream.glitches import glitch_record, glitches_between, render_glitch
from preprocess.stream.injections import (
    SOURCE_COLUMNS,
    Injection,
    injections_overlapping,
    render,
)
from preprocess.stream.layout import PSD_DELTA_F, ChunkFile
from preprocess.stream.noise import colored_noise, stream_psds
from preprocess.stream.plan import Chunk
from preprocess.stream.readers import StrainSet

GLITCH_REACH = 2.0  # s: a glitch drawn on 4 s around its peak reaches 2 s either side
PSD_WINDOW = 64  # s of real noise around tc whose median Welch PSD an injection's SNR is against
PSD_SEGMENT = 4  # s: Welch segment (0.25-Hz resolution)


def injection_columns(config: StreamConfig) -> tuple[str, ...]:
    """Columns of the injection table, in order."""
    return ("tc", "segment", *SOURCE_COLUMNS, "distance", "chirp_distance", "mchirp",
            *(f"snr_{d}" for d in config.detectors), "snr_network")


def add_into(target: np.ndarray, start: int, first: int, signal: np.ndarray) -> None:
    """Add ``signal`` ``(..., m)`` starting at GPS sample ``first`` into ``target`` ``(..., n)``
    starting at ``start``, where they overlap."""
    lo, hi = max(start, first), min(start + target.shape[-1], first + signal.shape[-1])
    if lo < hi:
        target[..., lo - start : hi - start] += signal[..., lo - first : hi - first]


def _simulated_background(config: StreamConfig, chunk: Chunk) -> tuple[np.ndarray, list[dict]]:
    """Noise ``(D, n)`` at the drifting level, plus glitches; the glitches peaking here."""
    start, n = chunk.start * SAMPLE_RATE, chunk.duration * SAMPLE_RATE
    noise = np.stack([colored_noise(config, d, start, n) * gain(config, d, start, n)
                      for d in config.detectors])
    segment = chunk.segment
    reach_lo = max(chunk.start - GLITCH_REACH, segment.start)
    reach_hi = min(chunk.stop + GLITCH_REACH, segment.stop)
    records = []
    for glitch in glitches_between(config, reach_lo, reach_hi):
        first, strain = render_glitch(config, glitch)
        add_into(noise[config.detectors.index(glitch.detector)], start, first, strain)
        if chunk.contains(glitch.time):
            records.append(glitch_record(glitch))
    return noise, records


def _real_psd(strain: StrainSet, chunk: Chunk, detector: str, tc: float, n: int) -> np.ndarray:
    """Median Welch PSD ``(n // 2 + 1,)`` of ``PSD_WINDOW`` s of real noise around ``tc``,
    inside its segment, on the rFFT grid of ``n`` samples."""
    segment = chunk.segment
    stop = min(segment.stop, max(segment.start + PSD_WINDOW, round(tc) + PSD_WINDOW // 2))
    start = max(segment.start, stop - PSD_WINDOW)
    x = strain.read(detector, start * SAMPLE_RATE, stop * SAMPLE_RATE)
    freqs, psd = welch(x, SAMPLE_RATE, nperseg=PSD_SEGMENT * SAMPLE_RATE, average="median")
    return np.interp(np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE), freqs, psd)


def _snrs(config: StreamConfig, chunk: Chunk, injection: Injection, signal: np.ndarray,
          strain: StrainSet | None) -> dict[str, float]:
    """Optimal SNR per detector of ``signal`` ``(D, m)`` against the local PSD at ``tc``."""
    m = signal.shape[-1]
    if strain is None:
        levels = np.array([level_at(config, d, injection.tc) for d in config.detectors])
        psd = stream_psds(config, m) * levels[:, None]
    else:
        psd = np.stack([_real_psd(strain, chunk, d, injection.tc, m) for d in config.detectors])
    snrs = optimal_snr(signal, psd, config.f_lower)
    return {d: float(v) for d, v in zip(config.detectors, snrs, strict=True)}


def make_chunk(config: StreamConfig, chunk: Chunk,
               strain: StrainSet | None = None) -> tuple[ChunkFile, ChunkFile | None]:
    """The background and (with injections) foreground files of ``chunk``.

    ``strain`` holds the real noise when ``config.real_noise`` names files.
    """
    start, n = chunk.start * SAMPLE_RATE, chunk.duration * SAMPLE_RATE
    common = dict(detectors=config.detectors, gps_start=chunk.start, duration=chunk.duration,
                  segment=chunk.segment.index, segment_start=chunk.segment.start,
                  chunk=chunk.index)
    if strain is None:
        background, glitches = _simulated_background(config, chunk)
        common |= dict(noise="simulated", glitches=glitches,
                       levels=np.stack([chunk_levels(config, d, chunk.start, chunk.duration)
                                        for d in config.detectors]),
                       psd=stream_psds(config, int(SAMPLE_RATE / PSD_DELTA_F)))
    else:
        background = strain.checked(start, start + n)
        common |= dict(noise="real")
    back = ChunkFile(kind="background", strain=background, **common)
    if not config.has_injections:
        return back, None
    foreground, rows = background.copy(), []
    for injection in injections_overlapping(config, chunk.segment, chunk.start, chunk.stop):
        first, signal = render(config, injection)
        add_into(foreground, start, first, signal)
        if chunk.contains(injection.tc):
            rows.append(injection.record(_snrs(config, chunk, injection, signal, strain)))
    return back, ChunkFile(kind="foreground", strain=foreground, injections=rows, **common)
