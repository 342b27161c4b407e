"""Slow drift of each detector's noise level: a mean-reverting log-normal walk, sampled at 1 Hz.

``ln(level)`` is an Ornstein-Uhlenbeck process with mean ``(ln level_min + ln level_max) / 2``,
standard deviation ``(ln level_max - ln level_min) / 4`` (so 95% of the time the level lies in
[min, max]) and correlation time ``level_timescale``, clipped to [ln min, ln max]. It is drawn
exactly on knots at every GPS second of the stream, from the first segment's start to the last
one's stop (through the gaps), in one pass per detector from its own Generator, so every worker
computes the same knots. Between knots ``ln(level)`` is interpolated linearly.

``level`` multiplies the PSD (power): the noise is scaled by ``sqrt(level)``. Over the few
seconds of a filter's memory the level changes by well under 1% (timescale minutes), so the
local PSD is ``level(t) S(f)``; glitch and injection SNRs are computed against it.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.signal import lfilter

from preprocess.stream.config import SAMPLE_RATE, StreamConfig
from preprocess.stream.plan import simulated_segments, stream_span
from preprocess.stream.seeds import DETECTOR_CODES, DRIFT, generator


def has_drift(config: StreamConfig) -> bool:
    return config.level_min != config.level_max


@functools.lru_cache(maxsize=8)
def log_level_knots(config: StreamConfig, detector: str) -> tuple[int, np.ndarray]:
    """``(first GPS second, ln(level) (n_seconds + 1,))`` of ``detector`` over the stream."""
    start, stop = stream_span(simulated_segments(config))
    low, high = math.log(config.level_min), math.log(config.level_max)
    mean, std = (low + high) / 2, (high - low) / 4
    n = stop - start + 1
    if std == 0:
        knots = np.full(n, mean)
    else:
        a = math.exp(-1.0 / config.level_timescale)  # one-second step of the OU process
        steps = generator(config.seed, DRIFT, DETECTOR_CODES[detector]).standard_normal(n)
        steps[1:] *= std * math.sqrt(1 - a * a)
        steps[0] *= std  # the first knot drawn from the stationary distribution
        knots = np.clip(mean + lfilter([1.0], [1.0, -a], steps), low, high)
    knots.setflags(write=False)
    return start, knots


def log_level(config: StreamConfig, detector: str, times: np.ndarray) -> np.ndarray:
    """``ln(level)`` at GPS ``times`` (any shape), linearly interpolated between knots."""
    first, knots = log_level_knots(config, detector)
    return np.interp(np.asarray(times, dtype=np.float64) - first, np.arange(len(knots)), knots)


def level_at(config: StreamConfig, detector: str, time: float) -> float:
    """The PSD level of ``detector`` at GPS ``time``."""
    return float(np.exp(log_level(config, detector, np.array(time))))


def gain(config: StreamConfig, detector: str, start: int, n: int) -> np.ndarray:
    """``sqrt(level)`` ``(n,)`` at GPS samples ``start ...`` (GPS s x 2048): the noise scale."""
    first, knots = log_level_knots(config, detector)
    seconds = (start - first * SAMPLE_RATE + np.arange(n)) / SAMPLE_RATE
    return np.exp(0.5 * np.interp(seconds, np.arange(len(knots)), knots))


def chunk_levels(config: StreamConfig, detector: str, start: int, duration: int) -> np.ndarray:
    """The knots ``(duration + 1,)`` of GPS seconds ``start ... start + duration``, as levels."""
    first, knots = log_level_knots(config, detector)
    return np.exp(knots[start - first : start - first + duration + 1])
