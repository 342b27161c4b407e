"""The default search bank ships with gwspec: the default settings, and matches fresh draws
from the prior as a bank placed anew does."""

from __future__ import annotations

import numpy as np

from pipeline.bank.config import SearchBankConfig
from pipeline.bank.stream import DEFAULT_BANK, bank_matches, default_bank, placement_psd


def test_the_shipped_bank_is_the_default_placement_and_covers_the_prior() -> None:
    config = SearchBankConfig()
    bank = default_bank(config, "H1")
    assert bank is not None and bank.config == config and bank.params.shape == (200, 4)
    assert 0.9 < bank.covering_match < 0.95 and bank.n_candidates == 2000
    # 40 fresh draws (another seed than the placement's): a 200-template placement keeps
    # 90% of draws above 0.90 match (0.94 at the 10th percentile over 300 draws); 0.85 is
    # below the placed bank's own covering match on its candidates (0.92) by the spread
    matches = bank_matches(bank, placement_psd(config, "H1"), n_draws=40, seed=123)
    assert np.percentile(matches, 10) > 0.85 and np.median(matches) > 0.93
    assert default_bank(SearchBankConfig(n_templates=100), "H1") is None  # other settings
    assert default_bank(config, "V1") is None  # matches measured against another detector
    assert DEFAULT_BANK.stat().st_size < 64_000
