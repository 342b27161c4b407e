"""Glitches in a stream: the snippet simulator's families at a rate per hour per detector.

Time is cut into 2-s GPS windows ``[2w, 2w + 2)``. Window ``w`` draws its glitches with the
snippet simulator's own ``draw_glitches`` (family, detector, time, frequency, Q or length, SNR,
phase) from a Generator keyed by ``w``, at the mean count ``3 * glitch_rate * 2 s / 3600 s``
spread uniformly over H1, L1 and V1: each detector gets ``glitch_rate`` per hour, and a
detector's glitches are the same whichever other detectors the stream holds. Glitches of
detectors not simulated, or peaking outside a segment, are dropped.

Each glitch is drawn on a 4-s window centred on its peak (``glitch_waveform``; the longest
family, a scattered-light arch, lasts at most 1 s) and scaled so that its optimal SNR from
``f_lower`` against the local PSD, ``level(t_peak) S(f)``, equals the drawn SNR. A glitch
that straddles a segment edge is cut there.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from preprocess.layout import DETECTORS as SNIPPET_DETECTORS
from preprocess.layout import N_TIME
from preprocess.simulate.config import SimulationConfig
from preprocess.simulate.glitches import Glitch, draw_glitches, glitch_waveform
from preprocess.simulate.snr import optimal_snr
from preprocess.stream.config import SAMPLE_RATE, StreamConfig
from preprocess.stream.drift import level_at
from preprocess.stream.noise import stream_psds
from preprocess.stream.seeds import GLITCH, generator

WINDOW = N_TIME // SAMPLE_RATE  # s: the snippet window glitches are drawn in (2)
RENDER = 4 * SAMPLE_RATE  # samples each glitch is drawn on, centred on its peak
COLUMNS = ("time", "detector", "type", "frequency", "q", "duration", "snr", "phase")


@functools.lru_cache(maxsize=4)
def snippet_config(config: StreamConfig) -> SimulationConfig:
    """The snippet simulator's settings that make one 2-s window's glitches."""
    per_window = config.glitch_rate * len(SNIPPET_DETECTORS) * WINDOW / 3600.0
    return SimulationConfig(
        n_train=1, n_test=0, seed=config.seed, f_lower=config.f_lower,
        glitch_rate=per_window, glitch_types=config.glitch_types,
        glitch_snr_min=config.glitch_snr_min, glitch_snr_max=config.glitch_snr_max,
        glitch_snr_distribution=config.glitch_snr_distribution,
        glitch_time_min=0.0, glitch_time_max=float(WINDOW),
    )  # fmt: skip


def glitches_between(config: StreamConfig, start: float, stop: float) -> list[Glitch]:
    """Glitches of ``config.detectors`` peaking in GPS ``[start, stop)``; ``time`` in GPS s."""
    if config.glitch_rate <= 0:
        return []
    snippet = snippet_config(config)
    found = []
    for window in range(int(start // WINDOW), int(-(-stop // WINDOW))):
        for glitch in draw_glitches(generator(config.seed, GLITCH, window), snippet):
            time = window * WINDOW + glitch.time
            if glitch.detector in config.detectors and start <= time < stop:
                found.append(dataclasses.replace(glitch, time=time))
    return found


def render_glitch(config: StreamConfig, glitch: Glitch) -> tuple[int, np.ndarray]:
    """``(first GPS sample, strain (RENDER,))`` of ``glitch`` at its SNR against the local PSD."""
    first = int(round(glitch.time * SAMPLE_RATE)) - RENDER // 2
    local = dataclasses.replace(glitch, time=glitch.time - first / SAMPLE_RATE)
    shape = glitch_waveform(local, RENDER)
    d = config.detectors.index(glitch.detector)
    psd = stream_psds(config, RENDER)[d] * level_at(config, glitch.detector, glitch.time)
    reference = float(optimal_snr(shape, psd, config.f_lower))
    if reference <= 0:
        raise RuntimeError(f"glitch {glitch} has no power above {config.f_lower} Hz")
    return first, shape * (glitch.snr / reference)


def glitch_record(glitch: Glitch) -> dict:
    """One row of the glitch table (``COLUMNS``)."""
    return {name: getattr(glitch, name) for name in COLUMNS}
