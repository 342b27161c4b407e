"""The simulator's configuration: one typed dataclass, validated up front."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from preprocess.layout import SAMPLE_RATE
from preprocess.simulate.noise import DESIGN_CURVES, NOISE_F_LOW, SEISMIC_F_LOW, SEISMIC_SLOPE

APPROXIMANTS = ("IMRPhenomPv2", "IMRPhenomXPHM")  # precessing BBH models lalsimulation provides
SNR_DISTRIBUTIONS = ("uniform", "loguniform")


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that determines a simulated data set; equal configs give identical bytes."""

    n_train: int = 1000  # samples in train/ (labels in training_labels.csv)
    n_test: int = 200  # samples in test/ (labels in test_labels.csv)
    seed: int = 0  # root of every random draw (ids, labels, parameters, noise)
    approximant: str = "IMRPhenomPv2"  # lalsimulation time-domain waveform model (precessing)
    snr_min: float = 2.0  # network optimal SNR range: uniform [2, 16] is about as hard as G2Net
    snr_max: float = 16.0
    snr_distribution: str = "uniform"  # "uniform" or "loguniform" in [snr_min, snr_max]
    f_lower: float = 20.0  # Hz: waveform start, reference frequency and SNR lower cutoff
    signal_fraction: float = 0.5  # share of each split holding a signal (exact count, shuffled)
    mass_min: float = 10.0  # solar masses, detector frame; both components uniform, m1 >= m2
    mass_max: float = 50.0
    spin_max: float = 0.99  # spin magnitudes uniform in [0, spin_max], directions isotropic
    merger_time_min: float = 1.2  # s from sample start: geocentre merger time, uniform in range
    merger_time_max: float = 1.9
    gps_time: float = 1238166018.0  # GPS reference for sidereal time and delays (ra is uniform)
    noise_f_low: float = NOISE_F_LOW  # Hz: the design tables are used from here (aLIGO's at 9 Hz)
    seismic_f_low: float = SEISMIC_F_LOW  # Hz: no noise power below; a seismic wall up to
    seismic_slope: float = SEISMIC_SLOPE  # noise_f_low, PSD ~ f**-slope: raw std ~1e-20
    noise_duration: float = 8.0  # s of noise coloured at once; the middle 2 s are kept
    psd_h1: str = DESIGN_CURVES["H1"]  # lalsimulation SimNoisePSD<name> per detector
    psd_l1: str = DESIGN_CURVES["L1"]
    psd_v1: str = DESIGN_CURVES["V1"]

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, as saved in ``simulation.json``."""
        return asdict(self)

    @property
    def psd_names(self) -> dict[str, str]:
        """Design-curve name per detector prefix."""
        return {"H1": self.psd_h1, "L1": self.psd_l1, "V1": self.psd_v1}


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def validate(config: SimulationConfig) -> None:
    """Raise ``ValueError`` with one clear line for an impossible configuration."""
    c = config
    for name in ("n_train", "n_test", "seed"):
        value = getattr(c, name)
        _check(
            isinstance(value, int) and value >= 0,
            f"{name.replace('_', '-')} must be a non-negative integer, got {value!r}",
        )
    _check(c.n_train + c.n_test > 0, "nothing to simulate: n-train and n-test are both 0")
    _check(
        c.approximant in APPROXIMANTS,
        f"unknown approximant {c.approximant!r}; expected one of {', '.join(APPROXIMANTS)}",
    )
    _check(
        c.snr_distribution in SNR_DISTRIBUTIONS,
        f"unknown snr distribution {c.snr_distribution!r}; "
        f"expected one of {', '.join(SNR_DISTRIBUTIONS)}",
    )
    _check(c.snr_min >= 0, f"snr-min must be >= 0, got {c.snr_min}")
    _check(c.snr_max >= 0, f"snr-max must be >= 0, got {c.snr_max}")
    _check(c.snr_min <= c.snr_max, f"snr-min ({c.snr_min}) is above snr-max ({c.snr_max})")
    _check(
        c.snr_distribution != "loguniform" or c.snr_min > 0,
        "a loguniform snr distribution needs snr-min > 0",
    )
    _check(
        0.0 <= c.signal_fraction <= 1.0,
        f"signal-fraction must lie in [0, 1], got {c.signal_fraction}",
    )
    _check(
        0 < c.mass_min <= c.mass_max,
        f"mass range must satisfy 0 < min <= max, got [{c.mass_min}, {c.mass_max}]",
    )
    _check(0 <= c.spin_max < 1, f"spin-max must lie in [0, 1), got {c.spin_max}")
    _check(
        0 <= c.merger_time_min <= c.merger_time_max <= 2.0,
        "merger time range must lie inside the 2-s window with min <= max, "
        f"got [{c.merger_time_min}, {c.merger_time_max}]",
    )
    nyquist = SAMPLE_RATE / 2
    _check(0 < c.f_lower < nyquist, f"f-lower must lie in (0, {nyquist}) Hz, got {c.f_lower}")
    _check(
        0 <= c.noise_f_low < nyquist,
        f"noise-f-low must lie in [0, {nyquist}) Hz, got {c.noise_f_low}",
    )
    _check(c.seismic_f_low >= 0, f"seismic-f-low must be >= 0 Hz, got {c.seismic_f_low}")
    _check(c.seismic_slope >= 0, f"seismic-slope must be >= 0, got {c.seismic_slope}")
    _check(c.noise_duration >= 2.0, f"noise-duration must be >= 2 s, got {c.noise_duration}")
