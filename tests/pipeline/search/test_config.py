"""Every search setting is checked finite and in range where it is read (a NaN or an infinity
from Python or a record, not only from the command line)."""

from __future__ import annotations

import math

import pytest

from pipeline.bank.config import SearchBankConfig
from pipeline.search.config import SlideConfig
from pipeline.search.evaluate.config import EvaluateSearchConfig
from pipeline.search.matched_filter.config import FilterConfig, RankingConfig, SearchConfig
from pipeline.search.network.config import NetworkSearchConfig
from preprocess.psd.config import PSDConfig
from preprocess.stream.config import ReadOptions

NAN, INF = math.nan, math.inf


@pytest.mark.parametrize(("make", "message"), [
    (lambda: SlideConfig(background_duration=INF), "background duration"),
    (lambda: SlideConfig(background_duration=NAN), "background duration"),
    (lambda: SlideConfig(step=NAN), "slide step"),
    (lambda: PSDConfig(span=INF), "psd span"),
    (lambda: FilterConfig(snr_threshold=NAN), "snr threshold"),
    (lambda: FilterConfig(block=INF), "block"),
    (lambda: RankingConfig(var=NAN), "var"),
    (lambda: RankingConfig(coinc_margin=INF), "coinc margin"),
    (lambda: SearchBankConfig(mass_max=INF), "bank mass_max"),
    (lambda: NetworkSearchConfig(stride=NAN), "stride"),
    (lambda: NetworkSearchConfig(psd_update=INF), "psd update"),
    (lambda: NetworkSearchConfig(merger_offset=NAN), "merger offset"),
    (lambda: EvaluateSearchConfig(fars_per_month=(1.0, NAN)), "FAR per month"),
    (lambda: EvaluateSearchConfig(background_duration=INF), "background duration"),
    (lambda: ReadOptions(min_duration=NAN), "min-duration"),
    (lambda: ReadOptions(max_duration=INF), "max-duration"),
], ids=lambda x: x if isinstance(x, str) else "")
def test_a_number_that_is_not_finite_is_refused(make, message) -> None:
    with pytest.raises(ValueError, match=f"{message} must be a finite number"):
        make()


def test_detectors_are_known_and_named_once() -> None:
    with pytest.raises(ValueError, match="--detectors: detector H1 named more than once"):
        SearchConfig(detectors=("H1", "H1"))
    with pytest.raises(ValueError, match="unknown detector 'X1'"):
        SearchConfig(detectors=("H1", "X1"))
    with pytest.raises(ValueError, match="--psd training is the network search's"):
        FilterConfig(psd=PSDConfig(source="training"))
