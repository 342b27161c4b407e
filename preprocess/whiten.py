"""Whitening, band-pass and taper of 2-s detector samples, by a PSD of ``preprocess.psd``.

The PSD (``preprocess.psd.estimate``) sits exactly on the rFFT grid used here (0.5 Hz for 4096
samples at 2048 Hz), and its periodograms are tapered by the same window applied before
whitening. Whitening and band-pass are one frequency-domain filter
``bandpass(f) / sqrt(PSD(f) * fs / 2)`` applied in torch on the build device:

    x (B, 3, N) -> x * tukey -> rfft -> * filter (3, N/2+1) -> irfft -> (B, 3, N)

The band-pass is the zero-phase response ``|H(f)|^2`` of a Butterworth filter designed by
``scipy.signal.butter`` (what ``sosfiltfilt`` applies, without its edge padding; the taper
already takes the edges to zero). Whitened noise then has unit variance per rFFT bin before
the band-pass, i.e. an O(1) time series.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import signal

from preprocess.config import WhitenConfig


def taper(config: WhitenConfig) -> np.ndarray:
    """The Tukey window ``(n_time,)`` applied before every FFT."""
    return signal.windows.tukey(config.n_time, config.taper_alpha)


def bandpass_response(config: WhitenConfig) -> np.ndarray:
    """Zero-phase Butterworth power response ``|H(f)|^2`` ``(F,)`` on the rFFT grid."""
    freqs = config.frequencies
    nyquist = config.sample_rate / 2
    low = config.bandpass_low if config.bandpass_low > 0 else None
    high = config.bandpass_high if 0 < config.bandpass_high < nyquist else None
    if low is None and high is None:
        return np.ones_like(freqs)
    if low is not None and high is not None:
        sos = signal.butter(config.bandpass_order, [low, high], "bandpass", fs=config.sample_rate,
                            output="sos")
    else:
        kind = "highpass" if low is not None else "lowpass"
        sos = signal.butter(config.bandpass_order, low or high, kind, fs=config.sample_rate,
                            output="sos")
    _, response = signal.sosfreqz(sos, worN=freqs, fs=config.sample_rate)
    return np.abs(response) ** 2


def whitening_filter(psd: np.ndarray | None, config: WhitenConfig) -> np.ndarray:
    """Frequency-domain filter ``(D, F)`` for samples in ``raw_scale`` units (``(1, F)``
    without whitening: the band-pass, the same for every detector).

    ``bandpass / sqrt(PSD * fs / 2)`` with the PSD in the same scaled units; 0 where the PSD
    is 0 (frequencies with no noise power carry no information). Without whitening: the
    band-pass alone.
    """
    response = bandpass_response(config)
    n_bins = len(response)
    if not config.whiten:
        return response[None, :].copy()  # (1, F): the same for any number of detectors
    if psd is None:
        raise ValueError("whitening needs a PSD")
    psd = np.asarray(psd, dtype=np.float64) / config.raw_scale**2
    if psd.shape[-1] != n_bins:
        raise ValueError(f"PSD has {psd.shape[-1]} frequencies, the rFFT grid has {n_bins}")
    with np.errstate(divide="ignore"):
        inverse_asd = np.where(psd > 0, 1.0 / np.sqrt(psd * config.sample_rate / 2), 0.0)
    return inverse_asd * response


class Whitener(torch.nn.Module):
    """Taper, whiten and band-pass a batch in torch: ``(B, 3, N)`` -> ``(B, 3, N)``.

    Input is strain divided by ``config.raw_scale`` (float32 is then safe). ``level``, when
    given, maps the filtered spectra ``(B, 3, F)`` before the inverse FFT (a per-sample
    normalisation, ``preprocess.normalize.SampleLevel``).
    """

    def __init__(self, psd: np.ndarray | None, config: WhitenConfig,
                 level: torch.nn.Module | None = None):
        super().__init__()
        self.n_time = config.n_time
        self.register_buffer("window", torch.from_numpy(taper(config)).float())  # (N,)
        filt = whitening_filter(psd, config)
        self.register_buffer("filter", torch.from_numpy(filt).to(torch.complex64))  # (3, F)
        self.level = level

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spectrum = torch.fft.rfft(x * self.window, dim=-1) * self.filter  # (B, 3, F)
        if self.level is not None:
            spectrum = self.level(spectrum)
        return torch.fft.irfft(spectrum, n=self.n_time, dim=-1)
