"""Design noise curves from lalsimulation and stationary Gaussian noise coloured by them.

Noise is coloured in the frequency domain over a stretch longer than a sample (8 s by default)
and the middle 2 s are kept, so a sample is not periodic (its ends do not wrap onto each other).
"""

from __future__ import annotations

import functools

import lal
import lalsimulation
import numpy as np

from preprocess.layout import N_TIME, SAMPLE_RATE
from preprocess.simulate.config import (
    DESIGN_CURVES,
    NOISE_F_LOW,
    SEISMIC_F_LOW,
    SEISMIC_SLOPE,
)


def design_psd(
    detector: str,
    freqs: np.ndarray,
    f_low: float = NOISE_F_LOW,
    seismic_f_low: float = SEISMIC_F_LOW,
    seismic_slope: float = SEISMIC_SLOPE,
) -> np.ndarray:
    """Design one-sided PSD (1/Hz) of ``detector`` ("H1", "L1" or "V1") at ``freqs`` (F,).

    ``freqs`` is a uniform grid from 0 Hz (an rFFT grid). The curves are those of
    ``DESIGN_CURVES`` (advanced LIGO and advanced Virgo design sensitivity) from ``f_low``,
    extended below by ``seismic_wall`` down to ``seismic_f_low``, and 0 below that.
    """
    if detector not in DESIGN_CURVES:
        raise ValueError(f"no design curve for detector {detector!r}; known: {list(DESIGN_CURVES)}")
    psd = curve_psd(DESIGN_CURVES[detector], freqs, f_low)
    return seismic_wall(psd, np.asarray(freqs, dtype=np.float64), seismic_f_low, seismic_slope)


def curve_psd(name: str, freqs: np.ndarray, f_low: float = NOISE_F_LOW) -> np.ndarray:
    """One-sided PSD (1/Hz) of the lalsimulation curve ``SimNoisePSD<name>`` at ``freqs`` (F,).

    ``freqs`` must be a uniform grid starting at 0 Hz (an rFFT grid). The curve is 0 below
    ``f_low`` and wherever lalsimulation gives no value. ``name`` is e.g.
    ``"aLIGODesignSensitivityP1200087"`` (a curve filled into a frequency series) or
    ``"aLIGOZeroDetHighPower"`` (a curve evaluated one frequency at a time).
    """
    freqs = np.asarray(freqs, dtype=np.float64)
    function = getattr(lalsimulation, f"SimNoisePSD{name}", None)
    if function is None:
        raise ValueError(f"lalsimulation has no noise curve SimNoisePSD{name}")
    if len(freqs) > 1 and (freqs[0] != 0 or not np.allclose(np.diff(freqs), freqs[1] - freqs[0])):
        raise ValueError("curve_psd needs a uniform frequency grid starting at 0 Hz")
    df = float(freqs[1] - freqs[0]) if len(freqs) > 1 else 1.0
    try:
        unit = lal.DimensionlessUnit
        series = lal.CreateREAL8FrequencySeries("psd", 0, 0.0, df, unit, len(freqs))
        function(series, f_low)
        psd = np.array(series.data.data, dtype=np.float64)
    except TypeError:  # analytic curves take one frequency
        psd = np.array([function(f) if f > 0 else 0.0 for f in freqs], dtype=np.float64)
    psd[~np.isfinite(psd) | (psd < 0) | (freqs < f_low)] = 0.0
    return psd


def seismic_wall(psd: np.ndarray, freqs: np.ndarray, f_floor: float, slope: float) -> np.ndarray:
    """Extend a curve below its first non-zero value down to ``f_floor`` as ``f**-slope``.

    The design tables stop near 10 Hz, where real detectors' noise keeps rising steeply
    (ground motion and suspension noise). That rise dominates the raw strain's standard
    deviation: with the defaults it brings it to about 1e-20, as in G2Net's raw samples, and
    it is what whitening must remove. ``psd`` and ``freqs`` are ``(F,)``; a new array returns.
    """
    psd = psd.copy()
    nonzero = np.flatnonzero(psd > 0)
    if len(nonzero) == 0 or f_floor <= 0:
        return psd
    knee = nonzero[0]
    below = (freqs >= f_floor) & (freqs < freqs[knee])
    psd[below] = psd[knee] * (freqs[below] / freqs[knee]) ** -slope
    return psd


@functools.lru_cache(maxsize=8)
def detector_psds(
    names: tuple[str, ...],
    n_time: int,
    f_low: float,
    seismic_f_low: float = SEISMIC_F_LOW,
    seismic_slope: float = SEISMIC_SLOPE,
) -> np.ndarray:
    """PSDs ``(D, n_time // 2 + 1)`` of the named curves on the rFFT grid of ``n_time`` samples.

    Each curve starts at ``f_low`` and is extended below by ``seismic_wall`` down to
    ``seismic_f_low`` (no extension when that is not below ``f_low``). Cached per process:
    every sample of a run uses the same few grids.
    """
    freqs = np.fft.rfftfreq(n_time, 1.0 / SAMPLE_RATE)
    psds = np.stack(
        [
            seismic_wall(curve_psd(name, freqs, f_low), freqs, seismic_f_low, seismic_slope)
            for name in names
        ]
    )
    psds.setflags(write=False)
    return psds


def colored_noise(psd: np.ndarray, rng: np.random.Generator, n_out: int = N_TIME) -> np.ndarray:
    """Gaussian noise with one-sided PSD ``psd``, cut to its middle ``n_out`` samples.

    ``psd`` is ``(..., n_long // 2 + 1)`` in 1/Hz on the rFFT grid of ``n_long`` samples at
    ``SAMPLE_RATE`` (``n_long`` even, >= ``n_out``); the result is ``(..., n_out)``. Each
    Fourier coefficient gets independent real and imaginary parts with
    ``E|X_k|^2 = n_long * fs * S(f_k) / 2``, which makes the time series' PSD equal ``S``.
    """
    psd = np.asarray(psd, dtype=np.float64)
    n_long = 2 * (psd.shape[-1] - 1)
    if n_long < n_out:
        raise ValueError(f"noise stretch of {n_long} samples is shorter than {n_out}")
    scale = np.sqrt(psd * (n_long * SAMPLE_RATE / 4.0))
    # (..., F, 2) normals read as (..., F) complex: real and imaginary parts side by side
    spectrum = rng.standard_normal((*psd.shape, 2)).view(np.complex128)[..., 0]
    spectrum *= scale
    spectrum[..., 0] = 0.0  # no DC offset
    spectrum[..., -1] = 0.0  # Nyquist bin would need a real coefficient; the curves are ~flat there
    series = np.fft.irfft(spectrum, n=n_long, axis=-1)
    start = (n_long - n_out) // 2
    return series[..., start : start + n_out]
