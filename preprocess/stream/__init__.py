"""Continuous strain: simulated streams (noise, drift, glitches, injections) and file readers.

``simulate_stream(StreamConfig(...), out)`` writes a stream in gwspec's layout (``layout.py``)
with its injection, glitch and level tables and, on request, MLGWSC-1 files; ``read_segments``
reads gwspec, MLGWSC-1 and GWOSC strain files as ``(detector, gps_start, rate, array)``
segments over the detectors' common analysable time. Names are imported on first use (PEP 562),
so ``preprocess.stream.config`` alone, which the command line reads its defaults from, stays
free of numpy, h5py and lalsimulation.
"""

from __future__ import annotations

from runtime.lazy import lazy_exports

_EXPORTS = {  # public name -> module holding it
    "ReadOptions": ".config",
    "StreamConfig": ".config",
    "StreamError": ".errors",
    "BadSegmentError": ".errors",
    "ReadReport": ".readers",
    "StrainSegment": ".readers",
    "StrainSet": ".readers",
    "read_segments": ".readers",
    "simulate_stream": ".simulate",
    "read_injections": ".mlgwsc",
    "write_gwosc": ".gwosc",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
