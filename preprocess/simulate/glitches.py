"""Glitches: short non-Gaussian transients in one detector, the main source of false alarms.

Three families, each a cheap closed form on the sample's time grid, peaking at ``time``:

- ``sine_gaussian``: ``exp(-(t - t0)^2 / tau^2) sin(2 pi f0 (t - t0) + phi)`` with
  ``tau = Q / (sqrt(2) pi f0)``; f0 log-uniform in [30, 500] Hz, Q log-uniform in [3, 30]
  (the standard burst-search family; tens of ms to half a second).
- ``blip``: the same shape at low Q, log-uniform in [1, 3], f0 log-uniform in [40, 250] Hz:
  a few-ms to tens-of-ms broadband pulse, like LIGO's blip glitches.
- ``scattered_light``: one arch, ``sin(pi u) sin(2 f_peak T (1 - cos(pi u)) + phi)`` for
  ``u = (t - t0) / T + 1/2`` in [0, 1]: instantaneous frequency ``f_peak sin(pi u)`` rising
  from 0 to ``f_peak`` (log-uniform in [25, 70] Hz) at ``t0`` and back, over ``T``
  log-uniform in [0.3, 1] s (light scattered off a moving surface). Its Q is NaN.

The number of glitches of a sample is Poisson with mean ``glitch_rate``; each lands in a
detector drawn uniformly, its family uniform among ``glitch_types``, its time uniform in
``[glitch_time_min, glitch_time_max]``. Its amplitude makes its optimal SNR, against the
sample's own PSD in that detector from ``f_lower`` (as for signals, only the part inside the
window counts), equal to a draw from ``glitch_snr_distribution`` on
``[glitch_snr_min, glitch_snr_max]``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import numpy as np

from preprocess.layout import DETECTORS, N_TIME, SAMPLE_RATE
from preprocess.simulate.config import SimulationConfig
from preprocess.simulate.snr import optimal_snr

FREQUENCY_RANGES = {  # Hz, log-uniform: central frequency, or an arch's peak frequency
    "sine_gaussian": (30.0, 500.0),
    "blip": (40.0, 250.0),
    "scattered_light": (25.0, 70.0),
}
SHAPE_RANGES = {  # log-uniform: Q for the sine-Gaussians, the arch's duration T (s)
    "sine_gaussian": (3.0, 30.0),
    "blip": (1.0, 3.0),
    "scattered_light": (0.3, 1.0),
}
GLITCH_COLUMNS = (  # injections.csv columns of a run with glitches (the loudest glitch's)
    "n_glitches", "glitch_type", "glitch_detector", "glitch_time", "glitch_frequency",
    "glitch_q", "glitch_duration", "glitch_snr", "glitches",
)  # fmt: skip


@dataclass
class Glitch:
    """One glitch as recorded in ``injections.csv``."""

    type: str  # family, one of GLITCH_TYPES
    detector: str  # "H1", "L1" or "V1"
    time: float  # s from the sample start: peak of the envelope
    frequency: float  # Hz: central frequency (sine-Gaussian, blip) or peak frequency (arch)
    q: float  # quality factor of a sine-Gaussian; NaN for an arch
    duration: float  # s: 2 tau for a sine-Gaussian (envelope above 1/e), T for an arch
    snr: float  # optimal SNR in its detector against the sample's PSD
    phase: float  # rad


def _loguniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def draw_glitches(rng: np.random.Generator, config: SimulationConfig) -> list[Glitch]:
    """A Poisson number of glitches with the parameters of the module docstring."""
    glitches = []
    for _ in range(int(rng.poisson(config.glitch_rate))):
        kind = config.glitch_types[int(rng.integers(len(config.glitch_types)))]
        detector = config.detectors[int(rng.integers(len(config.detectors)))]
        time = float(rng.uniform(config.glitch_time_min, config.glitch_time_max))
        frequency = _loguniform(rng, *FREQUENCY_RANGES[kind])
        shape = _loguniform(rng, *SHAPE_RANGES[kind])
        phase = float(rng.uniform(0.0, 2 * np.pi))
        low, high = config.glitch_snr_min, config.glitch_snr_max
        snr = (_loguniform(rng, low, high) if config.glitch_snr_distribution == "loguniform"
               else float(rng.uniform(low, high)))
        if kind == "scattered_light":
            q, duration = math.nan, shape
        else:
            q, duration = shape, 2 * shape / (math.sqrt(2) * math.pi * frequency)
        glitches.append(Glitch(kind, detector, time, frequency, q, duration, snr, phase))
    return glitches


def glitch_waveform(glitch: Glitch, n_time: int = N_TIME) -> np.ndarray:
    """The glitch's shape ``(n_time,)`` at unit peak envelope (before scaling to its SNR)."""
    t = np.arange(n_time) / SAMPLE_RATE - glitch.time
    if glitch.type == "scattered_light":
        u = np.clip(t / glitch.duration + 0.5, 0.0, 1.0)
        phase = 2.0 * glitch.frequency * glitch.duration * (1.0 - np.cos(np.pi * u))
        return np.sin(np.pi * u) * np.sin(phase + glitch.phase)
    tau = glitch.duration / 2
    return np.exp(-((t / tau) ** 2)) * np.sin(2 * np.pi * glitch.frequency * t + glitch.phase)


def glitch_strain(glitches: list[Glitch], psd: np.ndarray, f_lower: float,
                  detectors: tuple[str, ...] = DETECTORS) -> np.ndarray:
    """Strain ``(D, N_TIME)`` of ``glitches``, each scaled to its SNR against ``psd`` ``(D, F)``
    (rows in the order of ``detectors``)."""
    out = np.zeros((len(detectors), N_TIME))
    for glitch in glitches:
        d = detectors.index(glitch.detector)
        shape = glitch_waveform(glitch)
        reference = float(optimal_snr(shape, psd[d], f_lower))
        if reference <= 0:
            raise RuntimeError(f"glitch {glitch} has no power above {f_lower} Hz in the window")
        out[d] += shape * (glitch.snr / reference)
    return out


def glitch_columns(glitches: list[Glitch]) -> dict:
    """``injections.csv`` values: the count, the loudest glitch (NaN/empty without one) and
    every glitch as a JSON list of objects (``glitches``)."""
    row: dict = {"n_glitches": len(glitches)}
    loudest = max(glitches, key=lambda g: g.snr, default=None)
    for field in ("type", "detector", "time", "frequency", "q", "duration", "snr"):
        row[f"glitch_{field}"] = getattr(loudest, field) if loudest else math.nan
    row["glitches"] = json.dumps(
        [{k: (None if isinstance(v, float) and math.isnan(v) else v)
          for k, v in asdict(g).items()} for g in glitches]
    )
    return row
