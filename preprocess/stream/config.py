"""The settings of ``simulate-stream`` and of the strain readers: typed dataclasses only.

Free of heavy imports (no numpy, h5py, lal, pandas), so ``preprocess simulate-stream --help``
reads its defaults at once. ``StreamConfig`` determines a stream's bytes and enters its
configuration hash; ``ReadOptions`` say how files of real strain are turned into segments.
Checks that need the snippet simulator's tables (approximant names, glitch families) import
them only when a configuration is built.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from runtime.checks import finite, positive

HIGHPASS_PAD = 8.0  # s of strain either side of a piece that its high-pass runs over (the
# filter's edge transients fall there); less where the segment ends
SAMPLE_RATE = 2048  # Hz: every stream is written at this rate (= preprocess.layout.SAMPLE_RATE)
DETECTORS = ("H1", "L1", "V1")  # detectors the simulator models (lalsimulation prefixes)
KNOWN_DETECTORS = ("H1", "L1", "V1", "K1", "G1")  # detectors a stream file may hold: the
# LIGO, Virgo, KAGRA and GEO sites lal knows (light-travel times, antenna patterns)
DISTANCE_PRIORS = ("chirp", "volume")  # uniform in volume of chirp distance / of distance
SNR_DISTRIBUTIONS = ("uniform", "loguniform")
DTYPES = ("float32", "float64")


def check_detectors(names: Sequence[str], where: str = "detectors") -> tuple[str, ...]:
    """``names`` as a tuple once every one is a known detector and none repeats; else
    ``ValueError`` naming ``where`` and the offending name."""
    names = tuple(names)
    for name in names:
        if name not in KNOWN_DETECTORS:
            raise ValueError(f"{where}: unknown detector {name!r} (expected one of "
                             f"{' '.join(KNOWN_DETECTORS)})")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{where}: detector {' '.join(repeated)} named more than once")
    return names


@dataclass(frozen=True)
class ReadOptions:
    """How files of strain become analysable segments (``readers.read_segments``)."""

    dq_bits: tuple[str, ...] = ("DATA", "CBC_CAT1")  # GWOSC DQ bits that must all be on for a
    # second to count: data present and free of category-1 problems, as CBC searches require
    min_duration: float | None = 64.0  # s: common segments shorter than this are skipped and
    # counted; None: as short as the reader's caller can use (a search's own minimum)
    max_duration: float | None = 4096.0  # s: longer segments are yielded in pieces (memory);
    # None = whole segments
    skip_bad: bool = False  # skip (and count) a segment holding NaN/implausible values instead
    # of stopping with an error
    highpass: float = 15.0  # Hz: zero-phase high-pass of the strain read for analysis
    # (preprocess.highpass; 0 = off), over the piece and up to HIGHPASS_PAD s of its segment on
    # each side, before any 2-s window is taken from it

    def __post_init__(self) -> None:
        object.__setattr__(self, "dq_bits", tuple(self.dq_bits))
        if not self.dq_bits or len(set(self.dq_bits)) != len(self.dq_bits):
            raise ValueError(f"dq-bits {' '.join(self.dq_bits) or '(none)'}: name distinct bits")
        finite("highpass", self.highpass)
        if not 0 <= self.highpass < SAMPLE_RATE / 2:
            raise ValueError(f"highpass must be 0 (off) or a frequency below "
                             f"{SAMPLE_RATE // 2} Hz, got {self.highpass}")
        if self.min_duration is not None:
            positive("min-duration", self.min_duration)
        if self.max_duration is not None:
            positive("max-duration", self.max_duration)
        if None not in (self.min_duration, self.max_duration) and \
                self.max_duration < self.min_duration:
            raise ValueError(f"max-duration ({self.max_duration} s) is below min-duration "
                             f"({self.min_duration} s)")


@dataclass(frozen=True)
class StreamConfig:
    """Everything that determines a stream; equal configs give identical files."""

    seed: int = 0  # root of every random draw (noise, drift, glitches, injections)
    detectors: tuple[str, ...] = DETECTORS  # any subset of H1, L1, V1 (with real noise: from
    # the files when empty)
    gps_start: int = 1238166018  # GPS second the stream starts at (O3a; sets sidereal times)
    duration: int = 3600  # s of strain in total, over all segments (real noise: 0 = all)
    segment_duration: int = 7200  # s per contiguous segment (MLGWSC-1's minimum is 7200)
    gap_duration: int = 256  # s of no data between segments
    chunk_duration: int = 256  # s per file: the unit of work and of resuming
    dtype: str = "float32"  # strain dtype on disk: float32 keeps 1e-7 of a 1e-20 value,
    # 1e-11 of the in-band noise power, and halves the size
    # Simulated noise (noise.py, glitches.py)
    level_min: float = 1.0  # PSD level drift: ln(level) is an Ornstein-Uhlenbeck walk with mean
    level_max: float = 1.0  # (ln min + ln max) / 2 and std (ln max - ln min) / 4, clipped to
    level_timescale: float = 300.0  # [min, max]; its correlation time in s (1, 1: no drift)
    psd_shape_mix: float = 0.0  # per detector, weight uniform in [0, x] of the O3-like curve
    glitch_rate: float = 0.0  # glitches per hour per detector (Poisson); 0 = none
    glitch_types: tuple[str, ...] = ("sine_gaussian", "blip", "scattered_light")
    glitch_snr_min: float = 6.0  # optimal SNR of a glitch against the local PSD
    glitch_snr_max: float = 60.0
    glitch_snr_distribution: str = "loguniform"
    # Injections (injections.py)
    injection_spacing: float = 24.0  # s between grid points (MLGWSC-1: 24); 0 = no injections
    injection_jitter: float = 3.0  # s: tc uniform within +-jitter of its grid point
    injection_edge: float = 32.0  # s: no tc closer than this to a segment edge (MLGWSC-1's
    # evaluate.py ignores injections within 30 s of one)
    approximant: str = "IMRPhenomPv2"  # or IMRPhenomXPHM
    f_lower: float = 20.0  # Hz: waveform start, reference frequency and SNR lower cutoff
    mass_min: float = 10.0  # detector-frame component masses, both uniform, m1 >= m2
    mass_max: float = 50.0
    spin_max: float = 0.99  # spin magnitudes uniform in [0, max], directions isotropic
    distance_prior: str = "chirp"  # uniform in volume of chirp distance (MLGWSC-1) or distance
    distance_min: float = 130.0  # Mpc (chirp distance for "chirp"; MLGWSC-1's 130-350)
    distance_max: float = 350.0
    # Real noise instead of simulated noise (readers.py)
    real_noise: tuple[str, ...] = ()  # strain files (gwspec, MLGWSC-1 or GWOSC layout)
    read: ReadOptions = field(default_factory=ReadOptions)

    def __post_init__(self) -> None:
        for name in ("detectors", "glitch_types", "real_noise"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if isinstance(self.read, dict):  # read back from stream.json
            object.__setattr__(self, "read", ReadOptions(**self.read))
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict, as saved in ``stream.json``."""
        out = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()} | {
            "read": {k: list(v) if isinstance(v, tuple) else v for k, v in out["read"].items()}
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StreamConfig:
        return cls(**data)

    @property
    def simulated(self) -> bool:
        """Whether the noise is simulated (else read from ``real_noise``)."""
        return not self.real_noise

    @property
    def has_injections(self) -> bool:
        return self.injection_spacing > 0


def default(name: str) -> Any:
    """The default of one ``StreamConfig`` field, without building (and validating) one."""
    for item in fields(StreamConfig):
        if item.name == name:
            return item.default_factory() if callable(item.default_factory) else item.default
    raise KeyError(name)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


LEVEL_RANGE = (1e-4, 1e4)  # PSD levels (power) the simulator writes: strain 0.01-100 times
# the design amplitude; beyond, the readers' plausibility checks would refuse the strain
GPS_MAX = 4_000_000_000  # s: GPS time in the year 2106


def _finite_fields(c: StreamConfig) -> None:
    """Every float field finite: NaN and infinity pass comparisons they should fail."""
    for item in fields(StreamConfig):
        value = getattr(c, item.name)
        if isinstance(value, float):
            finite(item.name.replace("_", "-"), value)


def validate(c: StreamConfig) -> None:
    """Raise ``ValueError`` with one clear line for an impossible configuration."""
    from preprocess.simulate.config import APPROXIMANTS, GLITCH_TYPES

    _finite_fields(c)

    _check(isinstance(c.seed, int) and c.seed >= 0, f"seed must be >= 0, got {c.seed!r}")
    unknown = [d for d in c.detectors if d not in DETECTORS]
    _check(not unknown and len(set(c.detectors)) == len(c.detectors),
           f"bad detector list {list(c.detectors)}; expected distinct ones of "
           f"{', '.join(DETECTORS)}")
    _check(bool(c.detectors) or not c.simulated, "detectors: name at least one")
    for name in ("gps_start", "duration", "segment_duration", "gap_duration", "chunk_duration"):
        value = getattr(c, name)
        _check(isinstance(value, int) and value >= 0,
               f"{name.replace('_', '-')} must be a whole number of seconds >= 0, got {value!r}")
    _check(c.duration > 0 or not c.simulated, "duration must be > 0 s")
    _check(c.gps_start + c.duration < GPS_MAX,
           f"gps-start {c.gps_start} (+ duration) must lie before GPS {GPS_MAX} (2106)")
    _check(c.segment_duration > 0 and c.chunk_duration > 0,
           "segment-duration and chunk-duration must be > 0 s")
    _check(c.dtype in DTYPES, f"dtype must be one of {', '.join(DTYPES)}, got {c.dtype!r}")
    _check(LEVEL_RANGE[0] <= c.level_min <= c.level_max <= LEVEL_RANGE[1],
           f"level range must satisfy {LEVEL_RANGE[0]:g} <= min <= max <= {LEVEL_RANGE[1]:g} "
           f"(PSD levels: strain 0.01-100 times the design amplitude), got "
           f"[{c.level_min:g}, {c.level_max:g}]")
    _check(c.level_timescale > 0, f"level-timescale must be > 0 s, got {c.level_timescale}")
    _check(0 <= c.psd_shape_mix <= 1, f"psd-shape-mix must lie in [0, 1], got {c.psd_shape_mix}")
    _check(c.glitch_rate >= 0, f"glitch-rate must be >= 0 per hour, got {c.glitch_rate}")
    bad = [t for t in c.glitch_types if t not in GLITCH_TYPES]
    _check(bool(c.glitch_types) and not bad and len(set(c.glitch_types)) == len(c.glitch_types),
           f"bad glitch type(s) {list(c.glitch_types)}; expected distinct ones of "
           f"{', '.join(GLITCH_TYPES)}")
    _check(0 < c.glitch_snr_min <= c.glitch_snr_max,
           f"glitch snr range must satisfy 0 < min <= max, got "
           f"[{c.glitch_snr_min}, {c.glitch_snr_max}]")
    _check(c.glitch_snr_distribution in SNR_DISTRIBUTIONS,
           f"unknown glitch snr distribution {c.glitch_snr_distribution!r}")
    _validate_injections(c, APPROXIMANTS)
    if not c.simulated:
        simulated_only = ("level_min", "level_max", "psd_shape_mix", "glitch_rate")
        changed = [n for n in simulated_only if getattr(c, n) != default(n)]
        _check(not changed, f"{', '.join('--' + n.replace('_', '-') for n in changed)}: "
                            "only for simulated noise, not with --real-noise")


def _validate_injections(c: StreamConfig, approximants: tuple[str, ...]) -> None:
    _check(c.injection_spacing >= 0 and c.injection_jitter >= 0 and c.injection_edge >= 0,
           "injection spacing, jitter and edge must be >= 0 s")
    _check(c.injection_spacing == 0 or c.injection_spacing > 2 * c.injection_jitter,
           f"injection-spacing ({c.injection_spacing} s) must exceed twice the jitter "
           f"({c.injection_jitter} s), or the grid points' windows overlap")
    _check(c.approximant in approximants,
           f"unknown approximant {c.approximant!r}; expected one of {', '.join(approximants)}")
    _check(0 < c.f_lower < SAMPLE_RATE / 2, f"f-lower must lie in (0, 1024) Hz, got {c.f_lower}")
    _check(0 < c.mass_min <= c.mass_max,
           f"mass range must satisfy 0 < min <= max, got [{c.mass_min}, {c.mass_max}]")
    _check(0 <= c.spin_max < 1, f"spin-max must lie in [0, 1), got {c.spin_max}")
    _check(c.distance_prior in DISTANCE_PRIORS,
           f"unknown distance prior {c.distance_prior!r}; expected one of "
           f"{', '.join(DISTANCE_PRIORS)}")
    _check(0 < c.distance_min <= c.distance_max and math.isfinite(c.distance_max),
           f"distance range must satisfy 0 < min <= max, got "
           f"[{c.distance_min}, {c.distance_max}] Mpc")
