"""Optimal matched-filter SNR of a known signal against a known PSD."""

from __future__ import annotations

import numpy as np

from preprocess.layout import SAMPLE_RATE


def optimal_snr(
    signal: np.ndarray, psd: np.ndarray, f_lower: float, sample_rate: float = SAMPLE_RATE
) -> np.ndarray:
    """Per-detector optimal SNR ``sqrt(4 df sum |h(f)|^2 / S(f))`` over ``f_lower <= f < fs/2``.

    ``signal`` is ``(..., N)`` strain as it lies in the window (no taper); ``psd`` is
    ``(..., N // 2 + 1)`` one-sided in 1/Hz on the same rFFT grid. Bins where the PSD is 0
    (no noise model there) are skipped. Returns ``(...)``.
    """
    n = signal.shape[-1]
    df = sample_rate / n
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    spectrum = np.fft.rfft(signal, axis=-1) / sample_rate  # continuous-FT convention h(f)
    band = (freqs >= f_lower) & (freqs < sample_rate / 2)
    psd = np.broadcast_to(psd, spectrum.shape)[..., band]
    power = np.abs(spectrum[..., band]) ** 2
    ratio = np.divide(power, psd, out=np.zeros_like(power), where=psd > 0)
    return np.sqrt(4.0 * df * ratio.sum(axis=-1))


def network_snr(snrs: np.ndarray) -> float:
    """Network SNR: root of the sum of squared detector SNRs ``(D,)``."""
    return float(np.sqrt(np.sum(np.square(snrs))))
