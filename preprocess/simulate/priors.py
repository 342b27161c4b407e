"""Source-parameter priors: what a simulated binary black hole looks like before its distance.

The distance is not drawn: it is set afterwards so the network SNR follows the configured
distribution (see ``snr.py`` and ``sample.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from preprocess.simulate.config import SimulationConfig


@dataclass
class SourceParameters:
    """One binary: detector-frame masses (Msun), spins at ``f_lower``, angles (rad)."""

    mass1: float
    mass2: float
    spin1x: float
    spin1y: float
    spin1z: float
    spin2x: float
    spin2y: float
    spin2z: float
    ra: float
    dec: float
    polarization: float
    inclination: float
    phase: float
    merger_time: float  # s from the sample start, at the geocentre
    distance: float = float("nan")  # Mpc, set from the drawn SNR

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _isotropic_spin(rng: np.random.Generator, spin_max: float) -> np.ndarray:
    """A spin vector ``(3,)``: magnitude uniform in [0, spin_max], direction isotropic."""
    magnitude = rng.uniform(0.0, spin_max)
    cos_theta = rng.uniform(-1.0, 1.0)
    phi = rng.uniform(0.0, 2 * np.pi)
    sin_theta = np.sqrt(1.0 - cos_theta**2)
    return magnitude * np.array([sin_theta * np.cos(phi), sin_theta * np.sin(phi), cos_theta])


def draw_parameters(rng: np.random.Generator, config: SimulationConfig) -> SourceParameters:
    """Draw one binary from the priors of ``config`` (documented in data/README.md).

    Masses: both uniform in [mass_min, mass_max], sorted so m1 >= m2. Spins: isotropic.
    Sky: isotropic (ra uniform, sin(dec) uniform). Orientation: cos(inclination) uniform,
    polarization uniform in [0, pi), phase uniform in [0, 2 pi). Merger time: uniform.
    """
    masses = np.sort(rng.uniform(config.mass_min, config.mass_max, size=2))[::-1]
    spin1 = _isotropic_spin(rng, config.spin_max)
    spin2 = _isotropic_spin(rng, config.spin_max)
    return SourceParameters(
        mass1=float(masses[0]),
        mass2=float(masses[1]),
        spin1x=float(spin1[0]),
        spin1y=float(spin1[1]),
        spin1z=float(spin1[2]),
        spin2x=float(spin2[0]),
        spin2y=float(spin2[1]),
        spin2z=float(spin2[2]),
        ra=float(rng.uniform(0.0, 2 * np.pi)),
        dec=float(np.arcsin(rng.uniform(-1.0, 1.0))),
        polarization=float(rng.uniform(0.0, np.pi)),
        inclination=float(np.arccos(rng.uniform(-1.0, 1.0))),
        phase=float(rng.uniform(0.0, 2 * np.pi)),
        merger_time=float(rng.uniform(config.merger_time_min, config.merger_time_max)),
    )


def draw_snr(rng: np.random.Generator, config: SimulationConfig) -> float:
    """Target network optimal SNR from ``config.snr_distribution`` on [snr_min, snr_max]."""
    low, high = config.snr_min, config.snr_max
    if config.snr_distribution == "loguniform":
        return float(np.exp(rng.uniform(np.log(low), np.log(high))))
    return float(rng.uniform(low, high))
