"""Noise PSD estimation, whitening, band-pass and taper of 2-s detector samples.

The PSD is the average of Tukey-windowed periodograms of whole noise-only training samples (as
top G2Net solutions did): it sits exactly on the rFFT grid used for whitening (0.5 Hz for
4096 samples at 2048 Hz), so no interpolation or segment-length choice is needed, and the window
is the same one applied before whitening. Whitening and band-pass are one frequency-domain
filter ``bandpass(f) / sqrt(PSD(f) * fs / 2)`` applied in torch on the build device:

    x (B, 3, N) -> x * tukey -> rfft -> * filter (3, N/2+1) -> irfft -> (B, 3, N)

The band-pass is the zero-phase response ``|H(f)|^2`` of a Butterworth filter designed by
``scipy.signal.butter`` (what ``sosfiltfilt`` applies, without its edge padding; the taper
already takes the edges to zero). Whitened noise then has unit variance per rFFT bin before
the band-pass, i.e. an O(1) time series.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

import numpy as np
import torch
from scipy import signal

from preprocess.config import WhitenConfig

logger = logging.getLogger(__name__)

OUTLIER_FACTOR = 10.0  # band power this far from the median keeps a sample out of the PSD
GATE_SIGMAS = 5.0  # a band of a sample this many standard deviations above noise is left out
GATE_BANDS = 24  # log-spaced bands from GATE_LOW Hz to Nyquist, judged separately
GATE_LOW = 8.0


def taper(config: WhitenConfig) -> np.ndarray:
    """The Tukey window ``(n_time,)`` applied before every FFT."""
    return signal.windows.tukey(config.n_time, config.taper_alpha)


def periodograms(samples: np.ndarray, config: WhitenConfig) -> np.ndarray:
    """One-sided windowed periodograms ``(B, 3, F)`` of ``(B, 3, N)`` samples (input units^2/Hz)."""
    window = taper(config)
    spectra = np.fft.rfft(samples * window, axis=-1)
    return 2.0 * np.abs(spectra) ** 2 / (config.sample_rate * np.sum(window**2))


def power_outliers(spectra: np.ndarray, config: WhitenConfig) -> np.ndarray:
    """Which of ``(S, 3, F)`` periodograms to leave out of a PSD average: ``(S,)`` bool.

    A sample is an outlier when, in any detector, its power in the band-pass band lies more
    than ``OUTLIER_FACTOR`` times above or below the median over the samples: one corrupt or
    glitch-dominated sample then cannot move the PSD that every image is whitened with, while
    ordinary drifts of the noise level (a factor of a few) stay in.
    """
    freqs = config.frequencies
    high = config.bandpass_high if config.bandpass_high > 0 else freqs[-1]
    band = (freqs >= max(config.bandpass_low, freqs[1])) & (freqs <= high)
    power = spectra[..., band].sum(axis=-1)  # (S, 3)
    ratio = power / np.median(power, axis=0)
    with np.errstate(invalid="ignore"):
        bad = ~((ratio <= OUTLIER_FACTOR) & (ratio >= 1.0 / OUTLIER_FACTOR))
    return bad.any(axis=1)


def masked_median(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Median over axis 0 of ``values`` ``(S, ...)`` where ``keep``, NaN where none is kept:
    ``np.nanmedian`` of the masked values, to the bit, without its masked-array path (17x
    faster on 256 periodograms; a search takes thousands)."""
    n = keep.sum(axis=0).reshape(-1)  # (cells,)
    ordered = np.sort(np.where(keep, values, np.nan).reshape(len(values), -1).T, axis=1)
    lo = np.take_along_axis(ordered, np.maximum((n - 1) // 2, 0)[:, None], axis=1)[:, 0]
    hi = np.take_along_axis(ordered, np.minimum(n // 2, len(values) - 1)[:, None], axis=1)[:, 0]
    median = (lo + hi) / 2  # NaN sorts last, so the kept values come first
    median[n == 0] = np.nan
    return median.reshape(values.shape[1:])


def excess_power_gate(spectra: np.ndarray, config: WhitenConfig,
                      passes: int = 2) -> np.ndarray:
    """Which bins of ``(S, 3, F)`` periodograms to average: ``(S, 3, F)`` bool.

    A glitch (or a signal) puts power into some bands of some samples. Each sample's mean
    power over each of ``GATE_BANDS`` log-spaced bands, relative to the median estimate, is
    noise's: mean 1, standard deviation ``sqrt(2 / K)`` for K bins (neighbouring bins of a
    tapered periodogram are correlated: about K / 2 independent ones). A band more than
    ``GATE_SIGMAS`` standard deviations above is left out of that detector's average in that
    band only (noise alone trips it about once in 3 million); the median is then taken again
    over what is left, ``passes`` times. Noise is not biased by it, while loud excess power,
    however common, is removed: the median alone is moved once a sizeable share of samples
    carries a glitch in a band (tens of per cent at one glitch per sample).
    """
    freqs = config.frequencies
    edges = np.geomspace(GATE_LOW, freqs[-1], GATE_BANDS + 1)
    keep = np.ones(spectra.shape, dtype=bool)
    for _ in range(passes):
        reference = masked_median(spectra, keep)  # (3, F): the scale cancels in the ratio
        ratio = spectra / np.where(reference > 0, reference, np.inf)
        keep = np.ones(spectra.shape, dtype=bool)
        for low, high in zip(edges[:-1], edges[1:], strict=True):
            bins = (freqs >= low) & (freqs < high) & (reference > 0).all(axis=0)
            if bins.sum() < 4:
                continue
            excess = ratio[..., bins].mean(axis=-1) * math.log(2.0)  # (S, 3), noise: mean 1
            limit = 1.0 + GATE_SIGMAS * math.sqrt(2.0 / bins.sum())
            keep[..., bins] &= (excess <= limit)[..., None]
        keep |= ~keep.any(axis=0, keepdims=True)  # a bin no sample passes keeps them all
    return keep


def estimate_psd(samples: Iterable[np.ndarray], config: WhitenConfig) -> np.ndarray:
    """Average noise PSD ``(3, F)`` in strain^2/Hz from raw ``(3, N)`` noise-only samples.

    Uses at most ``config.psd_max_samples`` samples, leaves out ``power_outliers`` (logged by
    position) and, band by band, the excess power of glitches and signals
    (``excess_power_gate``), then averages what is left (``config.psd_average``). Computed in
    float64 numpy on the CPU so every rank and device of a build gets the identical PSD.
    Raises ``ValueError`` rather than return a non-finite PSD.
    """
    batch, estimates = [], []
    for i, sample in enumerate(samples):
        if i >= config.psd_max_samples:
            break
        batch.append(np.asarray(sample, dtype=np.float64) / config.raw_scale)
        if len(batch) == 256:
            estimates.append(periodograms(np.stack(batch), config))
            batch = []
    if batch:
        estimates.append(periodograms(np.stack(batch), config))
    if not estimates:
        raise ValueError("no noise-only samples to estimate the PSD from")
    return average_periodograms(np.concatenate(estimates), config) * config.raw_scale**2


def average_periodograms(stacked: np.ndarray, config: WhitenConfig,
                         quiet: bool = False) -> np.ndarray:
    """The PSD ``(D, F)`` (in the periodograms' units) of tapered 2-s periodograms
    ``(S, D, F)``: ``power_outliers`` left out, then the gated (``excess_power_gate``) median
    or mean. ``estimate_psd`` of training noise and a search's running estimate over the
    windows around a stretch both use it, so stream windows are whitened as training samples
    were. ``quiet`` logs nothing (a search calls it thousands of times)."""
    outliers = power_outliers(stacked, config)
    if outliers.any():
        if not quiet:
            logger.warning("PSD estimate: left out %d of %d noise samples whose band power is "
                           "over %gx off the median (positions %s)", int(outliers.sum()),
                           len(stacked), OUTLIER_FACTOR, np.nonzero(outliers)[0][:10].tolist())
        stacked = stacked[~outliers]
    if not len(stacked):
        raise ValueError("no usable noise-only samples to estimate the PSD from")
    keep = (excess_power_gate(stacked, config) if config.psd_gate
            else np.ones(stacked.shape, dtype=bool))
    if not keep.all() and not quiet:
        logger.info("PSD estimate: left out %.2f%% of the sample-band-detector cells (glitch or "
                    "signal power over %g standard deviations)", 100 * (1 - keep.mean()),
                    GATE_SIGMAS)
    if config.psd_average == "median":  # median of an exponential = ln2 * mean
        psd = masked_median(stacked, keep) / math.log(2.0)
    else:
        psd = np.nanmean(np.where(keep, stacked, np.nan), axis=0)
    if not np.isfinite(psd).all():
        raise ValueError("the PSD estimate is not finite; the noise samples hold bad values")
    return psd


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
