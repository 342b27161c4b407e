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

from pipeline.config import check_bank_prior

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
        check_bank_prior(self)
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


@dataclass(frozen=True)
class NetworkSearchConfig:
    """One network search over streams (``pipeline.search.net_search``): windows, PSD, slides,
    inference, and the ranking of window scores into triggers.

    ``RANKING`` names the settings applied to stored scores at the end of every run (they may
    change between runs of one folder); the others make the scores.
    """

    RANKING = frozenset({"integrate", "cluster_window", "var", "merger_offset"})

    window_seconds: float = 2.0  # s: the model's window (its training samples' length)
    stride: float = 0.5  # s between window starts (chosen by measurement: bench/search.py)
    psd: str = "running"  # "running": the training estimator over the data around each block
    # of windows; "training": the training cache's own PSD, for every window
    psd_span: float = 256.0  # s of data the running PSD is the median over
    psd_placement: str = "preceding"  # the span ends where the block ends, or is "centred"
    psd_update: float = 16.0  # s: the running PSD is estimated anew every this many seconds
    slides: SlideConfig = field(default_factory=SlideConfig)  # step: a multiple of stride
    slides_per_file: int = 16  # slides scored and stored together (the unit of resuming)
    batch_size: int = 256  # windows per forward pass
    device: str = "auto"  # auto (cuda:LOCAL_RANK when there is a GPU), cpu, cuda[:N]
    amp: bool | None = None  # autocast (None: on for CUDA); scores stay float32
    tta: bool = False  # also score with H1 <-> L1 exchanged and average
    integrate: int = 1  # windows each score is averaged over (1: none)
    cluster_window: float = 8.0  # s: the loudest trigger within this keeps the others out
    merger_offset: float = 1.55  # s from a window's start to the trigger time: the middle of
    # the training simulator's merger range (1.2-1.9 s)
    var: float = 0.6  # s: MLGWSC-1's var, half that range plus half a stride
    detectors: tuple[str, ...] = ()  # read from the model; here only for the record
    dq_bits: tuple[str, ...] = ("DATA", "CBC_CAT1")  # GWOSC seconds analysed (readers)
    min_duration: float = 64.0  # s: shorter common segments are skipped (readers)
    max_duration: float = 1024.0  # s per piece: its window images are held in memory
    skip_bad: bool = False  # skip a piece holding NaN or implausible values instead of stopping

    def __post_init__(self) -> None:
        for name in ("detectors", "dq_bits"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if isinstance(self.slides, dict):
            object.__setattr__(self, "slides", SlideConfig(**self.slides))
        if self.psd not in ("running", "training"):
            raise ValueError(f"psd {self.psd!r}: expected running or training")
        if self.psd_placement not in PSD_PLACEMENTS:
            raise ValueError(f"psd placement {self.psd_placement!r}: expected one of "
                             f"{', '.join(PSD_PLACEMENTS)}")
        if self.stride <= 0 or self.window_seconds <= 0 or self.psd_update <= 0:
            raise ValueError("stride, window_seconds and psd_update must be > 0 s")
        if self.psd_span < 8:
            raise ValueError(f"psd_span must be at least 8 s, got {self.psd_span:g}")
        if self.integrate < 1 or self.batch_size < 1 or self.slides_per_file < 1:
            raise ValueError("integrate, batch_size and slides_per_file must be >= 1")
        if self.cluster_window <= 0 or self.var <= 0:
            raise ValueError("cluster_window and var must be > 0 s")

    @property
    def window_samples(self) -> int:
        return int(round(self.window_seconds * 2048))

    @property
    def stride_samples(self) -> int:
        return int(round(self.stride * 2048))

    def check_slides(self, n_detectors: int) -> None:
        """A slide step must be whole strides (slides pair windows) and longer than a window
        plus the light-travel time (no window meets its own zero-lag partner)."""
        if not self.slides.count and not self.slides.background_duration:
            return
        ratio = self.slides.step / self.stride
        if abs(ratio - round(ratio)) > 1e-9:
            raise ValueError(f"slide step {self.slides.step:g} s must be a whole number of "
                             f"strides ({self.stride:g} s)")
        if self.slides.step <= self.window_seconds + 0.03:
            raise ValueError(f"slide step {self.slides.step:g} s must be longer than a window "
                             f"({self.window_seconds:g} s) plus the light-travel time")

    def to_dict(self) -> dict[str, Any]:
        return _listed(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkSearchConfig:
        return cls(**data)
