"""Non-stationary noise: each sample's own PSD level and spectral shape, per detector.

Real detectors' noise level drifts from minute to minute and its spectrum changes shape
between observing runs. Sample ``i`` has, in detector ``d``, the one-sided PSD

    S_d(f) = scale_d * ((1 - mix_d) * design_d(f) + mix_d * observing_d(f))

with ``scale_d`` log-uniform in ``[psd_scale_min, psd_scale_max]`` and ``mix_d`` uniform in
``[0, psd_shape_mix]``. ``design_d`` is ``psd.csv``; ``observing_d`` is an observing-run curve
(O3-like, ``OBSERVING_CURVES``), or with a curve family one drawn per sample and detector from
it (``psd_family_ligo`` / ``psd_family_virgo``), rescaled by ``match_sensitivity`` to the
design curve's sensitivity, so that ``mix`` changes the shape and ``scale`` alone the level.
With ``psd_distortion`` the shape is then multiplied by ``exp(g(f))``, a smooth Gaussian
random function of log frequency (``distortion_factor``), rescaled again to the same
sensitivity. The noise of the sample is coloured by ``S_d`` and its SNRs are computed against
``S_d``; everything drawn is recorded in ``injections.csv``, from which ``condition_from_row``
rebuilds the condition (and ``sample.condition_psds`` the PSD).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from preprocess.layout import N_TIME, SAMPLE_RATE
from preprocess.simulate.config import SimulationConfig

SENSITIVITY_BAND = (20.0, 500.0)  # Hz: band where a rescaled curve keeps the design's 1/S mean
DISTORTION_BAND = (10.0, 1024.0)  # Hz: log f over this band is the distortion's [0, 1] axis
LIGO = ("H1", "L1")  # detectors that draw from psd_family_ligo; the others from the Virgo one


@dataclass(frozen=True)
class NoiseCondition:
    """One sample's PSD scale ``(D,)`` and observing-curve weight ``(D,)`` per detector; with
    a family, each detector's curve (index into its family, ``(D,)``); with a distortion, its
    cosines' amplitudes then phases ``(D, 2K)``."""

    scale: np.ndarray
    mix: np.ndarray
    curve: np.ndarray | None = None
    distortion: np.ndarray | None = None

    def psd(self, design: np.ndarray, observing: np.ndarray | None) -> np.ndarray:
        """The sample's PSDs ``(D, F)`` from the design and observing curves ``(D, F)``
        (``observing`` may be None when no mix is drawn)."""
        shape = design if not self.mix.any() else (
            (1.0 - self.mix)[:, None] * design + self.mix[:, None] * observing
        )
        return self.scale[:, None] * shape

    def columns(self, config: SimulationConfig) -> dict[str, Any]:
        """The ``injections.csv`` columns of this condition (see ``condition_columns``)."""
        row: dict[str, Any] = {f"psd_scale_{d}": float(s)
                               for d, s in zip(config.detectors, self.scale, strict=True)}
        if config.psd_shape_mix > 0:
            row |= {f"psd_mix_{d}": float(m)
                    for d, m in zip(config.detectors, self.mix, strict=True)}
        if self.curve is not None:
            row |= {f"psd_curve_{d}": family(config, d)[int(k)]
                    for d, k in zip(config.detectors, self.curve, strict=True)}
        if self.distortion is not None:
            row |= {f"psd_distortion_{d}": json.dumps([round(float(v), 12) for v in c])
                    for d, c in zip(config.detectors, self.distortion, strict=True)}
        return row


def family(config: SimulationConfig, detector: str) -> tuple[str, ...]:
    """The curve family ``detector`` draws from (LIGO's or Virgo's)."""
    return config.psd_family_ligo if detector in LIGO else config.psd_family_virgo


def condition_columns(config: SimulationConfig) -> tuple[str, ...]:
    """Columns of a non-stationary run: ``psd_scale_<det>``, with a shape mix ``psd_mix_<det>``,
    with a family ``psd_curve_<det>``, with a distortion ``psd_distortion_<det>`` (JSON)."""
    if not config.varies_psd:
        return ()
    detectors = config.detectors
    columns = tuple(f"psd_scale_{d}" for d in detectors)
    if config.psd_shape_mix > 0:
        columns += tuple(f"psd_mix_{d}" for d in detectors)
    if config.has_families:
        columns += tuple(f"psd_curve_{d}" for d in detectors)
    if config.psd_distortion > 0:
        columns += tuple(f"psd_distortion_{d}" for d in detectors)
    return columns


def draw_condition(rng: np.random.Generator, config: SimulationConfig) -> NoiseCondition:
    """Scale log-uniform in ``[psd_scale_min, psd_scale_max]``, mix uniform in
    ``[0, psd_shape_mix]``, independently per detector (both always drawn, in that order);
    then, only when asked for, a family curve per detector and the distortion's cosines
    (amplitudes standard normal, phases uniform), so runs without them draw as before."""
    n = len(config.detectors)
    log_scale = rng.uniform(np.log(config.psd_scale_min), np.log(config.psd_scale_max), size=n)
    mix = rng.uniform(0.0, config.psd_shape_mix, size=n)
    curve = None
    if config.has_families:
        curve = np.array([rng.integers(len(family(config, d))) if family(config, d) else -1
                          for d in config.detectors])
    distortion = None
    if config.psd_distortion > 0:
        k = config.psd_distortion_terms
        distortion = np.concatenate([rng.standard_normal((n, k)),
                                     rng.uniform(0.0, 2 * math.pi, (n, k))], axis=1)
    return NoiseCondition(scale=np.exp(log_scale), mix=mix, curve=curve, distortion=distortion)


def condition_from_row(config: SimulationConfig, row: Mapping[str, Any]) -> NoiseCondition:
    """The condition ``injections.csv`` records for one sample (its ``condition_columns``)."""
    detectors = config.detectors
    scale = np.array([float(row[f"psd_scale_{d}"]) for d in detectors])
    mix = (np.array([float(row[f"psd_mix_{d}"]) for d in detectors])
           if config.psd_shape_mix > 0 else np.zeros(len(detectors)))
    curve = None
    if config.has_families:
        curve = np.array([family(config, d).index(row[f"psd_curve_{d}"]) if family(config, d)
                          else -1 for d in detectors])
    distortion = None
    if config.psd_distortion > 0:
        distortion = np.array([json.loads(row[f"psd_distortion_{d}"]) for d in detectors])
    return NoiseCondition(scale=scale, mix=mix, curve=curve, distortion=distortion)


def distortion_factor(coefficients: np.ndarray, freqs: np.ndarray, sigma: float) -> np.ndarray:
    """``exp(g(f))`` ``(D, F)``: ``g`` is ``sigma * sqrt(2/K) * sum_k z_k cos(pi k u + phi_k)``
    with ``u`` the position of ``log f`` in ``DISTORTION_BAND`` (clipped to [0, 1]), ``z_k``
    and ``phi_k`` the recorded amplitudes and phases ``(D, 2K)``: a smooth Gaussian field of
    standard deviation ``sigma`` (natural-log units) with at most K/2 wiggles over the band."""
    k = coefficients.shape[1] // 2
    z, phi = coefficients[:, :k], coefficients[:, k:]
    low, high = np.log(DISTORTION_BAND[0]), np.log(DISTORTION_BAND[1])
    with np.errstate(divide="ignore"):
        u = np.clip((np.log(np.maximum(freqs, 1e-12)) - low) / (high - low), 0.0, 1.0)  # (F,)
    order = np.arange(1, k + 1)
    g = np.einsum("dk,dkf->df", z, np.cos(np.pi * order[None, :, None] * u[None, None, :]
                                          + phi[:, :, None]))
    return np.exp(sigma * math.sqrt(2.0 / k) * g)


def match_sensitivity(design: np.ndarray, curve: np.ndarray) -> np.ndarray:
    """``curve`` ``(D, F)`` on the sample's rFFT grid, rescaled per detector so that its mean
    of ``1/S`` over ``SENSITIVITY_BAND`` equals the ``design`` curve's ``(D, F)``: the same
    optimal SNR for a signal whose power is flat over the band."""
    return curve / sensitivity_ratio(design, curve)[:, None]


def sensitivity_ratio(design: np.ndarray, curve: np.ndarray) -> np.ndarray:
    """``(D,)``: mean of ``1/design`` over ``mean of 1/curve`` in ``SENSITIVITY_BAND``;
    ``curve / ratio`` has the design's sensitivity."""
    freqs = np.fft.rfftfreq(2 * (design.shape[-1] - 1), 1.0 / SAMPLE_RATE)
    band = (freqs >= SENSITIVITY_BAND[0]) & (freqs < SENSITIVITY_BAND[1])
    if design.shape[-1] != N_TIME // 2 + 1 or not (curve[:, band] > 0).all():
        raise ValueError("match_sensitivity needs positive curves on the 2-s sample grid")
    return (1.0 / design[:, band]).mean(-1) / (1.0 / curve[:, band]).mean(-1)
