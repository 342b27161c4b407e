"""Non-stationary noise: each sample's own PSD level and spectral shape, per detector.

Real detectors' noise level drifts from minute to minute and its spectrum changes shape
between observing runs. Sample ``i`` has, in detector ``d``, the one-sided PSD

    S_d(f) = scale_d * ((1 - mix_d) * design_d(f) + mix_d * observing_d(f))

with ``scale_d`` log-uniform in ``[psd_scale_min, psd_scale_max]`` and ``mix_d`` uniform in
``[0, psd_shape_mix]``. ``design_d`` is ``psd.csv``; ``observing_d`` is an observing-run curve
(O3-like, ``OBSERVING_CURVES``) rescaled by ``match_sensitivity`` to the design curve's
sensitivity, so that ``mix`` changes the shape and ``scale`` alone the level. The noise of the
sample is coloured by ``S_d`` and its SNRs are computed against ``S_d``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from preprocess.layout import DETECTORS, N_TIME, SAMPLE_RATE
from preprocess.simulate.config import SimulationConfig

SENSITIVITY_BAND = (20.0, 500.0)  # Hz: band where a rescaled curve keeps the design's 1/S mean


@dataclass(frozen=True)
class NoiseCondition:
    """One sample's PSD scale ``(D,)`` and observing-curve weight ``(D,)`` per detector."""

    scale: np.ndarray
    mix: np.ndarray

    def psd(self, design: np.ndarray, observing: np.ndarray | None) -> np.ndarray:
        """The sample's PSDs ``(D, F)`` from the design and observing curves ``(D, F)``
        (``observing`` may be None when no mix is drawn)."""
        shape = design if not self.mix.any() else (
            (1.0 - self.mix)[:, None] * design + self.mix[:, None] * observing
        )
        return self.scale[:, None] * shape

    def columns(self, config: SimulationConfig) -> dict[str, float]:
        """The ``injections.csv`` columns of this condition (see ``condition_columns``)."""
        row = {f"psd_scale_{d}": float(s) for d, s in zip(DETECTORS, self.scale, strict=True)}
        if config.psd_shape_mix > 0:
            row |= {f"psd_mix_{d}": float(m) for d, m in zip(DETECTORS, self.mix, strict=True)}
        return row


def condition_columns(config: SimulationConfig) -> tuple[str, ...]:
    """Columns of a non-stationary run: ``psd_scale_<det>``, with a shape mix ``psd_mix_<det>``."""
    if not config.varies_psd:
        return ()
    columns = tuple(f"psd_scale_{d}" for d in DETECTORS)
    if config.psd_shape_mix > 0:
        columns += tuple(f"psd_mix_{d}" for d in DETECTORS)
    return columns


def draw_condition(rng: np.random.Generator, config: SimulationConfig) -> NoiseCondition:
    """Scale log-uniform in ``[psd_scale_min, psd_scale_max]``, mix uniform in
    ``[0, psd_shape_mix]``, independently per detector (both always drawn, in that order)."""
    n = len(DETECTORS)
    log_scale = rng.uniform(np.log(config.psd_scale_min), np.log(config.psd_scale_max), size=n)
    mix = rng.uniform(0.0, config.psd_shape_mix, size=n)
    return NoiseCondition(scale=np.exp(log_scale), mix=mix)


def match_sensitivity(design: np.ndarray, curve: np.ndarray) -> np.ndarray:
    """``curve`` ``(D, F)`` on the sample's rFFT grid, rescaled per detector so that its mean
    of ``1/S`` over ``SENSITIVITY_BAND`` equals the ``design`` curve's ``(D, F)``: the same
    optimal SNR for a signal whose power is flat over the band."""
    freqs = np.fft.rfftfreq(2 * (design.shape[-1] - 1), 1.0 / SAMPLE_RATE)
    band = (freqs >= SENSITIVITY_BAND[0]) & (freqs < SENSITIVITY_BAND[1])
    if design.shape[-1] != N_TIME // 2 + 1 or not (curve[:, band] > 0).all():
        raise ValueError("match_sensitivity needs positive curves on the 2-s sample grid")
    ratio = (1.0 / design[:, band]).mean(-1) / (1.0 / curve[:, band]).mean(-1)  # (D,)
    return curve / ratio[:, None]
