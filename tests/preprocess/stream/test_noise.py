"""Continuous noise: its PSD, its continuity across chunks, the level drift and the PSD shape."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.signal import welch

from preprocess.layout import SAMPLE_RATE as SNIPPET_RATE
from preprocess.stream.config import SAMPLE_RATE, StreamConfig
from preprocess.stream.drift import chunk_levels, log_level_knots
from preprocess.stream.noise import colored_noise, shape_weights, stream_psds

FS = SAMPLE_RATE
CONFIG = StreamConfig(seed=3)


def test_stream_rate_is_the_snippet_rate() -> None:
    assert SAMPLE_RATE == SNIPPET_RATE


def test_welch_psd_matches_the_design_curve_within_its_sampling_error() -> None:
    seconds, nperseg = 256, 4 * FS
    segments = 2 * seconds * FS // nperseg - 1  # Welch's default: Hann, 50% overlap
    # Percival & Walden: Hann at 50% overlap has 36 K^2 / (19 K - 1) degrees of freedom, so
    # one bin's relative standard deviation is sqrt(2 / dof) (0.091 here).
    per_bin = math.sqrt(2 / (36 * segments**2 / (19 * segments - 1)))
    for d, detector in enumerate(CONFIG.detectors):
        x = colored_noise(CONFIG, detector, CONFIG.gps_start * FS, seconds * FS)
        freqs, psd = welch(x, FS, nperseg=nperseg)
        design = stream_psds(CONFIG, nperseg)[d]
        for low, high in [(20, 1000), *((f, min(f + 50, 1000)) for f in range(20, 1000, 50))]:
            band = (freqs >= low) & (freqs < high)
            # Band power, which the Welch window's smoothing of Virgo's narrow lines keeps:
            # a sum of bins weighted by the PSD has (sum w)^2 / sum w^2 bins' worth of
            # averaging, half of them independent (neighbouring Hann bins are correlated).
            weights = design[band]
            effective = weights.sum() ** 2 / (weights**2).sum() / 2
            ratio = psd[band].sum() / weights.sum()
            assert abs(ratio - 1) < 5 * per_bin / math.sqrt(effective), (detector, low)


def test_noise_is_one_realisation_whatever_the_chunks() -> None:
    start = CONFIG.gps_start * FS
    whole = colored_noise(CONFIG, "L1", start, 40 * FS)
    parts = np.concatenate([colored_noise(CONFIG, "L1", start, 13 * FS),
                            colored_noise(CONFIG, "L1", start + 13 * FS, 27 * FS)])
    # the same sums through FFTs of other sizes: float64 rounding, ~1e-16 per term
    assert np.abs(parts - whole).max() < 1e-12 * whole.std()
    other = colored_noise(dataclasses.replace(CONFIG, seed=4), "L1", start, FS)
    assert np.abs(other - whole[:FS]).max() > 0.5 * whole.std()  # another seed, other noise


def test_a_detector_has_the_same_noise_whatever_the_others() -> None:
    alone = dataclasses.replace(CONFIG, detectors=("V1",))
    start = CONFIG.gps_start * FS
    np.testing.assert_array_equal(colored_noise(alone, "V1", start, 4 * FS),
                                  colored_noise(CONFIG, "V1", start, 4 * FS))


def test_level_drift_stays_in_range_with_the_stated_statistics() -> None:
    config = StreamConfig(seed=5, duration=86400, segment_duration=86400, level_min=0.5,
                          level_max=2.0, level_timescale=60.0)
    first, knots = log_level_knots(config, "H1")
    assert first == config.gps_start and len(knots) == 86401
    low, high = math.log(0.5), math.log(2.0)
    assert knots.min() >= low and knots.max() <= high and knots.max() > knots.min()
    # mean of an OU process over T = 1440 timescales: standard error std * sqrt(2 tau / T)
    std = (high - low) / 4
    assert abs(knots.mean()) < 5 * std * math.sqrt(2 / 1440)
    # one-second steps: correlation exp(-1 / 60) = 0.9835, estimated from 86400 pairs; the
    # clip at 2 std (4.6% of the time) bends it by well under 0.002
    centred = knots - knots.mean()
    lag1 = (centred[1:] * centred[:-1]).mean() / centred.var()
    assert abs(lag1 - math.exp(-1 / 60)) < 0.005
    levels = chunk_levels(config, "H1", config.gps_start + 100, 10)
    np.testing.assert_allclose(np.log(levels), knots[100:111])


def test_shape_mix_changes_the_shape_and_keeps_the_sensitivity() -> None:
    mixed = StreamConfig(seed=1, psd_shape_mix=1.0)
    weights = shape_weights(mixed)
    assert ((weights > 0) & (weights < 1)).all()
    n = 4 * FS
    freqs = np.fft.rfftfreq(n, 1 / FS)
    band = (freqs >= 20) & (freqs < 500)  # the band where the snippet simulator matches 1/S
    design, curve = stream_psds(CONFIG, n), stream_psds(mixed, n)
    inverse = (1 / curve[:, band]).mean(-1) / (1 / design[:, band]).mean(-1)
    # The observing curves are rescaled to the design's mean 1/S over the band (on the 2-s
    # grid; on this 4-s grid the two means agree to 1e-4), and 1/S of a mix is at most the mix
    # of 1/S (convexity): the mixed curve is no more sensitive than the design.
    assert np.all(inverse < 1 + 1e-3)
    assert np.abs(curve[:, band] / design[:, band] - 1).max() > 0.05  # but of another shape
