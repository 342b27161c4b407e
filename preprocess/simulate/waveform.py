"""Time-domain waveforms from lalsimulation, projected onto H1, L1 and V1 with lal's geometry.

lalsimulation makes the two polarisations; lal gives each detector's antenna pattern and its
light-travel delay from the geocentre. This module only places the result in the 2-s window,
with a sub-sample time shift applied as a phase in the frequency domain.
"""

from __future__ import annotations

import functools

import lal
import lalsimulation
import numpy as np

from preprocess.layout import DETECTORS, N_TIME, SAMPLE_RATE
from preprocess.simulate.priors import SourceParameters

MARGIN = 256  # samples kept either side of the window so shifts and tapers act outside it
REFERENCE_DISTANCE_MPC = 100.0  # distance waveforms are made at before rescaling to an SNR


@functools.lru_cache(maxsize=4)
def _approximant(name: str) -> int:
    return lalsimulation.GetApproximantFromString(name)


@functools.lru_cache(maxsize=4)
def _detectors(prefixes: tuple[str, ...]) -> tuple:
    return tuple(lalsimulation.DetectorPrefixToLALDetector(p) for p in prefixes)


@functools.lru_cache(maxsize=1)
def _edge_taper() -> np.ndarray:
    """Weights ``(N_TIME + 2 MARGIN,)``: half-Hann ramps over the outer half of each margin."""
    ramp_len = MARGIN // 2
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp_len) / ramp_len)
    taper = np.ones(N_TIME + 2 * MARGIN)
    taper[:ramp_len] = ramp
    taper[-ramp_len:] = ramp[::-1]
    return taper


def polarizations(
    params: SourceParameters, approximant: str, f_lower: float, distance_mpc: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """``(h_plus (L,), h_cross (L,), epoch)`` from ``SimInspiralChooseTDWaveform`` at 2048 Hz.

    ``epoch`` is the time (s) of the first sample relative to the merger (so it is negative).
    The waveform starts at ``f_lower``, which is also the reference frequency of the spins.
    """
    hp, hc = lalsimulation.SimInspiralChooseTDWaveform(
        params.mass1 * lal.MSUN_SI,
        params.mass2 * lal.MSUN_SI,
        params.spin1x,
        params.spin1y,
        params.spin1z,
        params.spin2x,
        params.spin2y,
        params.spin2z,
        distance_mpc * 1e6 * lal.PC_SI,
        params.inclination,
        params.phase,
        0.0,  # longitude of ascending nodes
        0.0,  # eccentricity
        0.0,  # mean anomaly
        1.0 / SAMPLE_RATE,
        f_lower,
        f_lower,  # reference frequency
        None,
        _approximant(approximant),
    )
    return hp.data.data, hc.data.data, float(hp.epoch)


def _window_segment(h: np.ndarray, first: int) -> np.ndarray:
    """Samples of ``h`` for window indices ``-MARGIN .. N_TIME + MARGIN``; ``first`` is the
    window index of ``h[0]``. Zero where the waveform has no samples."""
    length = N_TIME + 2 * MARGIN
    segment = np.zeros(length)
    start = first + MARGIN  # position of h[0] in the segment
    lo, hi = max(start, 0), min(start + len(h), length)
    if hi > lo:
        segment[lo:hi] = h[lo - start : hi - start]
    return segment


def project(
    h_plus: np.ndarray,
    h_cross: np.ndarray,
    epoch: float,
    params: SourceParameters,
    gps_time: float,
    detectors: tuple[str, ...] = DETECTORS,
) -> np.ndarray:
    """Detector strain ``(D, N_TIME)`` of a wave merging at ``params.merger_time`` (geocentre).

    Each detector sees ``F+ h+ + Fx hx`` delayed by its light travel time from the geocentre
    (``lal.TimeDelayFromEarthCenter``), with antenna patterns from ``lal.ComputeDetAMResponse``
    at the sidereal time of ``gps_time``.
    """
    dt = 1.0 / SAMPLE_RATE
    start = (params.merger_time + epoch) / dt  # window index of h[0], fractional
    first = int(np.floor(start))
    fraction = start - first
    taper = _edge_taper()
    spectra = np.fft.rfft(
        np.stack([_window_segment(h_plus, first), _window_segment(h_cross, first)]) * taper,
        axis=-1,
    )  # (2, F)
    freqs = np.fft.rfftfreq(N_TIME + 2 * MARGIN, dt)
    gps = lal.LIGOTimeGPS(gps_time)
    gmst = lal.GreenwichMeanSiderealTime(gps)
    rows = []
    for detector in _detectors(tuple(detectors)):
        f_plus, f_cross = lal.ComputeDetAMResponse(
            detector.response, params.ra, params.dec, params.polarization, gmst
        )
        delay = lal.TimeDelayFromEarthCenter(detector.location, params.ra, params.dec, gps)
        shift = np.exp(-2j * np.pi * freqs * (fraction * dt + delay))
        rows.append((f_plus * spectra[0] + f_cross * spectra[1]) * shift)
    strain = np.fft.irfft(np.stack(rows), n=N_TIME + 2 * MARGIN, axis=-1)
    return strain[:, MARGIN : MARGIN + N_TIME]
