"""The searches' configuration: typed dataclasses only, saved resolved next to every result.

Free of heavy imports (no numpy, scipy, h5py, lalsimulation), so ``pipeline baseline
matched-filter-search --help`` reads its defaults at once. Three groups, by what a change of
them invalidates:

- ``FilterConfig`` (bank, PSD, blocks, threshold, clustering, chi-squared): what the
  single-detector triggers of a segment depend on. A search folder resumes only with the
  same ones (``search.json`` records them; differences are named).
- ``RankingConfig`` (coincidence, statistic, clustering of candidates, ``var``) and
  ``SlideConfig`` (time slides): applied to the stored triggers at the end of every run, so
  they may change between runs of the same folder without filtering again.

``PSDConfig`` and ``SlideConfig`` are the parts the network search (issue 17) shares.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

STATISTICS = ("snr", "newsnr")  # ranking statistics (pipeline.search.ranking)
PSD_PLACEMENTS = ("preceding", "centred")  # where the running PSD's span lies
PRECISIONS = ("float32", "float64")  # of the FFT correlation


@dataclass(frozen=True)
class SearchBankConfig:
    """The template bank of the stream search: full-length aligned-spin templates.

    The prior and placement are those of the snippet bank (``pipeline.config.BankConfig``,
    whose defaults these repeat); the templates are not cut: each runs from ``f_lower`` to the
    ringdown, generated in the frequency domain.
    """

    n_templates: int = 200  # templates kept
    mass_min: float = 10.0  # Msun, detector frame: the simulator's component-mass prior
    mass_max: float = 50.0
    spin_max: float = 0.5  # aligned spins uniform in [-spin_max, spin_max]
    approximant: str = "IMRPhenomD"  # a frequency-domain aligned-spin model of lalsimulation
    f_lower: float = 20.0  # Hz: templates and overlaps start here
    candidates_per_template: int = 10  # prior draws per template kept (farthest-point placement)
    seed: int = 0  # seed of the candidate draws
    placement_duration: float = 16.0  # s: grid of the placement matches (1/16-Hz resolution;
    # longer than the longest template, about 7 s from 20 Hz at 10+10 Msun)

    def __post_init__(self) -> None:
        if not 0 < self.mass_min <= self.mass_max:
            raise ValueError(f"bank mass range [{self.mass_min}, {self.mass_max}] is not valid")
        if self.n_templates < 1 or self.candidates_per_template < 1:
            raise ValueError("bank needs n_templates >= 1 and candidates_per_template >= 1")
        if not 0 <= self.spin_max < 1:
            raise ValueError(f"bank spin_max must lie in [0, 1), got {self.spin_max}")
        if not 0 < self.f_lower < 512:
            raise ValueError(f"bank f_lower must lie in (0, 512) Hz, got {self.f_lower}")


@dataclass(frozen=True)
class PSDConfig:
    """How each stretch of data is whitened: a running median-Welch estimate, or a file."""

    span: float = 256.0  # s of data each estimate is the median over
    segment: float = 4.0  # s per Welch segment (Hann, 50% overlap): 0.25-Hz resolution
    placement: str = "preceding"  # "preceding": the span ends where the stretch ends (only past
    # and present data); "centred": the span is centred on the stretch
    file: str = ""  # a fixed PSD instead: CSV frequency,<det>... (one-sided, 1/Hz)

    def __post_init__(self) -> None:
        if self.placement not in PSD_PLACEMENTS:
            raise ValueError(f"PSD placement {self.placement!r}: expected one of "
                             f"{', '.join(PSD_PLACEMENTS)}")
        if not 0 < self.segment <= self.span / 4:
            raise ValueError(f"PSD span ({self.span:g} s) must hold at least 4 Welch segments "
                             f"of {self.segment:g} s")


@dataclass(frozen=True)
class FilterConfig:
    """Everything the single-detector triggers of a segment depend on."""

    bank: SearchBankConfig = field(default_factory=SearchBankConfig)
    psd: PSDConfig = field(default_factory=PSDConfig)
    block: float = 128.0  # s per FFT block; consecutive blocks overlap by the padding
    precision: str = "float32"  # of the correlation FFTs (bench/search.py measures the error)
    snr_threshold: float = 5.0  # single-detector |z| a trigger must reach
    cluster_window: float = 1.0  # s: per template, the loudest of triggers closer than this
    chisq_bins: int = 16  # p: Allen's chi-squared bins of equal expected power (2p - 2 dof)

    def __post_init__(self) -> None:
        if isinstance(self.bank, dict):  # read back from search.json
            object.__setattr__(self, "bank", SearchBankConfig(**self.bank))
        if isinstance(self.psd, dict):
            object.__setattr__(self, "psd", PSDConfig(**self.psd))
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r}: expected float32 or float64")
        if self.snr_threshold <= 0 or self.cluster_window <= 0:
            raise ValueError("snr_threshold and cluster_window must be > 0")
        if self.chisq_bins < 2:
            raise ValueError(f"chisq_bins must be at least 2, got {self.chisq_bins}")
        if self.block < 8:
            raise ValueError(f"block must be at least 8 s, got {self.block:g}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SlideConfig:
    """Time slides: slide k shifts detector i by ``k * step * i`` s, cyclically (slides.py)."""

    step: float = 8.0  # s: longer than the longest template (about 7 s from 20 Hz) or window,
    # plus the light-travel time, so no slide pairs a detector's data with itself
    count: int = 0  # slides 1..count; 0 = zero lag only
    background_duration: float = 0.0  # s of background wanted instead of a count (0 = use count)

    def __post_init__(self) -> None:
        if self.step <= 0 or self.count < 0 or self.background_duration < 0:
            raise ValueError("slide step must be > 0 s, count and background duration >= 0")


@dataclass(frozen=True)
class RankingConfig:
    """How single-detector triggers become ranked candidates (coinc.py, ranking.py)."""

    statistics: tuple[str, ...] = ("newsnr",)  # one trigger set per statistic
    coinc_margin: float = 0.005  # s added to each light-travel time (peak-time scatter)
    cluster_window: float = 10.0  # s: the loudest candidate within this keeps the others out
    var: float = 0.3  # s: MLGWSC-1's var, how far from tc a candidate may find an injection

    def __post_init__(self) -> None:
        object.__setattr__(self, "statistics", tuple(self.statistics))
        unknown = [s for s in self.statistics if s not in STATISTICS]
        if not self.statistics or unknown:
            raise ValueError(f"statistic(s) {', '.join(self.statistics) or '(none)'}: expected "
                             f"some of {', '.join(STATISTICS)}")
        if self.coinc_margin < 0 or self.cluster_window <= 0 or self.var <= 0:
            raise ValueError("coinc_margin must be >= 0, cluster_window and var > 0")


@dataclass(frozen=True)
class SearchConfig:
    """One matched-filter search over streams: filtering, ranking, slides, and the data."""

    filter: FilterConfig = field(default_factory=FilterConfig)
    ranking: RankingConfig = field(default_factory=RankingConfig)
    slides: SlideConfig = field(default_factory=SlideConfig)
    detectors: tuple[str, ...] = ()  # empty: every detector the files hold
    dq_bits: tuple[str, ...] = ("DATA", "CBC_CAT1")  # GWOSC seconds analysed (readers)
    min_duration: float = 64.0  # s: shorter common segments are skipped (readers)
    max_duration: float = 4096.0  # s: longer ones are analysed in pieces of this (readers)
    skip_bad: bool = False  # skip a piece holding NaN or implausible values instead of stopping

    def __post_init__(self) -> None:
        for name in ("detectors", "dq_bits"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name, kind in (("filter", FilterConfig), ("ranking", RankingConfig),
                           ("slides", SlideConfig)):
            value = getattr(self, name)
            if isinstance(value, dict):
                object.__setattr__(self, name, kind(**value))
        if len(self.detectors) == 1:
            raise ValueError("a coincident search needs at least two detectors")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples as lists), as saved in ``search.json``."""
        return _listed(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchConfig:
        return cls(**data)


def _listed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _listed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_listed(v) for v in value]
    return value


@dataclass(frozen=True)
class EvaluateSearchConfig:
    """How ``pipeline evaluate-search`` scores trigger files (pipeline.search.report)."""

    fars_per_month: tuple[float, ...] = (1.0, 10.0, 100.0)  # FARs of the table (month = 30 d)
    distance_prior: str = "auto"  # chirp | volume | auto (stream.json, else the table's columns)
    distance_max: float = 0.0  # Mpc, the prior's bound (chirp distance for chirp); 0 = recorded
    found_far_per_month: float = 1.0  # FAR at which the found/missed plot is drawn

    def __post_init__(self) -> None:
        object.__setattr__(self, "fars_per_month", tuple(self.fars_per_month))
        if not self.fars_per_month or min(self.fars_per_month) <= 0:
            raise ValueError("FARs per month must be > 0")
        if self.distance_prior not in ("auto", "chirp", "volume"):
            raise ValueError(f"distance prior {self.distance_prior!r}: expected auto, chirp "
                             "or volume")
        if self.distance_max < 0 or self.found_far_per_month <= 0:
            raise ValueError("distance_max must be >= 0 and found_far_per_month > 0")
