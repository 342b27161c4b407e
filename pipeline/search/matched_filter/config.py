"""The matched-filter search's settings: typed dataclasses, saved resolved next to every result.

Light (no numpy, scipy, h5py, lalsimulation), so ``pipeline baseline matched-filter-search
--help`` reads its defaults at once. Three groups, by what a change of them invalidates:

- ``FilterConfig`` (bank, PSD, blocks, threshold, per-template clustering, chi-squared): what
  the single-detector triggers of a piece depend on. A search folder resumes only with the
  same ones (``search.json`` records them; differences are named).
- ``RankingConfig`` (coincidence, statistic, clustering of candidates, ``var``) and
  ``SlideConfig`` (time slides): applied to the stored triggers at the end of every run, so
  they may change between runs of the same folder without filtering again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from pipeline.bank.config import SearchBankConfig
from pipeline.search.config import SlideConfig
from preprocess.psd.config import TRAINING, PSDConfig
from preprocess.stream.config import ReadOptions, check_detectors
from runtime.checks import non_negative, positive, whole
from runtime.provenance import jsonable

STATISTICS = ("snr", "newsnr")  # ranking statistics (pipeline.search.matched_filter.ranking)
PRECISIONS = ("float32", "float64")  # of the FFT correlation


@dataclass(frozen=True)
class FilterConfig:
    """Everything the single-detector triggers of a piece depend on."""

    bank: SearchBankConfig = field(default_factory=SearchBankConfig)
    psd: PSDConfig = field(default_factory=PSDConfig)  # running Welch median, or a file
    block: float = 128.0  # s per FFT block; consecutive blocks overlap by the padding
    precision: str = "float32"  # of the correlation FFTs (bench/search.py measures the error)
    snr_threshold: float = 5.0  # single-detector |z| a trigger must reach
    template_cluster_window: float = 1.0  # s: per template, the loudest of triggers closer
    # than this (candidates are clustered again over RankingConfig.cluster_window)
    chisq_bins: int = 16  # p: Allen's chi-squared bins of equal expected power (2p - 2 dof)

    def __post_init__(self) -> None:
        if isinstance(self.bank, dict):  # read back from search.json
            object.__setattr__(self, "bank", SearchBankConfig(**self.bank))
        if isinstance(self.psd, dict):
            object.__setattr__(self, "psd", PSDConfig(**self.psd))
        if self.psd.source == TRAINING:
            raise ValueError("--psd training is the network search's (a model's training PSD); "
                             "the matched filter takes running or a PSD file")
        if self.psd.segment > self.psd.span / 4:
            raise ValueError(f"psd span ({self.psd.span:g} s) must hold at least 4 Welch "
                             f"segments of {self.psd.segment:g} s")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r}: expected float32 or float64")
        positive("snr threshold", self.snr_threshold)
        positive("template cluster window", self.template_cluster_window)
        whole("chisq bins", self.chisq_bins, 2)
        if positive("block", self.block) < 8:
            raise ValueError(f"block must be at least 8 s, got {self.block:g}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        if not self.statistics or unknown or len(set(self.statistics)) != len(self.statistics):
            raise ValueError(f"statistic(s) {', '.join(self.statistics) or '(none)'}: expected "
                             f"distinct ones of {', '.join(STATISTICS)}")
        non_negative("coinc margin", self.coinc_margin)
        positive("cluster window", self.cluster_window)
        positive("var", self.var)


def _read_default() -> ReadOptions:
    # segments as short as the search can analyse; pieces of 4096 s (a month in 640)
    return ReadOptions(min_duration=None, max_duration=4096.0)


@dataclass(frozen=True)
class SearchConfig:
    """One matched-filter search over streams: filtering, ranking, slides, and the data."""

    filter: FilterConfig = field(default_factory=FilterConfig)
    ranking: RankingConfig = field(default_factory=RankingConfig)
    slides: SlideConfig = field(default_factory=SlideConfig)
    detectors: tuple[str, ...] = ()  # empty: every detector the files hold
    read: ReadOptions = field(default_factory=_read_default)  # DQ bits, segment lengths

    def __post_init__(self) -> None:
        object.__setattr__(self, "detectors", tuple(self.detectors))
        for name, kind in (("filter", FilterConfig), ("ranking", RankingConfig),
                           ("slides", SlideConfig), ("read", ReadOptions)):
            value = getattr(self, name)
            if isinstance(value, dict):
                object.__setattr__(self, name, kind(**value))
        check_detectors(self.detectors, "--detectors")
        if len(self.detectors) == 1:
            raise ValueError("a coincident search needs at least two detectors")

    @property
    def psd(self) -> PSDConfig:
        return self.filter.psd

    def with_detectors(self, detectors: tuple[str, ...]) -> SearchConfig:
        return replace(self, detectors=tuple(detectors))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples as lists), as saved in ``search.json``."""
        return jsonable(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchConfig:
        return cls(**data)
