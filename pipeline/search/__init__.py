"""The matched-filter search over streams, and what a network search shares with it.

One stage per module, as PyCBC lays out a search:

==================  ==========================================================================
``config.py``       the searches' settings (light: the command line reads its defaults here)
``bank.py``         template banks: the 2-s snippet bank and the search's full-length one
``snippet.py``      the 2-s matched-filter baseline (``pipeline baseline matched-filter``)
``psd.py``          the running median-Welch PSD of the data around each stretch, or a file's
``filter.py``       FFT matched filtering of long overlapping blocks
``chisq.py``        Allen's chi-squared signal-consistency test
``triggers.py``     single-detector peaks and clustering; segment files; MLGWSC-1 trigger files
``inspiral.py``     one segment's single-detector triggers (PSD, blocks, filter, chi-squared)
``coinc.py``        coincidence between detectors, network statistic, candidate clustering
``ranking.py``      the ranking statistics: SNR and PyCBC's reweighted SNR
``slides.py``       time slides: shifts, how many a segment holds, background duration
``mf_search.py``    the job: segments, workers, resume, progress, ranking and slides
``volume.py``       FAR, injections found, sensitive volume and distance with errors
``report.py``       ``pipeline evaluate-search``: tables and plots of searches side by side
==================  ==========================================================================

Names are imported on first use (PEP 562), so importing the package, or ``config`` alone,
loads neither lalsimulation nor h5py.
"""

from __future__ import annotations

from preprocess.commandline import lazy_exports

_EXPORTS = {  # public name -> module holding it
    "SearchConfig": ".config",
    "FilterConfig": ".config",
    "RankingConfig": ".config",
    "SlideConfig": ".config",
    "PSDConfig": ".config",
    "SearchBankConfig": ".config",
    "EvaluateSearchConfig": ".config",
    "RunningPSD": ".psd",
    "FixedPSD": ".psd",
    "run_search": ".mf_search",
    "evaluate_searches": ".report",
    "SearchFiles": ".report",
    "write_trigger_file": ".triggers",
    "read_trigger_file": ".triggers",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
