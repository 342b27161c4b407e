"""Searches over continuous strain, by stage, as PyCBC lays out a search.

A window of strain becomes a score, then a trigger, then a figure of merit:

==================  ===========================================================================
``job.py``          the one job of both searches: strain files in, pieces cut and named,
                    settings recorded or refused, bad strain skipped and counted, work resumed,
                    trigger files and ``result.json`` out
``matched_filter/`` the matched-filter search: bank, filter, chi-squared, coincidence, ranking
``network/``        the network search: models, window images, slide scores
``slides.py``       time slides: shifts, how many a piece holds
``sites.py``        light-travel times between the detectors' sites
``triggers.py``     clustering in time, and MLGWSC-1 trigger files (their one writer and reader)
``evaluate/``       FAR, sensitive volume and distance, searches side by side
``config.py``       ``SlideConfig``, the settings both searches share
==================  ===========================================================================

The strain readers are ``preprocess.stream``, the PSD ``preprocess.psd``, the images
``preprocess.images`` (the image recipe ``build-cqt`` uses) and the banks ``pipeline.bank``.
Names are imported on first use (PEP 562), so importing the package loads neither
lalsimulation nor h5py.
"""

from __future__ import annotations

from runtime.lazy import lazy_exports

_EXPORTS = {  # public name -> module holding it
    "SlideConfig": ".config",
    "SearchConfig": ".matched_filter.config",
    "FilterConfig": ".matched_filter.config",
    "RankingConfig": ".matched_filter.config",
    "NetworkSearchConfig": ".network.config",
    "EvaluateSearchConfig": ".evaluate.config",
    "run_search": ".matched_filter.search",
    "run_network_search": ".network.search",
    "evaluate_searches": ".evaluate.report",
    "SearchFiles": ".evaluate.report",
    "write_trigger_file": ".triggers",
    "read_trigger_file": ".triggers",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
