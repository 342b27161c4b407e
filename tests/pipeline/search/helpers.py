"""Small data for the search tests: Gaussian stream noise, bank templates and a glitch in it."""

from __future__ import annotations

import numpy as np

from pipeline.bank.config import SearchBankConfig
from pipeline.bank.stream import SearchBank
from pipeline.search.matched_filter.config import FilterConfig
from preprocess.psd.config import PSDConfig
from preprocess.simulate.glitches import Glitch, glitch_waveform
from preprocess.simulate.snr import optimal_snr
from preprocess.stream.config import SAMPLE_RATE, StreamConfig
from preprocess.stream.noise import colored_noise, stream_psds

GPS = 1238166018  # GPS second every test segment starts at
DETECTORS = ("H1", "L1")
NOISE = StreamConfig(seed=5, detectors=DETECTORS, injection_spacing=0)  # design PSDs, level 1
# 12 templates of 20-50 Msun: at most about 2 s long from 20 Hz, so 32-s blocks keep 19 s
BANK = SearchBankConfig(n_templates=12, mass_min=20.0, mass_max=50.0, candidates_per_template=5,
                        placement_duration=8.0)
FILTER = FilterConfig(bank=BANK, block=32.0, psd=PSDConfig(span=128.0))


def noise(seconds: int, seed: int = 5) -> np.ndarray:
    """Stationary Gaussian noise ``(2, seconds * 2048)`` of H1 and L1 from GPS ``GPS``."""
    config = StreamConfig(seed=seed, detectors=DETECTORS, injection_spacing=0)
    n = seconds * SAMPLE_RATE
    return np.stack([colored_noise(config, d, GPS * SAMPLE_RATE, n) for d in DETECTORS])


def true_psd(n: int) -> np.ndarray:
    """The noise's one-sided PSD ``(2, n // 2 + 1)`` (1/Hz) on the rFFT grid of ``n`` samples."""
    return stream_psds(NOISE, n)


def template_signal(bank: SearchBank, k: int, n: int, merger: int, snr: float) -> np.ndarray:
    """Template ``k`` ``(2, n)`` merging at sample ``merger``, at optimal SNR ``snr`` in each
    detector against ``true_psd``."""
    h = bank.spectra(SAMPLE_RATE / n, n // 2 + 1)[k].astype(np.complex128)
    # merger at index 0 -> merger; in strain units (1e-22) so the SNR's sums stay finite
    waveform = np.roll(np.fft.irfft(h * SAMPLE_RATE, n=n), merger) * 1e-22
    psd = true_psd(n)
    return np.stack([waveform * snr / optimal_snr(waveform, row, BANK.f_lower) for row in psd])


def sine_gaussian(n: int, peak: int, snr: float, frequency: float = 120.0,
                  q: float = 10.0) -> np.ndarray:
    """A sine-Gaussian ``(n,)`` peaking at sample ``peak`` at SNR ``snr`` against H1's PSD."""
    tau = q / (np.sqrt(2) * np.pi * frequency)
    glitch = Glitch("sine_gaussian", "H1", peak / SAMPLE_RATE, frequency, q, 2 * tau, snr, 0.3)
    shape = glitch_waveform(glitch, n) * 1e-22
    return shape * snr / optimal_snr(shape, true_psd(n)[0], BANK.f_lower)


def trigger_attrs(**changes) -> dict:
    """The provenance a trigger file records (``triggers.PROVENANCE``), for files made here:
    a matched-filter zero-lag file of H1 L1 strain; ``changes`` override."""
    return {"duration": 1e4, "search": "matched-filter", "statistic": "newsnr",
            "detectors": "H1 L1", "slides": 0, "slide_step": 8.0, "strain": "s" * 16, **changes}
