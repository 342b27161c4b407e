"""The simulator's configuration: one typed dataclass, validated up front."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from preprocess.layout import DETECTORS, N_TIME, SAMPLE_RATE, check_detectors

DESIGN_CURVES = {  # default lalsimulation SimNoisePSD<name> per detector prefix
    "H1": "aLIGODesignSensitivityP1200087",
    "L1": "aLIGODesignSensitivityP1200087",
    "V1": "AdVDesignSensitivityP1200087",
}
OBSERVING_CURVES = {  # observing-run (O3-like) curves that non-stationary noise mixes in
    "H1": "aLIGOO3LowT1800545",
    "L1": "aLIGOO3LowT1800545",
    "V1": "AdVO3LowT1800545",
}
NOISE_F_LOW = 10.0  # Hz: the aLIGO design table starts at 9 Hz with an artefact there
SEISMIC_F_LOW = 4.0  # Hz: the seismic wall below the design tables reaches down to here
SEISMIC_SLOPE = 10.0  # the wall's PSD grows as f**-SEISMIC_SLOPE below the table's first value
APPROXIMANTS = ("IMRPhenomPv2", "IMRPhenomXPHM")  # precessing BBH models lalsimulation provides
SNR_DISTRIBUTIONS = ("uniform", "loguniform")
GLITCH_TYPES = ("sine_gaussian", "blip", "scattered_light")  # families of glitches.py


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that determines a simulated data set; equal configs give identical bytes."""

    n_train: int = 1000  # samples in train/ (labels in training_labels.csv)
    detectors: tuple[str, ...] = DETECTORS  # any of H1 L1 V1, in that order (samples (D, N))
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
    # Non-stationary noise (noise_condition.py). The defaults keep every sample's PSD equal to
    # psd.csv, as before these options existed; which default is better is to be measured.
    psd_scale_min: float = 1.0  # per sample and detector, the PSD (power) is multiplied by a
    psd_scale_max: float = 1.0  # scale log-uniform in [min, max]; 1, 1 = stationary noise
    psd_shape_mix: float = 0.0  # weight of the observing-run curve in the PSD's shape, uniform
    # in [0, psd_shape_mix] per sample and detector; 0 = the design shape only
    psd_observing_h1: str = OBSERVING_CURVES["H1"]  # curves mixed in (O3-like), rescaled to the
    psd_observing_l1: str = OBSERVING_CURVES["L1"]  # design curve's sensitivity so that the
    psd_observing_v1: str = OBSERVING_CURVES["V1"]  # mix changes the shape and not the level
    # Curve families (training on many spectra): when given, each sample and detector draws its
    # observing curve uniformly from the family of its detector type instead of the fixed one
    # above (LIGO: H1, L1; Virgo: V1), then mixes it in with weight uniform in
    # [0, psd_shape_mix]; names are lalsimulation SimNoisePSD<name> curves
    psd_family_ligo: tuple[str, ...] = ()
    psd_family_virgo: tuple[str, ...] = ()
    # Smooth random distortion of each sample's PSD shape: log S(f) gains a Gaussian random
    # function of log f (``psd_distortion_terms`` cosines over 10-1024 Hz) of standard
    # deviation psd_distortion (0.3: about +-30% in power), the level kept (sensitivity matched)
    psd_distortion: float = 0.0
    psd_distortion_terms: int = 4
    # Glitches (glitches.py): short transients, each in one detector, in noise and signal samples
    glitch_rate: float = 0.0  # expected glitches per sample (Poisson); 0 = no glitches
    glitch_types: tuple[str, ...] = GLITCH_TYPES  # families, drawn with equal probability
    glitch_snr_min: float = 6.0  # optimal SNR of a glitch in its detector against the sample's
    glitch_snr_max: float = 60.0  # PSD: loud enough to be a search's false alarms, like the
    glitch_snr_distribution: str = "loguniform"  # bulk of Omicron triggers (steeply falling)
    glitch_time_min: float = 0.1  # s from sample start: time of a glitch's peak, uniform; kept
    glitch_time_max: float = 1.9  # off the edges that tapers remove

    def __post_init__(self) -> None:
        for name in ("glitch_types", "psd_family_ligo", "psd_family_virgo", "detectors"):
            object.__setattr__(self, name, tuple(getattr(self, name)))  # hashable from JSON
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, as saved in ``simulation.json`` (and as read back from it)."""
        data = asdict(self) | {"glitch_types": list(self.glitch_types),
                               "psd_family_ligo": list(self.psd_family_ligo),
                               "psd_family_virgo": list(self.psd_family_virgo),
                               "detectors": list(self.detectors)}
        if self.detectors == DETECTORS:  # G2Net's three: the record (and hash) as before
            del data["detectors"]
        return data

    @property
    def psd_names(self) -> dict[str, str]:
        """Design-curve name per detector prefix."""
        return {"H1": self.psd_h1, "L1": self.psd_l1, "V1": self.psd_v1}

    @property
    def observing_psd_names(self) -> dict[str, str]:
        """Observing-run curve name per detector prefix (mixed in with ``psd_shape_mix``)."""
        return {"H1": self.psd_observing_h1, "L1": self.psd_observing_l1,
                "V1": self.psd_observing_v1}

    @property
    def varies_psd(self) -> bool:
        """Whether a sample's PSD can differ from ``psd.csv`` (scale or shape)."""
        return (self.psd_scale_min != 1.0 or self.psd_scale_max != 1.0 or self.psd_shape_mix > 0
                or self.psd_distortion > 0)

    @property
    def has_families(self) -> bool:
        """Whether each sample draws its observing curve from a family."""
        return bool(self.psd_family_ligo or self.psd_family_virgo)

    @property
    def has_glitches(self) -> bool:
        return self.glitch_rate > 0


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def validate(config: SimulationConfig) -> None:
    """Raise ``ValueError`` with one clear line for an impossible configuration."""
    c = config
    try:
        check_detectors(c.detectors)
    except ValueError as error:
        raise ValueError(str(error)) from None
    for item in fields(c):  # inf or NaN anywhere would only fail deep inside the physics
        value = getattr(c, item.name)
        _check(not isinstance(value, float) or math.isfinite(value),
               f"{item.name.replace('_', '-')} must be a finite number, got {value}")
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
    _validate_nonstationary(c)


def _validate_nonstationary(c: SimulationConfig) -> None:
    _check(
        0 < c.psd_scale_min <= c.psd_scale_max,
        f"psd scale range must satisfy 0 < min <= max, got [{c.psd_scale_min}, {c.psd_scale_max}]",
    )
    _check(0 <= c.psd_shape_mix <= 1, f"psd-shape-mix must lie in [0, 1], got {c.psd_shape_mix}")
    _check(not c.has_families or c.psd_shape_mix > 0,
           "psd families are mixed in with psd-shape-mix: give psd-shape-mix > 0")
    _check(0 <= c.psd_distortion <= 2, f"psd-distortion must lie in [0, 2], got {c.psd_distortion}")
    _check(1 <= c.psd_distortion_terms <= 32,
           f"psd-distortion-terms must lie in [1, 32], got {c.psd_distortion_terms}")
    _check(c.glitch_rate >= 0, f"glitch-rate must be >= 0, got {c.glitch_rate}")
    _check(len(c.glitch_types) > 0, "glitch-types must name at least one type")
    unknown = [t for t in c.glitch_types if t not in GLITCH_TYPES]
    _check(
        not unknown and len(set(c.glitch_types)) == len(c.glitch_types),
        f"bad glitch type(s) {list(c.glitch_types)}; expected distinct ones of "
        f"{', '.join(GLITCH_TYPES)}",
    )
    _check(
        c.glitch_snr_distribution in SNR_DISTRIBUTIONS,
        f"unknown glitch snr distribution {c.glitch_snr_distribution!r}; "
        f"expected one of {', '.join(SNR_DISTRIBUTIONS)}",
    )
    _check(
        0 < c.glitch_snr_min <= c.glitch_snr_max,
        f"glitch snr range must satisfy 0 < min <= max, "
        f"got [{c.glitch_snr_min}, {c.glitch_snr_max}]",
    )
    window = N_TIME / SAMPLE_RATE
    _check(
        0 <= c.glitch_time_min <= c.glitch_time_max <= window,
        f"glitch time range must lie inside the {window:g}-s window with min <= max, "
        f"got [{c.glitch_time_min}, {c.glitch_time_max}]",
    )
