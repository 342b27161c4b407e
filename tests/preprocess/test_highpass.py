"""The zero-phase high-pass before windows: what it removes, what it keeps, how it is set."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import sosfreqz

from preprocess.highpass import highpass, highpass_sos
from preprocess.layout import SAMPLE_RATE
from preprocess.stream.config import ReadOptions


def test_it_removes_the_seismic_band_and_keeps_the_analysis_band() -> None:
    """Sinusoids at 5 and 100 Hz, 1e4 apart in amplitude (a seismic wall over the band): each
    comes out scaled by the filter's zero-phase response |H(f)|^2 at its frequency."""
    t = np.arange(16 * SAMPLE_RATE) / SAMPLE_RATE
    low, band = 1e4 * np.sin(2 * np.pi * 5.0 * t), np.sin(2 * np.pi * 100.0 * t + 0.3)
    out = highpass(low + band, 15.0)
    _, response = sosfreqz(highpass_sos(15.0), worN=[5.0, 100.0], fs=SAMPLE_RATE)
    gain = np.abs(response) ** 2  # forwards and backwards
    middle = slice(4 * SAMPLE_RATE, 12 * SAMPLE_RATE)  # away from the ends' transients
    assert gain[0] < 1e-7 and gain[1] == pytest.approx(1.0, abs=1e-9)
    expected = gain[0] * low + gain[1] * band  # zero phase: no shift at either frequency
    np.testing.assert_allclose(out[middle], expected[middle], rtol=0, atol=1e-6)


def test_zero_is_off() -> None:
    data = np.random.default_rng(0).normal(size=(2, 4096))
    assert highpass(data, 0.0) is data


@pytest.mark.parametrize("value", [-1.0, 1024.0, float("nan")])
def test_a_corner_outside_the_band_is_refused(value: float) -> None:
    with pytest.raises(ValueError, match="highpass"):
        ReadOptions(highpass=value)
