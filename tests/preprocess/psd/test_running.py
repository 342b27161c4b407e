"""The running PSD: Welch's median unbiased on Gaussian noise, the training estimator run over
a stream equal to build-cqt's of the same windows, spans placed where they are asked."""

from __future__ import annotations

import numpy as np
import pytest

from preprocess.psd.config import PSDConfig
from preprocess.psd.estimate import median_bias
from preprocess.psd.running import RunningPSD
from preprocess.stream.config import SAMPLE_RATE
from tests.pipeline.search.helpers import noise, true_psd


def test_median_bias_tends_to_ln2() -> None:
    assert median_bias(1) == 1.0
    assert median_bias(3) == pytest.approx(1 - 1 / 2 + 1 / 3)
    assert median_bias(10001) == pytest.approx(np.log(2), abs=1e-4)


def test_running_psd_matches_the_noise_psd() -> None:
    config = PSDConfig(span=128.0, segment=4.0)
    data = noise(160)
    psd = RunningPSD.welch(data, config, SAMPLE_RATE)
    estimate = psd.at(150 * SAMPLE_RATE, 160 * SAMPLE_RATE)  # (2, F): 128 s before t = 160 s
    n = psd.method.length
    truth = true_psd(n)
    freqs = psd.frequencies
    for low in (30, 100, 300):
        band = (freqs >= low) & (freqs < low + 20)
        ratio = estimate[:, band].sum(axis=1) / truth[:, band].sum(axis=1)  # (2,)
        # a median of n exponentials errs by about 1.25 / sqrt(n) per bin (its efficiency
        # against a mean is 2 / pi); the 80 bins of a 20-Hz band average that down, Hann
        # neighbours being correlated (about 40 independent)
        segments = 2 * 128 // 4 - 1
        error = 1.25 / np.sqrt(segments) / np.sqrt(40)
        assert np.all(np.abs(ratio - 1) <= 5 * error), ratio


def test_span_placement_inside_the_segment() -> None:
    config = PSDConfig(span=64.0, segment=4.0)
    psd = RunningPSD.welch(noise(160), config, SAMPLE_RATE)
    s = SAMPLE_RATE
    assert psd.span(100 * s, 110 * s) == (46 * s, 110 * s)  # preceding: ends with the stretch
    assert psd.span(0, 10 * s) == (0, 64 * s)  # shifted inside at the start
    centred = RunningPSD.welch(noise(160), PSDConfig(span=64.0, placement="centred"),
                               SAMPLE_RATE)
    assert centred.span(100 * s, 110 * s) == (73 * s, 137 * s)
    assert centred.span(150 * s, 160 * s) == (96 * s, 160 * s)  # shifted inside at the end
