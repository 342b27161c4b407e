"""Noise PSDs: estimated from noise, run over streams, read from files, chosen on the command line.

One stage per module, as PyCBC's ``pycbc.psd``:

==============  ===============================================================================
``config.py``   ``PSDConfig``: which PSD (running, training, a file) and the running span
``estimate.py`` periodograms and their averages: the training estimator (gated median) and
                Welch's median; ``estimate_psd`` of noise-only samples (``build-cqt``)
``running.py``  ``RunningPSD``: either average over the data around each stretch of a segment,
                one span-placement rule; ``FixedPSD``: one PSD for every stretch
``read.py``     ``read_psd``: the one reader of PSD files, data folders and caches
``options.py``  ``add_psd_options`` / ``psd_from_args``: the ``--psd`` option group
==============  ===============================================================================

Names are imported on first use (PEP 562): ``config`` and ``options`` stay free of numpy.
"""

from __future__ import annotations

from runtime.lazy import lazy_exports

_EXPORTS = {  # public name -> module holding it
    "PSDConfig": ".config",
    "estimate_psd": ".estimate",
    "RunningPSD": ".running",
    "FixedPSD": ".running",
    "WelchMedian": ".running",
    "TrainingAverage": ".running",
    "read_psd": ".read",
    "add_psd_options": ".options",
    "psd_from_args": ".options",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
