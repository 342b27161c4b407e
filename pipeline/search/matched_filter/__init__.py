"""The matched-filter search over streams (``pipeline baseline matched-filter-search``), as
PyCBC lays one out, one stage per module.

================  =============================================================================
``config.py``     ``FilterConfig``, ``RankingConfig``, ``SearchConfig``
``filter.py``     FFT matched filtering of long overlapping blocks
``chisq.py``      Allen's chi-squared signal-consistency test
``singles.py``    single-detector peaks, their clustering, per-piece trigger files
``inspiral.py``   one piece's single-detector triggers (PSD, blocks, filter, chi-squared)
``coinc.py``      coincidence between detectors, network statistic, candidates
``ranking.py``    the ranking statistics: SNR and PyCBC's reweighted SNR
``search.py``     ``MatchedFilterSearch``: the bank and a piece's work, for the search job
================  =============================================================================
"""
