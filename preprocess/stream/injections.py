"""Injections: CBC signals on a time grid, with distances that let sensitive volume be measured.

**Grid.** In each segment, grid points lie ``injection_spacing`` s apart from
``start + injection_edge + injection_jitter``; each ``tc`` (geocentre) is its point plus a
jitter uniform in ``[-jitter, +jitter]``, so every ``tc`` is at least ``injection_edge`` s from
a segment edge, and ``injection_edge`` must cover the longest signal (checked up front).

**Priors.** Masses, spins, sky and orientation are the snippet simulator's (``priors.py``):
both masses uniform in ``[mass_min, mass_max]`` (detector frame, m1 >= m2), spin magnitudes
uniform in ``[0, spin_max]`` with isotropic directions, isotropic sky, uniform ``cos(incl)``,
polarisation and phase. The distance is drawn, not set from an SNR:

- ``chirp`` (default, as MLGWSC-1): the chirp distance ``dc = d (1.4 * 2^(-1/5) Msun / Mc)^(5/6)``
  uniform in volume (``p(dc) ~ dc^2``) in ``[distance_min, distance_max]``. Since SNR scales as
  ``Mc^(5/6) / d``, this spreads every mass over the same SNR range; MLGWSC-1's ``evaluate.py``
  turns found injections into a sensitive volume by weighting with ``Mc^(5/2)``.
- ``volume``: the luminosity distance uniform in volume in ``[distance_min, distance_max]``:
  the fraction found times the volume is the sensitive volume directly.

Every draw of grid point ``k`` of the segment starting at GPS ``s`` comes from a Generator
keyed by ``(s, k)``. **SNR**: the optimal SNR per detector from ``f_lower`` of the whole
projected signal against the local PSD at ``tc`` (simulated: ``level(tc) S(f)``).

The signal is drawn with the snippet simulator's ``polarizations`` and ``project``; ``project``
fills a 2-s window, so a signal is drawn as consecutive 2-s tiles (``render``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import numpy as np

from preprocess.layout import N_TIME
from preprocess.simulate.config import SimulationConfig
from preprocess.simulate.priors import SourceParameters, draw_parameters
from preprocess.simulate.snr import network_snr
from preprocess.simulate.waveform import polarizations, project
from preprocess.stream.config import SAMPLE_RATE, StreamConfig
from preprocess.stream.plan import Segment
from preprocess.stream.seeds import INJECTION, generator

CHIRP_MASS_REFERENCE = 1.4 * 2 ** (-1 / 5)  # Msun: chirp mass of a 1.4+1.4 binary (PyCBC's)
PAD = 128  # samples drawn either side of the waveform: light travel between sites is < 44
POST_MERGER = 1.0  # s after tc within which every signal ends (ringdown of >= 10 Msun: ms)
SOURCE_COLUMNS = (
    "mass1", "mass2", "spin1x", "spin1y", "spin1z", "spin2x", "spin2y", "spin2z",
    "ra", "dec", "polarization", "inclination", "coa_phase",
)  # fmt: skip


@dataclass(frozen=True)
class Injection:
    """One signal: geocentre merger time ``tc`` (GPS), source, distances (Mpc)."""

    segment: int
    tc: float
    source: SourceParameters
    distance: float  # luminosity distance
    chirp_distance: float

    @property
    def mchirp(self) -> float:
        return chirp_mass(self.source.mass1, self.source.mass2)

    def record(self, snrs: dict[str, float]) -> dict:
        """One row of the injection table (MLGWSC-1/PyCBC names: ``coa_phase``)."""
        s = self.source
        row = {"tc": self.tc, "segment": self.segment}
        row |= {c: getattr(s, "phase" if c == "coa_phase" else c) for c in SOURCE_COLUMNS}
        row |= {"distance": self.distance, "chirp_distance": self.chirp_distance,
                "mchirp": self.mchirp}
        row |= {f"snr_{d}": v for d, v in snrs.items()}
        row["snr_network"] = network_snr(np.array(list(snrs.values())))
        return row


def chirp_mass(mass1: float, mass2: float) -> float:
    return (mass1 * mass2) ** 0.6 / (mass1 + mass2) ** 0.2


def chirp_distance(distance: float, mchirp: float) -> float:
    """PyCBC's chirp distance of a luminosity ``distance`` (same unit)."""
    return distance * (CHIRP_MASS_REFERENCE / mchirp) ** (5 / 6)


def _uniform_in_volume(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low**3, high**3) ** (1 / 3))


@functools.lru_cache(maxsize=4)
def snippet_priors(config: StreamConfig) -> SimulationConfig:
    """The snippet simulator's settings whose priors the injections use."""
    return SimulationConfig(n_train=1, n_test=0, seed=config.seed, approximant=config.approximant,
                            f_lower=config.f_lower, mass_min=config.mass_min,
                            mass_max=config.mass_max, spin_max=config.spin_max)


def draw_injection(config: StreamConfig, segment: Segment, k: int, point: float) -> Injection:
    """The injection of grid point ``k`` (GPS ``point``) of ``segment``."""
    rng = generator(config.seed, INJECTION, segment.start, k)
    tc = point + float(rng.uniform(-config.injection_jitter, config.injection_jitter))
    source = draw_parameters(rng, snippet_priors(config))
    drawn = _uniform_in_volume(rng, config.distance_min, config.distance_max)
    mchirp = chirp_mass(source.mass1, source.mass2)
    if config.distance_prior == "chirp":
        distance = drawn * (mchirp / CHIRP_MASS_REFERENCE) ** (5 / 6)
    else:
        distance = drawn
    source = dataclasses.replace(source, distance=distance, merger_time=math.nan)
    return Injection(segment.index, tc, source, distance, chirp_distance(distance, mchirp))


@functools.lru_cache(maxsize=64)
def segment_injections(config: StreamConfig, segment: Segment) -> tuple[Injection, ...]:
    """Every injection of ``segment``, in time order (none without spacing)."""
    if not config.has_injections:
        return ()
    first = segment.start + config.injection_edge + config.injection_jitter
    last = segment.stop - config.injection_edge - config.injection_jitter
    count = int(math.floor((last - first) / config.injection_spacing)) + 1 if last >= first else 0
    return tuple(draw_injection(config, segment, k, first + k * config.injection_spacing)
                 for k in range(count))


@functools.lru_cache(maxsize=4)
def signal_reach(config: StreamConfig) -> float:
    """Seconds before ``tc`` that any signal of the priors can start (with a 10% + 1 s margin):
    that of the lightest binary with anti-aligned maximal spins, the longest inspiral."""
    m, chi = config.mass_min, -config.spin_max
    source = SourceParameters(m, m, 0, 0, chi, 0, 0, chi, 0, 0, 0, 0, 0, 0)
    _, _, epoch = polarizations(source, config.approximant, config.f_lower, 100.0)
    return 1.1 * -epoch + 1.0


def check_edge(config: StreamConfig) -> None:
    """Refuse an ``injection_edge`` too short for the longest signal to fit in its segment."""
    if config.has_injections and config.injection_edge < signal_reach(config):
        raise ValueError(
            f"injection-edge ({config.injection_edge:g} s) is shorter than the longest signal "
            f"of the priors (up to {signal_reach(config):.1f} s before merger from "
            f"{config.f_lower:g} Hz at mass-min {config.mass_min:g}); raise --injection-edge"
        )


def injections_overlapping(config: StreamConfig, segment: Segment, start: int,
                           stop: int) -> list[Injection]:
    """Injections of ``segment`` whose signal may reach GPS ``[start, stop)``."""
    reach = signal_reach(config)
    return [inj for inj in segment_injections(config, segment)
            if inj.tc - reach < stop and inj.tc + POST_MERGER > start]


def render(config: StreamConfig, injection: Injection) -> tuple[int, np.ndarray]:
    """``(first GPS sample, strain (D, n))`` of ``injection`` in ``config.detectors``.

    ``n`` is a multiple of 4096: the signal is projected 2-s tile by tile with the snippet
    simulator's ``project`` (each tile the same continuous signal, sampled on the stream's
    grid), with ``PAD`` samples to spare either side for the light-travel delays.
    """
    source = injection.source
    h_plus, h_cross, epoch = polarizations(source, config.approximant, config.f_lower,
                                           injection.distance)
    reference = math.floor(injection.tc)  # small numbers keep the sub-sample time exact
    offset = injection.tc - reference
    begin = math.floor((offset + epoch) * SAMPLE_RATE) - PAD  # from reference, in samples
    end = math.ceil((offset + epoch) * SAMPLE_RATE + len(h_plus)) + PAD
    tiles = []
    for tile_start in range(begin, end, N_TIME):
        tile = dataclasses.replace(source, merger_time=offset - tile_start / SAMPLE_RATE)
        tiles.append(project(h_plus, h_cross, epoch, tile, injection.tc, config.detectors))
    return reference * SAMPLE_RATE + begin, np.concatenate(tiles, axis=-1)
