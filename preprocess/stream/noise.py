"""Continuous coloured Gaussian noise: white noise keyed by GPS second, through one FIR filter.

Each detector's noise is unit white noise, drawn in 1-s blocks whose Generator is keyed by
(seed, detector, GPS second), convolved with a fixed linear-phase FIR filter whose response is
the amplitude spectral density. A convolution of stationary white noise is exactly stationary
and has no seams: a chunk draws the blocks it needs (its own seconds plus half the filter
length either side), so its samples are those of one infinite realisation, whichever chunk or
worker computes them. Its PSD is ``|H(f)|^2 2 / fs``: the filter is the inverse rFFT of
``sqrt(S fs / 2)`` on a ``FILTER_DURATION``-s grid, centred and Hann-windowed, which smooths
``S`` over about 1/8 Hz (checked: a Welch estimate of simulated noise matches the design curve
within its sampling error over 20-1000 Hz, ``tests/preprocess/stream/test_noise.py``).

The PSD is the snippet simulator's design curve with its seismic wall (``preprocess.simulate
.noise``), or with ``psd_shape_mix`` a per-detector mix with the O3-like observing curve
rescaled to the design sensitivity, as ``preprocess.simulate.noise_condition`` does per sample.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.signal import fftconvolve

from preprocess.layout import N_TIME
from preprocess.simulate.config import (
    DESIGN_CURVES,
    NOISE_F_LOW,
    OBSERVING_CURVES,
    SEISMIC_F_LOW,
    SEISMIC_SLOPE,
)
from preprocess.simulate.noise import detector_psds
from preprocess.simulate.noise_condition import SENSITIVITY_BAND, match_sensitivity
from preprocess.stream.config import SAMPLE_RATE, StreamConfig
from preprocess.stream.seeds import DETECTOR_CODES, NOISE, SHAPE, generator

FILTER_DURATION = 16  # s: FIR length; the PSD is followed to 1/16-Hz detail (Virgo's lines)
FILTER_TAPS = FILTER_DURATION * SAMPLE_RATE + 1  # odd, so the centre tap is a sample


def shape_weights(config: StreamConfig) -> np.ndarray:
    """Weight ``(D,)`` of the observing curve per detector, uniform in [0, psd_shape_mix]."""
    return np.array([
        generator(config.seed, SHAPE, DETECTOR_CODES[d]).uniform(0.0, config.psd_shape_mix)
        for d in config.detectors
    ])


def _curves(names: tuple[str, ...], n_time: int) -> np.ndarray:
    return detector_psds(names, n_time, NOISE_F_LOW, SEISMIC_F_LOW, SEISMIC_SLOPE)


def _observing_factor(detector: str) -> float:
    """How much ``match_sensitivity`` divides the observing curve by (a scalar per detector).

    ``match_sensitivity`` works on the 2-s snippet grid; the factor it applies does not depend
    on the grid, so it is read off there and applied to the stream's grids.
    """
    design = _curves((DESIGN_CURVES[detector],), N_TIME)
    observing = _curves((OBSERVING_CURVES[detector],), N_TIME)
    matched = match_sensitivity(design, observing)
    k = int(SENSITIVITY_BAND[0] * N_TIME / SAMPLE_RATE)  # a bin inside the band: curve > 0
    return float(observing[0, k] / matched[0, k])


@functools.lru_cache(maxsize=16)
def stream_psds(config: StreamConfig, n_time: int) -> np.ndarray:
    """One-sided PSDs ``(D, n_time // 2 + 1)`` (1/Hz) at level 1, on the rFFT grid of
    ``n_time`` samples at 2048 Hz: design curve, mixed with the observing curve by weight."""
    dets = config.detectors
    psds = _curves(tuple(DESIGN_CURVES[d] for d in dets), n_time).copy()
    weights = shape_weights(config)
    if weights.any():
        observing = _curves(tuple(OBSERVING_CURVES[d] for d in dets), n_time)
        factors = np.array([_observing_factor(d) for d in dets])
        psds = (1 - weights)[:, None] * psds + (weights / factors)[:, None] * observing
    psds.setflags(write=False)
    return psds


def coloring_taps(psd: np.ndarray) -> np.ndarray:
    """FIR taps ``(FILTER_TAPS,)`` whose response is ``sqrt(psd fs / 2)``.

    ``psd`` is ``(FILTER_TAPS // 2 + 1,)`` on the rFFT grid of ``FILTER_TAPS - 1`` samples.
    Unit white noise through these taps has one-sided PSD ``psd``.
    """
    n = FILTER_TAPS - 1
    impulse = np.fft.irfft(np.sqrt(psd * SAMPLE_RATE / 2.0), n=n)  # zero-phase, even in lag
    taps = np.roll(impulse, n // 2)  # lag 0 at the centre
    return np.append(taps, taps[0]) * np.hanning(FILTER_TAPS)  # symmetric, odd length


@functools.lru_cache(maxsize=4)
def stream_taps(config: StreamConfig) -> np.ndarray:
    """Colouring taps ``(D, FILTER_TAPS)``, one row per detector of ``config``."""
    psds = stream_psds(config, FILTER_TAPS - 1)
    taps = np.stack([coloring_taps(row) for row in psds])
    taps.setflags(write=False)
    return taps


def white_noise(seed: int, detector: str, first_second: int, n_seconds: int) -> np.ndarray:
    """Unit white noise ``(n_seconds * 2048,)`` for GPS seconds ``first_second ...``."""
    code = DETECTOR_CODES[detector]
    return np.concatenate([
        generator(seed, NOISE, code, second).standard_normal(SAMPLE_RATE)
        for second in range(first_second, first_second + n_seconds)
    ])


def colored_noise(config: StreamConfig, detector: str, start: int, n: int) -> np.ndarray:
    """Noise ``(n,)`` of ``detector`` at level 1 from GPS sample ``start`` (GPS s x 2048).

    Sample ``t`` is the taps applied to the white noise around GPS sample ``t``, so chunks
    that split a stream differently agree to float rounding (FFT sizes differ).
    """
    taps = stream_taps(config)[config.detectors.index(detector)]
    half = FILTER_TAPS // 2
    first, last = start - half, start + n + half  # white samples the output depends on
    second0 = first // SAMPLE_RATE
    n_seconds = -(-last // SAMPLE_RATE) - second0
    white = white_noise(config.seed, detector, second0, n_seconds)
    offset = first - second0 * SAMPLE_RATE
    return fftconvolve(white[offset : offset + n + 2 * half], taps, mode="valid")
